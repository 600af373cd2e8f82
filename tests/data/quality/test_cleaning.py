"""Cleaning policies on a tiny hand-made training set with known contradictory groups."""

from __future__ import annotations

import numpy as np
import pytest

from nerveseg.data.quality.cleaning import CLEAN_POLICIES, apply_policy, clean_training_frames
from nerveseg.data.quality.duplicates import DuplicateGroup
from nerveseg.errors import ConfigError

H, W = 4, 4


def mask(*pixels: tuple[int, int]) -> np.ndarray:
    out = np.zeros((H, W), np.uint8)
    for row, col in pixels:
        out[row, col] = 1
    return out


X, Y = (0, 0), (1, 1)
EMPTY = mask()


def frames(seeds: list[int]) -> np.ndarray:
    """Textured frames; equal seeds give identical pictures."""
    rng = [np.random.default_rng(seed) for seed in seeds]
    return np.stack([np.kron(r.integers(0, 256, (6, 8)), np.ones((8, 8))) for r in rng]).astype(
        np.uint8
    )


@pytest.fixture
def case():
    """Subject a: {0: X, 1: empty} duplicates, 2 alone. Subject b: {3: X+Y, 4: X+Y, 5: empty}.
    Subject c: {6: X, 7: X} agreeing duplicates. Masks are 4x4 beside 48x64 frames."""
    images = frames([0, 0, 1, 2, 2, 2, 3, 3])
    masks = np.stack([mask(X), EMPTY, mask(Y), mask(X, Y), mask(X, Y), EMPTY, mask(X), mask(X)])
    subjects = ["a", "a", "a", "b", "b", "b", "c", "c"]
    return images, masks, subjects


def test_report_finds_groups_and_changes_nothing(case):
    images, masks, subjects = case
    result = clean_training_frames(images, masks, subjects, "report")
    assert [(g.members, g.contradictory) for g in result.groups] == [
        ([0, 1], True),
        ([3, 4, 5], True),
        ([6, 7], False),
    ]
    assert result.masks is masks
    assert result.keep.tolist() == list(range(8))
    assert (result.changed_frames, result.dropped_frames) == (0, 0)


def test_none_skips_detection(case):
    result = clean_training_frames(*case, "none")
    assert result.groups == [] and result.keep.tolist() == list(range(8))
    assert result.masks is case[1]


def test_drop_leaves_out_every_member_of_contradictory_groups(case):
    images, masks, subjects = case
    result = clean_training_frames(images, masks, subjects, "drop")
    assert result.keep.tolist() == [2, 6, 7]
    assert result.dropped_frames == 5 and result.changed_frames == 0
    assert result.masks is masks


def test_union_gives_every_member_the_groups_union(case):
    images, masks, subjects = case
    before = masks.copy()
    result = clean_training_frames(images, masks, subjects, "union")
    expected = np.stack([mask(X), mask(X), mask(Y), *[mask(X, Y)] * 3, mask(X), mask(X)])
    np.testing.assert_array_equal(result.masks, expected)
    assert result.masks.dtype == np.uint8
    assert result.changed_frames == 2 and result.dropped_frames == 0
    assert result.keep.tolist() == list(range(8))
    np.testing.assert_array_equal(masks, before)  # the input is never modified


def test_majority_votes_per_pixel_and_a_tied_vote_is_empty(case):
    images, masks, subjects = case
    result = clean_training_frames(images, masks, subjects, "majority")
    # {0, 1}: one labelled, one empty, a tie on every count -> empty. {3, 4, 5}: 2 of 3 -> X+Y.
    expected = np.stack([EMPTY, EMPTY, mask(Y), *[mask(X, Y)] * 3, mask(X), mask(X)])
    np.testing.assert_array_equal(result.masks, expected)
    assert result.changed_frames == 2


def group(n: int) -> list[DuplicateGroup]:
    return [DuplicateGroup("s", list(range(n)), True, "test", 0.01)]


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        # A pixel in exactly half of the masks follows the group's non-empty vote (3 of 4)...
        ([mask(X, Y), mask(X, Y), mask(X), EMPTY], mask(X, Y)),
        # ... and stays empty when that vote is tied too (2 of 4).
        ([mask(X, Y), mask(X, Y), EMPTY, EMPTY], EMPTY),
        # Two non-empty masks in different places: every pixel tied, the vote says nerve.
        ([mask(X), mask(Y)], mask(X, Y)),
        # Three non-empty masks that share nothing: no pixel has a majority.
        ([mask(X), mask(Y), mask((2, 2))], EMPTY),
    ],
)
def test_majority_ties(members, expected):
    masks = np.stack(members)
    result = apply_policy(masks, group(len(members)), "majority")
    np.testing.assert_array_equal(result.masks, np.stack([expected] * len(members)))


def test_all_empty_masks_change_nothing(case):
    images, _, subjects = case
    masks = np.zeros((8, H, W), np.uint8)
    for policy in CLEAN_POLICIES:
        result = clean_training_frames(images, masks, subjects, policy)
        assert result.masks is masks and result.keep.tolist() == list(range(8))
        assert not any(g.contradictory for g in result.groups)


def test_a_subject_with_one_frame_is_kept():
    result = clean_training_frames(frames([0]), mask(X)[None], ["a"], "drop")
    assert result.groups == [] and result.keep.tolist() == [0]


def test_bad_policy_names_the_valid_ones(case):
    with pytest.raises(ConfigError, match="none, report, drop, union, majority"):
        clean_training_frames(*case, "vote")
    with pytest.raises(ConfigError, match="unknown cleaning policy"):
        apply_policy(case[1], [], "Union")


def test_each_structure_is_merged_on_its_own():
    # Packed masks: bit 0 nerve, bit 1 vessel. A group of three copies of one picture.
    members = np.stack([mask(X) | mask(Y) * 2, EMPTY + mask(Y) * 2, mask(X) | mask(X) * 2])
    group = DuplicateGroup("a", [0, 1, 2], True, "1 of 3 masks empty", 0.0)
    union = apply_policy(members, [group], "union").masks
    assert union[0][X] == 3 and union[0][Y] == 2 and (union == union[0]).all()
    majority = apply_policy(members, [group], "majority").masks
    # Nerve at X in 2 of 3: kept; vessel at Y in 2 of 3: kept; vessel at X in 1 of 3: dropped.
    assert majority[0][X] == 1 and majority[0][Y] == 2 and (majority == majority[0]).all()
