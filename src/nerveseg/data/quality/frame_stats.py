"""Per-frame measurements at full resolution: the numbers a person reads in original pixels.

Its own module because it is the one pass over the pixels that does not depend on what an
inspection makes of them: :func:`measure_frames` re-reads each frame kept by
:func:`~nerveseg.data.loading.load_set` at its original size, on threads, and measures mask area
(any structure, and per structure of ``data.structures``), centroid and bounding box, intensity,
and the content box that shows letterbox borders (:mod:`nerveseg.data.quality.borders`). On two
cores that adds about 1.5 ms per frame. :func:`histogram_moments` and :func:`spread` are the
statistics the report summarises those arrays with.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from nerveseg.data.images import read_image
from nerveseg.data.loading import LoadedSet, read_full_mask
from nerveseg.data.quality.borders import content_box
from nerveseg.data.samples import Sample
from nerveseg.data.structures import DEFAULT_LABELS, LabelMap

_WORKERS = 2  # like loading: Pillow releases the GIL while decoding
_CHUNK = 512  # frames per bincount, so counting never makes a large int64 copy


@dataclass
class FrameStats:
    """Per-frame measurements at full resolution; arrays of length N, in sample order.

    Attributes:
        shapes: ``(N, 2)`` ``(H, W)`` of each file.
        areas: ``(N,)`` labelled pixels in the mask, any structure (0 = empty).
        structure_areas: ``(N, S)`` pixels of each structure.
        content: ``(N, 4)`` ``(top, left, bottom, right)`` of the pixels above black, see
            :func:`~nerveseg.data.quality.borders.content_box`.
        centroids: ``(N, 2)`` ``(row, column)`` of the mask's centre in pixels; NaN when empty.
        boxes: ``(N, 4)`` ``(top, left, bottom, right)`` inclusive pixel bounds; NaN when empty.
        means, stds: ``(N,)`` intensity in [0, 1].
        saturated: ``(N,)`` share of pixels at 255.
        black: ``(N,)`` share of pixels at 0.
        histogram: ``(256,)`` pixel counts over all frames.
    """

    shapes: np.ndarray
    areas: np.ndarray
    structure_areas: np.ndarray
    content: np.ndarray
    centroids: np.ndarray
    boxes: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    saturated: np.ndarray
    black: np.ndarray
    histogram: np.ndarray


def measure_frames(loaded: LoadedSet, labels: LabelMap = DEFAULT_LABELS) -> FrameStats:
    """Re-read each kept frame at full resolution and measure its mask and intensity."""

    def measure(sample: Sample, shape: tuple[int, int]) -> tuple:
        return _measure(sample, shape, labels)

    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        rows = list(pool.map(measure, loaded.samples, loaded.original_shapes))
    histogram = np.sum([row[-1] for row in rows], axis=0, dtype=np.int64)
    columns = list(zip(*(row[:-1] for row in rows), strict=True))
    shapes, areas, per_structure, content, centroids, boxes, means, stds, saturated, black = (
        np.array(column, dtype=np.float64) for column in columns
    )
    return FrameStats(
        shapes=shapes.astype(np.int64),
        areas=areas.astype(np.int64),
        structure_areas=per_structure.astype(np.int64).reshape(len(rows), labels.count),
        content=content.astype(np.int64),
        centroids=centroids,
        boxes=boxes,
        means=means,
        stds=stds,
        saturated=saturated,
        black=black,
        histogram=histogram,
    )


def _measure(sample: Sample, shape: tuple[int, int], labels: LabelMap) -> tuple:
    image = read_image(sample.image_path)
    mask = read_full_mask(sample, shape, labels=labels)
    per_structure = [int(np.count_nonzero(mask & (1 << k))) for k in range(labels.count)]
    # Pillow's histogram and row/column profiles: 5x faster than bincount and nonzero.
    counts = np.array(Image.fromarray(image).histogram(), dtype=np.int64)
    mean, std = histogram_moments(counts)
    pixels = image.size
    rows, cols = np.count_nonzero(mask, axis=1), np.count_nonzero(mask, axis=0)
    area = int(rows.sum())
    if area:
        centroid = (rows @ np.arange(rows.size) / area, cols @ np.arange(cols.size) / area)
        on_rows, on_cols = np.flatnonzero(rows), np.flatnonzero(cols)
        box = (on_rows[0], on_cols[0], on_rows[-1], on_cols[-1])
    else:
        centroid, box = (np.nan, np.nan), (np.nan,) * 4
    return (
        shape,
        area,
        per_structure,
        content_box(image),
        centroid,
        box,
        mean,
        std,
        counts[255] / pixels,
        counts[0] / pixels,
        counts,
    )


def histogram_moments(counts: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation in [0, 1] of the pixels a 256-bin histogram counts."""
    values = np.arange(256, dtype=np.float64) / 255.0
    total = counts.sum()
    mean = float(counts @ values / total)
    variance = float(counts @ (values - mean) ** 2 / total)
    return mean, variance**0.5


def intensity_moments(images: np.ndarray) -> tuple[float, float]:
    """Mean and std in [0, 1] at the inspection size, the resized pixels training normalises."""
    counts = np.zeros(256, dtype=np.int64)
    for start in range(0, len(images), _CHUNK):
        counts += np.bincount(images[start : start + _CHUNK].ravel(), minlength=256)
    return histogram_moments(counts)


def spread(values: np.ndarray) -> dict[str, float]:
    """``min``, ``median``, ``mean`` and ``max`` of ``values`` (NaN ignored; all NaN if none)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if not values.size:
        return dict.fromkeys(("min", "median", "mean", "max"), float("nan"))
    return {
        "min": float(values.min()),
        "median": float(np.median(values)),
        "mean": float(values.mean()),
        "max": float(values.max()),
    }
