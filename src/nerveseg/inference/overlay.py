"""What a person at the probe sees: the frame with each structure's outline and a status line.

Outlines rather than filled masks, so the tissue under the nerve stays visible; one colour per
structure (yellow nerve, cyan vessel ...: the colours of predict's indexed PNGs and of the
report too); the top lines give each structure's presence score, in its colour, and the frame
rate the pipeline keeps. Drawing works on the mask's bounding box only: about 1-2 ms a 580x420
frame.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

COLOURS = ((255, 210, 0), (0, 220, 255), (255, 80, 200), (120, 255, 80))
"""Outline colours, one per structure in order (yellow for the nerve)."""


Line = str | tuple[str, tuple[int, int, int]]
"""A line of text, white, or with its own colour."""


def structure_colour(index: int) -> tuple[int, int, int]:
    """The colour of structure ``index`` (channel order)."""
    return COLOURS[index % len(COLOURS)]


def presence_lines(names: list[str], presence: np.ndarray) -> list[Line]:
    """One ``name 0.83`` line per structure: white for one, else in each structure's colour."""
    lines = [f"{name} {float(score):.2f}" for name, score in zip(names, presence, strict=True)]
    if len(lines) == 1:
        return list(lines)
    return [(line, structure_colour(k)) for k, line in enumerate(lines)]


def draw_overlay(
    image: np.ndarray, structures: dict[str, np.ndarray], lines: list[Line]
) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB: the grey ``image`` with outlines and text.

    Args:
        image: ``(H, W)`` uint8 frame.
        structures: name -> ``(H, W)`` bool mask, drawn in :data:`COLOURS` order.
        lines: text drawn top left, one per line (presence score, frame rate ...), white or
            ``(text, colour)``.
    """
    rgb = np.repeat(image[:, :, None], 3, axis=2)
    for number, mask in enumerate(structures.values()):
        rgb[outline(mask)] = structure_colour(number)
    if lines:
        _draw_text(rgb, lines)
    return rgb


def outline(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """``(H, W)`` bool: the inner ``width`` pixels of ``mask``'s boundary."""
    edge = np.zeros_like(mask, dtype=bool)
    if not mask.any():
        return edge
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    crop = np.pad(mask[box], width)
    inner = ndimage.binary_erosion(crop, iterations=width)
    edge[box] = (crop & ~inner)[width:-width, width:-width]
    return edge


def _draw_text(rgb: np.ndarray, lines: list[Line]) -> None:
    """Write ``lines`` top left, in place; Pillow draws on that corner only (3x cheaper)."""
    font = _font(max(12, rgb.shape[0] // 28))
    band = rgb[: len(lines) * (font.size + 4) + 8, : min(rgb.shape[1], 12 * font.size)]
    canvas = Image.fromarray(band)
    draw = ImageDraw.Draw(canvas)
    for number, line in enumerate(lines):
        text, colour = (line, (255, 255, 255)) if isinstance(line, str) else line
        y = 4 + number * (font.size + 4)
        draw.text((6, y), text, fill=colour, font=font, stroke_width=2, stroke_fill=0)
    band[...] = np.asarray(canvas)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)
