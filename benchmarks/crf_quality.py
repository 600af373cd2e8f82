"""Gain and cost of the dense CRF (``nerveseg.crf``) on a run's held-out subjects.

    python benchmarks/crf_quality.py RUN [--device cpu] [--threads 2]

Choosing a setting and scoring it on the same frames flatters any step, and a run of the real
sample holds out only its validation subjects. So the held-out subjects are split in two halves
(alternately, in name order): the post-processing is fitted on one half, with and without the
CRF step, and scored on the other; then the halves swap. For each half this prints what the
fit kept, and on the other half the Dice on frames with a nerve (and the competition score)
under the fit without the CRF, the fit with the CRF step (what ``fit-postprocess`` writes), and
the fitting half's best CRF setting forced on, so the CRF's own effect shows even where the fit
rejects it, with the paired per-frame gain (mean and standard error), and the gain over both
halves pooled (every frame scored by a fit that did not see it). Then the fit on all held-out
frames, as ``nerveseg fit-postprocess RUN`` runs it: kept or rejected.

Cost, of the CRF that fit chose: the CRF alone at the network's input size (a frame at a
time, and in batches of 16), and predict's steps for one full-size frame (resize, network,
CRF, resize back, post-processing) with and without it, with the CRF's share of that time. Run it niced on a shared machine and
the times are upper bounds: the load average is printed beside them. Prints figures, asserts
nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import torch

from nerveseg.crf import refine
from nerveseg.data.images import read_image
from nerveseg.evaluation.fit import FitResult, describe_value, fit_postprocess
from nerveseg.evaluation.frame_scorer import FrameScorer
from nerveseg.evaluation.holdout import HeldOut, predict_holdout
from nerveseg.inference import open_predictor
from nerveseg.postprocess import PostprocessParams
from nerveseg.structure_postprocess import StructurePostprocess

CRF_FIELDS = ("crf_weight", "crf_smoothness", "crf_spatial_sigma", "crf_intensity_sigma")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--timed-frames", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    held = predict_holdout(args.run, device=args.device)[0]  # the first structure (the nerve)
    first, second = held.subject_halves()
    nerve = sum(bool(held.truth(i).any()) for i in range(len(held)))
    print(
        f"{len(held)} {held.source} frames of {len(first) + len(second)} subjects, {nerve} with a nerve"
    )
    print(
        "the run holds out validation subjects only: fitting on one half of them and scoring "
        "on the other keeps the frames scored out of the choice\n"
    )
    gains, forced = [], None
    for fit_half, score_half in ((first, second), (second, first)):
        fitting, scoring = held.of_subjects(fit_half), held.of_subjects(score_half)
        gain, forced = _report_half(fitting, scoring, fit_half, score_half)
        gains.append(gain)
    pooled = np.concatenate(gains)
    print(
        f"both halves, every frame scored out of its fit ({pooled.size} nerve frames): the fit "
        f"with the CRF step against the fit without, Dice {pooled.mean():+.4f} ± "
        f"{pooled.std() / np.sqrt(pooled.size):.4f}\n"
    )

    print("== fit on all held-out frames (as nerveseg fit-postprocess does)")
    everything = _fit(FrameScorer.from_holdout(held, args.device), held, crf=True, log=print)
    kept = everything.steps[-1].kept
    print(f"CRF {'kept' if kept else 'rejected'}; fitted: {everything.params.describe()}\n")
    # Time the CRF the fit chose, else the best one tried on the last half.
    _report_cost(args, held, everything.params if kept else forced)


def _report_half(
    fitting: HeldOut, scoring: HeldOut, fit_half: list[str], score_half: list[str]
) -> tuple[np.ndarray, PostprocessParams]:
    """Fit on ``fitting``, score on ``scoring``: the per-frame Dice gains (nerve frames) of the
    fit with the CRF step over the fit without, and the best CRF setting tried."""
    print(f"== fit on subjects {', '.join(fit_half)} ({len(fitting)} frames); score on "
          f"{', '.join(score_half)} ({len(scoring)} frames)")  # fmt: skip
    fit_scorer = FrameScorer.from_holdout(fitting)
    plain = _fit(fit_scorer, fitting, crf=False)
    with_crf = _fit(fit_scorer, fitting, crf=True)
    step = with_crf.steps[-1]
    best_value, best_score = max(step.tried[1:], key=lambda item: item[1])
    forced = dataclasses.replace(plain.params, **best_value)
    print(f"fitted without the CRF: {plain.params.describe()} (score {plain.score:.4f})")
    print(
        f"CRF step: best {describe_value(best_value)} scored {best_score:.4f} on the fitting "
        f"half; {'kept' if step.kept else 'rejected'} by the fit"
    )
    score_scorer = FrameScorer.from_holdout(scoring)
    baseline = score_scorer.per_image(plain.params)
    rows = [
        ("fit without the CRF", plain.params),
        ("fit with the CRF step", with_crf.params),
        ("best CRF forced on", forced),
    ]
    nerve = score_scorer.nerve
    print(
        f"{'on the other half':<24} {'Dice nerve':>10} {'score':>7}  gain in Dice (nerve), mean ± s.e."
    )
    for name, params in rows:
        values = score_scorer.per_image(params)
        gain = (values - baseline)[nerve]
        error = gain.std() / np.sqrt(gain.size)
        print(
            f"{name:<24} {values[nerve].mean():10.4f} {values.mean():7.4f}  "
            f"{gain.mean():+.4f} ± {error:.4f}"
        )
    print()
    gain = (score_scorer.per_image(with_crf.params) - baseline)[nerve]
    return gain, forced


def _fit(scorer: FrameScorer, held: HeldOut, *, crf: bool, log=None) -> FitResult:
    return fit_postprocess(scorer, held.info.postprocess, held.frame_shape, crf=crf, log=log)


def _report_cost(args, held: HeldOut, params: PostprocessParams) -> None:
    """Medians over frames, the three timings taken in turn on each frame so that a change in
    the machine's load touches all three alike."""
    count = min(args.timed_frames, len(held))
    height, width = held.images.shape[1:]
    crf = {k: getattr(params, k) for k in (*CRF_FIELDS, "crf_iterations")}
    print(f"== cost, torch threads {args.threads}, device {args.device}, CRF {crf}")
    print(f"load average before timing: {_load()}")
    probs = torch.from_numpy(held.probabilities[:count]).to(args.device)
    images = torch.from_numpy(held.images[:count])
    opened = open_predictor(args.run, device=args.device, use_postprocess_file=False)
    plain = dataclasses.replace(params, crf_weight=0.0)
    frames = [read_image(held.samples[i].image_path) for i in range(count)]

    def segment(frame: np.ndarray, with_crf: bool) -> np.ndarray:
        chosen = params if with_crf else plain
        opened.postprocess = StructurePostprocess.uniform(chosen, opened.structures)
        return opened.segment(frame)

    calls = {
        "crf": lambda i: refine(probs[i], images[i], params),
        "without": lambda i: segment(frames[i], False),
        "with": lambda i: segment(frames[i], True),
    }
    times: dict[str, list[float]] = {name: [] for name in calls}
    for i in [0, *range(count)]:  # frame 0 twice: the first pass warms up
        for name, call in calls.items():
            started = time.perf_counter()
            call(i)
            times[name].append(time.perf_counter() - started)
    ms = {name: float(np.median(values[1:])) * 1000 for name, values in times.items()}
    started = time.perf_counter()
    for start in range(0, count, 16):
        refine(probs[start : start + 16], images[start : start + 16], params).cpu()
    batched = (time.perf_counter() - started) / count * 1000
    shape = frames[0].shape
    print(
        f"CRF at {width}x{height}: {ms['crf']:.1f} ms a frame alone (median of {count}), "
        f"{batched:.1f} ms a frame in batches of 16"
    )
    print(
        f"predict's steps for one {shape[1]}x{shape[0]} frame (resize, network, resize back, "
        f"post-processing; median): {ms['without']:.1f} ms without the CRF, {ms['with']:.1f} ms "
        f"with it; the CRF alone is {ms['crf'] / ms['with']:.0%} of the latter"
    )
    print(f"load average after timing: {_load()}")


def _load() -> str:
    loads = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{loads} (1, 5, 15 min) on {os.cpu_count()} cores"


if __name__ == "__main__":
    main()
