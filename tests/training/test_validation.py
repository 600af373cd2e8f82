"""Validation figures per structure and their mean: hand-computed tables, the logged names, and
one structure giving exactly the figures of before structures existed."""

from __future__ import annotations

import math

import pytest
import torch
from torchmetrics import MeanMetric

from nerveseg.metrics import dice
from nerveseg.postprocess import PostprocessParams, postprocess_batch
from nerveseg.training.metrics_log import structure_figures
from nerveseg.training.validation import StructureValidation


def frames(*rows):
    """Frames of ``(nerve row, vessel row)`` pixel lists -> ``(N, 2, 1, W)`` bool."""
    return torch.tensor(rows, dtype=torch.bool).unsqueeze(2)


PRED = frames(
    ([1, 1, 0, 0], [0, 0, 0, 0]),  # nerve hit; vessel empty, predicted empty
    ([0, 0, 0, 0], [1, 0, 0, 0]),  # nothing there; a false vessel pixel
    ([1, 1, 1, 0], [0, 0, 0, 0]),  # nerve over-segmented (Dice 0.8, IoU 2/3); vessel missed
)
TRUTH = frames(
    ([1, 1, 0, 0], [0, 0, 0, 0]),
    ([0, 0, 0, 0], [0, 0, 0, 0]),
    ([1, 1, 0, 0], [0, 0, 1, 1]),
)
PRESENCE = torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.8, 0.6]])  # 2 of 3 right per structure


def logged(values):
    return {k: pytest.approx(v.item()) for k, v in values.items()}


def test_two_structures_log_each_figure_per_structure_and_the_mean():
    figures = StructureValidation(["nerve", "vessel"])
    figures.update(PRED[:2], TRUTH[:2], PRESENCE[:2])  # two batches add up
    figures.update(PRED[2:], TRUTH[2:], PRESENCE[2:])
    nerve_score, vessel_score = (1 + 1 + 0.8) / 3, (1 + 0 + 0) / 3
    assert logged(figures.compute()) == {
        "val/score": pytest.approx((nerve_score + vessel_score) / 2),
        "val/score_nerve": pytest.approx(nerve_score),
        "val/score_vessel": pytest.approx(vessel_score),
        "val/dice_nerve": pytest.approx(0.9),  # over the 2 frames showing a nerve
        "val/dice_vessel": pytest.approx(0.0),
        "val/iou": pytest.approx(((1 + 1 + 2 / 3) / 3 + 1 / 3) / 2),
        "val/iou_nerve": pytest.approx((1 + 1 + 2 / 3) / 3),
        "val/iou_vessel": pytest.approx(1 / 3),
        "val/false_detection_rate": pytest.approx((0 + 0.5) / 2),
        "val/false_detection_rate_nerve": pytest.approx(0.0),
        "val/false_detection_rate_vessel": pytest.approx(0.5),
        "val/missed_rate": pytest.approx((0 + 1) / 2),
        "val/missed_rate_nerve": pytest.approx(0.0),
        "val/missed_rate_vessel": pytest.approx(1.0),
        "val/presence_accuracy": pytest.approx(2 / 3),
        "val/presence_accuracy_nerve": pytest.approx(2 / 3),
        "val/presence_accuracy_vessel": pytest.approx(2 / 3),
    }
    assert figures.compute() == {}  # reset for the next epoch


def test_a_figure_with_no_such_frame_is_left_out_of_the_mean():
    figures = StructureValidation(["nerve", "vessel"])
    figures.update(PRED[2:], TRUTH[2:], None)  # one frame, showing both structures
    values = figures.compute()
    assert "val/false_detection_rate_nerve" not in values
    assert "val/false_detection_rate" not in values and "val/presence_accuracy" not in values
    assert values["val/missed_rate"].item() == pytest.approx(0.5)


def old_validation_figures(batches):
    """The validation step and epoch end of before structures existed, verbatim in effect."""
    score, dice_nerve, false_detection, presence_accuracy = (MeanMetric() for _ in range(4))
    for predicted, truth, presence in batches:
        per_image = dice(predicted, truth).float()
        score.update(per_image)
        has_nerve = truth.flatten(1).any(1)
        if has_nerve.any():
            dice_nerve.update(per_image[has_nerve])
        if (~has_nerve).any():
            false_detection.update(predicted.flatten(1).any(1)[~has_nerve].float())
        presence_accuracy.update(((presence >= 0.5) == has_nerve).float())
    return {
        "val/score": score.compute(),
        "val/dice_nerve": dice_nerve.compute(),
        "val/false_detection_rate": false_detection.compute(),
        "val/presence_accuracy": presence_accuracy.compute(),
    }


def test_one_structure_logs_exactly_the_old_figures():
    generator = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(4):
        probabilities = torch.rand(5, 12, 16, generator=generator)
        truth = torch.rand(5, 12, 16, generator=generator) > 0.85
        truth[0] = False
        presence = torch.rand(5, generator=generator)
        predicted = postprocess_batch(
            probabilities, PostprocessParams(threshold=0.8, min_area=3), presence
        )
        batches.append((predicted, truth, presence))
    figures = StructureValidation(["nerve"])
    for predicted, truth, presence in batches:
        figures.update(predicted[:, None], truth[:, None], presence[:, None])
    new = figures.compute()
    old = old_validation_figures(batches)
    for name, value in old.items():
        assert torch.equal(new[name], value), name
    # Beside them only the new figures, under their own names: no per-structure duplicates.
    assert set(new) - set(old) == {"val/iou", "val/missed_rate"}


def test_postprocess_batch_gates_each_structure_on_its_own_presence():
    probabilities = torch.ones(2, 2, 4, 4)
    probabilities[0, 1] = 0.0  # frame 0 has no vessel pixel at all
    presence = torch.tensor([[0.9, 0.9], [0.2, 0.8]])  # frame 1: the nerve is gated away
    masks = postprocess_batch(probabilities, PostprocessParams(presence_threshold=0.5), presence)
    assert masks.shape == (2, 2, 4, 4)
    assert masks.flatten(2).any(2).tolist() == [[True, False], [False, True]]
    # One channel is exactly the (N, H, W) path.
    probabilities = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    params = PostprocessParams(threshold=0.6, min_area=14)  # areas 11, 16, 15, 13
    single = postprocess_batch(probabilities, params, None)
    assert torch.equal(single[:, 0], postprocess_batch(probabilities[:, 0], params))
    assert 0 < single.flatten(1).any(1).sum() < 4  # the area gate kept some frames, not all


def test_summary_figures_per_structure_from_a_metrics_row():
    row = {"val/score": 0.5, "val/score_nerve": 0.6, "val/score_vessel": 0.4, "val/dice_nerve": 0.7}
    figures = structure_figures(row, ["nerve", "vessel"])
    assert figures["nerve"]["score"] == 0.6 and figures["vessel"]["score"] == 0.4
    assert figures["nerve"]["dice"] == 0.7 and math.isnan(figures["vessel"]["dice"])
    assert structure_figures(row, ["nerve"]) == {}  # the row's own fields say it all
    assert structure_figures(row, ["vessel"])["vessel"]["score"] == 0.5
