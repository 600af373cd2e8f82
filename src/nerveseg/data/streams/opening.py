"""``open_stream(source)``: the one place that picks a reader for a frame source."""

from __future__ import annotations

from pathlib import Path

from nerveseg.data.streams.base import FrameStream
from nerveseg.data.streams.dicom import DICOM_SUFFIXES, DicomStream
from nerveseg.data.streams.folder import FolderStream
from nerveseg.data.streams.stacks import TIFF_SUFFIXES, TiffStream
from nerveseg.data.streams.video import VIDEO_SUFFIXES, VideoStream, device_path, open_device
from nerveseg.errors import NervesegError

_KINDS = "a video (mp4, avi, mov, mkv), a TIFF stack, a DICOM file, a folder of images, or a capture device (/dev/videoN or its index)"


def open_stream(source: str | Path, *, fps: float | None = None) -> FrameStream:
    """Open ``source`` as a :class:`FrameStream`.

    Args:
        source: a video file, a (multi-frame) TIFF, a DICOM file (``.dcm``, or any file with
            the DICOM preamble), a folder of images, ``/dev/videoN`` or a device index.
        fps: the frame rate to assume instead of the source's own (required by nothing: a
            source without one gets :data:`~nerveseg.data.streams.base.DEFAULT_FPS`).

    Raises:
        NervesegError: the source does not exist, is of no known kind, or cannot be read.
    """
    text = str(source)
    if device_path(text) is not None:
        return open_device(text, fps=fps)
    path = Path(source)
    if path.is_dir():
        return FolderStream(path, fps=fps)
    if not path.exists():
        raise NervesegError(f"{path}: not found; pass {_KINDS}")
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return VideoStream(text, fps=fps)
    if suffix in TIFF_SUFFIXES:
        return TiffStream(path, fps=fps)
    if suffix in DICOM_SUFFIXES or _has_dicom_preamble(path):
        return DicomStream(path, fps=fps)
    raise NervesegError(f"{path}: unknown kind of source ({suffix or 'no ending'}); pass {_KINDS}")


def _has_dicom_preamble(path: Path) -> bool:
    """DICOM files from scanners often have no ending; their bytes 128-131 read ``DICM``."""
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False
