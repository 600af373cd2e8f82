"""Fitting the stream fields on hand-made sweeps, then through fit-postprocess on a run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nerveseg.cli import main
from nerveseg.evaluation.sweeps import SweepFrame
from nerveseg.evaluation.temporal_fit import SweepScorer, TemporalScore, fit_temporal
from nerveseg.flicker import Flicker, mask_change
from nerveseg.postprocess import PostprocessParams
from nerveseg.temporal import TemporalFilter

SHAPE = (8, 10)


def blob(value: float) -> np.ndarray:
    prob = np.zeros(SHAPE, np.float32)
    prob[2:6, 3:7] = value
    return prob


TRUTH = blob(1.0) > 0


def test_smoothing_is_kept_when_it_stops_a_flickering_mask():
    # The truth stands still; the network's blob dips below the threshold every other frame.
    sweep = [SweepFrame(blob(0.9 if i % 2 == 0 else 0.45), None, TRUTH) for i in range(12)]
    scorer = SweepScorer([sweep])
    fit = fit_temporal(scorer, PostprocessParams())
    assert fit.baseline.flicker.mask_change == pytest.approx(1.0)  # every pair: all or nothing
    assert fit.baseline.score == pytest.approx(0.5)
    assert fit.kept and fit.chosen.flicker.mask_change == 0.0
    assert fit.chosen.score == pytest.approx(1.0)
    # The mildest setting that settles it: no average, the blob held while above 0.4 (0.8 x
    # the threshold), the first pixel_off tried.
    assert (fit.params.ema_alpha, fit.params.pixel_off) == (1.0, 0.4)
    # The average alone settles it too, alpha 0.8 at the least:
    # 0.9, 0.8*0.45 + 0.2*0.9 = 0.54, 0.828, 0.5256 ... never below 0.5
    assert scorer.evaluate(PostprocessParams(ema_alpha=0.8)).flicker.mask_change == 0.0
    assert scorer.evaluate(PostprocessParams(ema_alpha=0.9)).flicker.mask_change > 0.0
    assert fit.baseline.flicker.toggles_per_minute == pytest.approx(11 / (12 / 30 / 60))


def test_nothing_is_kept_when_nothing_flickers():
    sweep = [SweepFrame(blob(0.9), None, TRUTH) for _ in range(6)]
    fit = fit_temporal(SweepScorer([sweep]), PostprocessParams(threshold=0.4))
    assert not fit.kept and fit.params == PostprocessParams(threshold=0.4)
    assert fit.chosen == fit.baseline


def test_hysteresis_is_scored_per_sweep_from_presence_scores():
    # A presence head whose probability wobbles around 0.5; hysteresis 0.6/0.3 keeps it on.
    presence = [0.9, 0.45, 0.55, 0.4, 0.6, 0.45]
    sweep = [SweepFrame(blob(0.9), p, TRUTH) for p in presence]
    scorer = SweepScorer([sweep])
    gate = PostprocessParams(presence_threshold=0.5)
    assert scorer.evaluate(gate).flicker.toggles_per_minute > 0
    steady = scorer.evaluate(
        PostprocessParams(presence_threshold=0.5, presence_on=0.6, presence_off=0.3)
    )
    assert steady.flicker.mask_change == 0.0 and steady.score == pytest.approx(1.0)


def edge_wobble(frames: int) -> list[SweepFrame]:
    """A still nerve (the 4x5 box) whose right column wobbles around 0.5 from frame to frame:
    no average settles it (the mean of 0.55 and 0.45 is the threshold itself)."""
    sweep = []
    for i in range(frames):
        prob = blob(0.9)
        prob[2:6, 7] = 0.55 if i % 2 == 0 else 0.45
        truth = np.zeros(SHAPE, bool)
        truth[2:6, 3:8] = True
        sweep.append(SweepFrame(prob, None, truth))
    return sweep


def test_pixel_hysteresis_is_chosen_where_averaging_cannot_stop_a_wobbling_edge():
    scorer = SweepScorer([edge_wobble(12)])
    averaged = scorer.evaluate(PostprocessParams(ema_alpha=0.5))
    assert averaged.flicker.mask_change > 0.1  # 16 or 20 pixels: 1 - 16/20 every pair
    fit = fit_temporal(scorer, PostprocessParams())
    assert fit.baseline.flicker.mask_change == pytest.approx(0.2)
    assert fit.kept and fit.chosen.flicker.mask_change == 0.0
    assert 0.0 < fit.params.pixel_off < 0.45  # held while 0.45; shares of the threshold 0.5
    assert fit.chosen.dice_nerve == pytest.approx(1.0)  # the edge is nerve: Dice rises too
    assert {"pixel_off", "ema_alpha"} <= set(fit.as_dict()["chosen"])


def play_by_hand(sweeps, params: PostprocessParams) -> tuple[float, float]:
    """Mean Dice and mean mask change (all pairs count: the truth here is still) played
    through the filter frame by frame, as a stream is."""
    dice, change = [], []
    for sweep in sweeps:
        smoother, previous = TemporalFilter(params), None
        for frame in sweep:
            step = smoother.step(frame.probabilities, frame.presence)
            mask = smoother.mask(step.probabilities, step)  # frames at the network's size
            total = mask.sum() + frame.truth.sum()
            dice.append(1.0 if total == 0 else 2 * (mask & frame.truth).sum() / total)
            if previous is not None:
                change.append(mask_change(previous, mask))
            previous = mask
    return float(np.mean(dice)), float(np.mean(change))


@pytest.mark.parametrize(
    "params",
    [
        PostprocessParams(pixel_off=0.2, ema_alpha=0.6),
        PostprocessParams(pixel_off=0.3, presence_on=0.6, presence_off=0.4),
        PostprocessParams(pixel_off=0.1, ema_alpha=0.8, presence_on=0.5, presence_off=0.2),
        PostprocessParams(presence_threshold=0.5, pixel_off=0.25),
    ],
)
def test_the_scorer_scores_what_a_stream_shows(params):
    """Passes are shared between settings and presence hysteresis is scored afterwards: the
    result must still equal playing each setting frame by frame."""
    rng = np.random.default_rng(0)
    truth = blob(1.0) > 0
    sweeps = [
        [
            SweepFrame(
                np.clip(blob(0.7) + rng.normal(0, 0.25, SHAPE), 0, 1).astype(np.float32),
                float(rng.uniform(0.2, 0.9)),
                truth,
            )
            for _ in range(20)
        ]
        for _ in range(2)
    ]
    scorer = SweepScorer(sweeps)
    scores = scorer.evaluate_all([PostprocessParams(), params])
    dice, change = play_by_hand(sweeps, params)
    assert scores[1].score == pytest.approx(dice)
    assert scores[1].flicker.mask_change == pytest.approx(change)
    assert scores[0].flicker.mask_change != pytest.approx(change)  # the setting matters here


def test_fit_postprocess_writes_the_stream_fit(run_copy, capsys):
    assert main(["fit-postprocess", str(run_copy), "--device", "cpu"]) == 0
    assert "stream smoothing" in capsys.readouterr().out
    data = json.loads((run_copy / "postprocess.json").read_text())
    temporal = data["fit"]["temporal"]
    assert {"baseline", "chosen", "kept", "tried"} <= set(temporal)
    for key in ("ema_alpha", "presence_on", "presence_off", "pixel_off"):
        assert data["params"][key] == temporal["chosen"][key]
    assert main(["fit-postprocess", str(run_copy), "--no-temporal", "--device", "cpu"]) == 0
    assert "temporal" not in json.loads((run_copy / "postprocess.json").read_text())["fit"]


def test_evaluate_reports_flicker_beside_dice(run_copy):
    assert main(["evaluate", "--run", str(run_copy), "--device", "cpu"]) == 0
    evaluation = json.loads((run_copy / "evaluation.json").read_text())
    stream = evaluation["stream"]
    # Unsmoothed, the sweeps' masks are the still masks: the same competition score.
    assert stream["unsmoothed"]["score"] == pytest.approx(evaluation["score"], abs=1e-6)
    assert stream["unsmoothed"]["pairs"] > 0 and "toggles_per_minute" in stream["as_set"]


class TableScorer:
    """Hand-set results per EMA weight, in place of playing sweeps."""

    def __init__(self, table: dict[float, tuple[float, float, float]]) -> None:
        self.table = table  # alpha -> (score, dice on nerve frames, mask change)

    def evaluate(self, params: PostprocessParams) -> TemporalScore:
        if params.pixel_off > 0:  # only the average is in the table
            return TemporalScore(params, 0.0, 0.0, Flicker(1.0, 10, 0.0))
        score, dice, change = self.table.get(params.ema_alpha, self.table[1.0])
        return TemporalScore(params, score, dice, Flicker(change, 10, 0.0))

    def evaluate_all(self, settings):
        return [self.evaluate(params) for params in settings]


def test_a_setting_that_blurs_nerve_outlines_is_refused_even_when_the_score_holds():
    scorer = TableScorer(
        {
            1.0: (0.80, 0.80, 0.50),
            0.1: (0.80, 0.70, 0.00),  # least flicker, same score, but nerve Dice -0.1: refused
            0.5: (0.795, 0.795, 0.25),  # within 0.01 on both: chosen
            0.3: (0.78, 0.80, 0.10),  # score -0.02: refused
        }
    )
    fit = fit_temporal(scorer, PostprocessParams())
    assert fit.kept and fit.params.ema_alpha == 0.5


def test_fit_postprocess_on_sweep_videos(run_copy, tmp_path, capsys):
    sweeps = tmp_path / "sweeps"
    assert main(["synth", str(sweeps), "--video", "--preset", "smoke", "--subjects", "2"]) == 0
    args = ["fit-postprocess", str(run_copy), "--device", "cpu", "--sweeps", str(sweeps)]
    assert main(args) == 0
    assert "stream smoothing" in capsys.readouterr().out
    temporal = json.loads((run_copy / "postprocess.json").read_text())["fit"]["temporal"]
    assert temporal["sweeps"] == str(sweeps)
    assert temporal["baseline"]["pairs"] > 0  # 2 sweeps x 8 frames, truth mostly steady
    (tmp_path / "empty").mkdir()
    bad = ["fit-postprocess", str(run_copy), "--sweeps", str(tmp_path / "empty")]
    assert main(bad) == 2
    assert "synth OUT --video" in capsys.readouterr().err


def test_sweep_videos_play_with_the_models_own_post_processing(run_copy, tmp_path):
    from nerveseg.evaluation.sweeps import video_sweeps
    from nerveseg.inference.sources import open_predictor

    sweeps = tmp_path / "sweeps"
    assert main(["synth", str(sweeps), "--video", "--preset", "smoke", "--subjects", "1"]) == 0
    played = video_sweeps(open_predictor(run_copy, device="cpu"), sweeps)  # no params given
    assert len(played) == 1 and played[0]
    assert played[0][0].probabilities.ndim == 2
