"""How a frame of any size becomes the network's input size, and how predictions go back.

Two ways (``data.resize``, recorded in the model file as ``ModelInfo.resize``):

* ``stretch``: each side scaled on its own to the network size (the Kaggle default; every
  Kaggle frame is 580x420, so nothing is distorted differently from frame to frame);
* ``letterbox``: the frame scaled by one factor so it fits, centred, the rest padded with 0
  (black, like the borders scanners already draw). A 534x512 frame and a 761x632 one then keep
  their anatomy's proportions. Predictions are cropped to the frame's box and resized back to
  the frame's own size, so no probability from the padding ever reaches a mask.

The box is computed in integers (``floor(x + 1/2)`` rounding) so that the browser viewer, which
repeats these steps in JavaScript (``viewer/static/js/imaging.js``), finds the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from nerveseg.data.structures import RESIZE_MODES


@dataclass(frozen=True)
class Box:
    """Where the frame sits inside the network input: rows ``top:top+height``, columns
    ``left:left+width``."""

    top: int
    left: int
    height: int
    width: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.height), slice(self.left, self.left + self.width)


def letterbox_box(shape: tuple[int, int], size: tuple[int, int]) -> Box:
    """The box a ``shape = (H, W)`` frame fills when letterboxed into ``size = (h, w)``.

    The limiting side fills the network side exactly; the other is scaled by the same factor,
    rounded half up, and centred (an odd spare pixel goes to the bottom or right).
    """
    (frame_h, frame_w), (h, w) = (int(s) for s in shape), (int(s) for s in size)
    if frame_h * w >= frame_w * h:  # the frame is relatively taller: its height limits
        height, width = h, (2 * frame_w * h + frame_h) // (2 * frame_h)
    else:
        height, width = (2 * frame_h * w + frame_w) // (2 * frame_w), w
    height, width = max(1, min(h, height)), max(1, min(w, width))
    return Box((h - height) // 2, (w - width) // 2, height, width)


def check_resize(resize: str) -> None:
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}")


def resize_image(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Bilinear resize of a uint8 ``(H, W)`` scan; Pillow widens the filter when shrinking,
    which antialiases."""
    if size is None or image.shape == tuple(size):
        return image
    height, width = size
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))


def resize_mask(mask: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize a packed mask: each structure's bit is area-averaged and kept where at least half
    covered, so thin structures neither vanish nor grow. ``(h, w)`` uint8 packed."""
    mask = np.asarray(mask)
    if size is None or mask.shape == tuple(size):
        return mask.astype(np.uint8)
    height, width = size
    present = int(np.bitwise_or.reduce(mask.astype(np.uint8), axis=None))
    out = np.zeros((height, width), dtype=np.uint8)
    for bit in range(8):
        if present >> bit & 1:
            plane = ((mask >> bit) & 1).astype(np.float32)
            cover = Image.fromarray(plane).resize((width, height), Image.Resampling.BOX)
            out |= (np.asarray(cover) >= 0.5).astype(np.uint8) << bit
    return out


def fit_image(image: np.ndarray, size: tuple[int, int], resize: str = "stretch") -> np.ndarray:
    """A scan at the network's ``size``: stretched, or letterboxed with black padding.

    Returns a writable array (torch warns on read-only ones).
    """
    return _fit(image, size, resize, resize_image)


def fit_mask(mask: np.ndarray, size: tuple[int, int], resize: str = "stretch") -> np.ndarray:
    """A packed mask at the network's ``size``, placed exactly where :func:`fit_image` puts the
    scan; padding is background."""
    return _fit(mask, size, resize, resize_mask).astype(np.uint8, copy=False)


def _fit(array: np.ndarray, size, resize: str, resizer) -> np.ndarray:
    check_resize(resize)
    size = (int(size[0]), int(size[1]))
    if resize == "stretch":
        return np.array(resizer(array, size))
    box = letterbox_box(array.shape[:2], size)
    out = np.zeros(size, dtype=array.dtype)
    out[box.slices] = resizer(array, (box.height, box.width))
    return out


def crop_to_frame(
    values: torch.Tensor | np.ndarray, shape: tuple[int, int], resize: str = "stretch"
) -> torch.Tensor | np.ndarray:
    """Network-size maps ``(..., h, w)`` cut to the part that shows a ``shape`` frame.

    For ``stretch`` that is everything; for ``letterbox`` the box, without the padding. The
    caller then resizes the result to ``shape`` (bilinear, as for stretched frames).
    """
    check_resize(resize)
    if resize == "stretch":
        return values
    rows, cols = letterbox_box(shape, tuple(values.shape[-2:])).slices
    return values[..., rows, cols]
