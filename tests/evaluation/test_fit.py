"""Fitting post-processing: the greedy search on hand-made frames, then end to end on a run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nerveseg.cli import main
from nerveseg.evaluation.fit import FrameScorer, fit_postprocess, step_grids
from nerveseg.postprocess import PostprocessParams

SHAPE = (42, 58)


def frames(n_nerve: int = 6, n_empty: int = 6, speck: float = 0.65):
    """Nerve frames: a confident 10x12 blob on its truth. Empty frames: a 3x3 speck at ``speck``."""
    probs, truths = [], []
    for _ in range(n_nerve):
        prob = np.zeros(SHAPE, np.float16)
        prob[10:20, 20:32] = 0.9
        truth = prob > 0.5
        probs.append(prob)
        truths.append(truth)
    for _ in range(n_empty):
        prob = np.zeros(SHAPE, np.float16)
        prob[30:33, 5:8] = speck
        probs.append(prob)
        truths.append(np.zeros(SHAPE, bool))
    return probs, truths


def test_fit_removes_false_detections_and_never_lowers_the_score():
    scorer = FrameScorer(*frames())
    result = fit_postprocess(scorer, PostprocessParams(), SHAPE)
    assert result.start_score == pytest.approx(0.5)  # every empty frame has a false detection
    assert result.score == pytest.approx(1.0)
    assert result.params.threshold == 0.7  # the first step that helps wins; later ones tie
    assert result.params.min_area == 0
    scores = [result.start_score] + [s.score for s in result.steps]
    assert scores == sorted(scores)
    names = [s.step for s in result.steps]
    assert names[:4] == ["threshold", "min_area", "keep_largest", "fill_holes"]
    assert "presence_threshold" not in names  # no presence head


def test_a_gain_below_the_margin_is_not_kept():
    # Two empty frames of 14 with a speck: fixing them is worth 2/14 = 0.14 < margin 0.2.
    scorer = FrameScorer(*frames(n_nerve=12, n_empty=2))
    result = fit_postprocess(scorer, PostprocessParams(), SHAPE, margin=0.2)
    assert result.params == PostprocessParams()
    assert not any(s.kept for s in result.steps)
    assert fit_postprocess(scorer, PostprocessParams(), SHAPE).params != PostprocessParams()


def test_a_gain_within_its_noise_is_not_kept():
    # Threshold 0.7 fixes two empty frames but ruins one nerve frame: a gain of 1/14, with
    # per-frame differences (+1, +1, -1, 0 ...) whose standard error is larger than that.
    probs, truths = frames(n_nerve=12, n_empty=2)
    probs[0][10:20, 20:32] = 0.65
    result = fit_postprocess(FrameScorer(probs, truths), PostprocessParams(), SHAPE, margin=0)
    assert result.params.threshold == 0.5


def test_presence_step_runs_only_with_a_presence_head():
    # Empty frames show the same confident blob: only the presence probability tells them apart.
    probs, truths = frames()
    probs = [probs[0]] * len(probs)
    presence = np.array([0.9] * 6 + [0.1] * 6, np.float32)
    result = fit_postprocess(FrameScorer(probs, truths, presence), PostprocessParams(), SHAPE)
    assert result.steps[-1].step == "presence_threshold"
    assert result.params.presence_threshold > 0.1 and result.score == pytest.approx(1.0)


def test_grids_scale_with_the_frame():
    kaggle = dict(step_grids((420, 580), has_presence=False))
    assert kaggle["min_area"][1] == 490 and kaggle["closing_radius"] == (0, 6, 12)
    assert "presence_threshold" in dict(step_grids((420, 580), has_presence=True))


@pytest.fixture(scope="module")
def smoke_run(copy_trained_run):
    return copy_trained_run()


def test_fit_postprocess_writes_the_file_that_evaluate_applies(smoke_run, capsys):
    assert main(["fit-postprocess", str(smoke_run)]) == 0
    fitted = json.loads((smoke_run / "postprocess.json").read_text())
    assert set(fitted["params"]) == set(PostprocessParams().to_dict())
    assert fitted["fit"]["source"] == "validation"
    assert fitted["fit"]["steps"][0]["step"] == "threshold"
    capsys.readouterr()
    # evaluate applies postprocess.json by default: same frames, same parameters, same score.
    assert main(["evaluate", "--run", str(smoke_run)]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["score"] == pytest.approx(fitted["fit"]["score"], abs=1e-6)
    assert main(["evaluate", "--run", str(smoke_run), "--no-postprocess-file"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["score"] == pytest.approx(fitted["fit"]["start"]["score"], abs=1e-6)
    assert main(["evaluate", "--run", str(smoke_run), "--tta"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["score"] <= 1


def test_predict_with_tta(smoke_run, tiny_data, tmp_path):
    out = tmp_path / "pred"
    args = ["predict", "--run", str(smoke_run), "--input", str(tiny_data / "test")]
    assert main([*args, "--out", str(out), "--tta"]) == 0
    assert len(list((out / "masks").glob("*_mask.png"))) == 4


def test_cross_validation_folder_is_fitted_out_of_fold_and_predicted_as_an_ensemble(
    tiny_data, tmp_path, capsys
):
    run = tmp_path / "cv"
    train = ["train", "--data", str(tiny_data), "--run", str(run), "--preset", "smoke"]
    assert main([*train, "--folds", "2", "--fold", "all", "--set", "train.epochs=1"]) == 0
    assert main(["fit-postprocess", str(run)]) == 0
    fit = json.loads((run / "postprocess.json").read_text())["fit"]
    assert fit["source"] == "out-of-fold"
    assert fit["frames"] == 32  # every labelled frame, each predicted by the fold that held it out
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run)]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 32
    out = tmp_path / "pred"
    args = ["predict", "--run", str(run), "--input", str(tiny_data / "test"), "--out", str(out)]
    assert main(args) == 0
    assert "predicted 4 frames" in capsys.readouterr().out
