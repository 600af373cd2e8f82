"""How well a run fits its own training frames, against the subjects it held out.

    python benchmarks/training_fit.py RUN [RUN ...]

A held-out score short of a target has two different causes with different cures: a model that
fits its training frames far better than new subjects is short of data or regularisation (more
subjects, more augmentation), one that fits its training frames barely better is short of
fitting or is up against the labels' own variation (capacity, time, or nothing). Each run's
``model.pt`` predicts every frame its ``split.json`` trained on and every frame it held out,
as the network was saved (its own post-processing, no test-time flip), and both are scored as
``evaluate`` scores: Dice on frames with a nerve at full resolution, and the spread of the
per-subject means. Frames come from the folder the run trained on. Prints figures, asserts
nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nerveseg.evaluation.frame_scorer import FrameScorer
from nerveseg.evaluation.holdout import predict_frames, split_samples
from nerveseg.inference.sources import open_predictor


def part_row(run: Path, part: str) -> str:
    """One line for the frames ``split.json`` lists under ``part`` (``train`` or ``val``)."""
    samples = split_samples(run, part=part)
    held = predict_frames(open_predictor(run, device="cpu"), samples)[0]
    scorer = FrameScorer.from_holdout(held)
    dice = scorer.per_image(held.postprocess)
    by_subject: dict[str, list[float]] = {}
    for sample, value, nerve in zip(held.samples, dice, scorer.nerve, strict=True):
        if nerve:
            by_subject.setdefault(sample.subject, []).append(float(value))
    means = sorted(np.mean(values) for values in by_subject.values())
    return (
        f"{run}  {part:5s}  {int(scorer.nerve.sum()):5d} nerve frames of {len(by_subject):2d} "
        f"subjects  Dice {dice[scorer.nerve].mean():.4f}  per subject "
        f"min {means[0]:.3f} median {np.median(means):.3f} max {means[-1]:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (a screen's fold-K)")
    args = parser.parse_args()
    for run in args.runs:
        for part in ("train", "val"):
            print(part_row(run, part), flush=True)


if __name__ == "__main__":
    main()
