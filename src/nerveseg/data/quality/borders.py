"""Letterbox borders: the black rows and columns a scanner draws around the image area.

Exported ultrasound frames often sit in a larger black canvas (a 534x512 export of a narrower
sector, say). A border is only a border when it is black in every frame of that size: one dark
deep frame has black bottom rows without having a border. Scanners also shrink the image area
with the depth setting, so the typical (median) frame's border is reported beside it.
``nerveseg inspect`` reports both per frame size, so a person can tell whether letterboxing
(``data.resize=letterbox``) or cropping would keep more of the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLACK_LEVEL = 10
"""Pixels at or below this grey level count as black: exports write 0 around the image, but the
borders of real frames (usgra-seg) carry faint noise of a few grey levels."""
SIDES = ("top", "bottom", "left", "right")


@dataclass(frozen=True)
class SizeBorders:
    """The black rows and columns of one frame size, as ``(top, bottom, left, right)``.

    Attributes:
        every_frame: black in every frame of this size: the border the export itself draws.
        median_frame: the median frame's border (the image area shrinks with depth).
    """

    height: int
    width: int
    frames: int
    every_frame: tuple[int, int, int, int]
    median_frame: tuple[int, int, int, int]

    @property
    def any(self) -> bool:
        return any(self.every_frame) or any(self.median_frame)

    def describe(self) -> str:
        """``534x512: 0 / 34 / 0 / 0 (median frame 0 / 64 / 0 / 0)``, top / bottom / left / right."""
        every, median = (
            " / ".join(map(str, sides)) for sides in (self.every_frame, self.median_frame)
        )
        return f"{self.width}x{self.height}: {every} (median frame {median})"


def content_box(image: np.ndarray, level: int = BLACK_LEVEL) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` inclusive bounds of the pixels above ``level``.

    A frame with nothing above ``level`` gives ``(-1, -1, -1, -1)``.
    """
    bright = image > level
    rows, cols = np.flatnonzero(bright.any(axis=1)), np.flatnonzero(bright.any(axis=0))
    if not rows.size:
        return (-1, -1, -1, -1)
    return int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1])


def borders_by_size(shapes: np.ndarray, boxes: np.ndarray) -> list[SizeBorders]:
    """Per frame size, most frequent first: the border widths common to all its frames.

    Args:
        shapes: ``(N, 2)`` ``(H, W)`` of each frame.
        boxes: ``(N, 4)`` :func:`content_box` of each frame; all-black frames are left out.
    """
    shapes, boxes = np.asarray(shapes, dtype=np.int64), np.asarray(boxes, dtype=np.int64)
    found = []
    sizes, counts = np.unique(shapes, axis=0, return_counts=True)
    for (height, width), count in sorted(
        zip(sizes.tolist(), counts.tolist(), strict=True), key=lambda item: -item[1]
    ):
        mine = boxes[(shapes[:, 0] == height) & (shapes[:, 1] == width)]
        mine = mine[mine[:, 0] >= 0]
        if not len(mine):
            found.append(SizeBorders(height, width, count, (0, 0, 0, 0), (0, 0, 0, 0)))
            continue
        sides = np.stack(
            [mine[:, 0], height - 1 - mine[:, 2], mine[:, 1], width - 1 - mine[:, 3]], axis=1
        )
        every = tuple(int(v) for v in sides.min(axis=0))
        median = tuple(int(v) for v in np.floor(np.median(sides, axis=0)))
        found.append(SizeBorders(height, width, count, every, median))
    return found
