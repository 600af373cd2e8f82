"""Hand-computed cases for Dice, IoU, accuracy and the competition score."""

import numpy as np
import pytest
import torch

from nerveseg.metrics import ScoreAccumulator, all_empty_score, dice, jaccard, pixel_accuracy


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
