"""Run-length encoding exactly as the Kaggle competition defines it.

Pixels are numbered column-major (top to bottom, then left to right), starting at 1, and a mask
is written as space-separated ``start length`` pairs. An empty mask is the empty string.
"""

from __future__ import annotations

import numpy as np

from nerveseg.errors import NervesegError


class RLEError(NervesegError, ValueError):
    """A run-length string is malformed or does not fit the image."""


def rle_encode(mask: np.ndarray) -> str:
    """Encode a binary mask as the competition's RLE string.

    Args:
        mask: ``(H, W)`` array; non-zero pixels are foreground.

    Returns:
        ``"start length start length ..."`` with 1-indexed column-major starts; ``""`` when empty.
    """
    if mask.ndim != 2:
        raise RLEError(f"rle_encode expects a 2-D mask, got shape {mask.shape}")
    flat = np.asarray(mask).astype(bool).T.reshape(-1)
    padded = np.concatenate([[False], flat, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    starts, ends = edges[0::2], edges[1::2]
    pairs = np.stack([starts + 1, ends - starts], axis=1).reshape(-1)
    return " ".join(map(str, pairs.tolist()))


def rle_decode(rle: str, shape: tuple[int, int]) -> np.ndarray:
    """Decode a competition RLE string into a boolean mask of ``shape`` = ``(H, W)``.

    Raises:
        RLEError: when the string is not pairs of positive integers, runs overlap or are out of
            order, or a run leaves the image.
    """
    height, width = shape
    text = "" if rle is None else str(rle).strip()
    flat = np.zeros(height * width, dtype=bool)
    if not text:
        return flat.reshape(width, height).T
    tokens = text.split()
    if len(tokens) % 2:
        raise RLEError(
            f"RLE has an odd number of numbers ({len(tokens)}); it must be start/length pairs"
        )
    try:
        numbers = np.array([int(t) for t in tokens], dtype=np.int64)
    except ValueError as exc:
        raise RLEError(f"RLE contains a non-integer token: {exc}") from None
    starts, lengths = numbers[0::2] - 1, numbers[1::2]
    if (starts < 0).any() or (lengths <= 0).any():
        raise RLEError("RLE starts must be >= 1 and lengths >= 1")
    ends = starts + lengths
    if ends.max() > flat.size:
        raise RLEError(
            f"RLE run ends at pixel {int(ends.max())}, past the image's {flat.size} pixels"
        )
    if (starts[1:] < ends[:-1]).any():
        raise RLEError("RLE runs overlap or are not in increasing order")
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        flat[start:end] = True
    return flat.reshape(width, height).T
