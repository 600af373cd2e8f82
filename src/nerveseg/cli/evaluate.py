"""``nerveseg evaluate``: score a run at full resolution."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nerveseg.cli.common import prediction_arguments
from nerveseg.files import nan_to_none


def add(commands) -> None:
    parser = commands.add_parser(
        "evaluate", help="score a run at full resolution (Dice, IoU, competition score)"
    )
    parser.add_argument("--run", type=Path, required=True, help="a finished run folder")
    parser.add_argument("--data", type=Path, help="other labelled data (default: the run's own)")
    parser.add_argument(
        "--split",
        choices=["val", "all"],
        default=None,
        help="val (default for the run's data) or all",
    )
    prediction_arguments(parser, "average with the left-right flipped frame (2x time)")
    parser.add_argument(
        "--no-postprocess-file",
        action="store_true",
        help="ignore the run's postprocess.json; use the model file's threshold and min area",
    )
    parser.set_defaults(handler=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    from nerveseg.evaluation.evaluate import evaluate_run

    split = args.split or ("all" if args.data else "val")
    evaluation = evaluate_run(
        args.run,
        args.data,
        split=split,
        batch_size=args.batch_size,
        device=args.device,
        tta=args.tta,
        use_postprocess_file=not args.no_postprocess_file,
    )
    print(json.dumps(nan_to_none(evaluation.as_dict()), indent=2))
    return 0
