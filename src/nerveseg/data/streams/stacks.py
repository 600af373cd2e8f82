"""Multi-frame TIFF stacks (and single TIFF frames) read page by page through Pillow.

Pillow reads multi-page TIFF (uncompressed, LZW, deflate, packbits), so a stack needs no
extra library; each page becomes a scan exactly as :func:`nerveseg.data.images.read_image`
would make it. A TIFF carries no frame rate: the caller's, else the default, applies.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from nerveseg.data.images import scan_values
from nerveseg.data.streams.base import FrameStream, rate_or_default
from nerveseg.errors import NervesegError

TIFF_SUFFIXES = (".tif", ".tiff")


class TiffStream(FrameStream):
    """The pages of a TIFF file, in order."""

    def __init__(self, path: Path, *, fps: float | None = None) -> None:
        self.path = Path(path)
        try:
            self._image = Image.open(self.path)
        except FileNotFoundError:
            raise NervesegError(f"{self.path}: file not found") from None
        except (UnidentifiedImageError, OSError) as exc:
            raise NervesegError(
                f"{self.path}: not a readable TIFF ({exc}); re-export it as a TIFF stack"
            ) from None
        rate, rate_from = rate_or_default(fps, None, "")
        count = getattr(self._image, "n_frames", 1)
        super().__init__(str(self.path), rate, rate_from, frame_count=count)

    def _frames(self) -> Iterator[tuple[float | None, np.ndarray]]:
        for page in range(self.frame_count or 1):
            try:
                self._image.seek(page)
                self._image.load()
                image = scan_values(self.path, self._image)
            except (OSError, ValueError, EOFError) as exc:
                raise NervesegError(
                    f"{self.path}: page {page + 1} of {self.frame_count} could not be decoded "
                    f"({exc}); the file is damaged or cut short: re-export it"
                ) from None
            yield None, image

    def close(self) -> None:
        self._image.close()


def write_tiff_stack(path: Path, frames: list[np.ndarray]) -> None:
    """Write ``(H, W)`` uint8 (or bool, as 0/255) frames as one multi-page TIFF, losslessly."""
    pages = [Image.fromarray(_as_uint8(frame)) for frame in frames]
    pages[0].save(
        path, format="TIFF", save_all=True, append_images=pages[1:], compression="tiff_deflate"
    )


def _as_uint8(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.uint8) * 255 if frame.dtype == bool else frame
