"""Near-duplicate detection: speed and accuracy on a full-size synthetic set, figures on real data.

    python benchmarks/clean_speed.py [--synth DIR [--reuse]] [--real DIR] [--size H W]

Generates the Kaggle-sized synthetic set (47 subjects x 120 frames of 580x420, 60 injected
contradictory pairs; ~40 s), or reuses ``--synth DIR`` as it is with ``--reuse``. Times loading
and grouping separately, prints the nearest-neighbour distance distribution within subjects and
the precision and recall of contradictory-pair detection against ``synth_truth.csv`` over a
range of thresholds. With ``--real`` (e.g. the sample rebuilt by
``reconstruct_derived_sample.py``) prints the same distance figures and the group counts there.

Definitions: a truth pair is *found* when both its frames are in one group flagged
contradictory; recall = found pairs / truth pairs. Precision is per group: flagged groups that
hold at least one truth pair / all flagged groups. Timings drift with machine load: compare
within one run.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from nerveseg.data.loading import LoadedSet, load_set
from nerveseg.data.quality.duplicates import (
    DEFAULT_OVERLAP_IOU,
    DEFAULT_THRESHOLD,
    find_duplicate_groups,
    mask_coverage,
    pairwise_distances,
    pairwise_mask_iou,
    thumbnails,
)
from nerveseg.data.samples import discover_labelled
from nerveseg.data.synth import SynthConfig, generate_dataset

THRESHOLDS = (0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.08)
BINS = (0, 0.001, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.06, 0.1, 0.2, 0.5, 2.0)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth", type=Path, help="synthetic set folder (default: a temp folder)")
    parser.add_argument("--reuse", action="store_true", help="use --synth as it is, no generation")
    parser.add_argument("--real", type=Path, help="a real labelled set in the Kaggle layout")
    parser.add_argument("--size", type=int, nargs=2, default=(96, 128), metavar=("H", "W"))
    parser.add_argument("--subjects", type=int, default=47)
    parser.add_argument("--frames-per-subject", type=int, default=120)
    parser.add_argument("--pairs", type=int, default=60, help="injected contradictory pairs")
    return parser.parse_args()


def load(root: Path, size: tuple[int, int]) -> tuple[LoadedSet, float]:
    start = time.perf_counter()
    loaded = load_set(discover_labelled(root), size)
    return loaded, time.perf_counter() - start


def nearest_neighbours(loaded: LoadedSet) -> np.ndarray:
    """Each frame's smallest signature distance to another frame of its subject (inf: alone)."""
    vectors = thumbnails(loaded.images)
    subjects = np.array([s.subject for s in loaded.samples])
    nearest = np.full(len(subjects), np.inf)
    for subject in np.unique(subjects):
        index = np.flatnonzero(subjects == subject)
        distances = pairwise_distances(vectors[index])
        np.fill_diagonal(distances, np.inf)
        nearest[index] = distances.min(axis=1)
    return nearest


def print_distances(title: str, nearest: np.ndarray) -> None:
    finite = nearest[np.isfinite(nearest)]
    counts, _ = np.histogram(finite, BINS)
    print(f"{title}: nearest-neighbour distance within the subject, {len(finite)} frames")
    quantiles = np.percentile(finite, [1, 5, 10, 25, 50, 75, 90])
    print("  percentiles 1/5/10/25/50/75/90: " + " ".join(f"{q:.3f}" for q in quantiles))
    for low, high, count in zip(BINS[:-1], BINS[1:], counts, strict=True):
        print(f"  [{low:.3f}, {high:.3f}) {count:5d} {'#' * min(count // 4, 60)}")


def truth_pairs(root: Path, loaded: LoadedSet) -> list[tuple[int, int]]:
    position = {sample.name: i for i, sample in enumerate(loaded.samples)}
    with open(root / "synth_truth.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        (position[f"{r['subject']}_{r['img_a']}"], position[f"{r['subject']}_{r['img_b']}"])
        for r in rows
    ]


def score(groups, pairs: list[tuple[int, int]]) -> tuple[float, float, int]:
    """(precision per flagged group, recall per truth pair, flagged groups)."""
    group_of = {i: n for n, g in enumerate(groups) if g.contradictory for i in g.members}
    found = [group_of.get(a, -1) == group_of.get(b, -2) for a, b in pairs]
    flagged = sum(g.contradictory for g in groups)
    hit = {group_of[a] for (a, _), ok in zip(pairs, found, strict=True) if ok}
    precision = len(hit) / flagged if flagged else float("nan")
    return precision, sum(found) / max(len(pairs), 1), flagged


def synthetic(args: argparse.Namespace) -> None:
    root = args.synth
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="nerveseg-clean-")) / "synth"
    if not args.reuse:
        config = SynthConfig(
            subjects=args.subjects,
            frames_per_subject=args.frames_per_subject,
            contradictory_pairs=args.pairs,
        )
        summary = generate_dataset(root, config)
        print(f"generated {summary.train_frames} frames in {summary.seconds:.1f} s at {root}")
    loaded, load_seconds = load(root, tuple(args.size))
    subjects = [s.subject for s in loaded.samples]
    start = time.perf_counter()
    groups = find_duplicate_groups(loaded.images, loaded.masks, subjects)
    group_seconds = time.perf_counter() - start
    print(
        f"synthetic {len(subjects)} frames at {args.size[0]}x{args.size[1]}: load "
        f"{load_seconds:.1f} s, find_duplicate_groups {group_seconds:.2f} s "
        f"(threshold {DEFAULT_THRESHOLD}: {len(groups)} groups, "
        f"{sum(g.contradictory for g in groups)} contradictory)"
    )
    pairs = truth_pairs(root, loaded)
    in_pairs = np.zeros(len(subjects), bool)
    in_pairs[[i for pair in pairs for i in pair]] = True
    nearest = nearest_neighbours(loaded)
    gaps = [float(np.linalg.norm(v[0] - v[1])) for v in _pair_vectors(loaded, pairs)]
    if gaps:
        print(f"injected pairs: {len(pairs)}, distance {min(gaps):.4f} to {max(gaps):.4f}")
    print_distances("synthetic, frames outside injected pairs", nearest[~in_pairs])
    print("threshold  groups  flagged  precision  recall")
    for threshold in sorted({*THRESHOLDS, DEFAULT_THRESHOLD}):
        found = find_duplicate_groups(loaded.images, loaded.masks, subjects, threshold)
        precision, recall, flagged = score(found, pairs)
        mark = "  <- default" if threshold == DEFAULT_THRESHOLD else ""
        print(
            f"  {threshold:.3f}  {len(found):6d}  {flagged:7d}  {precision:9.3f}  {recall:6.3f}{mark}"
        )


def _pair_vectors(loaded: LoadedSet, pairs: list[tuple[int, int]]):
    for a, b in pairs:
        yield thumbnails(loaded.images[[a, b]])


def real(root: Path, size: tuple[int, int]) -> None:
    loaded, load_seconds = load(root, size)
    subjects = [s.subject for s in loaded.samples]
    print(
        f"\nreal {len(subjects)} frames of {len(set(subjects))} subjects, load {load_seconds:.1f} s"
    )
    print_distances("real", nearest_neighbours(loaded))
    print("threshold  groups  frames  largest  contradictory (empty / low IoU)")
    for threshold in sorted({*THRESHOLDS, DEFAULT_THRESHOLD}):
        groups = find_duplicate_groups(loaded.images, loaded.masks, subjects, threshold)
        flagged = [g for g in groups if g.contradictory]
        by_empty = sum("empty" in g.reason for g in flagged)
        by_iou = sum("overlap" in g.reason for g in flagged)
        mark = "  <- default" if threshold == DEFAULT_THRESHOLD else ""
        print(
            f"  {threshold:.3f}  {len(groups):6d}  {sum(len(g.members) for g in groups):6d}  "
            f"{max((len(g.members) for g in groups), default=0):7d}  "
            f"{len(flagged)} ({by_empty} / {by_iou}){mark}"
        )
    groups = find_duplicate_groups(loaded.images, loaded.masks, subjects, 0.02)
    ious = []
    for group in groups:
        labelled = [i for i in group.members if loaded.masks[i].any()]
        iou = pairwise_mask_iou(mask_coverage(loaded.masks[labelled]))
        ious += list(iou[np.triu_indices(len(labelled), k=1)])
    counts, edges = np.histogram(ious, np.linspace(0, 1, 11))
    print(
        f"mask IoU (coverage grid) of the {len(ious)} labelled pairs in groups at 0.02 "
        f"(default overlap_iou {DEFAULT_OVERLAP_IOU}):"
    )
    print("  " + "  ".join(f"{lo:.1f}+:{c}" for lo, c in zip(edges[:-1], counts, strict=True)))


def main() -> None:
    args = parse_args()
    synthetic(args)
    if args.real is not None:
        real(args.real, tuple(args.size))


if __name__ == "__main__":
    main()
