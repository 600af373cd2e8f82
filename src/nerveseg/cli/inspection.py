"""``nerveseg inspect``: statistics, pictures and a report on a labelled data folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from nerveseg.cli.common import config_arguments


def add(commands) -> None:
    parser = commands.add_parser(
        "inspect", help="check every file and report statistics and pictures of a data set"
    )
    parser.add_argument("data", type=Path, help="labelled data folder (e.g. Kaggle, with train/)")
    parser.add_argument(
        "--out", type=Path, help="folder for the report (default ./inspect-<data folder name>)"
    )
    parser.add_argument(
        "--size",
        type=_positive,
        nargs=2,
        metavar=("HEIGHT", "WIDTH"),
        default=None,
        help="size frames are compared at in the duplicate search (default 96 128)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an earlier inspection in --out"
    )
    # The data section says what mask values mean, e.g.
    # --set 'data.structures={nerve: [1], vessel: [2]}' for a palette mask of two structures.
    config_arguments(parser)
    parser.set_defaults(handler=_run_inspect)


def _run_inspect(args: argparse.Namespace) -> int:
    from nerveseg.config import load_config
    from nerveseg.data.labels import labels_of
    from nerveseg.data.quality.inspection import DEFAULT_SIZE, inspect_data
    from nerveseg.data.quality.inspection_report import prepare_out, summary_text, write_inspection

    data = load_config(args.preset, args.overrides).data
    out = args.out or Path(f"inspect-{args.data.resolve().name}")
    prepare_out(out, overwrite=args.overwrite)  # before minutes of decoding, not after
    inspection = inspect_data(
        args.data,
        tuple(args.size or DEFAULT_SIZE),
        labels=labels_of(data),
        sweep_threshold=data.sweep_threshold,
        progress=True,
    )
    report = write_inspection(inspection, out, overwrite=args.overwrite)
    print(summary_text(inspection, report))
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of pixels, got {text}")
    return value
