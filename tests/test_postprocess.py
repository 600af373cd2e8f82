"""Post-processing as data: each step on tiny hand-made maps, the JSON round trip, the fallback."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nerveseg.checkpoint import ModelInfo
from nerveseg.errors import NervesegError
from nerveseg.inference.predictor import masks_at_original_size
from nerveseg.inference.sources import run_postprocess
from nerveseg.postprocess import (
    PostprocessParams,
    apply_postprocess,
    load_postprocess,
    postprocess_batch,
    save_postprocess,
)
from nerveseg.runs import POSTPROCESS


def blob(shape=(40, 60), box=(10, 20, 15, 30), value=0.9) -> np.ndarray:
    """Probability map: ``value`` inside ``box`` = (top, bottom, left, right), 0 elsewhere."""
    prob = np.zeros(shape, dtype=np.float32)
    top, bottom, left, right = box
    prob[top:bottom, left:right] = value
    return prob


def test_threshold_and_min_area():
    prob = blob(box=(10, 20, 15, 30), value=0.6)  # 150 pixels
    assert apply_postprocess(prob, PostprocessParams(threshold=0.5)).sum() == 150
    assert apply_postprocess(prob, PostprocessParams(threshold=0.7)).sum() == 0
    assert apply_postprocess(prob, PostprocessParams(min_area=150)).sum() == 150
    assert apply_postprocess(prob, PostprocessParams(min_area=151)).sum() == 0


def test_max_area_gate_empties_implausibly_large_masks():
    prob = blob(box=(0, 30, 0, 50))  # 1,500 pixels
    assert apply_postprocess(prob, PostprocessParams(max_area=1000)).sum() == 0
    assert apply_postprocess(prob, PostprocessParams(max_area=1500)).sum() == 1500


def test_keep_largest_component():
    prob = blob(box=(5, 15, 5, 15)) + blob(box=(25, 28, 40, 43))  # 100 and 9 pixels
    mask = apply_postprocess(prob, PostprocessParams(keep_largest=True))
    assert mask.sum() == 100 and not mask[26, 41]


def test_fill_holes_and_closing():
    ring = blob(box=(5, 25, 5, 25))
    ring[10:20, 10:20] = 0
    assert apply_postprocess(ring, PostprocessParams()).sum() == 400 - 100
    assert apply_postprocess(ring, PostprocessParams(fill_holes=True)).sum() == 400
    # Two bars 2 px apart: a closing of radius 2 bridges the gap, radius 0 does not.
    bars = blob(box=(10, 20, 10, 20)) + blob(box=(10, 20, 22, 32))
    assert apply_postprocess(bars, PostprocessParams()).sum() == 200
    closed = apply_postprocess(bars, PostprocessParams(closing_radius=2))
    assert closed[15, 20] and closed[15, 21] and closed.sum() > 200


def test_convex_hull_fills_dents_and_holes_of_each_component_on_its_own():
    # An L (a 20x10 bar and a 10x10 foot, 300 px): its hull adds the pixels of the empty
    # square (rows 0-9, columns 10-19) on or below the edge from (0, 9) to (10, 19), column
    # <= row + 9: 0 + 1 + ... + 9 = 45, the edge's own pixels included.
    ell = blob(box=(0, 20, 0, 10)) + blob(box=(10, 20, 10, 20))
    shaped = apply_postprocess(ell, PostprocessParams(convex_hull=True))
    assert shaped.sum() == 300 + 45
    assert shaped[1, 10] and shaped[5, 14] and shaped[9, 18]
    assert not shaped[0, 10] and not shaped[5, 15] and not shaped[9, 19]
    # A ring's hole is filled; a separate square far away is hulled on its own, not joined.
    ring = blob(box=(5, 25, 5, 25)) + blob(box=(30, 35, 40, 45))
    ring[10:20, 10:20] = 0
    hulled = apply_postprocess(ring, PostprocessParams(convex_hull=True))
    assert hulled.sum() == 400 + 25 and not hulled[27, 30]


def test_convex_hull_leaves_convex_shapes_and_lines_as_they_are():
    square = blob(box=(5, 15, 5, 15))
    line = blob(box=(30, 31, 10, 50))
    both = square + line
    assert np.array_equal(apply_postprocess(both, PostprocessParams(convex_hull=True)), both > 0.5)


def test_closing_near_the_frame_edge_keeps_the_shape():
    prob = blob(box=(0, 10, 0, 10))
    assert apply_postprocess(prob, PostprocessParams(closing_radius=3)).sum() == 100


def test_presence_gate():
    probs = np.stack([blob(), blob()])
    params = PostprocessParams(presence_threshold=0.5)
    masks = apply_postprocess(probs, params, presence=np.array([0.9, 0.2]))
    assert masks.shape == probs.shape and masks[0].any() and not masks[1].any()
    with pytest.raises(NervesegError, match="no presence"):
        apply_postprocess(probs, params)


def test_batch_and_torch_inputs_match_single_frames():
    probs = torch.from_numpy(np.stack([blob(), blob(value=0.3)])).half()
    masks = apply_postprocess(probs, PostprocessParams())
    assert masks.dtype == bool and masks.shape == (2, 40, 60)
    np.testing.assert_array_equal(masks[0], apply_postprocess(blob(), PostprocessParams()))
    assert not masks[1].any()


def test_params_round_trip_through_json(tmp_path):
    params = PostprocessParams(threshold=0.4, min_area=900, keep_largest=True, fill_holes=True)
    save_postprocess(tmp_path / POSTPROCESS, params, {"steps": []})
    assert load_postprocess(tmp_path / POSTPROCESS) == params
    assert json.loads((tmp_path / POSTPROCESS).read_text())["fit"] == {"steps": []}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"treshold": 0.5}, "unknown key 'treshold'"),
        ({"keep_largest": "yes"}, "true or false"),
        ({"min_area": 10.5}, "whole number"),
        ({"threshold": 2}, "threshold must be at least 0 and at most 1"),
        ({"min_area": -5}, "min_area must be at least 0"),
        ({"threshold": "high"}, "expected a number"),
    ],
)
def test_bad_params_fail_loudly(data, message):
    with pytest.raises(NervesegError, match=message):
        PostprocessParams.from_dict(data)


def test_run_without_file_uses_the_model_files_values(tmp_path):
    own = PostprocessParams(threshold=0.4, min_area=300)
    info = ModelInfo("segnet", {}, (8, 8), 0.5, 0.2, postprocess=own)
    # A run's post-processing is per structure (one here, the model file's nerve).
    assert run_postprocess(tmp_path, info).first == own
    save_postprocess(tmp_path / POSTPROCESS, PostprocessParams(threshold=0.6), {})
    assert run_postprocess(tmp_path, info).first.threshold == 0.6
    assert run_postprocess(tmp_path, info, use_file=False).first.threshold == 0.4


def test_masks_at_original_size_resizes_then_applies_the_params():
    probs = torch.from_numpy(blob(shape=(20, 30), box=(5, 10, 5, 15), value=0.6))[None]
    kept = masks_at_original_size(probs, [(40, 60)], PostprocessParams(threshold=0.5))
    dropped = masks_at_original_size(probs, [(40, 60)], PostprocessParams(threshold=0.7))
    # Bilinear upsampling softens the box's edge: its inner part stays above 0.5.
    assert kept[0].shape == (40, 60) and kept[0][12:18, 12:28].all() and not kept[0][:8].any()
    assert not dropped[0].any()


@pytest.mark.parametrize(
    "params",
    [
        PostprocessParams(),
        PostprocessParams(threshold=0.3, min_area=40),
        PostprocessParams(threshold=0.6, min_area=10, max_area=120),
        PostprocessParams(threshold=0.5, presence_threshold=0.5),
    ],
)
def test_validation_on_the_device_gives_the_masks_inference_gives(params):
    """The torch path (validation, on the batch's device) and the NumPy path (inference) share
    the threshold and the gates: on the same maps they must give the same masks."""
    rng = np.random.default_rng(0)
    probs = np.zeros((6, 24, 32), dtype=np.float32)
    for i, (size, value) in enumerate(
        [(0, 0), (3, 0.9), (6, 0.55), (9, 0.7), (12, 0.95), (4, 0.4)]
    ):
        probs[i, 2 : 2 + size, 3 : 3 + size] = value
    probs += rng.uniform(0, 0.05, probs.shape).astype(np.float32)
    presence = np.array([0.9, 0.2, 0.8, 0.6, 0.4, 0.7], dtype=np.float32)
    on_device = postprocess_batch(torch.from_numpy(probs), params, torch.from_numpy(presence))
    on_cpu = apply_postprocess(probs, params, presence)
    np.testing.assert_array_equal(on_device.numpy(), on_cpu)
