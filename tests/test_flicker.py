"""The flicker measure on hand cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nerveseg.flicker import mask_change, measure_flicker, toggles


def square(top: int, left: int, size: int = 2, shape=(6, 6)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + size, left : left + size] = True
    return mask


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (square(0, 0), square(0, 0), 0.0),  # the same mask
        (np.zeros((6, 6), bool), np.zeros((6, 6), bool), 0.0),  # both empty: nothing changed
        (square(0, 0), np.zeros((6, 6), bool), 1.0),  # vanished
        (square(0, 0), square(3, 3), 1.0),  # jumped
        (square(0, 0), square(0, 1), 1 - 2 / 6),  # shifted by one: IoU 2/6
    ],
)
def test_mask_change(a, b, expected):
    assert mask_change(a, b) == pytest.approx(expected)


def test_toggles():
    assert toggles([False, True, True, False, True]) == 3
    assert toggles([True]) == 0 and toggles([]) == 0


def test_only_pairs_whose_truth_barely_moves_count():
    changes = np.array([0.0, 1.0, 0.5, 0.2])
    truth = np.array([0.0, 0.9, 0.05, 0.1])  # the second pair's truth really moved
    present = [np.array([True, True, False, True, True])]
    result = measure_flicker(
        changes, present, seconds=30.0, truth_changes=truth, truth_present=[np.ones(5, bool)]
    )
    assert result.pairs == 3
    assert result.mask_change == pytest.approx((0.0 + 0.5 + 0.2) / 3)
    assert result.toggles_per_minute == pytest.approx(2 / 0.5)
    assert result.truth_toggles_per_minute == 0.0
    assert result.truth_mask_change == pytest.approx((0.0 + 0.05 + 0.1) / 3)
    assert result.excess_mask_change == pytest.approx((0.0 + 0.45 + 0.1) / 3)


def test_without_truth_every_pair_counts():
    result = measure_flicker(np.array([0.5, 0.1]), [np.array([True, True, False])], 60.0)
    assert result.pairs == 2 and result.mask_change == pytest.approx(0.3)
    assert result.toggles_per_minute == 1.0 and math.isnan(result.truth_toggles_per_minute)
    assert math.isnan(result.truth_mask_change) and math.isnan(result.excess_mask_change)
