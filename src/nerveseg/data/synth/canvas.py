"""A subject's two canvases: its soft tissue and landmarks, drawn without and with the nerve.

Values are grey-level offsets of a log-compressed display. Ultrasound physics is multiplicative
(reflectivity x speckle x attenuation), so in the log domain a frame becomes one warp of this
canvas plus a few additions (:mod:`nerveseg.data.synth.scene`): that is what makes hundreds of
580x420 frames a second possible. The landmarks (artery, vein, rib, the nerve's honeycomb) live
beside the function that composes them because their order is part of the picture: each one
changes the tissue already drawn beneath it, and the nerve goes last, on one canvas only.
"""

from __future__ import annotations

import numpy as np

from nerveseg.data.synth.anatomy import Anatomy, NerveShape
from nerveseg.data.synth.tissue import smooth_noise, soft_tissue


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
    texture = 38.0 + 14.0 * smooth_noise(rng, xs.shape, (1.5 * u, 4.0 * u))
    patchy_rim = np.clip(0.6 + 0.5 * smooth_noise(rng, xs.shape, 7 * u), 0.1, 1.2)
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
    tissue = soft_tissue(rng, anatomy)
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
