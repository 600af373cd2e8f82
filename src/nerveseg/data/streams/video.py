"""Video files and capture devices through PyAV (FFmpeg with its libraries in the wheel).

One reader for both: a file is opened by its ending (mp4, avi, mov, mkv, ...), a device
(``/dev/video0``, or an index ``0``) through FFmpeg's ``v4l2`` input. Decoding failures and
files cut short become one :class:`~nerveseg.errors.NervesegError` naming the source; the
frames decoded before the failure have been handed over already, so whatever a caller wrote
from them is complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from nerveseg.data.streams.base import FrameStream, rate_or_default
from nerveseg.errors import NervesegError

VIDEO_SUFFIXES = (".mp4", ".m4v", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg")
_REEXPORT = "re-export or re-copy it (mp4 with H.264 is read everywhere)"


class VideoStream(FrameStream):
    """Frames of the first video stream of a file or capture device, as grayscale."""

    def __init__(
        self, source: str, *, fps: float | None = None, device: bool = False, options=None
    ) -> None:
        self._container = _open_container(source, device, options or {})
        streams = self._container.streams.video
        if not streams:
            self._container.close()
            raise NervesegError(f"{source}: holds no video stream; pass a video file")
        stream = streams[0]
        if stream.codec_context is None:
            tag = getattr(stream, "codec_tag", "") or "unknown"
            self._container.close()
            raise NervesegError(
                f"{source}: its video codec ({tag}) has no decoder in this FFmpeg build; "
                f"{_REEXPORT}"
            )
        stream.thread_type = "AUTO"  # frame threads: decoding overlaps the network on 2 cores
        self._stream = stream
        self._own_fps = _float(stream.average_rate)
        rate, rate_from = rate_or_default(fps, self._own_fps, "container")
        super().__init__(source, rate, rate_from, frame_count=stream.frames or None, live=device)
        self._duration = (
            self._container.duration / av.time_base if self._container.duration else None
        )

    def _frames(self) -> Iterator[tuple[float | None, np.ndarray]]:
        start, decoded, last = None, 0, None
        try:
            for frame in self._container.decode(self._stream):
                if frame.time is not None:
                    start = frame.time if start is None else start
                    last = frame.time - start
                decoded += 1
                yield last if frame.time is not None else None, frame.to_ndarray(format="gray")
        except av.error.FFmpegError as exc:
            raise NervesegError(
                f"{self.name}: decoding failed after {decoded} frames ({_reason(exc)}); the file "
                f"is damaged or cut short: {_REEXPORT}"
            ) from None
        if not self.live:
            self._check_complete(decoded, last)

    def _check_complete(self, decoded: int, last: float | None) -> None:
        """A file cut short often decodes without an error: compare with what its header says."""
        expected = self.frame_count
        short = expected is not None and decoded < expected
        if expected is None and self._duration and last is not None:
            # Two frames and 1% of slack for rounding in container timestamps.
            period = 1.0 / (self._own_fps or self.fps)
            slack = 2.0 * period + 0.01 * self._duration
            short = last + period < self._duration - slack
        if short or decoded == 0:
            said = f"{expected} frames" if expected else f"{self._duration:.1f} s"
            raise NervesegError(
                f"{self.name}: truncated: {decoded} frames decoded, its header says {said}; "
                f"{_REEXPORT}"
            )

    def close(self) -> None:
        self._container.close()


def device_path(source: str) -> str | None:
    """``/dev/videoN`` for a device index (``"0"``) or path; None when ``source`` is neither."""
    if source.isdigit():
        return f"/dev/video{int(source)}"
    if source.startswith("/dev/video"):
        return source
    return None


def open_device(source: str, *, fps: float | None = None) -> VideoStream:
    """A V4L2 capture device (a frame grabber or USB probe); it must exist."""
    path = device_path(source) or source
    if not Path(path).exists():
        raise NervesegError(
            f"{path}: no such capture device; connect the probe or frame grabber and list the "
            "devices with `ls /dev/video*`"
        )
    options = {"framerate": str(int(fps))} if fps else {}
    return VideoStream(path, fps=fps, device=True, options=options)


def _open_container(source: str, device: bool, options: dict[str, str]):
    try:
        if device:
            return av.open(source, format="v4l2", options=options)
        return av.open(source, metadata_errors="ignore")
    except av.error.FileNotFoundError:
        raise NervesegError(f"{source}: file not found") from None
    except av.error.FFmpegError as exc:
        if device:
            fix = "check that no other program holds it, and its cable and driver"
            message = f"{source}: not a usable capture device ({_reason(exc)}); {fix}"
            raise NervesegError(message) from None
        raise NervesegError(
            f"{source}: not a readable video ({_reason(exc)}); {_REEXPORT}"
        ) from None


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _float(rate) -> float | None:
    return float(rate) if rate else None
