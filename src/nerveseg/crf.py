"""A dense CRF over {background, nerve} in plain torch: the network's probabilities refined by
the frame's own intensities before they are resized back and thresholded.

Mean-field inference (Krähenbühl and Koltun, "Efficient Inference in Fully Connected CRFs with
Gaussian Edge Potentials", NeurIPS 2011) with the pairwise sums taken over a local window, as
ConvCRF does (Teichmann and Cipolla, "Convolutional CRFs for Semantic Segmentation", 2018):
at the network's input size a window of two sigmas holds every neighbour whose kernel value is
not negligible, and sampling it on a 7x7 grid (:func:`window_offsets`) makes an iteration 48
multiply-adds a pixel, about a million at 128x160, instead of the full N^2. No compiled
extension: the same code runs on the CPU or a GPU, batched.

Energy, per frame: unary ``-log p`` of the network's probability of each label; pairwise, Potts
(a cost when two neighbours differ) weighted by two Gaussian kernels over the window::

    k_bilateral(i, j) = exp(-|x_i - x_j|^2 / 2 sigma_xy^2 - (I_i - I_j)^2 / 2 sigma_I^2)
    k_spatial(i, j)   = exp(-|x_i - x_j|^2 / 2 sigma_xy^2)

Each kernel is normalised over a pixel's neighbours (its values sum to 1; neighbours outside
the frame do not count), and the two are mixed, ``weight * ((1 - smoothness) * bilateral +
smoothness * spatial)``, so ``weight`` reads as the most a neighbourhood can move a pixel's
log-odds. With two labels and Potts, each mean-field update is one line on the nerve label's
log-odds::

    logit Q_i = logit p_i + sum_j K_ij (2 Q_j - 1)

which starts from ``Q = p``. The bilateral kernel smooths a noisy pixel towards neighbours of
similar intensity and stops at intensity edges, so the outline can move onto the nerve's
border; the spatial kernel smooths regardless of the image.

Frames are the ``(h, w)`` uint8 grey images the network saw; probabilities are its sigmoid
outputs at the same size. :func:`refine` takes its settings from
:class:`~nerveseg.postprocess.PostprocessParams` (``crf_*`` fields; ``crf_weight`` 0 = off) and
accepts NumPy arrays or torch tensors; :func:`mean_field` is the maths on tensors.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch
from torch.nn import functional as F

from nerveseg.postprocess import PostprocessParams

Array = TypeVar("Array", np.ndarray, torch.Tensor)

# Probabilities are clipped this far from 0 and 1 before the log-odds: the unary stays finite
# (about +-13.8) and a neighbourhood with weight a few can still move a confident pixel a bit.
EPSILON = 1e-6
# Frames refined at once: the kernel holds 48 values per pixel, ~4 MB a frame at 128x160.
CHUNK = 16


def uses_crf(params: PostprocessParams) -> bool:
    """Do ``params`` ask for the CRF?"""
    return params.crf_weight > 0


def refine(
    probabilities: Array, images: np.ndarray | torch.Tensor, params: PostprocessParams
) -> Array:
    """``probabilities`` refined by the CRF that ``params`` describe; unchanged when it is off.

    Args:
        probabilities: ``(h, w)`` or ``(N, h, w)`` floats in [0, 1] at the network's input size,
            NumPy or torch (any device; the CRF runs there).
        images: the frames the network saw, same shape, uint8 grey levels (NumPy or torch).
        params: the ``crf_*`` fields.

    Returns:
        the refined probabilities, of the same kind, shape and dtype as ``probabilities``.
    """
    if not uses_crf(params):
        return probabilities
    as_numpy = isinstance(probabilities, np.ndarray)
    probs = torch.from_numpy(probabilities) if as_numpy else probabilities
    frames = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    if tuple(frames.shape) != tuple(probs.shape):
        raise ValueError(
            f"the CRF needs one frame per probability map of the same size; got frames "
            f"{tuple(frames.shape)} for probabilities {tuple(probs.shape)}"
        )
    single = probs.ndim == 2
    batch = probs[None] if single else probs
    frames = (frames[None] if single else frames).to(batch.device)
    out = torch.cat(
        [
            mean_field(
                batch[start : start + CHUNK],
                frames[start : start + CHUNK],
                weight=params.crf_weight,
                smoothness=params.crf_smoothness,
                spatial_sigma=params.crf_spatial_sigma,
                intensity_sigma=params.crf_intensity_sigma,
                iterations=params.crf_iterations,
            )
            for start in range(0, len(batch), CHUNK)
        ]
    ).to(probs.dtype)
    out = out[0] if single else out
    return out.numpy() if as_numpy else out


@torch.inference_mode()
def mean_field(
    probabilities: torch.Tensor,
    images: torch.Tensor,
    *,
    weight: float,
    smoothness: float = 0.0,
    spatial_sigma: float = 3.0,
    intensity_sigma: float = 20.0,
    iterations: int = 5,
) -> torch.Tensor:
    """Mean-field marginals of the nerve label; see the module docstring.

    Args:
        probabilities: ``(N, h, w)`` network probabilities in [0, 1].
        images: ``(N, h, w)`` grey levels (0-255) of the frames, any dtype.
        weight: the pairwise weight; 0 returns ``probabilities`` (as float32).
        smoothness: the share of ``weight`` on the spatial kernel, the rest on the bilateral.
        spatial_sigma: the kernels' width in pixels (see :func:`window_offsets`).
        intensity_sigma: the bilateral kernel's width in grey levels.
        iterations: mean-field updates.

    Returns:
        ``(N, h, w)`` float32 probabilities of the nerve label.
    """
    probs = probabilities.float()
    if weight <= 0:
        return probs
    offsets = window_offsets(spatial_sigma)
    unary = torch.logit(probs.clamp(EPSILON, 1 - EPSILON))
    kernel = _kernel(images.float(), offsets, weight, smoothness, spatial_sigma, intensity_sigma)
    logits = unary
    for _ in range(iterations):
        # Neighbours off the frame have kernel 0, so the padding's value does not matter.
        messages = _padded(2 * torch.sigmoid(logits) - 1, offsets)
        logits = unary.clone()
        for k, (dy, dx) in enumerate(offsets):
            logits.addcmul_(kernel[:, k], _shifted(messages, dy, dx, offsets))
    return torch.sigmoid(logits)


def window_offsets(spatial_sigma: float) -> list[tuple[int, int]]:
    """The ``(dy, dx)`` neighbours a pixel's messages come from, row by row, centre left out.

    A 7x7 grid of points ``ceil(2 sigma / 3)`` pixels apart, so the window reaches at least two
    sigmas (where the spatial kernel has fallen to ~0.14) with 48 neighbours whatever the
    width: the kernels are normalised over the neighbours, so a wide kernel sampled sparsely
    still averages over its whole width, at a fixed cost.
    """
    step = max(1, math.ceil(2 * spatial_sigma / 3))
    span = range(-3 * step, 3 * step + 1, step)
    return [(dy, dx) for dy in span for dx in span if dy or dx]


def _kernel(
    images: torch.Tensor,
    offsets: list[tuple[int, int]],
    weight: float,
    smoothness: float,
    sigma: float,
    intensity_sigma: float,
) -> torch.Tensor:
    """``(N, K, h, w)``: pixel i's weight for each of its K neighbours, both kernels normalised
    to sum 1 over the neighbours inside the frame, then mixed and scaled by ``weight``."""
    n, h, w = images.shape
    padded_images = _padded(images, offsets)
    inside = _padded(torch.ones_like(images[:1]), offsets)  # 0 off the frame
    spatial = images.new_empty((1, len(offsets), h, w))
    bilateral = images.new_empty((n, len(offsets), h, w))
    for k, (dy, dx) in enumerate(offsets):
        spatial[:, k] = math.exp(-(dy * dy + dx * dx) / (2 * sigma**2)) * _shifted(
            inside, dy, dx, offsets
        )
        contrast = (_shifted(padded_images, dy, dx, offsets) - images) ** 2
        bilateral[:, k] = spatial[:, k] * torch.exp(-contrast / (2 * intensity_sigma**2))
    mixed = _normalised(bilateral) * (weight * (1 - smoothness))
    if smoothness > 0:
        mixed += _normalised(spatial) * (weight * smoothness)
    return mixed


def _normalised(kernel: torch.Tensor) -> torch.Tensor:
    # Every pixel has neighbours inside the frame and exp() of a finite value is positive, but
    # a contrast far beyond intensity_sigma can underflow to 0: such a pixel gets no messages.
    total = kernel.sum(1, keepdim=True)
    return kernel / total.clamp_min(torch.finfo(kernel.dtype).tiny)


def _padded(values: torch.Tensor, offsets: list[tuple[int, int]]) -> torch.Tensor:
    """``(N, h, w)`` zero-padded on every side by the window's half-side."""
    radius = max(abs(dy) for dy, _ in offsets)
    return F.pad(values, (radius, radius, radius, radius))


def _shifted(
    padded: torch.Tensor, dy: int, dx: int, offsets: list[tuple[int, int]]
) -> torch.Tensor:
    """The ``(N, h, w)`` view of ``padded`` whose pixel i is the frame's pixel i + (dy, dx)."""
    radius = max(abs(oy) for oy, _ in offsets)
    h, w = padded.shape[-2] - 2 * radius, padded.shape[-1] - 2 * radius
    return padded[:, radius + dy : radius + dy + h, radius + dx : radius + dx + w]
