"""``nerveseg report``: an HTML report of a run, readable in a browser without a server."""

from __future__ import annotations

import argparse
from pathlib import Path


def add(commands) -> None:
    parser = commands.add_parser(
        "report", help="write RUN/report/report.html: curves, metrics, Dice histogram, galleries"
    )
    parser.add_argument("run", type=Path, metavar="RUN", help="a finished run folder")
    parser.add_argument(
        "--tta", action="store_true", help="predict with the left-right flip averaged in"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    parser.set_defaults(handler=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from nerveseg.evaluation.report import build_report

    page = build_report(args.run, tta=args.tta, batch_size=args.batch_size, device=args.device)
    print(f"report: {page} (open it in a browser)")
    return 0
