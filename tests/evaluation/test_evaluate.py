"""evaluate_run: one scoring loop, one per_image.csv schema, the all-empty baseline beside."""

from __future__ import annotations

import csv
import json

import pytest

from nerveseg.errors import NervesegError
from nerveseg.evaluation import build_report, evaluate_run
from nerveseg.evaluation.scoring import PER_IMAGE_COLUMNS
from nerveseg.postprocess import PostprocessParams


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_evaluation_json_is_the_mean_of_per_image_csv(run_copy):
    evaluation = evaluate_run(run_copy, device="cpu")
    rows = read_csv(run_copy / "per_image.csv")
    split = json.loads((run_copy / "split.json").read_text())
    assert [r["name"] for r in rows] == split["val"]
    dice = [float(r["dice"]) for r in rows]
    assert evaluation.scores.score == pytest.approx(sum(dice) / len(dice), abs=1e-6)
    empty = [int(r["truth_pixels"]) == 0 for r in rows]
    assert evaluation.all_empty_score == pytest.approx(sum(empty) / len(empty))
    saved = json.loads((run_copy / "evaluation.json").read_text())
    assert saved["score"] == pytest.approx(evaluation.scores.score)


def test_evaluate_and_the_report_write_one_per_image_schema(run_copy):
    evaluate_run(run_copy)
    build_report(run_copy)
    ours = read_csv(run_copy / "per_image.csv")
    reports = read_csv(run_copy / "report" / "per_image.csv")
    assert tuple(ours[0]) == tuple(reports[0]) == PER_IMAGE_COLUMNS
    assert ours == reports  # the same frames scored the same way


def test_a_post_processing_that_empties_every_mask_scores_the_all_empty_baseline(run_copy):
    nothing = PostprocessParams(threshold=1.0)
    evaluation = evaluate_run(run_copy, postprocess=nothing)
    assert evaluation.scores.score == pytest.approx(evaluation.all_empty_score)
    assert evaluation.scores.false_detection_rate == 0


def test_all_frames_of_other_data_leave_the_run_folder_alone(trained_run, tiny_data):
    before = sorted(p.name for p in trained_run.iterdir())
    evaluation = evaluate_run(trained_run, tiny_data, split="all")
    assert evaluation.split == "all" and evaluation.scores.images == 32
    assert sorted(p.name for p in trained_run.iterdir()) == before


def test_an_unknown_split_is_refused(trained_run):
    with pytest.raises(NervesegError, match="val or all"):
        evaluate_run(trained_run, split="test")
