"""``nerveseg compare``: train several models under one budget and tabulate them."""

from __future__ import annotations

import argparse
from pathlib import Path

from nerveseg.cli.common import config_arguments, positive_float


def add(commands) -> None:
    parser = commands.add_parser(
        "compare",
        help="train models under one budget (same data, split, seed) and write one table",
    )
    parser.add_argument("--data", type=Path, required=True, help="labelled data folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for runs/ and the table")
    parser.add_argument(
        "--models",
        required=True,
        help="model specs separated by spaces or ';', e.g. "
        "'segnet:width=0.25;segnet_basic;unet:width=0.5,presence_head=true'",
    )
    config_arguments(parser)
    parser.add_argument(
        "--budget-minutes", type=positive_float, help="wall-clock training budget per model"
    )
    parser.set_defaults(handler=_run_compare)


def _run_compare(args: argparse.Namespace) -> int:
    from nerveseg.experiments.compare import TABLE_MD, compare_models

    flags: dict[str, object] = {"data.root": str(args.data)}  # literal: never parsed as YAML
    if args.budget_minutes is not None:
        flags["train.max_minutes"] = args.budget_minutes
    specs = [s for s in args.models.replace(";", " ").split() if s]
    compare_models(specs, args.out, preset=args.preset, overrides=args.overrides, flags=flags)
    print((args.out / TABLE_MD).read_text())
    print(f"table: {args.out / TABLE_MD} (also .csv, .json); chart: {args.out / 'compare.png'}")
    return 0
