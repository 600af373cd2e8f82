"""Scoring several structures: each on its own channel and truth, the mean over structures, and
``per_image.csv`` / ``evaluation.json`` with a set of columns per structure."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from nerveseg.checkpoint import ModelInfo
from nerveseg.data.rle import rle_encode
from nerveseg.data.samples import Sample
from nerveseg.evaluation.evaluate import _combined, _evaluate
from nerveseg.evaluation.holdout import HeldOut, structure_truth
from nerveseg.evaluation.scoring import (
    PER_IMAGE_COLUMNS,
    score_frames,
    structure_columns,
    write_per_image,
    write_structures_per_image,
)
from nerveseg.metrics import mean_scores
from nerveseg.postprocess import PostprocessParams

SHAPE = (4, 6)


def box(rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=bool)
    mask[rows, cols] = True
    return mask


def held_out(name: str, truths, predictions) -> HeldOut:
    """Two frames of one structure: truth as RLE rows, probabilities 0.9 where predicted."""
    samples = [
        Sample(f"1_{i + 1}", "1", Path(f"1_{i + 1}.tif"), mask_rle=rle_encode(t))
        for i, t in enumerate(truths)
    ]
    probabilities = np.stack([np.where(p, 0.9, 0.0) for p in predictions]).astype(np.float32)
    info = ModelInfo("segnet", {}, SHAPE, 0.5, 0.2, structures=["nerve", "vessel"])
    return HeldOut(
        samples=samples,
        shapes=[SHAPE] * len(samples),
        images=np.zeros((len(samples), *SHAPE), dtype=np.uint8),
        probabilities=probabilities,
        presence=None,
        info=info,
        postprocess=PostprocessParams(),
        source="validation",
        seconds_per_frame=0.0,
        structure=name,
        index=0,  # each structure's truth here is a one-structure RLE row
    )


EMPTY = np.zeros(SHAPE, dtype=bool)
# Nerve: frame 1 found exactly, frame 2 empty in both -> Dice 1, 1.
NERVE = held_out(
    "nerve", [box(slice(0, 2), slice(0, 2)), EMPTY], [box(slice(0, 2), slice(0, 2)), EMPTY]
)
# Vessel: frame 1 half of a 6 px truth found (Dice 2*3/9, IoU 3/6), frame 2 a false detection.
VESSEL = held_out(
    "vessel",
    [box(slice(2, 4), slice(3, 6)), EMPTY],
    [box(slice(2, 3), slice(3, 6)), box(slice(0, 1), slice(4, 6))],
)


def test_each_structure_is_scored_on_its_own_then_averaged():
    _, nerve = score_frames(NERVE, PostprocessParams())
    _, vessel = score_frames(VESSEL, PostprocessParams())
    assert (nerve.score, nerve.dice_nerve, nerve.jaccard) == (1.0, 1.0, 1.0)
    assert nerve.false_detection_rate == 0 and nerve.missed_rate == 0
    assert vessel.score == pytest.approx((2 / 3 + 0) / 2)
    assert vessel.dice_nerve == pytest.approx(2 / 3)
    assert vessel.jaccard == pytest.approx((3 / 6 + 0) / 2)
    assert vessel.false_detection_rate == 1.0 and vessel.missed_rate == 0.0
    mean = mean_scores({"nerve": nerve, "vessel": vessel})
    assert mean.images == 2 and mean.nerve_images == 2  # (frame, structure) pairs shown
    assert mean.score == pytest.approx((1 + 1 / 3) / 2)
    assert mean.dice_nerve == pytest.approx((1 + 2 / 3) / 2)
    assert mean.jaccard == pytest.approx((1 + 0.25) / 2)
    assert mean.false_detection_rate == pytest.approx(0.5) and mean.missed_rate == 0


def test_a_structure_no_frame_shows_is_left_out_of_a_metrics_mean():
    nothing = held_out("vessel", [EMPTY, EMPTY], [EMPTY, EMPTY])
    _, nerve = score_frames(NERVE, PostprocessParams())
    _, vessel = score_frames(nothing, PostprocessParams())
    assert np.isnan(vessel.dice_nerve)
    assert mean_scores({"nerve": nerve, "vessel": vessel}).dice_nerve == nerve.dice_nerve


def test_evaluation_json_holds_the_mean_and_each_structure():
    results, evaluations = {}, {}
    for held in (NERVE, VESSEL):
        results[held.structure], evaluations[held.structure] = _evaluate(
            held, PostprocessParams(), "val"
        )
    combined = _combined("val", evaluations)
    data = combined.as_dict()
    assert data["split"] == "val" and data["score"] == pytest.approx(2 / 3)
    assert data["all_empty_score"] == pytest.approx(0.5)  # each structure: 1 of 2 frames empty
    assert data["nerve_images"] == 2  # (frame, structure) pairs whose truth shows it
    assert set(data["structures"]) == {"nerve", "vessel"}
    assert data["structures"]["vessel"]["false_detection_rate"] == 1.0
    assert "split" not in data["structures"]["nerve"]
    one = _combined("val", {"nerve": evaluations["nerve"]})
    assert "structures" not in one.as_dict()  # one structure: today's file


def test_per_image_csv_has_a_set_of_columns_per_structure(tmp_path):
    results = {
        held.structure: score_frames(held, PostprocessParams())[0] for held in (NERVE, VESSEL)
    }
    write_structures_per_image(tmp_path / "per_image.csv", results)
    with open(tmp_path / "per_image.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == structure_columns(["nerve", "vessel"])
    assert [r["name"] for r in rows] == ["1_1", "1_2"]
    assert [float(r["vessel_dice"]) for r in rows] == pytest.approx([2 / 3, 0.0])
    assert [int(r["vessel_predicted_pixels"]) for r in rows] == [3, 2]
    assert [int(r["nerve_truth_pixels"]) for r in rows] == [4, 0]


def test_one_structure_writes_todays_per_image_csv(tmp_path):
    results = score_frames(NERVE, PostprocessParams())[0]
    write_per_image(tmp_path / "old.csv", results)
    write_structures_per_image(tmp_path / "new.csv", {"nerve": results})
    assert (tmp_path / "new.csv").read_bytes() == (tmp_path / "old.csv").read_bytes()
    assert structure_columns(["nerve"]) == PER_IMAGE_COLUMNS


def test_a_structures_truth_is_its_bit_of_the_packed_mask():
    packed = np.array([[0, 1, 2, 3]], dtype=np.uint8)
    assert structure_truth(packed, 0).dtype == bool  # figures index with it
    assert structure_truth(packed, 0).tolist() == [[False, True, False, True]]
    assert structure_truth(packed, 1).tolist() == [[False, False, True, True]]
    one = np.array([[True, False]])
    assert structure_truth(one, 0) is one  # a one-structure mask as it is


def test_the_gallery_outlines_a_packed_truth_where_it_is():
    from nerveseg.evaluation.report_figures import overlay

    image = np.zeros((8, 8), dtype=np.uint8)
    truth = np.zeros((8, 8), dtype=np.uint8)  # packed {0, 1}, as read_full_mask gives it
    truth[3:6, 3:6] = 1
    drawn = overlay(image, truth, np.zeros((8, 8), dtype=bool)).any(axis=2)
    assert drawn[3, 3] and not drawn[0].any() and not drawn[4, 4]  # its border, not row 0/1


def test_a_subject_subset_keeps_its_frames_in_order_and_nothing_else():
    frames = [box(slice(0, 2), slice(0, 2)), EMPTY, box(slice(2, 4), slice(0, 6))]
    held = held_out("nerve", frames, frames)
    held.samples[1] = Sample("2_1", "2", Path("2_1.tif"), mask_rle=rle_encode(EMPTY))
    first = held.of_subjects(["1"])
    assert [s.name for s in first.samples] == ["1_1", "1_3"]
    assert np.array_equal(first.probabilities, held.probabilities[[0, 2]])
    assert len(first.shapes) == len(first.images) == 2
    assert [s.name for s in held.of_subjects({"2"}).samples] == ["2_1"]
    assert len(held.of_subjects([])) == 0


def test_subject_halves_deal_the_subjects_alternately_in_numeric_order():
    frames = [EMPTY] * 4
    held = held_out("nerve", frames, frames)
    for i, subject in enumerate(["10", "2", "1", "3"]):
        held.samples[i] = Sample(f"{subject}_1", subject, Path(f"{subject}_1.tif"))
    assert held.subject_halves() == (["1", "3"], ["2", "10"])


def test_the_frame_shape_is_the_most_common_one():
    frames = [EMPTY] * 3
    held = held_out("nerve", frames, frames)
    held.shapes = [(420, 580), (4, 6), (420, 580)]
    assert held.frame_shape == (420, 580)
