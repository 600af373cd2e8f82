"""What every frame source gives: frames with their index and time, and the source's rate.

A scanner's output is a stream, whatever carries it (a video file, a DICOM cine loop, a TIFF
stack, a capture card, a folder of stills). Each reader turns its source into the same thing:
:class:`Frame` objects, ``(H, W)`` uint8 grayscale in order, each with the seconds since the
first frame, and a nominal frame rate, so that everything downstream (live segmentation,
pacing, the benchmark) is written once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

DEFAULT_FPS = 30.0
"""The rate assumed for sources that carry none (a folder, a TIFF stack): a common scanner rate."""


@dataclass(frozen=True)
class Frame:
    """One frame of a stream.

    Attributes:
        index: 0-based position in the stream (dropped frames keep their numbers).
        time: seconds since the stream's first frame, from the source's own clock when it has
            one (container timestamps, DICOM frame times) and no rate was given, else
            ``index / fps``.
        image: ``(H, W)`` uint8 grayscale.
    """

    index: int
    time: float
    image: np.ndarray


class FrameStream:
    """A source of frames; iterate it once, in order. Use it as a context manager.

    Attributes:
        name: the source as a person would name it (a path, ``/dev/video0``).
        fps: nominal frames per second.
        fps_from: where ``fps`` came from (``"container"``, ``"DICOM FrameTime"``,
            ``"assumed"`` ...), for messages and the summary.
        frame_count: the number of frames when the source says, else None.
        live: True for a capture device: frames come on the device's clock, not ours.
    """

    def __init__(
        self,
        name: str,
        fps: float,
        fps_from: str,
        frame_count: int | None = None,
        live: bool = False,
    ) -> None:
        self.name = name
        self.fps = float(fps)
        self.fps_from = fps_from
        self.frame_count = frame_count
        self.live = live

    def _frames(self) -> Iterator[tuple[float | None, np.ndarray]]:
        """Yield ``(seconds since the first frame or None, image)``; subclasses implement it."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[Frame]:
        own_clock = self.fps_from != "given"  # a rate the caller gives replaces the source's
        for index, (time, image) in enumerate(self._frames()):
            seconds = float(time) if own_clock and time is not None else index / self.fps
            yield Frame(index, seconds, image)

    def close(self) -> None:
        """Release the file or device; safe to call twice."""

    def __enter__(self) -> FrameStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rate_or_default(fps: float | None, found: float | None, found_from: str) -> tuple[float, str]:
    """The rate to use: the caller's ``fps`` first, then the source's own, else the default."""
    if fps is not None and fps > 0:
        return float(fps), "given"
    if found is not None and found > 0:
        return float(found), found_from
    return DEFAULT_FPS, "assumed"
