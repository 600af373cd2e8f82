"""From probability maps to masks: threshold, shape clean-up, then gates that empty a mask.

The competition scores a predicted blob on an empty frame as 0, the same as missing a whole
nerve, so a minimum area that turns small detections into empty masks is worth more than most
architecture changes. Parameters are one plain type, :class:`PostprocessParams`: the config's
``postprocess`` section, the model file's own values and a run's fitted ``postprocess.json``
(``nerveseg fit-postprocess``) are all one, applied the same way everywhere.

Order of the steps, per frame: threshold -> keep the largest component -> convex hulls ->
closing -> fill holes -> the gates (minimum and maximum area, presence). The threshold and the
gates are written once for NumPy and torch arrays alike: inference applies every step at each
frame's original resolution (:func:`apply_postprocess`), while validation during training
applies the threshold and the gates on the batch's own device at the training size
(:func:`postprocess_batch`); the
shape steps need connected components and run at full resolution only.

Three more fields steady a stream of frames (EMA and presence hysteresis); they act only in
:mod:`nerveseg.temporal`, and their defaults mean "off", so still-image prediction is unchanged.

An optional dense CRF (:mod:`nerveseg.crf`, the ``crf_*`` fields; ``crf_weight`` 0 = off)
comes before all of these: it refines the network's probabilities with the frame's own
intensities at the network's input size, before they are resized back. It needs the frames, so
inference applies it where the frames are (:func:`nerveseg.crf.refine`); the functions here
take probabilities that are already refined. Measured on the real sample
(``benchmarks/crf_quality.py``: SegNet width 0.25 at 128x160, 8 validation subjects, fitted on
half of them and scored on the other half, then swapped), the fitted CRF raised the Dice on
nerve frames by +0.0026 +- 0.0014 (+0.0043 and +0.0002 on the two halves) and fit-postprocess
keeps it there, at 17.5 ms a frame at 128x160 on 2 loaded CPU threads, 20% of predict's time
per frame. (An earlier try with pydensecrf2 on a demo run moved the score by +0.0006.)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from scipy import ndimage

from nerveseg.errors import ConfigError, NervesegError
from nerveseg.files import write_json
from nerveseg.settings import from_mapping, setting

Array = TypeVar("Array", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class PostprocessParams:
    """How a probability map becomes a mask. Areas and radii are in original-resolution pixels.

    Attributes:
        threshold: a pixel is nerve when its probability is above this.
        min_area: a mask with fewer pixels (after the shape steps) becomes empty; 0 = off.
            The competition punishes a stray small blob on an empty frame with a score of 0.
        max_area: the area gate: a mask with more pixels becomes empty (no nerve is that big,
            a blob that is usually means a confused frame); 0 = off.
        keep_largest: keep only the largest connected component (one nerve per frame).
        convex_hull: replace each connected component by its convex hull. Annotators outline a
            nerve as one convex shape; a network's mask frays at the edges and dents where the
            nerve's echo is weak.
        closing_radius: radius of a morphological closing (disk) that joins nearby pieces; 0 = off.
        fill_holes: fill holes inside the mask.
        presence_threshold: frames whose presence probability (from a presence head) is below
            this get an empty mask; 0 = off. Needs a model with a presence head.
        pixel_off: streams only (:mod:`nerveseg.temporal`): hysteresis per pixel: a pixel in the
            frame before's mask stays nerve while its probability is above ``pixel_off``, a new
            one needs the threshold; 0 = off, at most ``threshold``. Steadies a wobbling edge
            without the lag of an average.
        ema_alpha: streams only (:mod:`nerveseg.temporal`): the weight of the newest frame in an
            exponential moving average of probabilities; 1 = off (every frame on its own).
        presence_on, presence_off: streams only: hysteresis on the frame's presence score (the
            presence head's probability, else the peak probability): a mask appears once the
            score reaches ``presence_on`` and stays until it falls below ``presence_off``;
            ``presence_on`` 0 = off. While on, it replaces the presence threshold.
        crf_weight: the dense CRF's pairwise weight, the most the neighbourhood can move a
            pixel's log-odds (:mod:`nerveseg.crf`); 0 = off.
        crf_smoothness: the share of ``crf_weight`` on the spatial kernel (smoothing whatever
            the image shows); the rest is on the bilateral kernel (smoothing between pixels of
            similar intensity).
        crf_spatial_sigma: the kernels' width, in pixels of the network's input size.
        crf_intensity_sigma: the bilateral kernel's width, in grey levels (0-255).
        crf_iterations: mean-field updates.
    """

    threshold: float = setting(0.5, at_least=0.0, at_most=1.0)
    min_area: int = setting(0, at_least=0)
    max_area: int = setting(0, at_least=0)
    keep_largest: bool = False
    convex_hull: bool = False
    closing_radius: int = setting(0, at_least=0)
    fill_holes: bool = False
    presence_threshold: float = setting(0.0, at_least=0.0, at_most=1.0)
    pixel_off: float = setting(0.0, at_least=0.0, at_most=1.0)
    ema_alpha: float = setting(1.0, above=0.0, at_most=1.0)
    presence_on: float = setting(0.0, at_least=0.0, at_most=1.0)
    presence_off: float = setting(0.0, at_least=0.0, at_most=1.0)
    crf_weight: float = setting(0.0, at_least=0.0, at_most=20.0)
    crf_smoothness: float = setting(0.0, at_least=0.0, at_most=1.0)
    crf_spatial_sigma: float = setting(3.0, above=0.0, at_most=8.0)
    crf_intensity_sigma: float = setting(20.0, above=0.0, at_most=255.0)
    crf_iterations: int = setting(5, at_least=1, at_most=20)

    def check(self) -> None:
        """Hysteresis needs its off threshold at or below its on threshold (presence and pixel)."""
        if self.presence_on > 0 and self.presence_off > self.presence_on:
            raise ConfigError(
                f"presence_off ({self.presence_off}) must be at most presence_on "
                f"({self.presence_on}); lower presence_off or raise presence_on"
            )
        if self.pixel_off > self.threshold:
            raise ConfigError(
                f"pixel_off ({self.pixel_off}) must be at most threshold ({self.threshold}); "
                "lower pixel_off (0 = off) or raise threshold"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, source: str = "post-processing") -> PostprocessParams:
        """Build from JSON data; unknown keys, wrong types and values out of range fail loudly."""
        return from_mapping(cls, data, source=source)

    def for_model(self, has_presence_head: bool) -> PostprocessParams:
        """These settings for a model with or without a presence head: the presence gate needs
        presence probabilities, so a model without a head must not ask for it."""
        return self if has_presence_head else dataclasses.replace(self, presence_threshold=0.0)

    def scaled(self, from_shape: tuple[int, int], to_shape: tuple[int, int]) -> PostprocessParams:
        """The area gates given at ``from_shape`` expressed in pixels of ``to_shape``."""
        ratio = (to_shape[0] * to_shape[1]) / (from_shape[0] * from_shape[1])
        return dataclasses.replace(
            self, min_area=round(self.min_area * ratio), max_area=round(self.max_area * ratio)
        )

    def describe(self) -> str:
        """The threshold, minimum area and whatever else differs from the defaults, briefly."""
        default = PostprocessParams()
        parts = [f"threshold {self.threshold}", f"min_area {self.min_area}"]
        parts += [
            f"{k} {v}"
            for k, v in self.to_dict().items()
            if k not in ("threshold", "min_area") and v != getattr(default, k)
        ]
        return ", ".join(parts)


def save_postprocess(path: Path, params: PostprocessParams, fit: dict[str, Any]) -> None:
    """Write ``params`` and how they were chosen (``fit``: steps, scores) as JSON."""
    write_json(Path(path), {"params": params.to_dict(), "fit": fit})


def load_postprocess(path: Path) -> PostprocessParams:
    """Read the ``params`` of a ``postprocess.json``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NervesegError(f"{path}: not a readable postprocess.json ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("params"), dict):
        raise NervesegError(f"{path}: no 'params' object; write it with nerveseg fit-postprocess")
    return PostprocessParams.from_dict(data["params"], source=str(path))


def binarise(probabilities: Array, params: PostprocessParams) -> Array:
    """The threshold step, for NumPy arrays and torch tensors alike."""
    return probabilities > params.threshold


def kept_frames(areas: Array, params: PostprocessParams, presence: Array | None = None) -> Array:
    """The gates: which frames keep their shaped mask, for NumPy arrays and torch tensors alike.

    Args:
        areas: ``(N,)`` pixel counts of the shaped masks.
        params: the minimum and maximum area and the presence threshold.
        presence: ``(N,)`` presence probabilities, or None for a model without a presence head.

    Returns:
        ``(N,)`` bool: False where a mask is too small or too large, or its frame's presence
        probability is below the presence threshold.
    """
    keep = areas >= params.min_area
    if params.max_area > 0:
        keep = keep & (areas <= params.max_area)
    present = passes_presence(params, presence)
    return keep if present is None else keep & present


def passes_presence(params: PostprocessParams, presence: Array | None) -> Array | None:
    """``(N,)`` bool: frames at or above the presence threshold; None when the gate is off."""
    if params.presence_threshold <= 0:
        return None
    if presence is None:
        raise NervesegError(
            "post-processing has a presence threshold but the model gives no presence "
            "probability; refit post-processing for this model (nerveseg fit-postprocess)"
        )
    return presence.reshape(-1) >= params.presence_threshold


def shape_mask(probability: np.ndarray, params: PostprocessParams) -> np.ndarray:
    """Threshold one ``(H, W)`` probability map and apply the shape steps: ``(H, W)`` bool."""
    mask = binarise(np.asarray(probability), params)
    if not mask.any():
        return mask
    if params.keep_largest:
        labels, count = ndimage.label(mask)
        if count > 1:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            mask = labels == int(sizes.argmax())
    if params.convex_hull:
        mask = convex_hulls(mask)
    if params.closing_radius > 0 or params.fill_holes:
        # Work on the mask's bounding box (padded by the radius): a nerve covers a few percent
        # of the frame, so this is ~20x less work than the whole frame.
        pad = params.closing_radius + 1
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        box = (
            slice(max(rows[0] - pad, 0), rows[-1] + pad + 1),
            slice(max(cols[0] - pad, 0), cols[-1] + pad + 1),
        )
        crop = np.pad(mask[box], pad)
        if params.closing_radius > 0:
            crop = ndimage.binary_closing(crop, structure=_disk(params.closing_radius))
        if params.fill_holes:
            crop = ndimage.binary_fill_holes(crop)
        mask = mask.copy()
        mask[box] = crop[pad:-pad, pad:-pad]
    return mask


def convex_hulls(mask: np.ndarray) -> np.ndarray:
    """``mask`` with each connected component (4-connected, as :func:`shape_mask` counts them)
    replaced by its convex hull: the pixels whose centres lie in the hull of the component's
    pixel centres, its edges included. A one-row or one-column component is its own hull."""
    from scipy.spatial import ConvexHull  # ~0.3 s to import: only when a hull is asked for

    labels, _ = ndimage.label(mask)
    out = mask.copy()
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        component = labels[box] == label
        if component.shape[0] == 1 or component.shape[1] == 1:
            continue
        facets = ConvexHull(_row_ends(component)).equations  # inside: normal . p + offset <= 0
        grid = np.indices(component.shape).reshape(2, -1).T
        inside = (grid @ facets[:, :2].T + facets[:, 2] <= 1e-9).all(axis=1)
        out[box] |= inside.reshape(component.shape)
    return out


def _row_ends(component: np.ndarray) -> np.ndarray:
    """The first and last pixel of every row of a component, ``(row, column)``: the hull of
    these is the hull of the whole component, from far fewer points."""
    rows = np.flatnonzero(component.any(1))
    first = component[rows].argmax(1)
    last = component.shape[1] - 1 - component[rows, ::-1].argmax(1)
    ends = np.concatenate([np.stack([rows, first], 1), np.stack([rows, last], 1)])
    return np.unique(ends, axis=0).astype(np.float64)


def apply_postprocess(
    probabilities: np.ndarray | torch.Tensor,
    params: PostprocessParams,
    presence: np.ndarray | torch.Tensor | float | None = None,
) -> np.ndarray:
    """Masks from full-resolution probabilities, every step as ``params`` says.

    Args:
        probabilities: ``(H, W)`` or ``(N, H, W)`` floats in [0, 1] at the original resolution.
        params: the steps and their parameters.
        presence: ``(N,)`` (or one value for one frame) presence probabilities, or None.

    Returns:
        bool masks, ``(H, W)`` or ``(N, H, W)`` like the input.
    """
    probs = _as_numpy(probabilities)
    single = probs.ndim == 2
    if single:
        probs = probs[None]
    gates = None if presence is None else _as_numpy(presence).reshape(-1)
    present = passes_presence(params, gates)
    masks = np.zeros(probs.shape, dtype=bool)
    for i, prob in enumerate(probs):
        if present is None or present[i]:  # no shape work for frames the gate empties anyway
            masks[i] = shape_mask(prob, params)
    masks[~kept_frames(masks.reshape(len(masks), -1).sum(1), params, gates)] = False
    return masks[0] if single else masks


def postprocess_batch(
    probabilities: torch.Tensor, params: PostprocessParams, presence: torch.Tensor | None = None
) -> torch.Tensor:
    """The threshold and the gates of ``(N, H, W)`` probabilities on their own device.

    What validation measures during training, at the training size (give it
    :meth:`PostprocessParams.scaled` areas). The shape steps are left to :func:`apply_postprocess`
    at full resolution: connected components have no torch counterpart worth a GPU sync.
    ``(N, S, H, W)`` probabilities (one channel per structure) are gated channel by channel,
    each on its own presence ``(N, S)``, with the same ``params``.

    Returns:
        ``(N, H, W)`` (or ``(N, S, H, W)``) bool masks.
    """
    if probabilities.ndim == 4:
        pairs = probabilities.flatten(0, 1)  # each (frame, structure) a frame of its own
        flat = None if presence is None else presence.reshape(len(pairs))
        return postprocess_batch(pairs, params, flat).reshape(probabilities.shape)
    masks = binarise(probabilities, params)
    keep = kept_frames(masks.flatten(1).sum(1), params, presence)
    return masks & keep[:, None, None]


def _as_numpy(values: np.ndarray | torch.Tensor | float) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        values = values.float() if values.dtype in (torch.float16, torch.bfloat16) else values
        return values.numpy()
    return np.asarray(values)


def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius
