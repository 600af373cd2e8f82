"""A folder of still frames as one more stream: the images in natural name order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from nerveseg.data.images import read_image
from nerveseg.data.samples import discover_unlabelled
from nerveseg.data.streams.base import FrameStream, rate_or_default


class FolderStream(FrameStream):
    """Every image of a folder (``*_mask`` files ignored), one frame each, at a nominal rate."""

    def __init__(self, folder: Path, *, fps: float | None = None) -> None:
        self.samples = discover_unlabelled(Path(folder))
        rate, rate_from = rate_or_default(fps, None, "")
        super().__init__(str(folder), rate, rate_from, frame_count=len(self.samples))

    def _frames(self) -> Iterator[tuple[float | None, np.ndarray]]:
        for sample in self.samples:
            yield None, read_image(sample.image_path)
