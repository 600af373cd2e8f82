"""Reading scans and masks from image files, and writing masks.

Every reader returns plain NumPy arrays in one convention, whatever the file held: scans as
``(H, W)`` uint8 grayscale, binary masks as ``(H, W)`` bool, labelled masks as their values or
colours (mapped to structures by :mod:`nerveseg.data.labels`). Anything Pillow cannot decode becomes a
:class:`~nerveseg.errors.DataError` naming the file, never a traceback from inside Pillow.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from nerveseg.errors import DataError, Problem
from nerveseg.files import atomic_path

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
"""File endings read as images (compared case-insensitively)."""

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_FEW_LABELS = 8  # a non-binary mask with at most this many values looks like a label image


def is_image_file(path: Path) -> bool:
    """True for a visible file with an image ending; hidden files (``._x.png``) are OS clutter."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _decode(path: Path, to_array: Callable[[Path, Image.Image], np.ndarray]) -> np.ndarray:
    """Open and fully decode ``path``, then ``to_array`` it; any Pillow failure is a DataError.

    Decoding happens here (``load()``), not lazily later, so truncated files fail inside the
    ``try`` and the file is closed before the caller sees the pixels.
    """
    try:
        with Image.open(path) as image:
            frames = getattr(image, "n_frames", 1)
            if frames > 1:
                reason = f"holds {frames} frames (a stack); save one image per file"
                raise DataError([Problem(path, reason)])
            image.load()
            return to_array(path, image)
    except FileNotFoundError:
        raise DataError([Problem(path, "file not found")]) from None
    except PermissionError:
        raise DataError([Problem(path, "cannot be read (permission denied)")]) from None
    except IsADirectoryError:
        raise DataError([Problem(path, "is a folder, not an image file")]) from None
    except UnidentifiedImageError:
        reason = "not a readable image (unknown format or corrupt file); replace or re-export it"
        raise DataError([Problem(path, reason)]) from None
    except Image.DecompressionBombError as exc:
        raise DataError([Problem(path, f"too large to read safely ({exc})")]) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # Truncated or damaged files surface as any of these depending on the codec.
        reason = f"could not be decoded (truncated or corrupt: {exc}); re-export or replace it"
        raise DataError([Problem(path, reason)]) from None


def _image_values(path: Path, image: Image.Image) -> np.ndarray:
    """Intensities of a scan: a palette image's colours, not its palette indices."""
    if image.mode in ("P", "PA"):
        image = image.convert("RGB")
    return _mask_values(path, image)


def _mask_values(path: Path, image: Image.Image) -> np.ndarray:
    """The values of a one-channel view of ``image``, in its own dtype (no rescaling).

    Palette images keep their indices (a ``{0, 1}`` palette mask stays ``{0, 1}``). RGB files
    whose channels are equal (grayscale saved as colour) keep the exact values; genuinely
    coloured ones fall back to Pillow's ITU-R 601 luminance. An image whose colour is uniform
    but whose alpha varies (a label painted as transparency) is read from its alpha.
    """
    if image.mode in _ALPHA_MODES and _label_in_alpha(image):
        return np.asarray(image.getchannel("A"))
    if image.mode in ("L", "P") or image.mode in _SIXTEEN_BIT_MODES:
        return np.asarray(image)
    if image.mode == "1":
        return np.asarray(image.convert("L"))
    if image.mode in ("LA", "PA"):
        return np.asarray(image.getchannel(0))
    if image.mode == "F":
        reason = "floating-point images are not supported; save it as 8- or 16-bit"
        raise DataError([Problem(path, reason)])
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    pixels = np.asarray(rgb)
    first = pixels[..., 0]
    if np.array_equal(first, pixels[..., 1]) and np.array_equal(first, pixels[..., 2]):
        return first
    return np.asarray(rgb.convert("L"))


_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")


def _label_in_alpha(image: Image.Image) -> bool:
    """True when every colour channel is one flat value and the alpha channel is not."""
    alpha_low, alpha_high = image.getchannel("A").getextrema()
    if alpha_low == alpha_high:
        return False
    colour = [band for band in image.getbands() if band != "A"]
    return all(len(set(image.getchannel(b).getextrema())) == 1 for b in colour)


def _to_uint8(path: Path, values: np.ndarray) -> np.ndarray:
    """Scale 16-bit values to 8 bits by the full 16-bit range.

    A fixed scale (not a per-image stretch) keeps one brightness meaning across all frames.
    """
    if values.dtype == np.uint8:
        return values
    if values.min() < 0 or values.max() > 65535:
        raise DataError([Problem(path, "pixel values outside 0..65535; save it as 8- or 16-bit")])
    return np.rint(values.astype(np.float32) * (255.0 / 65535.0)).astype(np.uint8)


def read_image(path: Path) -> np.ndarray:
    """Read a scan as ``(H, W)`` uint8 grayscale.

    Colour files with equal channels lose the copies, other colour files become luminance and
    16-bit files are scaled to 8-bit, so every model sees the same kind of input.

    Raises:
        DataError: the file is missing, corrupt, truncated, a stack or has an unsupported mode.
    """
    path = Path(path)
    return _decode(path, scan_values)


def scan_values(path: Path, image: Image.Image) -> np.ndarray:
    """One decoded Pillow image (or page of a stack) as a scan: ``(H, W)`` uint8 grayscale.

    The conversion :func:`read_image` applies, for readers that open files themselves
    (multi-frame TIFF stacks in :mod:`nerveseg.data.streams`).
    """
    return np.ascontiguousarray(_to_uint8(path, _image_values(path, image)))


def read_mask(path: Path, *, threshold: bool = False) -> np.ndarray:
    """Read a mask as ``(H, W)`` bool.

    A mask must hold exactly ``{0, v}`` for one ``v > 0`` (``{0, 255}``, ``{0, 1}``, palette
    indices ...): anything else means the file is not what it claims, typically a JPEG whose
    compression blurred the edges. With ``threshold=True`` such masks are binarised at half the
    value range (128 for 8-bit) instead of being rejected.

    Raises:
        DataError: unreadable file, or not binary and ``threshold`` is false.
    """
    path = Path(path)
    values = _decode(path, _mask_values)
    if _is_binary(values):
        return values != 0
    if threshold:
        half = 128 if values.dtype == np.uint8 else 32768
        return values >= half
    present = _distinct_values(values)
    shown = ", ".join(str(v) for v in present[:6]) + (" ..." if len(present) > 6 else "")
    reason = (
        f"mask is not binary ({len(present)} distinct values: {shown}); lossy formats like JPEG "
        "blur masks, save masks as PNG or TIFF"
    )
    if len(present) <= _FEW_LABELS:  # a handful of values: labels, not compression noise
        reason += (
            "; if the values are labels of several structures, name them in data.structures, "
            "e.g. {nerve: [1], vessel: [2]}"
        )
    raise DataError([Problem(path, reason)])


def read_mask_values(path: Path) -> np.ndarray:
    """A mask's integer values, ``(H, W)``: grey levels, or a palette image's indices.

    What :mod:`nerveseg.data.labels` maps through ``data.structures`` integers. A genuinely
    coloured file is refused here (its luminance would be a meaningless number): its structures
    are named by colour instead.

    Raises:
        DataError: unreadable file, or a colour mask.
    """
    path = Path(path)
    return _decode(path, _indexed_values)


def read_mask_colours(path: Path) -> np.ndarray:
    """A mask's colours, ``(H, W, 3)`` uint8 (a palette image's colours; grey as ``(v, v, v)``).

    Raises:
        DataError: unreadable file.
    """
    path = Path(path)
    return _decode(path, lambda _, image: np.asarray(image.convert("RGB")))


_COLOUR_MODES = ("RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV")


def _indexed_values(path: Path, image: Image.Image) -> np.ndarray:
    if image.mode in _COLOUR_MODES and not (image.mode in _ALPHA_MODES and _label_in_alpha(image)):
        pixels = np.asarray(image.convert("RGB"))
        first = pixels[..., 0]
        if not (np.array_equal(first, pixels[..., 1]) and np.array_equal(first, pixels[..., 2])):
            colours = np.unique(pixels.reshape(-1, 3), axis=0).tolist()
            shown = ", ".join(str(c) for c in colours[:3]) + (" ..." if len(colours) > 3 else "")
            reason = (
                f"is a colour mask ({shown}); name each structure's colour in data.structures, "
                "e.g. {nerve: [[255, 0, 0]], vessel: [[0, 0, 255]]}"
            )
            raise DataError([Problem(path, reason)])
    return _mask_values(path, image)


def _is_binary(values: np.ndarray) -> bool:
    """True when ``values`` holds only 0 and one other value (or a single value).

    Two vectorised comparisons instead of a histogram: this runs once per mask per load.
    """
    top = values.max()
    return bool(((values == 0) | (values == top)).all())


def _distinct_values(values: np.ndarray) -> list[int]:
    """Sorted distinct values; a histogram for 8-bit data, which is far faster than sorting."""
    if values.dtype == np.uint8:
        return np.flatnonzero(np.bincount(values.reshape(-1), minlength=256)).tolist()
    return np.unique(values).tolist()


def write_mask_png(path: Path, mask: np.ndarray) -> None:
    """Write ``mask`` (``(H, W)``, non-zero = nerve) as a ``{0, 255}`` PNG, atomically.

    PNG because it is lossless: the mask reads back exactly, unlike JPEG.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"write_mask_png expects a 2-D mask, got shape {mask.shape}")
    pixels = np.where(mask != 0, 255, 0).astype(np.uint8)
    with atomic_path(Path(path)) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")
