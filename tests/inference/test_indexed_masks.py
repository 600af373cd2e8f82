"""Several structures in one indexed PNG: values, palette, overlap rule, names, round trip."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nerveseg.errors import DataError
from nerveseg.inference.indexed_masks import (
    NAMES_KEY,
    label_image,
    palette,
    read_indexed_mask,
    write_indexed_mask,
)
from nerveseg.inference.overlay import COLOURS


def two_structures() -> np.ndarray:
    """``(2, 4, 5)``: a nerve in the top left, a vessel in the bottom right, one shared pixel."""
    masks = np.zeros((2, 4, 5), dtype=bool)
    masks[0, :2, :3] = True
    masks[1, 1:, 2:] = True
    return masks


def test_value_k_plus_one_is_structure_k_and_the_first_wins_overlaps():
    labels = label_image(two_structures())
    expected = np.array(
        [
            [1, 1, 1, 0, 0],
            [1, 1, 1, 2, 2],  # (1, 2) is both: the nerve, the first structure, wins
            [0, 0, 2, 2, 2],
            [0, 0, 2, 2, 2],
        ],
        dtype=np.uint8,
    )
    np.testing.assert_array_equal(labels, expected)


def test_the_png_is_indexed_with_a_colour_per_structure_and_names_them(tmp_path):
    path = tmp_path / "1_mask.png"
    write_indexed_mask(path, two_structures(), ["nerve", "vessel"])
    with Image.open(path) as image:
        assert image.mode == "P"
        assert image.info[NAMES_KEY] == "nerve,vessel"
        colours = np.array(image.getpalette()[:9]).reshape(3, 3)
        values = np.asarray(image)
    np.testing.assert_array_equal(colours, [(0, 0, 0), COLOURS[0], COLOURS[1]])
    assert len({tuple(c) for c in colours}) == 3  # background and each structure distinct
    np.testing.assert_array_equal(values, label_image(two_structures()))
    assert palette(2) == [0, 0, 0, *COLOURS[0], *COLOURS[1]]


def test_round_trip_keeps_every_pixel_but_the_overlap_of_the_second(tmp_path):
    path = tmp_path / "m.png"
    masks = two_structures()
    write_indexed_mask(path, masks, ["nerve", "vessel"])
    back = read_indexed_mask(path, 2)
    np.testing.assert_array_equal(back[0], masks[0])  # the first structure is whole
    lost = masks[1] & ~back[1]
    assert lost.sum() == 1 and lost[1, 2]  # only the shared pixel left the vessel


def test_reading_refuses_other_files(tmp_path):
    grey = tmp_path / "grey.png"
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(grey)
    with pytest.raises(DataError, match="not an indexed PNG"):
        read_indexed_mask(grey, 2)
    three = tmp_path / "three.png"
    masks = np.zeros((3, 4, 4), dtype=bool)
    masks[2, 0, 0] = True
    write_indexed_mask(three, masks, ["a", "b", "c"])
    with pytest.raises(DataError, match="holds value 3 but the model has 2 structures"):
        read_indexed_mask(three, 2)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match="unreadable"):
        read_indexed_mask(broken, 2)
