"""The probe side of the synthetic scans: speckle, depth gain, sweep motion, one frame.

A subject's anatomy (:mod:`nerveseg.data.synth.canvas`) is drawn once; each frame is then a
nearest-neighbour affine warp of that canvas for the probe's pose, plus crops of speckle and
the probe's fixed depth profile, all added in the log (grey-level) domain. That is a few
milliseconds per 580x420 frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from nerveseg.data.synth.anatomy import Anatomy, NerveShape, sample_anatomy
from nerveseg.data.synth.canvas import render_canvases

# A 55 dB display range over 256 grey levels, as a typical scanner preset shows.
GREY_PER_DB = 255.0 / 55.0
# Share of the speckle that moves with the tissue (the rest is redrawn every frame): consecutive
# frames of a sweep are alike, but never pixel-identical as the injected duplicates are.
PERSISTENT_SPECKLE = 0.6


@dataclass(frozen=True)
class Pose:
    """The probe's pose in one frame: shift (pixels), rotation (radians), zoom, gain (grey)."""

    shift_x: float
    shift_y: float
    angle: float
    scale: float
    gain: float


@dataclass
class Scene:
    """Everything about one subject that is drawn once and reused by all its frames.

    Attributes:
        anatomy: the subject's geometry (canvas margins, nerve outline).
        without_nerve, with_nerve: the tissue canvases (float32 grey offsets, mode "F").
        artery: the artery's lumen on the canvas, visible in every frame.
        persistent: ``(1.5 H, 1.5 W)`` float32 speckle that follows the probe's shift, so
            neighbouring frames share it.
        fresh: ``(1.5 H, 1.5 W)`` float32 speckle cropped at random for every frame.
        bias: ``(H, W)`` float32 depth gain, skin line and marker, fixed to the probe.
    """

    anatomy: Anatomy
    without_nerve: Image.Image
    with_nerve: Image.Image
    persistent: np.ndarray
    fresh: np.ndarray
    bias: np.ndarray
    artery: NerveShape


def speckle_bank(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Speckle as a scanner displays it, twice the frame size: log-compressed, zero mean, grey.

    The envelope of a complex Gaussian field blurred by a point-spread function wider than tall
    has Rayleigh statistics and laterally elongated grains. Scanners then average intensity over
    a small window (compounding, speckle reduction), which fills the dark nulls; so do we. One
    bank serves a whole data set: each subject resamples it at its own grain size
    (:func:`speckle_patch`), which costs far less than drawing new speckle.
    """
    unit = height / 420.0
    shape, sigma = (2 * height, 2 * width), (1.5 * unit, 5.0 * unit)
    real = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    imag = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    intensity = ndimage.gaussian_filter(real * real + imag * imag, (0.6 * sigma[0], 0.6 * sigma[1]))
    decibels = 10.0 * np.log10(intensity + 1e-12)
    decibels -= decibels.mean()
    return (decibels * GREY_PER_DB).astype(np.float32)


def speckle_patch(
    rng: np.random.Generator, bank: np.ndarray, shape: tuple[int, int], scale: float
) -> np.ndarray:
    """A random region of ``bank`` resized to ``shape``, its grains ``scale`` times larger."""
    rows, cols = (
        min(math.ceil(n / scale), limit) for n, limit in zip(shape, bank.shape, strict=True)
    )
    top = int(rng.integers(0, bank.shape[0] - rows + 1))
    left = int(rng.integers(0, bank.shape[1] - cols + 1))
    region = Image.fromarray(np.ascontiguousarray(bank[top : top + rows, left : left + cols]))
    return np.array(region.resize(shape[::-1], Image.Resampling.BILINEAR), dtype=np.float32)


def frame_bias(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """What belongs to the probe, not the tissue: depth gain, the skin line and the marker.

    Brightness falls with depth (attenuation that time-gain compensation only partly undoes),
    the near field is bright, and every Kaggle frame shows the same bright skin/gel line and a
    small "V" orientation marker at the top.
    """
    unit = height / 420.0
    depth = np.arange(height, dtype=np.float32) / height
    # Real frames stay bright over the superficial third, then fall to a dim deep field.
    drop = 0.3 * depth + 0.7 / (1.0 + np.exp(-(depth - rng.uniform(0.3, 0.5)) / 0.1))
    profile = rng.uniform(112, 128) - rng.uniform(50, 75) * drop
    profile += 18.0 * np.exp(-depth / 0.08) + 5.0 * np.sin(2 * np.pi * depth * rng.uniform(1, 2))
    rows = np.arange(height, dtype=np.float32) / unit
    profile += 110.0 * np.exp(-0.5 * ((rows - 3.0) / 1.5) ** 2)
    profile -= 40.0 * np.exp(-0.5 * ((rows - 8.0) / 2.0) ** 2)
    bias = np.repeat(profile[:, None], width, axis=1)
    for row in range(int(10 * unit) + 1):
        for side in (-1, 1):
            col = round(0.52 * width + side * (10 * unit - row) * 0.6)
            if 0 <= col < width:
                bias[row, col] -= 220.0
    return bias.astype(np.float32)


def build_scene(rng: np.random.Generator, height: int, width: int, bank: np.ndarray) -> Scene:
    """Draw one subject: anatomy canvases, its two speckle patches, the probe's bias.

    ``bank`` comes from :func:`speckle_bank` for the same frame size.
    """
    anatomy = sample_anatomy(rng, height, width)
    without_nerve, with_nerve, artery = render_canvases(rng, anatomy)
    shape = (height + height // 2, width + width // 2)
    persistent = speckle_patch(rng, bank, shape, anatomy.speckle_scale)
    persistent *= PERSISTENT_SPECKLE
    fresh = speckle_patch(rng, bank, shape, anatomy.speckle_scale)
    fresh *= math.sqrt(1.0 - PERSISTENT_SPECKLE**2)  # the two shares' variances add up to one
    return Scene(
        anatomy=anatomy,
        without_nerve=Image.fromarray(without_nerve, mode="F"),
        with_nerve=Image.fromarray(with_nerve, mode="F"),
        persistent=persistent,
        fresh=fresh,
        bias=frame_bias(rng, height, width),
        artery=artery,
    )


def _wander(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """A smooth random curve within about [-1.2, 1.2] over the sweep: a drift and two waves."""
    curve = rng.uniform(-0.5, 0.5) * (2 * t - 1)
    for _ in range(2):
        frequency, phase = rng.uniform(0.3, 1.5), rng.uniform(0, 2 * np.pi)
        curve += rng.uniform(0.2, 0.35) * np.sin(2 * np.pi * frequency * t + phase)
    return curve


def sweep_poses(rng: np.random.Generator, frames: int, height: int, width: int) -> list[Pose]:
    """A slow, smooth probe motion across a subject's frames, as in one recorded sweep.

    Amplitudes stay inside the canvas margins of
    :func:`~nerveseg.data.synth.anatomy.sample_anatomy`.
    """
    t = np.linspace(0.0, 1.0, frames)
    shift_x, shift_y = 0.06 * width * _wander(rng, t), 0.025 * height * _wander(rng, t)
    angle, scale = 0.045 * _wander(rng, t), 1.0 + 0.04 * _wander(rng, t)
    gain = rng.uniform(-6, 6) + 8.0 * _wander(rng, t)
    values = zip(shift_x, shift_y, angle, scale, gain, strict=True)
    return [Pose(*(float(v) for v in row)) for row in values]


def _affine(pose: Pose, anatomy: Anatomy, width: int) -> tuple[float, ...]:
    """Pillow's frame-to-canvas affine map: the probe rocks about its contact point (top centre)."""
    a, b = pose.scale * math.cos(pose.angle), -pose.scale * math.sin(pose.angle)
    d, e = -b, a
    probe_x = anatomy.margin_x + width / 2 + pose.shift_x
    probe_y = anatomy.margin_y + pose.shift_y
    return (a, b, probe_x - a * width / 2, d, e, probe_y - d * width / 2)


def nerve_mask(pose: Pose, anatomy: Anatomy, height: int, width: int) -> np.ndarray:
    """The nerve's outline in the frame, filled: exact, and computed on its bounding box only."""
    return outline_mask(anatomy.nerve, pose, anatomy, height, width)


def vessel_mask(scene: Scene, pose: Pose) -> np.ndarray:
    """The artery's lumen in a frame of ``scene`` at ``pose``: ``(H, W)`` bool."""
    height, width = scene.bias.shape
    return outline_mask(scene.artery, pose, scene.anatomy, height, width)


def outline_mask(
    nerve: NerveShape, pose: Pose, anatomy: Anatomy, height: int, width: int
) -> np.ndarray:
    """A canvas outline seen in the frame, filled, computed on its bounding box only.

    Pillow maps output pixel centres ``(x + 0.5, y + 0.5)`` to continuous canvas coordinates,
    whose pixel ``i`` is centred at ``i + 0.5``; the outline is defined on canvas indices.
    """
    a, b, c, d, e, f = _affine(pose, anatomy, width)
    det = a * e - b * d
    px, py = nerve.cx + 0.5 - c, nerve.cy + 0.5 - f
    fx, fy = (e * px - b * py) / det - 0.5, (-d * px + a * py) / det - 0.5
    reach = nerve.reach() / pose.scale + 3
    x0, x1 = max(int(fx - reach), 0), min(int(fx + reach) + 1, width)
    y0, y1 = max(int(fy - reach), 0), min(int(fy + reach) + 1, height)
    mask = np.zeros((height, width), dtype=bool)
    if x0 >= x1 or y0 >= y1:
        return mask
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5
    canvas_x, canvas_y = a * xs + b * ys + c - 0.5, d * xs + e * ys + f - 0.5
    mask[y0:y1, x0:x1] = nerve.normalised_radius(canvas_x, canvas_y) <= 1.0
    return mask


def render_frame(
    scene: Scene, pose: Pose, nerve_visible: bool, speckle_offset: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Render one frame of a subject: warp the anatomy, add speckle and the probe's bias.

    Nearest-neighbour warping is five times cheaper than bilinear and invisible on the smooth
    tissue canvas; the speckle, whose fine grain would show its stair-steps, is added after the
    warp instead: a share that moves with the probe's shift and a share ``speckle_offset``
    crops afresh.

    Returns:
        ``(image, mask)``: ``(H, W)`` uint8 grey image and ``(H, W)`` bool nerve mask (all False
        when the nerve is not visible).
    """
    height, width = scene.bias.shape
    source = scene.with_nerve if nerve_visible else scene.without_nerve
    warped = source.transform(
        (width, height),
        Image.Transform.AFFINE,
        _affine(pose, scene.anatomy, width),
        resample=Image.Resampling.NEAREST,
    )
    out = np.array(warped, dtype=np.float32)
    top, left = speckle_offset
    out += scene.fresh[top : top + height, left : left + width]
    spare_y, spare_x = scene.persistent.shape[0] - height, scene.persistent.shape[1] - width
    top = int(np.clip(spare_y // 2 + round(pose.shift_y), 0, spare_y))
    left = int(np.clip(spare_x // 2 + round(pose.shift_x), 0, spare_x))
    out += scene.persistent[top : top + height, left : left + width]
    out += scene.bias
    out += pose.gain
    np.clip(out, 0, 255, out=out)
    if nerve_visible:
        mask = nerve_mask(pose, scene.anatomy, height, width)
    else:
        mask = np.zeros((height, width), dtype=bool)
    return out.astype(np.uint8), mask


def presence_plan(rng: np.random.Generator, frames: int, empty_fraction: float) -> np.ndarray:
    """Which frames of a sweep show the nerve: one to three runs, the rest empty.

    Each subject's empty share wobbles around the target as real subjects' do; the frames with
    the nerve are cut into runs separated by empty gaps (it leaves and re-enters the view).
    """
    wobble = rng.uniform(-1, 1) * 0.3 * min(empty_fraction, 1 - empty_fraction)
    empty = int(np.clip(round(frames * (empty_fraction + wobble)), 0, frames))
    present = frames - empty
    visible = np.zeros(frames, dtype=bool)
    if present == 0:
        return visible
    runs = int(min(rng.integers(1, 4), present, empty + 1))
    lengths = _split(rng, present, runs, minimum=1)
    gaps = _split(rng, empty, runs + 1, minimum=0)
    cursor = 0
    for gap, length in zip(gaps, lengths, strict=False):
        cursor += gap
        visible[cursor : cursor + length] = True
        cursor += length
    return visible


def _split(rng: np.random.Generator, total: int, parts: int, minimum: int) -> list[int]:
    """``total`` cut into ``parts`` random pieces of at least ``minimum`` each."""
    spare = total - parts * minimum
    cuts = np.sort(rng.integers(0, spare + 1, parts - 1))
    pieces = np.diff(np.concatenate([[0], cuts, [spare]]))
    return [int(p) + minimum for p in pieces]
