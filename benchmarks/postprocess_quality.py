"""Quality and cost of post-processing and test-time augmentation.

    python benchmarks/postprocess_quality.py RUN [--device cpu]

Predicts the run's held-out frames (validation, or out-of-fold for a cross-validation folder)
with and without the horizontal-flip TTA, fits the post-processing greedily on each, and prints
the competition score and the Dice on frames with a nerve after every step, with the time per
frame of each stage. Scores after fitting are in-sample (fitted and scored on the same frames):
compare them with each other, not with a test score. The dense CRF has its own benchmark,
``benchmarks/crf_quality.py``, which fits and scores on different subjects. Prints figures,
asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from nerveseg.evaluation.fit import FrameScorer, fit_postprocess
from nerveseg.evaluation.holdout import HeldOut, predict_holdout
from nerveseg.inference import open_predictor
from nerveseg.inference.predictor import normalise, resize_probabilities
from nerveseg.postprocess import PostprocessParams, apply_postprocess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    # The first structure's held-out predictions (the nerve: what this benchmark is about).
    plain = predict_holdout(args.run, device=args.device)[0]
    flipped = predict_holdout(args.run, device=args.device, tta=True)[0]
    shape = plain.frame_shape
    truths = _truths(plain)
    print(f"{len(plain)} {plain.source} frames, {sum(bool(t.any()) for t in truths)} with a nerve")
    timings = {
        "plain": _model_ms(args.run, args.device, plain),
        "flip TTA": _model_ms(args.run, args.device, plain, tta=True),
        "flip + 2 px shifts TTA": _model_ms(args.run, args.device, plain, tta=True, shifts=2),
    }
    print("model time per frame: " + ", ".join(f"{k} {v:.1f} ms" for k, v in timings.items()))
    print(f"resize to {shape[1]}x{shape[0]}: {_resize_ms(plain):.2f} ms per frame\n")

    start = plain.info.postprocess
    for label, held in (("no TTA", plain), ("flip TTA", flipped)):
        scorer = FrameScorer(_full(held), truths, held.presence)
        print(f"== {label}")
        _report_fit(scorer, start, shape)


def _report_fit(scorer: FrameScorer, start: PostprocessParams, shape) -> None:
    result = fit_postprocess(scorer, start, shape)
    params = start
    rows = [("model file", params)]
    for step in result.steps:
        params = dataclasses.replace(params, **{step.step: step.chosen})
        best_value, best_score = max(step.tried, key=lambda item: item[1])
        verdict = "kept" if step.kept else f"unchanged (best tried {best_value}: {best_score:.4f})"
        rows.append((f"{step.step} {verdict}", params))
    print(f"{'step':<52} {'score':>7} {'dice':>7} {'ms/frame':>9}")
    for name, params in rows:
        score, dice = scorer.summary(params)
        print(f"{name:<52} {score:7.4f} {dice:7.4f} {_postprocess_ms(scorer, params):9.2f}")
    print(f"fitted: {result.params.describe()}\n")


def _truths(held: HeldOut) -> list[np.ndarray]:
    return [held.truth(i) for i in range(len(held))]


def _full(held: HeldOut) -> list[np.ndarray]:
    return [held.full_probability(i).astype(np.float16) for i in range(len(held))]


def _model_ms(
    run: Path, device: str, held: HeldOut, tta: bool = False, shifts: int = 0, repeats: int = 3
) -> float:
    """Median time per frame of the predictor alone, batches of 16 normalised."""
    opened = open_predictor(run, device=device, tta=tta, tta_shifts=shifts)
    predictor, info = opened.predictor, opened.info
    batch = normalise(held.images[:16], info.mean, info.std)
    predictor(batch)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        predictor(batch)
        times.append((time.perf_counter() - started) / len(batch))
    return float(np.median(times)) * 1000


def _resize_ms(held: HeldOut, frames: int = 50) -> float:
    started = time.perf_counter()
    for i in range(min(frames, len(held))):
        resize_probabilities(torch.from_numpy(held.probabilities[i])[None], held.shapes[i])
    return (time.perf_counter() - started) / min(frames, len(held)) * 1000


def _postprocess_ms(scorer: FrameScorer, params: PostprocessParams, frames: int = 50) -> float:
    chosen = scorer.probabilities[:frames]
    presence = None if scorer.presence is None else scorer.presence[:frames]
    started = time.perf_counter()
    apply_postprocess(np.stack(chosen), params, presence)
    return (time.perf_counter() - started) / len(chosen) * 1000


if __name__ == "__main__":
    main()
