"""``nerveseg report``: an HTML report of a run, readable in a browser without a server."""

from __future__ import annotations

import argparse
from pathlib import Path

from nerveseg.cli.common import prediction_arguments


def add(commands) -> None:
    parser = commands.add_parser(
        "report", help="write RUN/report/report.html: curves, metrics, Dice histogram, galleries"
    )
    parser.add_argument("run", type=Path, metavar="RUN", help="a finished run folder")
    prediction_arguments(parser, "predict with the left-right flip averaged in")
    parser.set_defaults(handler=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from nerveseg.evaluation.report import build_report

    page = build_report(args.run, tta=args.tta, batch_size=args.batch_size, device=args.device)
    print(f"report: {page} (open it in a browser)")
    return 0
