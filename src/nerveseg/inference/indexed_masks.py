"""Masks of several structures in one indexed PNG: value ``k + 1`` = structure ``k``, 0 = none.

``nerveseg predict`` with a model of several structures writes one such file per frame, with a
palette that gives each structure its colour (:data:`~nerveseg.inference.overlay.COLOURS`, the
colours of ``nerveseg live`` and the report), so the file opens as a coloured picture in any
viewer and reads back as a label mask: ``{nerve: [1], vessel: [2]}`` in ``data.structures``
trains on it, the convention of palette-mask data sets.

Overlap rule: a pixel can hold one value, so where structures overlap the first of them (in
``data.structures`` order) is written: the first structure, the one the Kaggle submission holds,
is always whole in the PNG. The run-length columns of the prediction table keep every
structure's full mask, overlaps included. The structure names travel in the PNG as a text
chunk (``nerveseg-structures``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from nerveseg.errors import DataError, Problem
from nerveseg.files import atomic_path
from nerveseg.inference.overlay import COLOURS

NAMES_KEY = "nerveseg-structures"


def palette(count: int) -> list[int]:
    """The flat RGB palette: black for 0, then each structure's colour."""
    colours = [(0, 0, 0), *(COLOURS[k % len(COLOURS)] for k in range(count))]
    return [channel for colour in colours for channel in colour]


def label_image(masks: np.ndarray) -> np.ndarray:
    """``(S, H, W)`` bool masks -> ``(H, W)`` uint8 labels, the first structure winning overlaps."""
    labels = np.zeros(masks.shape[1:], dtype=np.uint8)
    for k in range(len(masks) - 1, -1, -1):  # later structures first, so earlier ones win
        labels[masks[k]] = k + 1
    return labels


def write_indexed_mask(path: Path, masks: np.ndarray, names: list[str]) -> None:
    """Write ``(S, H, W)`` bool masks as one palette PNG, atomically."""
    if masks.ndim != 3 or len(masks) != len(names):
        raise ValueError(f"expected ({len(names)}, H, W) masks, got shape {masks.shape}")
    image = Image.fromarray(label_image(np.asarray(masks, dtype=bool)))
    image.putpalette(palette(len(names)))
    text = PngImagePlugin.PngInfo()
    text.add_text(NAMES_KEY, ",".join(names))
    with atomic_path(Path(path)) as tmp:
        image.save(tmp, format="PNG", pnginfo=text)


def read_indexed_mask(path: Path, count: int) -> np.ndarray:
    """``(count, H, W)`` bool masks from a PNG :func:`write_indexed_mask` wrote.

    Raises:
        DataError: the file is unreadable, not an indexed PNG, or holds a value above ``count``.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            if image.mode != "P":
                raise DataError([Problem(path, f"not an indexed PNG (mode {image.mode})")])
            labels = np.asarray(image)
    except OSError as exc:
        raise DataError([Problem(path, f"unreadable ({exc})")]) from None
    if labels.size and int(labels.max()) > count:
        reason = f"holds value {int(labels.max())} but the model has {count} structures"
        raise DataError([Problem(path, reason)])
    return labels[None] == np.arange(1, count + 1, dtype=np.uint8)[:, None, None]
