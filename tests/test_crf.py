"""The dense CRF on tiny hand-made frames: one mean-field update computed by hand, smoothing
inside a region, stopping at an intensity edge, "off" as the identity, shapes and dtypes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nerveseg.crf import mean_field, refine, uses_crf, window_offsets
from nerveseg.errors import ConfigError
from nerveseg.postprocess import PostprocessParams

SHAPE = (24, 32)


def expected(p: float, neighbours: float, weight: float) -> float:
    """One update by hand: every neighbour at ``neighbours``; the kernel sums to ``weight``."""
    logit = math.log(p / (1 - p)) + weight * (2 * neighbours - 1)
    return 1 / (1 + math.exp(-logit))


def crf(weight=2.0, **kwargs) -> PostprocessParams:
    return PostprocessParams(crf_weight=weight, **kwargs)


@pytest.mark.parametrize("p", [0.99, 0.01])
def test_a_uniform_frame_keeps_confident_probabilities_and_only_sharpens_them(p):
    probs = np.full(SHAPE, p, np.float32)
    image = np.full(SHAPE, 90, np.uint8)
    once = refine(probs, image, crf(crf_iterations=1))
    # Corners and borders too: the kernel is normalised over the neighbours inside the frame.
    np.testing.assert_allclose(once, expected(p, p, 2.0), rtol=1e-5)
    more = refine(probs, image, crf())
    assert ((more > 0.5) == (probs > 0.5)).all()
    assert (np.abs(more - 0.5) >= np.abs(probs - 0.5)).all()


def test_a_noisy_pixel_inside_a_uniform_region_is_smoothed():
    probs = np.full(SHAPE, 0.9, np.float32)
    probs[12, 16] = 0.3
    image = np.full(SHAPE, 120, np.uint8)
    once = refine(probs, image, crf(crf_iterations=1))
    assert once[12, 16] == pytest.approx(expected(0.3, 0.9, 2.0), rel=1e-5)  # 0.68
    assert refine(probs, image, crf())[12, 16] > once[12, 16]  # its neighbours grew surer too


def test_an_intensity_edge_stops_the_bilateral_kernel_but_not_the_spatial_one():
    # Left half bright and likely nerve, right half dark and unlikely: the column right of the
    # edge sees the left half's confident neighbours only through the spatial kernel.
    probs = np.full(SHAPE, 0.2, np.float32)
    probs[:, :16] = 0.9
    image = np.full(SHAPE, 40, np.uint8)
    image[:, :16] = 200
    params = crf(crf_iterations=1, crf_intensity_sigma=10.0, crf_spatial_sigma=1.0)
    bilateral = refine(probs, image, params)
    np.testing.assert_allclose(bilateral[:, 16:], expected(0.2, 0.2, 2.0), rtol=1e-5)
    np.testing.assert_allclose(bilateral[:, :16], expected(0.9, 0.9, 2.0), rtol=1e-5)
    spatial = refine(probs, image, crf(crf_iterations=1, crf_smoothness=1.0, crf_spatial_sigma=1.0))
    assert (spatial[:, 16] > 2 * bilateral[:, 16]).all()  # ~0.17 against 0.07
    assert spatial[:, 24:] == pytest.approx(bilateral[:, 24:], rel=1e-5)  # beyond the window


def test_weight_zero_is_the_identity():
    probs = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
    image = np.zeros(SHAPE, np.uint8)
    off = PostprocessParams(crf_spatial_sigma=5.0, crf_smoothness=1.0)
    assert not uses_crf(off) and uses_crf(crf())
    assert refine(probs, image, off) is probs
    tensor = torch.from_numpy(probs)
    assert refine(tensor, image, off) is tensor
    np.testing.assert_array_equal(mean_field(tensor[None], tensor[None], weight=0)[0], tensor)


def test_kinds_shapes_and_dtypes_round_trip_and_batches_equal_single_frames():
    rng = np.random.default_rng(1)
    probs = rng.random((20, *SHAPE), dtype=np.float32)  # more frames than one chunk
    images = rng.integers(0, 256, (20, *SHAPE), dtype=np.uint8)
    params = crf(crf_smoothness=0.3)
    batch = refine(probs, images, params)
    assert isinstance(batch, np.ndarray) and batch.shape == probs.shape
    assert batch.dtype == np.float32 and ((batch >= 0) & (batch <= 1)).all()
    single = refine(probs[19], images[19], params)
    assert single.shape == SHAPE
    np.testing.assert_allclose(single, batch[19], atol=1e-6)
    half = refine(torch.from_numpy(probs).half(), torch.from_numpy(images), params)
    assert isinstance(half, torch.Tensor) and half.dtype == torch.float16
    np.testing.assert_allclose(half.float().numpy(), batch, atol=2e-3)
    with pytest.raises(ValueError, match="same size"):
        refine(probs, images[:, :-1], params)


def test_the_window_is_48_neighbours_reaching_two_sigmas():
    for sigma in (0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0):
        offsets = window_offsets(sigma)
        assert len(offsets) == 48 and (0, 0) not in offsets
        assert max(dy for dy, _ in offsets) >= 2 * sigma
    assert window_offsets(1.5) == [
        (dy, dx) for dy in range(-3, 4) for dx in range(-3, 4) if dy or dx
    ]


@pytest.mark.parametrize(
    "key, value",
    [
        ("crf_weight", -1.0),
        ("crf_weight", 50.0),
        ("crf_smoothness", 1.5),
        ("crf_spatial_sigma", 0.0),
        ("crf_intensity_sigma", -3.0),
        ("crf_iterations", 0),
    ],
)
def test_bad_crf_values_are_refused_in_one_line(key, value):
    with pytest.raises(ConfigError, match=key):
        PostprocessParams.from_dict({key: value})


def test_older_postprocess_files_mean_no_crf():
    params = PostprocessParams.from_dict({"threshold": 0.6, "min_area": 100})
    assert not uses_crf(params)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_gpu_gives_the_cpu_result():
    rng = np.random.default_rng(2)
    probs = torch.from_numpy(rng.random((4, *SHAPE), dtype=np.float32))
    images = torch.from_numpy(rng.integers(0, 256, (4, *SHAPE), dtype=np.uint8))
    cpu = refine(probs, images, crf())
    gpu = refine(probs.cuda(), images, crf())
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(gpu.cpu().numpy(), cpu.numpy(), atol=1e-5)
