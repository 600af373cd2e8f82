"""The soft tissue behind every synthetic frame: muscle, fat, fascia and muscle bellies.

The bulk of a subject's drawing, and independent of the nerve and the vessels drawn over it
(:mod:`nerveseg.data.synth.canvas`). Also the home of :func:`smooth_noise`, the correlated
noise every texture here and the nerve's honeycomb are made of.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from nerveseg.data.synth.anatomy import Anatomy


def soft_tissue(rng: np.random.Generator, anatomy: Anatomy) -> np.ndarray:
    """The subject's canvas of tissue layers and bellies, float grey offsets, before landmarks."""
    tissue = _layers(rng, anatomy)
    _bellies(rng, tissue, anatomy)
    return tissue


def smooth_noise(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    sigma: float | tuple[float, ...],
) -> np.ndarray:
    """Unit-variance Gaussian noise with the given correlation lengths (pixels, per axis).

    Long correlations are drawn on a coarser grid and resized up: the same look for a fraction
    of the cost of a wide Gaussian kernel.
    """
    shape = tuple(shape)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), (len(shape),))
    steps = np.maximum(1, sigma // 3).astype(int) if len(shape) == 2 else np.ones(1, int)
    small = tuple(-(-n // step) + 1 for n, step in zip(shape, steps, strict=True))
    field = ndimage.gaussian_filter(rng.standard_normal(small, dtype=np.float32), sigma / steps)
    field /= field.std() + 1e-6
    if steps.max() > 1:
        size = (small[1] * int(steps[1]), small[0] * int(steps[0]))
        field = np.asarray(Image.fromarray(field).resize(size, Image.Resampling.BILINEAR))
    return np.ascontiguousarray(field[tuple(slice(0, n) for n in shape)], dtype=np.float32)


def _bend(field: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Move each column of ``field`` up or down by the smooth ``shift``: straight streaks curve."""
    rows = field.shape[0]
    source = np.abs(np.arange(rows, dtype=np.float32)[:, None] + shift)
    source = (rows - 1) - np.abs((rows - 1) - source)  # mirrored at the edges, so no smears
    low = np.clip(np.floor(source).astype(np.intp), 0, rows - 2)
    frac = np.clip(source - low, 0, 1)
    upper = np.take_along_axis(field, low + 1, axis=0)
    lower = np.take_along_axis(field, low, axis=0)
    return lower + frac * (upper - lower)


def _tissue_texture(rng: np.random.Generator, anatomy: Anatomy, layer: np.ndarray) -> np.ndarray:
    """Muscle and connective tissue: short, bright, wavy, mostly horizontal streaks.

    Thresholded anisotropic noise gives the streaks (the striated "starry night" of muscle); a
    smooth vertical displacement curves them; broad blotches make brighter and darker bellies.
    Each layer has its own brightness and streak density.
    """
    shape, u = layer.shape, anatomy.unit
    count = int(layer.max()) + 1
    levels = rng.uniform(-22, 6, count).astype(np.float32)
    levels[0] = rng.uniform(-12, 4)
    gains = rng.uniform(55, 110, count).astype(np.float32)
    thresholds = rng.uniform(0.2, 0.8, count).astype(np.float32)
    shift = 7.0 * u * smooth_noise(rng, shape, (35 * u, 50 * u))
    patches = smooth_noise(rng, shape, (3.2 * u, 22.0 * u))
    texture = np.maximum(patches - thresholds[layer], 0) * gains[layer]
    texture -= 22.0 * np.maximum(-0.8 - smooth_noise(rng, shape, (8 * u, 20 * u)), 0)
    texture += 9.0 * smooth_noise(rng, shape, (1.5 * u, 10.0 * u))
    # Layer boundaries blur over a few pixels, as echoes from neighbouring tissue overlap.
    texture = _bend(texture, shift) + ndimage.gaussian_filter1d(levels[layer], 4 * u, axis=0)
    texture += 14.0 * smooth_noise(rng, shape, (25 * u, 50 * u))
    return texture


def _fascia_curves(rng: np.random.Generator, anatomy: Anatomy) -> list[np.ndarray]:
    """Depths of the fascial planes across the canvas: more, closer ones near the skin."""
    (rows, cols), u = anatomy.canvas_shape, anatomy.unit
    height = rows - 2 * anatomy.margin_y
    xs = np.arange(cols, dtype=np.float32)
    shallow = rng.uniform(0.03, 0.2, int(rng.integers(3, 6)))
    deep = rng.uniform(0.22, 0.95, int(rng.integers(3, 6)))
    curves = []
    for depth in np.sort(np.concatenate([shallow, deep])) * height + anatomy.margin_y:
        tilt = rng.uniform(-0.05, 0.05) * (1.0 - depth / rows)
        curve = depth + tilt * (xs - cols / 2)
        period = rng.uniform(0.7, 2.5) * cols
        curve += rng.uniform(2, 14) * u * np.sin(2 * np.pi * xs / period + rng.uniform(0, 6.3))
        curve += 2.0 * u * smooth_noise(rng, (cols,), 20 * u)
        curves.append(curve.astype(np.float32))
    return curves


def _layers(rng: np.random.Generator, anatomy: Anatomy) -> np.ndarray:
    """Layers of muscle and fat separated by thin, bright, slightly curved fascia lines.

    Fascia break up along their length and sometimes come as a double line, as real ones do.
    """
    rows, cols = anatomy.canvas_shape
    u = anatomy.unit
    ys = np.arange(rows, dtype=np.float32)[:, None]
    curves = _fascia_curves(rng, anatomy)
    layer = np.zeros((rows, cols), dtype=np.intp)
    for curve in curves:
        layer += ys > curve[None, :]
    tissue = _tissue_texture(rng, anatomy, layer)
    for curve in curves:
        along = np.clip(0.75 + 0.7 * smooth_noise(rng, (cols,), 35 * u), 0, 1.3)
        thickness, brightness = rng.uniform(1.4, 3.2) * u, rng.uniform(55, 120)
        band = slice(max(int(curve.min() - 12 * u), 0), int(curve.max() + 12 * u) + 1)
        near = ys[band] - curve
        line = np.exp(-0.5 * (near / thickness) ** 2)
        if rng.random() < 0.5:
            line += 0.6 * np.exp(-0.5 * ((near - rng.uniform(4, 8) * u) / thickness) ** 2)
        tissue[band] += brightness * along * line
    return tissue


def _bellies(rng: np.random.Generator, tissue: np.ndarray, anatomy: Anatomy) -> None:
    """A few rounded muscle bellies: darker inside, outlined by a patchy bright perimysium.

    They give the frame the compartments real scans show, and other bright-rimmed ovals than
    the nerve, so that a model has to look for the honeycomb rather than any ring.
    """
    (rows, cols), u = tissue.shape, anatomy.unit
    for _ in range(int(rng.integers(2, 6))):
        rx, ry = rng.uniform(45, 110) * u, rng.uniform(25, 60) * u
        cx, cy = rng.uniform(0, cols), rng.uniform(anatomy.margin_y + 40 * u, rows)
        # Boxes wide enough that the rim has faded to nothing at their edges (no seams).
        pad_y, pad_x = 20 * u, 20 * u * rx / ry
        y0, y1 = max(int(cy - ry - pad_y), 0), min(int(cy + ry + pad_y) + 1, rows)
        x0, x1 = max(int(cx - rx - pad_x), 0), min(int(cx + rx + pad_x) + 1, cols)
        if y0 >= y1 or x0 >= x1:
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        rho = np.hypot((xs - cx) / rx, (ys - cy) / ry)
        rho += 0.1 * smooth_noise(rng, xs.shape, 15 * u)  # an irregular outline
        rim = np.clip(1.3 * smooth_noise(rng, xs.shape, (4 * u, 12 * u)) - 0.2, 0, 1.5)
        box = tissue[y0:y1, x0:x1]
        box -= rng.uniform(8, 22) * np.clip((1.0 - rho) * ry / (6 * u), 0, 1)
        box += rng.uniform(45, 80) * rim * np.exp(-0.5 * ((rho - 1.0) * ry / (4.5 * u)) ** 2)
