"""Motion-compensated averaging for streams, measured: does warping the average onto each new
frame before blending beat the plain average on the synthetic sweeps?

    python benchmarks/motion_compensation.py --run RUN [--work DIR] [--sweeps 4] [--seconds 10]

The plain exponential moving average (:mod:`nerveseg.temporal`) lags wherever the picture
changes. Part of that could be motion: a probe sliding over the neck moves the nerve, and an
average of the last few frames smears it. The candidate: estimate the shift between the frame
before and this one by phase correlation (FFT, sub-pixel by a parabola through the peak) of
either the network-size probability maps or the network-size frames themselves (whose speckle
and tissue move with the probe), move the running average by it (bilinear), then blend. A warp
only helps if the shift is large enough to estimate, so the truth's own motion per frame
(centroid step of the true mask) is printed first; ``--seconds 1`` makes the same sweeps ten
times faster.

Four unseen synthetic sweeps (seed 1, 10 s at 30 frames/s) are segmented by ``RUN`` once; each
setting is then played over the stored probabilities, scored like
``benchmarks/live_speed.py`` (competition score, Dice on nerve frames, mask change where the
truth barely moves) with the run's fitted still post-processing. Prints figures, asserts
nothing. Not part of nerveseg: the measurement left it out (README, "Live video").
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from nerveseg.data.loading import resize_image
from nerveseg.data.streams import open_stream
from nerveseg.data.synth import SynthConfig
from nerveseg.data.synth.video import generate_sweeps
from nerveseg.evaluation.sweeps import SweepFrame, video_sweeps
from nerveseg.flicker import STILL, mask_change
from nerveseg.inference import open_predictor
from nerveseg.inference.predictor import resize_probabilities
from nerveseg.postprocess import apply_postprocess
from nerveseg.temporal import without_smoothing

ALPHAS = (0.8, 0.6, 0.4, 0.3, 0.2)
MAX_SHIFT = 8.0  # network pixels: a larger estimate is a failed correlation, not motion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a trained run")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--sweeps", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    work = args.work or Path(tempfile.mkdtemp(prefix="nerveseg-motion-"))
    config = SynthConfig(
        subjects=args.sweeps, frames_per_subject=30 * args.seconds, test_frames=0, seed=1
    )
    generate_sweeps(work / "sweeps", config, overwrite=True)
    opened = open_predictor(args.run, device="cpu")
    sweeps = video_sweeps(opened, work / "sweeps")
    images = [small_frames(path, opened.info.image_size) for path in videos(work / "sweeps")]
    still = without_smoothing(opened.postprocess)
    steps = truth_motion(sweeps)
    print(f"{len(sweeps)} sweeps, {sum(map(len, sweeps))} frames, still post-processing {still}")
    print(
        f"truth centroid step per frame (frame pixels, {sweeps[0][0].truth.shape}): p50 "
        f"{np.percentile(steps, 50):.2f}, p95 {np.percentile(steps, 95):.2f}, "
        f"max {steps.max():.2f}"
    )
    print(f"\n{'alpha':>5} {'warp from':>13} {'score':>7} {'dice nerve':>10} {'mask change':>11}")
    for alpha in (1.0, *ALPHAS):
        for warp in ("-", "probabilities", "frames") if alpha < 1.0 else ("-",):
            guides = None if warp == "-" else images if warp == "frames" else probabilities(sweeps)
            score, dice, change, shifts = play(sweeps, still, alpha, guides)
            note = (
                f"  |shift| p50 {np.percentile(shifts, 50):.2f}, p95 "
                f"{np.percentile(shifts, 95):.2f} network px"
                if guides
                else ""
            )
            print(f"{alpha:>5} {warp:>13} {score:>7.4f} {dice:>10.4f} {change:>11.4f}{note}")


def videos(folder: Path) -> list[Path]:
    """The sweep videos in the order :func:`video_sweeps` reads them."""
    return [
        masks.with_name(masks.name.replace("_masks.", ".", 1))
        for masks in sorted(folder.glob("*_masks.*"))
    ]


def small_frames(video: Path, size: tuple[int, int]) -> list[np.ndarray]:
    """The video's frames at the network's input size, as floats."""
    with open_stream(video) as stream:
        return [np.asarray(resize_image(f.image, size), dtype=np.float32) for f in stream]


def probabilities(sweeps: list[list[SweepFrame]]) -> list[list[np.ndarray]]:
    return [[frame.probabilities for frame in sweep] for sweep in sweeps]


def truth_motion(sweeps: list[list[SweepFrame]]) -> np.ndarray:
    """The true mask's centroid step between consecutive frames that both show the nerve."""
    steps = []
    for sweep in sweeps:
        centroids = [ndimage.center_of_mass(f.truth) if f.truth.any() else None for f in sweep]
        for a, b in itertools.pairwise(centroids):
            if a is not None and b is not None:
                steps.append(float(np.hypot(b[0] - a[0], b[1] - a[1])))
    return np.array(steps)


def phase_shift(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """``(dy, dx)`` that moves ``before`` onto ``after``, sub-pixel (parabola through the peak)."""
    cross = np.fft.rfft2(after - after.mean()) * np.conj(np.fft.rfft2(before - before.mean()))
    surface = np.fft.irfft2(cross / (np.abs(cross) + 1e-6), s=before.shape)
    peak = np.unravel_index(int(np.argmax(surface)), surface.shape)
    shift = []
    for axis, size in enumerate(surface.shape):
        around = [list(peak), list(peak)]
        around[0][axis], around[1][axis] = (peak[axis] - 1) % size, (peak[axis] + 1) % size
        left, right, top = surface[tuple(around[0])], surface[tuple(around[1])], surface[peak]
        curve = left - 2 * top + right
        value = peak[axis] + (0.0 if curve == 0 else 0.5 * (left - right) / curve)
        shift.append(value - size if value > size / 2 else value)
    return np.clip(np.array(shift), -MAX_SHIFT, MAX_SHIFT)


def play(sweeps, still, alpha: float, guides) -> tuple[float, float, float, np.ndarray]:
    """Score, Dice on nerve frames, mask change (truth barely moving) and the shifts used.

    ``guides``: per sweep, per frame, the array the shift is estimated on; None: no warp.
    """
    dice, nerve, changes, truth_changes, shifts = [], [], [], [], []
    for number, sweep in enumerate(sweeps):
        mean = previous = None
        for index, frame in enumerate(sweep):
            current = frame.probabilities.astype(np.float32)
            if mean is None or alpha >= 1.0:
                mean = current.copy()
            else:
                if guides is not None:
                    shift = phase_shift(guides[number][index - 1], guides[number][index])
                    shifts.append(np.abs(shift))
                    mean = ndimage.shift(mean, shift, order=1, mode="nearest")
                mean = (1.0 - alpha) * mean + alpha * current
            full = resize_probabilities(torch.from_numpy(mean)[None], frame.truth.shape)
            mask = apply_postprocess(full[0].numpy(), still, frame.presence)
            total = int(mask.sum()) + int(frame.truth.sum())
            dice.append(1.0 if total == 0 else 2.0 * int((mask & frame.truth).sum()) / total)
            nerve.append(bool(frame.truth.any()))
            if previous is not None:
                changes.append(mask_change(previous[0], mask))
                truth_changes.append(mask_change(previous[1], frame.truth))
            previous = (mask, frame.truth)
    dice_array, nerve_array = np.array(dice), np.array(nerve)
    counted = np.array(truth_changes) <= STILL
    return (
        float(dice_array.mean()),
        float(dice_array[nerve_array].mean()),
        float(np.array(changes)[counted].mean()),
        np.array(shifts) if shifts else np.zeros(1),
    )


if __name__ == "__main__":
    main()
