"""Letterboxing: the box, the padded frame and mask, and the way back, on hand-computed shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nerveseg.data.geometry import (
    Box,
    crop_to_frame,
    fit_image,
    fit_mask,
    letterbox_box,
    resize_image,
)
from nerveseg.data.loading import load_set
from nerveseg.data.samples import discover_labelled
from nerveseg.data.structures import label_map
from nerveseg.inference.predictor import masks_at_original_size, resize_probabilities
from nerveseg.postprocess import PostprocessParams


@pytest.mark.parametrize(
    "shape,size,box",
    [
        # 534x512 into 128x160: height limits, 534 * 128 / 512 = 133.5 -> 134, (160 - 134) / 2 = 13
        ((512, 534), (128, 160), Box(0, 13, 128, 134)),
        # 761x632: 761 * 128 / 632 = 154.1 -> 154, left (160 - 154) / 2 = 3
        ((632, 761), (128, 160), Box(0, 3, 128, 154)),
        # a wide frame: width limits, 100 * 160 / 400 = 40, top (128 - 40) / 2 = 44
        ((100, 400), (128, 160), Box(44, 0, 40, 160)),
        # the same aspect: the whole input, no padding
        ((256, 320), (128, 160), Box(0, 0, 128, 160)),
        # an odd spare pixel goes to the right: 3 * 4 / 4 = 3 of 6 -> left (6 - 3) // 2 = 1
        ((4, 3), (4, 6), Box(0, 1, 4, 3)),
    ],
)
def test_letterbox_box(shape, size, box):
    assert letterbox_box(shape, size) == box


def test_letterboxed_frame_is_the_resized_frame_on_black():
    frame = np.random.default_rng(0).integers(1, 256, (512, 534), dtype=np.uint8)
    fitted = fit_image(frame, (128, 160), "letterbox")
    assert fitted.shape == (128, 160) and fitted.flags.writeable
    assert (fitted[:, :13] == 0).all() and (fitted[:, 13 + 134 :] == 0).all()
    assert np.array_equal(fitted[:, 13:147], resize_image(frame, (128, 134)))
    assert np.array_equal(fit_image(frame, (128, 160)), resize_image(frame, (128, 160)))


def test_letterboxed_mask_sits_under_the_frame_and_keeps_every_bit():
    mask = np.zeros((512, 534), np.uint8)
    mask[0:256, 0:267] = 1  # nerve: the top-left quarter
    mask[256:, 267:] = 2  # vessel: the bottom-right quarter
    fitted = fit_mask(mask, (128, 160), "letterbox")
    assert (fitted[:, :13] == 0).all() and (fitted[:, 147:] == 0).all()
    assert (fitted[:64, 13:80] == 1).all() and (fitted[64:, 80:147] == 2).all()
    assert set(np.unique(fitted)) == {0, 1, 2}


def test_cropping_then_resizing_inverts_the_letterbox_exactly():
    # A box-aligned pattern: every network pixel inside the box holds one value, so the way
    # back (crop to the box, resize) must give the original frame's blocks exactly.
    frame_shape, size = (64, 96), (32, 64)  # box: 48 wide (32 * 96 / 64), left 8
    assert letterbox_box(frame_shape, size) == Box(0, 8, 32, 48)
    network = torch.full((1, *size), 0.9)  # padding: would be a nerve if it leaked back
    network[0, :, 8:56] = 0.0
    network[0, 8:24, 20:32] = 1.0  # rows 8-24, box columns 12-24 -> frame rows 16-48, cols 24-48
    back = resize_probabilities(network, frame_shape, "letterbox")[0]
    assert back.shape == frame_shape
    # Doubling: inside the block exact, its edge pixels half-way (bilinear), no padding anywhere.
    assert (back[17:47, 25:47] == 1.0).all() and back[16, 30] == back[30, 24] == 0.75
    assert back[:15].max() == 0 and back[:, :23].max() == 0 and back[:, 49:].max() == 0
    cropped = crop_to_frame(network, frame_shape, "letterbox")
    assert cropped.shape == (1, 32, 48) and crop_to_frame(network, frame_shape) is network
    params = PostprocessParams(threshold=0.5)
    (mask,) = masks_at_original_size(network, [frame_shape], params, resize="letterbox")
    assert mask.shape == frame_shape and mask.sum() == 32 * 24


def test_mixed_sizes_load_together(tmp_path: Path):
    folder = tmp_path / "data"
    folder.mkdir()
    for name, (height, width) in {
        "0001": (512, 534),
        "0002": (632, 761),
        "0003": (96, 120),
    }.items():
        Image.fromarray(np.full((height, width), 120, np.uint8)).save(folder / f"{name}.png")
        mask = np.zeros((height, width), np.uint8)
        mask[: height // 2, : width // 2] = 1
        mask[height // 2 :, width // 2 :] = 2
        Image.fromarray(mask).save(folder / f"{name}_mask.png")
    samples = discover_labelled(folder)
    labels = label_map({"nerve": [1], "vessel": [2]})
    loaded = load_set(samples, (128, 160), labels=labels, resize="letterbox")
    assert loaded.images.shape == (3, 128, 160)
    assert loaded.original_shapes == [(512, 534), (632, 761), (96, 120)]
    assert (loaded.images[0, :, :13] == 0).all() and (loaded.images[0, :, 13:147] == 120).all()
    assert (loaded.images[1, :, :3] == 0).all() and (loaded.images[1, :, 3:157] == 120).all()
    assert (loaded.images[2, :, :] == 120).all()  # 120x96 has the network's own aspect
    for mask in loaded.masks:
        assert set(np.unique(mask)) == {0, 1, 2}
    stretched = load_set(samples, (128, 160), labels=labels)
    assert (stretched.images == 120).all()
