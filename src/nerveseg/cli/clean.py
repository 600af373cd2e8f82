"""``nerveseg clean``: find near-duplicate frames with contradictory labels and report them."""

from __future__ import annotations

import argparse
from pathlib import Path

from nerveseg.cli.common import config_arguments, positive_float, positive_int
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
        type=positive_float,
        default=DEFAULT_THRESHOLD,
        help=f"signature distance below which frames are duplicates (default {DEFAULT_THRESHOLD})",
    )
    parser.add_argument(
        "--size",
        type=positive_int,
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
    config_arguments(parser)  # data.structures / data.ignore_values: what mask values mean
    parser.set_defaults(handler=_run_clean)


def _run_clean(args: argparse.Namespace) -> int:
    from nerveseg.config import load_config
    from nerveseg.data.labels import labels_of
    from nerveseg.data.quality.clean_report import report_duplicates

    data = load_config(args.preset, args.overrides).data
    report = report_duplicates(
        args.data,
        args.out,
        threshold=args.threshold,
        size=tuple(args.size),
        overwrite=args.overwrite,
        skip_bad=args.skip_bad,
        labels=labels_of(data),
        sweep_threshold=data.sweep_threshold,
    )
    contradictory = report.contradictory
    print(
        f"{report.frames} frames of {report.subjects} subjects: {len(report.groups)} "
        f"near-duplicate groups ({sum(len(g.members) for g in report.groups)} frames), "
        f"{len(contradictory)} contradictory ({sum(len(g.members) for g in contradictory)} frames)"
    )
    for policy, frames in report.affected.items():
        print(f"  policy {policy} {_EFFECTS[policy]} {frames} frames")
    print(
        f"loaded in {report.load_seconds:.1f} s, grouped in {report.group_seconds:.1f} s "
        f"(threshold {args.threshold})"
    )
    print(f"wrote {report.csv_path} and {report.png_path}")
    return 0
