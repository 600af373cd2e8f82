"""``nerveseg predict``: masks and a Kaggle submission for a folder of frames."""

from __future__ import annotations

import argparse
from pathlib import Path


def add(commands) -> None:
    parser = commands.add_parser("predict", help="predict masks and a Kaggle submission CSV")
    parser.add_argument("--run", type=Path, help="a finished run folder (uses its model.pt)")
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
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    parser.add_argument(
        "--tta", action="store_true", help="average with the left-right flipped frame (2x time)"
    )
    parser.set_defaults(handler=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    from nerveseg.inference.predict import predict_folder, resolve_model_path

    model_path, built = None, {}
    if args.run is not None and args.model is None:
        # A run folder: its model, or every fold of a cross-validation folder, with the run's
        # fitted postprocess.json when there is one.
        from nerveseg.inference.ensemble import load_run_predictor
        from nerveseg.postprocess import run_postprocess

        predictor, info = load_run_predictor(args.run, args.device, tta=args.tta)
        built = {
            "predictor": predictor,
            "info": info,
            "postprocess": run_postprocess(args.run, info),
        }
    else:
        model_path = resolve_model_path(args.run, args.model)
        if args.tta:
            from nerveseg.inference.runtimes import open_model
            from nerveseg.inference.tta import TTAPredictor

            opened = open_model(model_path, args.device)
            predictor = TTAPredictor(opened.predictor)
            built = {"predictor": predictor, "info": opened.info, "postprocess": opened.postprocess}
    result = predict_folder(
        model_path,
        args.input,
        args.out,
        overwrite=args.overwrite,
        resume=args.resume,
        batch_size=args.batch_size,
        device=args.device,
        **built,
    )
    print(
        f"predicted {result.frames} frames ({result.nonempty} with a nerve): "
        f"masks in {result.out / 'masks'}, run-length table {result.submission}"
    )
    return 0
