"""One synthetic subject's anatomy, drawn once on a canvas larger than the frame.

Values are grey-level offsets of a log-compressed display. Ultrasound physics is multiplicative
(reflectivity x speckle x attenuation), so in the log domain a frame becomes one warp of this
canvas plus a few additions (:mod:`nerveseg.data.synth.scene`): that is what makes hundreds of
580x420 frames a second possible. Lengths are given for a 420-pixel-high frame and scaled by
``unit``, so tiny test frames keep the same picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage


@dataclass(frozen=True)
class NerveShape:
    """A smooth, convex-ish oval like the real labels: an ellipse with a low-order wobble
    (without harmonics, a plain ellipse: the artery's lumen).

    Coordinates are canvas pixel indices (x to the right, y down); ``harmonics`` holds
    ``(order, amplitude, phase)`` terms added to the unit radius.
    """

    cx: float
    cy: float
    a: float
    b: float
    angle: float
    harmonics: tuple[tuple[int, float, float], ...]

    def normalised_radius(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Distance from the centre in units of the outline's radius there: <= 1 is inside."""
        dx, dy = xs - self.cx, ys - self.cy
        cos, sin = np.cos(self.angle), np.sin(self.angle)
        u = (dx * cos + dy * sin) / self.a
        v = (-dx * sin + dy * cos) / self.b
        theta = np.arctan2(v, u)
        outline = np.ones_like(theta)
        for order, amplitude, phase in self.harmonics:
            outline += amplitude * np.cos(order * theta + phase)
        return np.hypot(u, v) / outline

    def reach(self) -> float:
        """Largest distance of the outline from the centre, for bounding boxes."""
        return max(self.a, self.b) * (1.0 + sum(abs(h[1]) for h in self.harmonics))


@dataclass(frozen=True)
class Anatomy:
    """The few numbers the frame renderer needs; the textures themselves are in the canvases."""

    unit: float
    margin_x: int
    margin_y: int
    canvas_shape: tuple[int, int]
    nerve: NerveShape
    speckle_scale: float
    level: float


def sample_anatomy(rng: np.random.Generator, height: int, width: int) -> Anatomy:
    """Draw one subject's geometry, keeping the nerve central so the probe motion never loses it."""
    unit = height / 420.0
    margin_x, margin_y = int(np.ceil(0.15 * width)) + 4, int(np.ceil(0.13 * height)) + 4
    a = rng.uniform(40, 62) * unit
    b = a * rng.uniform(0.58, 0.88)
    nerve = NerveShape(
        cx=margin_x + rng.uniform(0.32, 0.68) * width,
        cy=margin_y + rng.uniform(0.3, 0.55) * height,
        a=a,
        b=b,
        angle=rng.uniform(-0.9, 0.9),
        harmonics=(
            (2, rng.uniform(0.0, 0.07), rng.uniform(0, 2 * np.pi)),
            (3, rng.uniform(0.0, 0.05), rng.uniform(0, 2 * np.pi)),
        ),
    )
    return Anatomy(
        unit=unit,
        margin_x=margin_x,
        margin_y=margin_y,
        canvas_shape=(height + 2 * margin_y, width + 2 * margin_x),
        nerve=nerve,
        speckle_scale=rng.uniform(0.8, 1.25),
        level=rng.uniform(-6, 6),
    )


def _smooth_noise(rng: np.random.Generator, shape, sigma) -> np.ndarray:
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
    shift = 7.0 * u * _smooth_noise(rng, shape, (35 * u, 50 * u))
    patches = _smooth_noise(rng, shape, (3.2 * u, 22.0 * u))
    texture = np.maximum(patches - thresholds[layer], 0) * gains[layer]
    texture -= 22.0 * np.maximum(-0.8 - _smooth_noise(rng, shape, (8 * u, 20 * u)), 0)
    texture += 9.0 * _smooth_noise(rng, shape, (1.5 * u, 10.0 * u))
    # Layer boundaries blur over a few pixels, as echoes from neighbouring tissue overlap.
    texture = _bend(texture, shift) + ndimage.gaussian_filter1d(levels[layer], 4 * u, axis=0)
    texture += 14.0 * _smooth_noise(rng, shape, (25 * u, 50 * u))
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
        curve += 2.0 * u * _smooth_noise(rng, (cols,), 20 * u)
        curves.append(curve.astype(np.float32))
    return curves


def _tissue(rng: np.random.Generator, anatomy: Anatomy) -> np.ndarray:
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
        along = np.clip(0.75 + 0.7 * _smooth_noise(rng, (cols,), 35 * u), 0, 1.3)
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
        rho += 0.1 * _smooth_noise(rng, xs.shape, 15 * u)  # an irregular outline
        rim = np.clip(1.3 * _smooth_noise(rng, xs.shape, (4 * u, 12 * u)) - 0.2, 0, 1.5)
        box = tissue[y0:y1, x0:x1]
        box -= rng.uniform(8, 22) * np.clip((1.0 - rho) * ry / (6 * u), 0, 1)
        box += rng.uniform(45, 80) * rim * np.exp(-0.5 * ((rho - 1.0) * ry / (4.5 * u)) ** 2)


def _vessel(tissue: np.ndarray, anatomy: Anatomy, centre, radii, wall: float, boost: float) -> None:
    """An anechoic lumen with a bright front/back wall and posterior acoustic enhancement.

    Sound crosses blood almost unattenuated, so the tissue beneath is brighter; the walls are
    brightest where the beam meets them head-on, and refraction leaves thin shadows at the sides.
    Drawn on the box from just above the vessel to the canvas bottom, for speed.
    """
    rows, cols = tissue.shape
    u, (cx, cy), (rx, ry) = anatomy.unit, centre, radii
    y0, x0 = max(int(cy - ry - 16 * u), 0), max(int(cx - 1.6 * rx - 16 * u), 0)
    x1 = min(int(cx + 1.6 * rx + 16 * u) + 1, cols)
    if y0 >= rows or x0 >= x1:
        return
    ys, xs = np.mgrid[y0:rows, x0:x1].astype(np.float32)
    dx, dy = (xs - cx) / rx, (ys - cy) / ry
    rho = np.hypot(dx, dy)
    inside = np.clip((1.0 - rho) * min(rx, ry) / (3.0 * u) + 0.5, 0, 1)
    below = np.clip(dy, 0, None)
    depth = np.exp(-np.clip(below - 1, 0, None) / 5.0)
    box = tissue[y0:, x0:x1]
    box += boost * np.exp(-0.5 * (dx / 0.7) ** 4) * np.clip(below, 0, 1) * depth
    edge = np.exp(-0.5 * ((np.abs(dx) - 1.0) * rx / (4.0 * u)) ** 2)
    box -= 18.0 * edge * (below > 1) * depth**2
    facing = 0.3 + 0.7 * (dy / np.maximum(rho, 1e-3)) ** 2
    box += inside * (-75.0 - box)
    box += wall * facing * np.exp(-0.5 * ((rho - 1.05) * min(rx, ry) / (2.5 * u)) ** 2)


def _step(x: np.ndarray) -> np.ndarray:
    """A smooth 0-to-1 step (logistic), without overflow warnings far from the edge."""
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def _rib(rng: np.random.Generator, tissue: np.ndarray, anatomy: Anatomy) -> None:
    """A deep bony surface: a bright curved band with an acoustic shadow beneath it."""
    rows, cols = tissue.shape
    u = anatomy.unit
    ys = np.arange(rows, dtype=np.float32)[:, None]
    xs = np.arange(cols, dtype=np.float32)[None, :]
    depth = anatomy.margin_y + rng.uniform(0.8, 0.95) * (rows - 2 * anatomy.margin_y)
    x0 = rng.uniform(-0.3, 0.6) * cols
    x1 = x0 + rng.uniform(0.35, 0.7) * cols
    curve = depth - rng.uniform(8, 25) * u * np.sin(np.pi * np.clip((xs - x0) / (x1 - x0), 0, 1))
    span = _step((xs - x0) / (6 * u)) * _step((x1 - xs) / (6 * u))
    tissue += 80.0 * span * np.exp(-0.5 * ((ys - curve) / (3.5 * u)) ** 2)
    tissue -= 55.0 * span * _step((ys - curve - 6 * u) / (3 * u))


def _honeycomb(
    rng: np.random.Generator, anatomy: Anatomy
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The nerve's texture and its soft inside weight, drawn on the nerve's bounding box.

    A bright epineurium (rim and matrix) around several dark round fascicles: the honeycomb a
    regional anaesthetist looks for. Returns ``(texture, weight, (top, left))`` for the box.
    """
    nerve, u = anatomy.nerve, anatomy.unit
    reach = int(np.ceil(nerve.reach())) + 4
    y0, x0 = int(nerve.cy) - reach, int(nerve.cx) - reach
    ys, xs = np.mgrid[y0 : y0 + 2 * reach, x0 : x0 + 2 * reach].astype(np.float32)
    rho = nerve.normalised_radius(xs, ys)
    radius = min(nerve.a, nerve.b)
    weight = np.clip((1.0 - rho) * radius / (2.0 * u) + 0.5, 0, 1)
    texture = 38.0 + 14.0 * _smooth_noise(rng, xs.shape, (1.5 * u, 4.0 * u))
    patchy_rim = np.clip(0.6 + 0.5 * _smooth_noise(rng, xs.shape, 7 * u), 0.1, 1.2)
    texture += 90.0 * patchy_rim * np.exp(-0.5 * ((rho - 0.92) * radius / (3.5 * u)) ** 2)
    placed: list[tuple[float, float, float]] = []
    wanted = int(rng.integers(4, 11))
    for _ in range(400):
        if len(placed) >= wanted:
            break
        r = rng.uniform(5.0, 11.0) * u
        px, py = rng.uniform(x0, x0 + 2 * reach), rng.uniform(y0, y0 + 2 * reach)
        if nerve.normalised_radius(np.float32(px), np.float32(py)) > 0.85 - r / radius:
            continue
        if all(np.hypot(px - qx, py - qy) > r + qr + 2.5 * u for qx, qy, qr in placed):
            placed.append((px, py, r))
    for px, py, r in placed:
        distance = np.hypot((xs - px) / 1.1, (ys - py) * 1.1)  # smeared laterally by the beam
        texture -= 55.0 * np.clip((r - distance) / (2.5 * u) + 0.5, 0, 1)
        texture += 30.0 * np.exp(-0.5 * ((distance - r - 1.5 * u) / (1.8 * u)) ** 2)
    return texture, weight, (y0, x0)


def render_canvases(
    rng: np.random.Generator, anatomy: Anatomy
) -> tuple[np.ndarray, np.ndarray, NerveShape]:
    """Draw the subject's tissue twice, without and with the nerve, as float32 grey offsets.

    The artery sits beside the nerve as in the supraclavicular view; a vein and a rib appear in
    some subjects. Both canvases share everything except the nerve, so an empty frame is the same
    scene with the honeycomb gone, not a different picture. The third item is the artery's lumen
    (an upright ellipse, inside where the drawing is anechoic), for labelling it as a vessel.
    """
    u, nerve = anatomy.unit, anatomy.nerve
    tissue = _tissue(rng, anatomy)
    _bellies(rng, tissue, anatomy)
    side = rng.choice([-1.0, 1.0])
    artery_r = rng.uniform(17, 28) * u
    artery = (
        nerve.cx + side * (nerve.a + artery_r + rng.uniform(4, 25) * u),
        nerve.cy + rng.uniform(-0.3, 0.9) * nerve.b,
    )
    artery_rx = artery_r * rng.uniform(1.0, 1.15)
    _vessel(tissue, anatomy, artery, (artery_rx, artery_r), 110.0, 30.0)
    lumen = NerveShape(artery[0], artery[1], artery_rx, artery_r, 0.0, ())
    if rng.random() < 0.5:
        vein_r = rng.uniform(14, 24) * u
        vein = (artery[0] + side * (artery_r + vein_r + 8 * u), artery[1] - rng.uniform(0, 30) * u)
        _vessel(tissue, anatomy, vein, (vein_r, vein_r * rng.uniform(0.4, 0.7)), 35.0, 12.0)
    if rng.random() < 0.5:
        _rib(rng, tissue, anatomy)
    tissue += anatomy.level
    with_nerve = tissue.copy()
    texture, weight, (y0, x0) = _honeycomb(rng, anatomy)
    box = with_nerve[y0 : y0 + weight.shape[0], x0 : x0 + weight.shape[1]]
    # A little of the surrounding streaks shows through, as in real nerves.
    box += 0.85 * weight * (texture + anatomy.level - box)
    return tissue.astype(np.float32), with_nerve.astype(np.float32), lumen
