"""``nerveseg clean``: find near-duplicate frames with contradictory labels and report them."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from nerveseg.data.quality.duplicates import DEFAULT_THRESHOLD

# What each repairing policy would do, in the summary's words.
_EFFECTS = {"drop": "would leave out", "union": "would change", "majority": "would change"}


def add(commands) -> None:
    parser = commands.add_parser(
        "clean", help="find near-duplicate frames with contradictory masks (a report, no changes)"
    )
    parser.add_argument(
        "data", type=Path, metavar="DATA", help="labelled data folder (Kaggle layout or folders)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="REPORT_DIR",
        help="report folder for duplicate_groups.csv / .png",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"signature distance below which frames are duplicates (default {DEFAULT_THRESHOLD})",
    )
    parser.add_argument(
        "--size",
        type=int,
        nargs=2,
        default=(96, 128),
        metavar=("HEIGHT", "WIDTH"),
        help="size frames are loaded at (default 96 128)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier report")
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out unusable files (listed) instead of stopping",
    )
    parser.set_defaults(handler=_run_clean)


def _run_clean(args: argparse.Namespace) -> int:
    from nerveseg.data.loading import load_set
    from nerveseg.data.quality.clean_report import check_report_folder, write_clean_report
    from nerveseg.data.quality.cleaning import apply_policy
    from nerveseg.data.quality.duplicates import find_duplicate_groups
    from nerveseg.data.samples import discover_labelled
    from nerveseg.errors import ConfigError

    if not args.threshold > 0:
        raise ConfigError(f"--threshold must be > 0, got {args.threshold}")
    if min(args.size) < 1:
        raise ConfigError(f"--size must be two positive numbers (height width), got {args.size}")
    check_report_folder(args.out, overwrite=args.overwrite)
    start = time.perf_counter()
    samples = discover_labelled(args.data, skip_bad=args.skip_bad)
    loaded = load_set(samples, tuple(args.size), skip_bad=args.skip_bad, progress=True)
    loaded_at = time.perf_counter()
    subjects = [sample.subject for sample in loaded.samples]
    groups = find_duplicate_groups(loaded.images, loaded.masks, subjects, args.threshold)
    grouped_at = time.perf_counter()
    csv_path, png_path = write_clean_report(
        args.out, groups, loaded.samples, loaded.images, loaded.masks, overwrite=args.overwrite
    )
    contradictory = [group for group in groups if group.contradictory]
    print(
        f"{len(loaded.samples)} frames of {len(set(subjects))} subjects: {len(groups)} "
        f"near-duplicate groups ({sum(len(g.members) for g in groups)} frames), "
        f"{len(contradictory)} contradictory ({sum(len(g.members) for g in contradictory)} frames)"
    )
    for policy, effect in _EFFECTS.items():
        result = apply_policy(loaded.masks, groups, policy)
        print(f"  policy {policy} {effect} {result.dropped_frames + result.changed_frames} frames")
    print(
        f"loaded in {loaded_at - start:.1f} s, grouped in {grouped_at - loaded_at:.1f} s "
        f"(threshold {args.threshold})"
    )
    print(f"wrote {csv_path} and {png_path}")
    return 0
