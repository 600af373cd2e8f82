"""One synthetic subject's geometry: the nerve's outline and the canvas it is drawn on.

Drawn before any picture, and kept apart from the drawing (:mod:`nerveseg.data.synth.canvas`),
because the frame renderer (:mod:`nerveseg.data.synth.scene`) needs only these few numbers to
warp a canvas for the probe's pose and to label the nerve in every frame. The canvas is larger
than the frame by a margin, so the probe's motion never shows its edge. Lengths are given for a
420-pixel-high frame and scaled by ``unit``, so tiny test frames keep the same picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
