"""Mask files of every format read as packed structure masks (bit ``k`` = structure ``k``).

``data.structures`` names what each mask value means (see :mod:`nerveseg.data.structures`);
this module applies it to whatever a mask file holds:

* binary masks (every structure ``[]``, the Kaggle default): a mask holds ``{0, v}`` and every
  non-zero pixel is the structure, exactly as before structures existed;
* grey, indexed and palette images: each pixel's value (a palette image's *index*, not its
  colour) is looked up in the structures' integer values;
* colour masks: when the structures name ``[R, G, B]`` colours, each pixel's colour (a palette
  image's colours) is looked up instead;
* LabelMe JSON files: their shapes are drawn by :mod:`nerveseg.data.labelme`.

Background is 0 (black for colours). A value, colour or label that means no structure and is not
in ``data.ignore_values`` is a :class:`~nerveseg.errors.DataError` naming the file, the values
found and the two ways to fix it: guessing would train a model on a class nobody asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nerveseg.data.images import read_mask, read_mask_colours, read_mask_values
from nerveseg.data.labelme import is_labelme, read_labelme
from nerveseg.data.structures import (
    DEFAULT_LABELS,
    DEFAULT_STRUCTURES,
    LabelMap,
    check_ignore_values,
    check_structures,
    label_map,
    unknown_values_reason,
)
from nerveseg.errors import DataError, Problem


def labels_of(config: Any) -> LabelMap:
    """The :class:`LabelMap` of a ``data`` config section (``structures``, ``ignore_values``)."""
    return label_map(config.structures, config.ignore_values)


def labels_of_saved(config: Any) -> LabelMap:
    """The :class:`LabelMap` a run trained with, from its saved config (``ModelInfo.config``).

    Evaluating a model must read the truth as it was read for training; model files written
    before structures existed carry no such setting and get the Kaggle default.

    Raises:
        ConfigError: the saved setting is not a valid structures mapping (a damaged file).
    """
    data = config.get("data", {}) if isinstance(config, Mapping) else {}
    data = data if isinstance(data, Mapping) else {}
    structures = data.get("structures", DEFAULT_STRUCTURES)
    ignore_values = data.get("ignore_values", [])
    check_structures(structures)
    check_ignore_values(structures, ignore_values)
    return label_map(structures, ignore_values)


def read_labels(path: Path, labels: LabelMap = DEFAULT_LABELS, *, threshold: bool = False):
    """Read any mask file as an ``(H, W)`` uint8 packed mask (bit ``k`` = structure ``k``).

    Args:
        path: an image mask or a LabelMe JSON file.
        labels: what the values mean.
        threshold: binary masks only: binarise a non-binary (e.g. JPEG) mask at half range.

    Raises:
        DataError: an unreadable file, a non-binary binary mask, or values that mean nothing.
    """
    path = Path(path)
    if is_labelme(path):
        return read_labelme(path, labels)
    if labels.binary:
        every = (1 << labels.count) - 1
        return np.where(read_mask(path, threshold=threshold), every, 0).astype(np.uint8)
    if labels.colours:
        return _map_colours(path, read_mask_colours(path), labels)
    return _map_values(path, read_mask_values(path), labels)


def _map_values(path: Path, values: np.ndarray, labels: LabelMap) -> np.ndarray:
    """Grey levels or palette indices -> packed bits, through a 256-entry lookup table."""
    table = np.zeros(256, dtype=np.uint8)
    known = np.zeros(256, dtype=bool)
    known[0] = True
    for k, wanted in enumerate(labels.structures.values()):
        numbers = [v for v in wanted if isinstance(v, int)]
        if not wanted:  # [] = any non-zero value
            table[1:] |= 1 << k
            known[1:] = True
        for value in numbers:
            table[value] |= 1 << k
            known[value] = True
    for value in labels.ignore:
        if isinstance(value, int):
            known[value] = True
            table[value] = 0  # background, even for a structure of "any non-zero value"
    present = _distinct(values)
    unknown = [v for v in present if v > 255 or not known[v]]
    if unknown:
        raise DataError([Problem(path, unknown_values_reason("value", unknown, present, labels))])
    return table[values.astype(np.intp, copy=False)]


def _map_colours(path: Path, pixels: np.ndarray, labels: LabelMap) -> np.ndarray:
    """``(H, W, 3)`` colours -> packed bits; black is background unless a structure names it."""
    codes = (pixels[..., 0].astype(np.int32) << 16) | (pixels[..., 1].astype(np.int32) << 8)
    codes |= pixels[..., 2]
    present, inverse = np.unique(codes, return_inverse=True)
    ignored = {_code(value) for value in labels.ignore if isinstance(value, list)}
    bits_of: dict[int, int] = {}
    for k, wanted in enumerate(labels.structures.values()):
        for colour in wanted:
            if isinstance(colour, list):
                bits_of[_code(colour)] = bits_of.get(_code(colour), 0) | 1 << k
    # Structures of "any non-zero value" take every colour but black and the ignored ones.
    anything = sum(1 << k for k, v in enumerate(labels.structures.values()) if not v)
    table = np.zeros(len(present), dtype=np.uint8)
    unknown = []
    for i, code in enumerate(present.tolist()):
        if code in ignored:
            continue
        bits = bits_of.get(code, 0) | (anything if code else 0)
        if bits or code == 0:
            table[i] = bits
        else:
            unknown.append(code)
    if unknown:
        found = [_rgb(code) for code in present.tolist()]
        shown = [_rgb(code) for code in unknown]
        raise DataError([Problem(path, unknown_values_reason("colour", shown, found, labels))])
    return table[inverse.reshape(codes.shape)]


def _code(colour: list[int]) -> int:
    return (colour[0] << 16) | (colour[1] << 8) | colour[2]


def _rgb(code: int) -> list[int]:
    return [code >> 16, (code >> 8) & 255, code & 255]


def _distinct(values: np.ndarray) -> list[int]:
    """Sorted distinct values; a histogram for 8-bit data, far faster than sorting."""
    if values.dtype == np.uint8:
        return np.flatnonzero(np.bincount(values.reshape(-1), minlength=256)).tolist()
    return np.unique(values).tolist()
