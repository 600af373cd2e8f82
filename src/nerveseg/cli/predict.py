"""``nerveseg predict``: masks and a Kaggle submission for a folder of frames."""

from __future__ import annotations

import argparse
from pathlib import Path


def add(commands) -> None:
    parser = commands.add_parser("predict", help="predict masks and a Kaggle submission CSV")
    parser.add_argument("--run", type=Path, help="a finished run folder (uses its model.pt)")
    parser.add_argument("--model", type=Path, help="a model file (instead of --run)")
    parser.add_argument(
        "--input", type=Path, required=True, help="folder of frames (e.g. Kaggle test/)"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="where masks/ and submission.csv go"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace earlier predictions in --out"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    parser.set_defaults(handler=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    from nerveseg.prediction import predict_folder, resolve_model_path

    model_path = resolve_model_path(args.run, args.model)
    result = predict_folder(
        model_path,
        args.input,
        args.out,
        overwrite=args.overwrite,
        batch_size=args.batch_size,
        device=args.device,
    )
    print(
        f"predicted {result.frames} frames ({result.nonempty} with a nerve): "
        f"masks in {result.out / 'masks'}, submission {result.submission}"
    )
    return 0
