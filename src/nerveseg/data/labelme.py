"""LabelMe JSON annotations read as packed structure masks (bit ``k`` = structure ``k``).

Its own module because a LabelMe file is a document, not a picture: it is parsed and checked as
JSON, and its polygons, rectangles and circles are drawn at the JSON's ``imageHeight`` x
``imageWidth`` with Pillow, the way LabelMe itself rasterises them, where an image mask's pixel
values are only looked up (:mod:`nerveseg.data.labels`, which sends ``.json`` files here). A
structure matches the labels among its values, or, when it lists no text, the label equal to its
name; a label that means no structure and is not in ``data.ignore_values`` is a
:class:`~nerveseg.errors.DataError`, as an unknown pixel value is.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from nerveseg.data.folders import LABELME_SUFFIX
from nerveseg.data.structures import DEFAULT_LABELS, LabelMap, unknown_values_reason
from nerveseg.errors import DataError, Problem

log = logging.getLogger(__name__)

# LabelMe shape types that enclose an area; lines and points label no pixels.
_AREA_SHAPES = ("polygon", "rectangle", "circle")
_warned_shapes: set[str] = set()  # each ignored LabelMe shape type is reported once per process


def is_labelme(path: Path) -> bool:
    """True for a LabelMe annotation file (``NAME.json``)."""
    return path.suffix.lower() == LABELME_SUFFIX


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
        raise DataError(
            [Problem(path, unknown_values_reason("LabelMe label", unknown, found, labels))]
        )
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
