"""Hand-computed cases for Dice, IoU, accuracy and the competition score, one structure and
several."""

import math

import numpy as np
import pytest
import torch

from nerveseg.metrics import (
    ScoreAccumulator,
    StructureScoreAccumulator,
    all_empty_score,
    dice,
    jaccard,
    mean_scores,
    per_structure,
    pixel_accuracy,
)


def m(*rows):
    return torch.tensor(rows, dtype=torch.bool)


CASES = [
    # (pred, truth, dice, iou, accuracy)
    (m([1, 1, 0, 0]), m([1, 1, 0, 0]), 1.0, 1.0, 1.0),  # perfect
    (m([1, 1, 0, 0]), m([0, 0, 1, 1]), 0.0, 0.0, 0.0),  # disjoint
    (m([0, 0, 0, 0]), m([0, 0, 0, 0]), 1.0, 1.0, 1.0),  # empty/empty scores 1 (competition)
    (m([1, 0, 0, 0]), m([0, 0, 0, 0]), 0.0, 0.0, 0.75),  # stray pixel on an empty frame
    (m([0, 0, 0, 0]), m([1, 1, 0, 0]), 0.0, 0.0, 0.5),  # missed nerve
    (m([1, 1, 1, 0]), m([1, 1, 0, 0]), 0.8, 2 / 3, 0.75),  # 2*2/(3+2), 2/3
]


@pytest.mark.parametrize(("pred", "truth", "d", "iou", "acc"), CASES)
def test_hand_cases(pred, truth, d, iou, acc):
    assert dice(pred, truth).item() == pytest.approx(d)
    assert jaccard(pred, truth).item() == pytest.approx(iou)
    assert pixel_accuracy(pred, truth).item() == pytest.approx(acc)


def test_empty_rule_is_a_named_argument():
    empty = m([0, 0, 0, 0])
    assert dice(empty, empty, empty_score=0.0).item() == 0.0


def test_batches_give_one_value_per_image():
    pred = torch.zeros(3, 4, 5, dtype=torch.bool)
    truth = torch.zeros(3, 4, 5, dtype=torch.bool)
    truth[1, 0, 0] = True
    assert dice(pred, truth).tolist() == [1.0, 0.0, 1.0]


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        dice(torch.zeros(2, 4, 4, dtype=torch.bool), torch.zeros(2, 4, 5, dtype=torch.bool))


def test_accumulator_summary():
    acc = ScoreAccumulator()
    truth = torch.zeros(4, 2, 2, dtype=torch.bool)
    truth[0, 0, 0] = truth[1, 0, 0] = True
    pred = torch.zeros(4, 2, 2, dtype=torch.bool)
    pred[0, 0, 0] = True  # hit
    pred[2, 1, 1] = True  # false detection on an empty frame
    acc.update(pred, truth)
    scores = acc.summary()
    assert scores.score == pytest.approx((1 + 0 + 0 + 1) / 4)
    assert scores.dice_nerve == pytest.approx(0.5)
    assert scores.false_detection_rate == pytest.approx(0.5)
    assert scores.missed_rate == pytest.approx(0.5)
    assert scores.nerve_images == 2


def test_all_empty_score_is_the_empty_fraction():
    assert all_empty_score(np.array([True, False, False, False])) == 0.75


# Several structures: (N, S, H, W) masks, each structure scored on its own.


def two_structures(*frames):
    """Frames of ``(nerve row, vessel row)`` pixel lists -> ``(N, 2, 1, W)`` bool."""
    return torch.tensor(frames, dtype=torch.bool).unsqueeze(2)


# Three frames of four pixels: (pred, truth) per structure, and the hand-computed values.
PRED = two_structures(
    ([1, 1, 0, 0], [0, 0, 0, 0]),  # nerve hit; vessel empty and predicted empty
    ([0, 0, 0, 0], [1, 0, 0, 0]),  # no nerve anywhere; a false vessel pixel
    ([1, 1, 1, 0], [0, 0, 0, 0]),  # nerve over-segmented; vessel missed
)
TRUTH = two_structures(
    ([1, 1, 0, 0], [0, 0, 0, 0]),
    ([0, 0, 0, 0], [0, 0, 0, 0]),
    ([1, 1, 0, 0], [0, 0, 1, 1]),
)


def test_per_structure_dice_and_iou_tables():
    assert per_structure(dice, PRED, TRUTH).tolist() == [[1.0, 1.0], [1.0, 0.0], [0.8, 0.0]]
    iou = per_structure(jaccard, PRED, TRUTH)
    assert iou.flatten().tolist() == pytest.approx([1.0, 1.0, 1.0, 0.0, 2 / 3, 0.0])
    # The empty rule is per structure: a named argument as for one structure.
    assert per_structure(dice, PRED, TRUTH, empty_score=0.0)[0, 1].item() == 0.0


def test_structure_scores_by_hand():
    acc = StructureScoreAccumulator(["nerve", "vessel"])
    assert acc.update(PRED, TRUTH).tolist() == [[1.0, 1.0], [1.0, 0.0], [0.8, 0.0]]
    scores = acc.summary()
    assert list(scores) == ["nerve", "vessel"]
    nerve, vessel = scores["nerve"], scores["vessel"]
    assert nerve.score == pytest.approx((1 + 1 + 0.8) / 3)
    assert (nerve.nerve_images, nerve.dice_nerve) == (2, pytest.approx(0.9))
    assert nerve.jaccard == pytest.approx((1 + 1 + 2 / 3) / 3)
    assert (nerve.false_detection_rate, nerve.missed_rate) == (0.0, 0.0)
    assert vessel.score == pytest.approx(1 / 3)
    assert (vessel.nerve_images, vessel.dice_nerve) == (1, 0.0)
    assert vessel.false_detection_rate == pytest.approx(0.5)  # 1 of 2 frames without a vessel
    assert vessel.missed_rate == 1.0
    mean = mean_scores(scores)
    assert mean.score == pytest.approx((2.8 / 3 + 1 / 3) / 2)
    assert mean.false_detection_rate == pytest.approx(0.25)
    assert (mean.images, mean.nerve_images) == (3, 3)


def test_one_structure_scores_are_exactly_the_single_channel_ones():
    torch.manual_seed(0)
    pred, truth = torch.rand(6, 1, 5, 7) > 0.6, torch.rand(6, 1, 5, 7) > 0.8
    truth[2] = False
    old = ScoreAccumulator()
    old.update(pred[:, 0], truth[:, 0])
    new = StructureScoreAccumulator(["nerve"])
    new.update(pred, truth)
    assert new.summary() == {"nerve": old.summary()}
    assert mean_scores(new.summary()) == old.summary()


def test_mean_leaves_out_a_structure_without_such_frames():
    acc = StructureScoreAccumulator(["nerve", "vessel"])
    # The vessel is on both frames; the nerve only on the first, and predicted on both.
    truth = two_structures(([1, 0], [1, 1]), ([0, 0], [0, 1]))
    acc.update(two_structures(([1, 0], [1, 1]), ([1, 0], [0, 1])), truth)
    scores = acc.summary()
    assert math.isnan(scores["vessel"].false_detection_rate)
    assert scores["nerve"].false_detection_rate == 1.0
    assert mean_scores(scores).false_detection_rate == 1.0


def test_several_structures_are_never_scored_as_one():
    with pytest.raises(ValueError, match="2 structures"):
        dice(PRED, TRUTH)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        StructureScoreAccumulator(["a", "b", "c"]).update(PRED, TRUTH)


def test_all_empty_score_per_structure_is_the_mean_empty_fraction():
    shown = np.array([[True, False], [False, False], [True, False], [False, True]])
    assert all_empty_score(shown) == pytest.approx((0.5 + 0.75) / 2)
