"""Mask files of every format read as packed structure masks (bit ``k`` = structure ``k``).

``data.structures`` names what each mask value means (see :mod:`nerveseg.data.structures`);
this module applies it to whatever a mask file holds:

* binary masks (every structure ``[]``, the Kaggle default): a mask holds ``{0, v}`` and every
  non-zero pixel is the structure, exactly as before structures existed;
* grey, indexed and palette images: each pixel's value (a palette image's *index*, not its
  colour) is looked up in the structures' integer values;
* colour masks: when the structures name ``[R, G, B]`` colours, each pixel's colour (a palette
  image's colours) is looked up instead;
* LabelMe JSON files: their polygons, rectangles and circles are drawn at the JSON's
  ``imageHeight`` x ``imageWidth`` with Pillow, the way LabelMe itself rasterises them. A
  structure matches the labels among its values, or, when it lists no text, the label equal
  to its name.

Background is 0 (black for colours). A value, colour or label that means no structure and is not
in ``data.ignore_values`` is a :class:`~nerveseg.errors.DataError` naming the file, the values
found and the two ways to fix it: guessing would train a model on a class nobody asked for.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from nerveseg.data.folders import LABELME_SUFFIX
from nerveseg.data.images import read_mask, read_mask_colours, read_mask_values
from nerveseg.data.structures import (
    DEFAULT_STRUCTURES,
    MAX_STRUCTURES,
    check_ignore_values,
    check_structures,
)
from nerveseg.errors import DataError, Problem

log = logging.getLogger(__name__)

# LabelMe shape types that enclose an area; lines and points label no pixels.
_AREA_SHAPES = ("polygon", "rectangle", "circle")
_warned_shapes: set[str] = set()  # each ignored LabelMe shape type is reported once per process


@dataclass(frozen=True)
class LabelMap:
    """What mask values mean: the structures in channel order and the values ignored.

    Attributes:
        structures: name -> mask values (integers, ``[R, G, B]`` colours, LabelMe labels).
        ignore: values read as background.
    """

    structures: Mapping[str, list]
    ignore: tuple = ()

    @property
    def names(self) -> list[str]:
        return list(self.structures)

    @property
    def count(self) -> int:
        return len(self.structures)

    @property
    def binary(self) -> bool:
        """Every structure is "any non-zero value" and nothing is ignored: the Kaggle rule,
        masks hold ``{0, v}`` (anything else is a blurred, non-binary mask)."""
        return not self.ignore and all(not values for values in self.structures.values())

    @property
    def colours(self) -> bool:
        """Image masks are read as colours (the structures name ``[R, G, B]`` values)."""
        values = [*self.ignore, *(v for values in self.structures.values() for v in values)]
        return any(isinstance(value, list) for value in values)

    def bits_of_label(self, label: str) -> int:
        """The packed bits a LabelMe label stands for (0: no structure)."""
        bits = 0
        for k, (name, values) in enumerate(self.structures.items()):
            texts = [v for v in values if isinstance(v, str)]
            if label in texts or (not texts and label == name):
                bits |= 1 << k
        return bits

    def describe(self) -> str:
        """``nerve: [1], vessel: [2]``: the mapping as a person would write it, for messages."""
        return ", ".join(f"{name}: {values}" for name, values in self.structures.items())


def label_map(
    structures: Mapping[str, list] | None = None, ignore_values: Sequence = ()
) -> LabelMap:
    """A :class:`LabelMap` for ``data.structures`` and ``data.ignore_values`` (checked there)."""
    structures = dict(DEFAULT_STRUCTURES if structures is None else structures)
    if len(structures) > MAX_STRUCTURES:
        raise ValueError(f"at most {MAX_STRUCTURES} structures fit a uint8 mask")
    return LabelMap(structures, tuple(ignore_values))


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


DEFAULT_LABELS = label_map()
"""One structure, nerve = any non-zero value of a binary mask: the Kaggle set."""


def is_labelme(path: Path) -> bool:
    """True for a LabelMe annotation file (``NAME.json``)."""
    return path.suffix.lower() == LABELME_SUFFIX


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
        raise DataError([Problem(path, _unknown_reason("value", unknown, present, labels))])
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
        raise DataError([Problem(path, _unknown_reason("colour", shown, found, labels))])
    return table[inverse.reshape(codes.shape)]


def _code(colour: list[int]) -> int:
    return (colour[0] << 16) | (colour[1] << 8) | colour[2]


def _rgb(code: int) -> list[int]:
    return [code >> 16, (code >> 8) & 255, code & 255]


def read_labelme(path: Path, labels: LabelMap = DEFAULT_LABELS) -> np.ndarray:
    """Rasterise a LabelMe JSON file's shapes into an ``(imageHeight, imageWidth)`` packed mask.

    Polygons, rectangles and circles are drawn (outline included, as LabelMe's ``shape_to_mask``
    does); lines and points enclose nothing and are skipped with one warning per shape type.

    Raises:
        DataError: unreadable JSON, missing sizes or malformed shapes, or labels that mean no
            structure (naming the labels found).
    """
    data = _labelme_document(path)
    height, width = data["imageHeight"], data["imageWidth"]
    layers = [Image.new("L", (width, height), 0) for _ in range(labels.count)]
    ignored = {value for value in labels.ignore if isinstance(value, str)}
    found: list[str] = []
    unknown: list[str] = []
    for number, shape in enumerate(data["shapes"], start=1):
        label, kind, points = _labelme_shape(path, number, shape)
        if label not in found:
            found.append(label)
        if label in ignored:
            continue
        bits = labels.bits_of_label(label)
        if not bits:
            if label not in unknown:
                unknown.append(label)
            continue
        if kind not in _AREA_SHAPES:
            _warn_skipped_shape(path, kind)
            continue
        for k in range(labels.count):
            if bits >> k & 1:
                _draw(ImageDraw.Draw(layers[k]), kind, points)
    if unknown:
        raise DataError([Problem(path, _unknown_reason("LabelMe label", unknown, found, labels))])
    packed = np.zeros((height, width), dtype=np.uint8)
    for k, layer in enumerate(layers):
        packed |= (np.asarray(layer) != 0).astype(np.uint8) << k
    return packed


def _labelme_document(path: Path) -> dict[str, Any]:
    """The parsed JSON, checked for what rasterising needs."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError([Problem(path, "file not found")]) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = f"is not a readable LabelMe JSON file ({exc}); re-save it from LabelMe"
        raise DataError([Problem(path, reason)]) from None
    if not isinstance(data, dict) or not isinstance(data.get("shapes", []), list):
        reason = "is not a LabelMe file: expected an object with a 'shapes' list"
        raise DataError([Problem(path, reason)])
    for key in ("imageHeight", "imageWidth"):
        value = data.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 1 << 15:
            reason = f"LabelMe file without a valid {key} ({value!r}); re-save it from LabelMe"
            raise DataError([Problem(path, reason)])
    data.setdefault("shapes", [])
    return data


def _labelme_shape(path: Path, number: int, shape: Any) -> tuple[str, str, list[tuple]]:
    """``(label, shape type, points)`` of one entry of ``shapes``, or a DataError naming it."""
    if not isinstance(shape, dict) or not isinstance(shape.get("label"), str):
        raise DataError([Problem(path, f"shape {number} has no text 'label'")])
    kind = shape.get("shape_type") or "polygon"
    points = shape.get("points")
    valid = isinstance(points, list) and all(
        isinstance(p, list | tuple)
        and len(p) == 2
        and all(isinstance(c, int | float) and not isinstance(c, bool) for c in p)
        and all(math.isfinite(c) for c in p)
        for p in points
    )
    if not valid or not points:
        reason = f"shape {number} ({shape['label']!r}): 'points' must be a list of [x, y] numbers"
        raise DataError([Problem(path, reason)])
    if kind in ("rectangle", "circle") and len(points) != 2:
        reason = f"shape {number} ({shape['label']!r}): a {kind} needs 2 points, got {len(points)}"
        raise DataError([Problem(path, reason)])
    return shape["label"], str(kind), [(float(x), float(y)) for x, y in points]


def _draw(draw: ImageDraw.ImageDraw, kind: str, points: list[tuple]) -> None:
    """One area shape, filled with its outline, as LabelMe's ``shape_to_mask`` draws it."""
    if kind == "rectangle":
        (x0, y0), (x1, y1) = points
        draw.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], outline=1, fill=1)
    elif kind == "circle":
        (cx, cy), (px, py) = points
        r = math.hypot(cx - px, cy - py)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=1, fill=1)
    else:
        draw.polygon(points, outline=1, fill=1)


def _warn_skipped_shape(path: Path, kind: str) -> None:
    if kind not in _warned_shapes:
        _warned_shapes.add(kind)
        log.warning(
            "%s: LabelMe %s shapes label no area and are ignored (in this and any other file); "
            "draw structures as polygons, rectangles or circles",
            path,
            kind,
        )


def _distinct(values: np.ndarray) -> list[int]:
    """Sorted distinct values; a histogram for 8-bit data, far faster than sorting."""
    if values.dtype == np.uint8:
        return np.flatnonzero(np.bincount(values.reshape(-1), minlength=256)).tolist()
    return np.unique(values).tolist()


def _unknown_reason(kind: str, unknown: list, found: list, labels: LabelMap) -> str:
    """The one line for values that mean nothing: which, what the file holds, how to fix it."""
    shown = ", ".join(_show(v) for v in unknown[:8]) + (" ..." if len(unknown) > 8 else "")
    held = ", ".join(_show(v) for v in found[:12]) + (" ..." if len(found) > 12 else "")
    example = _show(unknown[0])
    return (
        f"mask {kind}(s) {shown} mean no structure (the file holds {held}; data.structures is "
        f"{{{labels.describe()}}}); add {example} to a structure in data.structures, or to "
        f"data.ignore_values to read it as background"
    )


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)
