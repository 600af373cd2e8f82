"""The competition's run-length encoding: exact strings, round trips, malformed input."""

from __future__ import annotations

import numpy as np
import pytest

from nerveseg.data.kaggle import rle_problem
from nerveseg.data.rle import RLEError, rle_decode, rle_encode


def _corner_masks() -> list[np.ndarray]:
    masks = []
    for row, col in [(0, 0), (0, -1), (-1, 0), (-1, -1)]:
        mask = np.zeros((5, 7), bool)
        mask[row, col] = True
        masks.append(mask)
    return masks


SHAPES = [(1, 1), (1, 9), (9, 1), (2, 3), (5, 7), (42, 58), (420, 580)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("density", [0.0, 0.05, 0.5, 1.0])
def test_random_round_trip(shape: tuple[int, int], density: float) -> None:
    rng = np.random.default_rng(hash((shape, density)) % 2**32)
    mask = rng.random(shape) < density
    text = rle_encode(mask)
    assert np.array_equal(rle_decode(text, shape), mask)
    assert rle_problem(text, shape[0] * shape[1]) is None


@pytest.mark.parametrize("mask", _corner_masks())
def test_single_pixel_at_corners(mask: np.ndarray) -> None:
    text = rle_encode(mask)
    assert len(text.split()) == 2 and text.split()[1] == "1"
    assert np.array_equal(rle_decode(text, mask.shape), mask)


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        # Column-major, 1-indexed: pixel numbers are 1 4 / 2 5 / 3 6 for a 3x2 mask.
        ([[1, 0], [1, 0], [0, 1]], "1 2 6 1"),
        ([[0, 1], [0, 1], [0, 1]], "4 3"),
        ([[1, 1], [1, 1], [1, 1]], "1 6"),
        ([[0, 0], [0, 0], [0, 0]], ""),
        ([[0, 1], [0, 0], [1, 0]], "3 2"),  # a run continues across the column break
        ([[0, 0], [0, 0], [1, 1]], "3 1 6 1"),
        ([[1, 0, 1]], "1 1 3 1"),
    ],
)
def test_hand_computed_strings(mask: list[list[int]], expected: str) -> None:
    array = np.array(mask, dtype=np.uint8)
    assert rle_encode(array) == expected
    assert np.array_equal(rle_decode(expected, array.shape), array.astype(bool))


def test_empty_string_and_whitespace_decode_to_empty_mask() -> None:
    assert not rle_decode("", (4, 3)).any()
    assert not rle_decode("  ", (4, 3)).any()
    assert rle_decode("", (4, 3)).shape == (4, 3)


def test_all_one_kaggle_frame_is_one_run() -> None:
    assert rle_encode(np.ones((420, 580), bool)) == f"1 {420 * 580}"


@pytest.mark.parametrize(
    "text",
    [
        "1 2 3",  # odd count
        "1 x",  # not an integer
        "1.5 2",  # not an integer
        "1 3 2 2",  # overlap
        "5 1 1 1",  # out of order
        "0 2",  # starts at 0
        "1 0",  # zero length
        "5 3",  # past the end of a 6-pixel image
        "7 1",  # starts past the end
    ],
)
def test_malformed_strings_raise(text: str) -> None:
    with pytest.raises(RLEError):
        rle_decode(text, (3, 2))
    assert rle_problem(text, 6) is not None


def test_rle_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        rle_decode("1", (2, 2))


def test_encode_refuses_non_2d() -> None:
    with pytest.raises(RLEError):
        rle_encode(np.zeros((2, 2, 2)))
