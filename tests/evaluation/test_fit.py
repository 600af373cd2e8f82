"""Fitting post-processing: the greedy search on hand-made frames, then end to end on a run."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from nerveseg.cli import main
from nerveseg.crf import refine
from nerveseg.evaluation.fit import describe_value, fit_postprocess, step_grids
from nerveseg.evaluation.frame_scorer import FrameScorer, NetworkFrames
from nerveseg.evaluation.holdout import predict_holdout
from nerveseg.postprocess import PostprocessParams, save_postprocess

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
    assert names[:5] == ["threshold", "min_area", "keep_largest", "convex_hull", "fill_holes"]
    assert "presence_threshold" not in names  # no presence head


def test_a_moved_threshold_keeps_the_pixel_hysteresis_below_it():
    start = PostprocessParams(threshold=0.5, pixel_off=0.4)  # 0.8 of the threshold
    result = fit_postprocess(FrameScorer(*frames()), start, SHAPE, crf=False)
    assert result.params.threshold == 0.7
    assert result.params.pixel_off == pytest.approx(0.56)
    result.params.check()  # a file written from it loads again


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


# --- the dense CRF step ----------------------------------------------------------------------


def edge_frames(n: int = 24, uniform_images: bool = False) -> FrameScorer:
    """Nerve frames whose network is unsure (0.35) of a 2-px band inside the nerve's left edge
    and as unsure of a 2-px band outside its right edge: no threshold tells them apart, but the
    frame does (the nerve is brighter), unless ``uniform_images``."""
    rng = np.random.default_rng(0)
    probs, truths, images = [], [], []
    for i in range(n):
        prob = np.full(SHAPE, 0.05, np.float32)
        top, left = 10 + i % 3, 15 + i % 5
        prob[top : top + 14, left : left + 20] = 0.9
        prob[top : top + 14, left : left + 2] = 0.35
        prob[top : top + 14, left + 20 : left + 22] = 0.35
        truth = np.zeros(SHAPE, bool)
        truth[top : top + 14, left : left + 20] = True
        image = np.where(truth, 170, 60) + rng.integers(-10, 11, SHAPE)
        probs.append(prob)
        truths.append(truth)
        images.append(np.full(SHAPE, 100) if uniform_images else image)
    network = NetworkFrames(np.stack(images).astype(np.uint8), np.stack(probs), [SHAPE] * n)
    return FrameScorer([p.astype(np.float16) for p in probs], truths, network=network)


def test_the_crf_is_kept_where_the_frame_shows_what_the_network_was_unsure_of():
    result = fit_postprocess(edge_frames(), PostprocessParams(), SHAPE)
    # Threshold 0.5 misses the left band (252 of 280 px); 0.3 would add the right band instead.
    assert result.start_score == pytest.approx(2 * 252 / (252 + 280))
    crf = result.steps[-1]
    assert crf.step == "crf" and crf.kept and result.params.crf_weight > 0
    assert result.score == pytest.approx(1.0)
    assert set(crf.chosen) == {
        "crf_weight",
        "crf_spatial_sigma",
        "crf_intensity_sigma",
        "threshold",
    }


def test_the_crf_stays_off_where_the_frame_shows_nothing_more():
    result = fit_postprocess(edge_frames(uniform_images=True), PostprocessParams(), SHAPE)
    crf = result.steps[-1]
    assert crf.step == "crf" and not crf.kept and result.params.crf_weight == 0
    best = max(score for _, score in crf.tried)
    assert best - result.score < result.margin  # what smoothing alone gains is below the bar


def test_the_crf_step_needs_the_network_frames_and_can_be_left_out():
    names = [
        s.step for s in fit_postprocess(FrameScorer(*frames()), PostprocessParams(), SHAPE).steps
    ]
    assert "crf" not in names
    result = fit_postprocess(edge_frames(), PostprocessParams(), SHAPE, crf=False)
    assert "crf" not in [s.step for s in result.steps] and result.params.crf_weight == 0
    grid = dict(step_grids((420, 580), has_presence=False, network_width=160))["crf"]
    assert {v["crf_spatial_sigma"] for v in grid} == {1.6, 3.2}
    assert {v["threshold"] for v in grid} == {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7}


def test_evaluate_applies_a_crf_as_the_fit_scores_it(copy_trained_run, capsys):
    run = copy_trained_run()
    (held,) = predict_holdout(run, device="cpu")  # one structure
    crf = PostprocessParams(crf_weight=2.0, crf_spatial_sigma=2.0, crf_intensity_sigma=15.0)
    refined = refine(held.probabilities, held.images, crf)
    # The smoke model's probabilities sit near one value: a threshold amid the refined ones.
    params = dataclasses.replace(crf, threshold=float(f"{np.quantile(refined, 0.7):.6g}"))
    scorer = FrameScorer.from_holdout(held)
    with_crf, without = (
        scorer.summary(params)[0],
        scorer.summary(PostprocessParams(params.threshold))[0],
    )
    assert with_crf != pytest.approx(without)
    save_postprocess(run / "postprocess.json", params, {})
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run)]) == 0
    assert json.loads(capsys.readouterr().out)["score"] == pytest.approx(with_crf, abs=1e-6)


def test_crf_values_read_briefly_in_logs_and_the_report():
    off = {
        "crf_weight": 0.0,
        "crf_spatial_sigma": 3.0,
        "crf_intensity_sigma": 20.0,
        "threshold": 0.5,
    }
    assert describe_value(off) == "crf off, threshold 0.5"
    on = {**off, "crf_weight": 4.0, "crf_spatial_sigma": 1.6}
    assert (
        describe_value(on) == "weight 4.0, spatial_sigma 1.6, intensity_sigma 20.0, threshold 0.5"
    )
    assert describe_value(0.4) == "0.4"
