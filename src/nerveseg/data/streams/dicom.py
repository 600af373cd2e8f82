"""DICOM single frames and multi-frame cine loops, read frame by frame through pydicom.

Ultrasound DICOM frames carry more than the image: patient banners, scale bars, a colour bar.
When the file lists its ultrasound regions (Sequence of Ultrasound Regions), the frames are
cropped to the region that holds tissue (RegionDataType 1, else the largest region): what the
network trained on. The frame rate comes from Frame Time (ms), Frame Time Vector, Cine Rate or
Recommended Display Frame Rate, in that order. Colour frames (RGB, YBR) become ITU-R 601
luminance, MONOCHROME1 is inverted, and more than 8 bits stored are scaled to 8.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder, iter_pixels

from nerveseg.data.streams.base import FrameStream, rate_or_default
from nerveseg.errors import NervesegError

DICOM_SUFFIXES = (".dcm", ".dicom")
_TISSUE = 1  # RegionDataType: tissue
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class DicomStream(FrameStream):
    """The frames of one DICOM file (one frame, or a cine loop)."""

    def __init__(self, path: Path, *, fps: float | None = None) -> None:
        self.path = Path(path)
        self.dataset = _read_header(self.path)
        if not any(tag in self.dataset for tag in ("PixelData", "FloatPixelData")):
            raise NervesegError(
                f"{self.path}: holds no pixel data (a report or structured document?); export "
                "the images or cine loop from the scanner"
            )
        _require_decoder(self.path, self.dataset)
        self.region = ultrasound_region(self.dataset)
        self._times = _frame_times(self.dataset)
        found, found_from = _frame_rate(self.dataset)
        rate, rate_from = rate_or_default(fps, found, found_from)
        count = int(self.dataset.get("NumberOfFrames", 1) or 1)
        super().__init__(str(self.path), rate, rate_from, frame_count=count)

    def _frames(self) -> Iterator[tuple[float | None, np.ndarray]]:
        index = 0
        try:
            for pixels in iter_pixels(self.path):
                time = None if self._times is None else float(self._times[index])
                yield time, self._to_scan(pixels)
                index += 1
        except (NotImplementedError, RuntimeError, ValueError) as exc:
            raise NervesegError(self._decode_problem(index, exc)) from None

    def _to_scan(self, pixels: np.ndarray) -> np.ndarray:
        """One decoded frame cropped to the ultrasound region as ``(H, W)`` uint8."""
        if self.region is not None:
            x0, y0, x1, y1 = self.region
            pixels = pixels[y0 : y1 + 1, x0 : x1 + 1]
        return _as_grey(pixels, self.dataset)

    def _decode_problem(self, index: int, exc: Exception) -> str:
        syntax = self.dataset.file_meta.get("TransferSyntaxUID")
        if syntax is not None and syntax.is_compressed:
            return (
                f"{self.path}: its pixel data is compressed as {syntax.name}, which no installed "
                "decoder handles; install one (pip install pylibjpeg pylibjpeg-libjpeg "
                "pylibjpeg-openjpeg) or export it uncompressed"
            )
        return (
            f"{self.path}: frame {index + 1} could not be decoded ({exc}); the file is damaged "
            "or cut short: export it again"
        )


def _require_decoder(path: Path, dataset: pydicom.Dataset) -> None:
    """Refuse, before any frame, pixel data compressed in a way no installed plugin decodes."""
    syntax = dataset.file_meta.get("TransferSyntaxUID")
    if syntax is None or not syntax.is_compressed:
        return
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        decoder = None
    if decoder is None or not decoder.is_available:
        needs = "; ".join(decoder.missing_dependencies) if decoder is not None else "no plugin"
        raise NervesegError(
            f"{path}: its pixel data is compressed as {syntax.name}, which no installed decoder "
            f"handles (one of: {needs}); install one or export the loop uncompressed"
        )


def _read_header(path: Path) -> pydicom.Dataset:
    """The dataset without its pixel data (frames are decoded one at a time later)."""
    try:
        return pydicom.dcmread(path, stop_before_pixels=False, defer_size="1 KB")
    except FileNotFoundError:
        raise NervesegError(f"{path}: file not found") from None
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise NervesegError(
            f"{path}: not a readable DICOM file ({exc}); export it from the scanner again"
        ) from None


def ultrasound_region(dataset: pydicom.Dataset) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)``, inclusive, of the tissue region; None without region tags."""
    regions = [
        r
        for r in dataset.get("SequenceOfUltrasoundRegions", [])
        if all(
            key in r
            for key in (
                "RegionLocationMinX0",
                "RegionLocationMinY0",
                "RegionLocationMaxX1",
                "RegionLocationMaxY1",
            )
        )
    ]
    if not regions:
        return None
    tissue = [r for r in regions if r.get("RegionDataType") == _TISSUE] or regions
    best = max(
        tissue,
        key=lambda r: (
            (r.RegionLocationMaxX1 - r.RegionLocationMinX0)
            * (r.RegionLocationMaxY1 - r.RegionLocationMinY0)
        ),
    )
    columns, rows = int(dataset.Columns), int(dataset.Rows)
    x0, y0 = max(int(best.RegionLocationMinX0), 0), max(int(best.RegionLocationMinY0), 0)
    x1, y1 = (
        min(int(best.RegionLocationMaxX1), columns - 1),
        min(int(best.RegionLocationMaxY1), rows - 1),
    )
    if x1 <= x0 or y1 <= y0:
        return None  # a region outside the image says nothing usable; keep the whole frame
    return x0, y0, x1, y1


def _frame_rate(dataset: pydicom.Dataset) -> tuple[float | None, str]:
    if dataset.get("FrameTime"):
        return 1000.0 / float(dataset.FrameTime), "DICOM FrameTime"
    times = _frame_times(dataset)
    if times is not None and len(times) > 1 and times[-1] > 0:
        return (len(times) - 1) / times[-1], "DICOM FrameTimeVector"
    for key in ("CineRate", "RecommendedDisplayFrameRate"):
        if dataset.get(key):
            return float(dataset.get(key)), f"DICOM {key}"
    return None, ""


def _frame_times(dataset: pydicom.Dataset) -> np.ndarray | None:
    """Seconds of each frame from Frame Time Vector (ms since the previous frame), else None."""
    vector = dataset.get("FrameTimeVector")
    count = int(dataset.get("NumberOfFrames", 1) or 1)
    if not vector or len(vector) != count:
        return None
    increments = np.asarray([float(v) for v in vector]) / 1000.0
    increments[0] = 0.0
    return np.cumsum(increments)


def _as_grey(pixels: np.ndarray, dataset: pydicom.Dataset) -> np.ndarray:
    """A decoded frame as ``(H, W)`` uint8: luminance, polarity and bit depth handled."""
    values = pixels.astype(np.float32)
    if values.ndim == 3:  # colour, already RGB (pydicom converts YBR)
        values = values @ _LUMA
    bits = int(dataset.get("BitsStored", 8) or 8)
    top = float(2**bits - 1)
    if dataset.get("PhotometricInterpretation") == "MONOCHROME1":
        values = top - values
    if bits != 8:
        values = values * (255.0 / top)
    return np.ascontiguousarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))
