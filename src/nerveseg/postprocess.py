"""From probability maps to masks: threshold, shape clean-up, then gates that empty a mask.

The competition scores a predicted blob on an empty frame as 0, the same as missing a whole
nerve, so a minimum area that turns small detections into empty masks is worth more than most
architecture changes. Parameters are plain data (:class:`PostprocessParams`, saved as a run's
``postprocess.json`` by ``nerveseg fit-postprocess``), applied the same way everywhere.

Order of the steps, per frame, at the frame's original resolution:
presence gate -> threshold -> keep the largest component -> closing -> fill holes -> area gate.

A dense CRF (pydensecrf2) before thresholding was measured and left out: on a demo run's
validation frames the best of eight kernel settings, chosen on those same frames, moved the
score by +0.0006 (noise) while wider kernels cost up to 0.2, at 50-220 ms a frame at 96x128
and ~0.9 s at 580x420 (see ``benchmarks/postprocess_quality.py --crf`` to re-measure).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from nerveseg.errors import NervesegError
from nerveseg.files import write_json

POSTPROCESS = "postprocess.json"


@dataclass(frozen=True)
class PostprocessParams:
    """How a probability map becomes a mask. Areas and radii are in original-resolution pixels.

    Attributes:
        threshold: a pixel is nerve when its probability is above this.
        min_area: a mask with fewer pixels (after the shape steps) becomes empty; 0 = off.
        max_area: the area gate: a mask with more pixels becomes empty (no nerve is that big,
            a blob that is usually means a confused frame); 0 = off.
        keep_largest: keep only the largest connected component (one nerve per frame).
        closing_radius: radius of a morphological closing (disk) that joins nearby pieces; 0 = off.
        fill_holes: fill holes inside the mask.
        presence_threshold: frames whose presence probability (from a presence head) is below
            this get an empty mask; 0 = off. Needs a model with a presence head.
    """

    threshold: float = 0.5
    min_area: int = 0
    max_area: int = 0
    keep_largest: bool = False
    closing_radius: int = 0
    fill_holes: bool = False
    presence_threshold: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PostprocessParams:
        """Build from JSON data; unknown keys and wrong types fail loudly."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise NervesegError(
                f"unknown post-processing key(s) {unknown}; valid keys: {sorted(fields)}"
            )
        values = {}
        for name, value in data.items():
            kind = type(getattr(cls(), name))
            if kind is bool and not isinstance(value, bool):
                raise NervesegError(f"post-processing {name} must be true or false, got {value!r}")
            if kind is int and (isinstance(value, bool) or value != int(value)):
                raise NervesegError(f"post-processing {name} must be a whole number, got {value!r}")
            values[name] = kind(value)
        return cls(**values)

    @classmethod
    def from_model_info(cls, info: Any) -> PostprocessParams:
        """The threshold and minimum area a model file carries (no postprocess.json)."""
        return cls(
            threshold=float(info.threshold),
            min_area=int(info.min_area),
            presence_threshold=float(getattr(info, "presence_threshold", 0.0) or 0.0),
        )


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
    return PostprocessParams.from_dict(data["params"])


def run_postprocess(run: Path, info: Any, *, use_file: bool = True) -> PostprocessParams:
    """A run's post-processing: its fitted ``postprocess.json``, else the model file's values."""
    path = Path(run) / POSTPROCESS
    if use_file and path.is_file():
        return load_postprocess(path)
    return PostprocessParams.from_model_info(info)


def shape_mask(probability: np.ndarray, params: PostprocessParams) -> np.ndarray:
    """Threshold one ``(H, W)`` probability map and apply the shape steps: ``(H, W)`` bool."""
    mask = np.asarray(probability) > params.threshold
    if not mask.any():
        return mask
    if params.keep_largest:
        labels, count = ndimage.label(mask)
        if count > 1:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            mask = labels == int(sizes.argmax())
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


def passes_presence(params: PostprocessParams, presence: float | None) -> bool:
    """The presence gate: False when a presence threshold is set and the frame is below it."""
    if params.presence_threshold <= 0:
        return True
    if presence is None:
        raise NervesegError(
            "post-processing has a presence threshold but the model gives no presence "
            "probability; refit post-processing for this model (nerveseg fit-postprocess)"
        )
    return presence >= params.presence_threshold


def passes_area(params: PostprocessParams, area: int) -> bool:
    """The area gate: False when a shaped mask of ``area`` pixels is too small or too large."""
    if area < params.min_area:
        return False
    return not (params.max_area > 0 and area > params.max_area)


def apply_postprocess(
    probabilities: np.ndarray | torch.Tensor,
    params: PostprocessParams,
    presence: np.ndarray | torch.Tensor | None = None,
) -> np.ndarray:
    """Masks from full-resolution probabilities, as ``params`` says.

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
    gates = [None] * len(probs) if presence is None else _as_numpy(presence).reshape(-1).tolist()
    masks = np.zeros(probs.shape, dtype=bool)
    for i, (prob, frame_presence) in enumerate(zip(probs, gates, strict=True)):
        if not passes_presence(params, frame_presence):
            continue
        mask = shape_mask(prob, params)
        if passes_area(params, int(np.count_nonzero(mask))):
            masks[i] = mask
    return masks[0] if single else masks


def _as_numpy(values: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        values = values.float() if values.dtype in (torch.float16, torch.bfloat16) else values
        return values.numpy()
    return np.asarray(values)


def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius


def probabilities_to_masks(
    probabilities: torch.Tensor, threshold: float = 0.5, min_area: int = 0
) -> torch.Tensor:
    """Binarise ``(N, H, W)`` probabilities; masks with fewer than ``min_area`` pixels become empty.

    Returns:
        ``(N, H, W)`` bool masks.
    """
    masks = probabilities > threshold
    if min_area > 0:
        too_small = masks.flatten(1).sum(1) < min_area
        masks[too_small] = False
    return masks


def gate_by_presence(
    masks: torch.Tensor, presence: torch.Tensor | None, threshold: float
) -> torch.Tensor:
    """Empty the masks of frames whose presence probability is below ``threshold``.

    Args:
        masks: ``(N, H, W)`` bool masks.
        presence: ``(N,)`` presence probabilities in [0, 1] from a presence head, or None
            (no head: the masks are returned as they are).
        threshold: 0 turns the gate off.

    Returns:
        ``(N, H, W)`` bool masks (a new tensor when any is emptied).
    """
    if presence is None or threshold <= 0:
        return masks
    keep = presence.reshape(-1).to(masks.device) >= threshold
    return masks & keep[:, None, None]


def scale_area(min_area: int, from_shape: tuple[int, int], to_shape: tuple[int, int]) -> int:
    """Express an area threshold given at ``from_shape`` in pixels of ``to_shape``."""
    ratio = (to_shape[0] * to_shape[1]) / (from_shape[0] * from_shape[1])
    return round(min_area * ratio)
