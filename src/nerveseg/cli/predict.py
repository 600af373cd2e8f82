"""``nerveseg predict``: masks and a Kaggle submission for a folder of frames."""

from __future__ import annotations

import argparse
from pathlib import Path

from nerveseg.cli.common import model_source, prediction_arguments


def add(commands) -> None:
    parser = commands.add_parser("predict", help="predict masks and a Kaggle submission CSV")
    parser.add_argument(
        "--run",
        type=Path,
        help="a finished run folder (its model.pt and postprocess.json) or cross-validation folder",
    )
    parser.add_argument(
        "--model", type=Path, help="a model file: model.pt, .onnx or .ts (instead of --run)"
    )
    parser.add_argument(
        "--input", type=Path, required=True, help="folder of frames (e.g. Kaggle test/)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="where masks/ and submission.csv (masks.csv for non-Kaggle names) go",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace earlier predictions in --out"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="finish an interrupted prediction: keep the masks in --out, predict the rest",
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="give unreadable frames an empty row (listed in a warning) instead of stopping",
    )
    prediction_arguments(parser, "average with the left-right flipped frame (2x time)")
    parser.set_defaults(handler=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    from nerveseg.inference import predict_folder

    source = model_source(args)
    result = predict_folder(
        source,
        args.input,
        args.out,
        device=args.device,
        tta=args.tta,
        overwrite=args.overwrite,
        resume=args.resume,
        batch_size=args.batch_size,
        skip_bad=args.skip_bad,
    )
    found = ", ".join(
        f"{count} with a {name}" for name, count in result.nonempty_by_structure.items()
    )
    tables = " and ".join(str(table) for table in result.tables)
    print(
        f"predicted {result.frames} frames ({found}): "
        f"masks in {result.out / 'masks'}, run-length table {tables}"
    )
    return 0
