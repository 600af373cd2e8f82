"""The ``nerveseg`` command line: synth, train, evaluate, predict.

Each subcommand is a thin shell over a plain function (``generate_dataset``, ``train``,
``evaluate_run``, ``predict_folder``). A :class:`~nerveseg.errors.NervesegError` is printed as
one message (no traceback) with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from nerveseg import __version__
from nerveseg.config import load_config, preset_names
from nerveseg.errors import NervesegError
from nerveseg.files import nan_to_none


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_logging()
    try:
        return args.handler(args)
    except NervesegError as exc:
        print(f"nerveseg: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nerveseg: interrupted", file=sys.stderr)
        return 130


def _quiet_logging() -> None:
    """nerveseg's own progress messages on stderr; Lightning's banner and tips only when they warn."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    ours = logging.getLogger("nerveseg")
    if not ours.handlers:
        ours.addHandler(handler)
    ours.setLevel(logging.INFO)
    for name in (
        "lightning",
        "lightning.pytorch",
        "lightning.fabric",
        "lightning.pytorch.utilities.rank_zero",
        "lightning.fabric.utilities.rank_zero",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nerveseg", description="Nerve segmentation in ultrasound images."
    )
    parser.add_argument("--version", action="version", version=f"nerveseg {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_synth(commands)
    _add_train(commands)
    _add_evaluate(commands)
    _add_predict(commands)
    return parser


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        default=None,
        help=f"a preset ({', '.join(preset_names())}) or a YAML file; defaults < preset < --set",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting, e.g. --set train.epochs=5 (repeatable)",
    )


def _add_synth(commands) -> None:
    parser = commands.add_parser(
        "synth", help="write a synthetic ultrasound data set in the Kaggle layout"
    )
    parser.add_argument(
        "out", type=Path, help="folder to write train/, test/, train_masks.csv into"
    )
    _config_arguments(parser)
    parser.add_argument("--subjects", type=int, help="labelled subjects (default 47)")
    parser.add_argument("--frames-per-subject", type=int, help="frames per subject (default 120)")
    parser.add_argument("--test-frames", type=int, help="unlabelled frames in test/")
    parser.add_argument("--width", type=int, help="frame width in pixels (default 580)")
    parser.add_argument("--height", type=int, help="frame height in pixels (default 420)")
    parser.add_argument("--empty-fraction", type=float, help="share of frames with no nerve")
    parser.add_argument(
        "--contradictory-pairs", type=int, help="near-duplicate pairs labelled inconsistently"
    )
    parser.add_argument("--seed", type=int, help="random seed; same seed, same files")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier synthetic set")
    parser.set_defaults(handler=_run_synth)


def _run_synth(args: argparse.Namespace) -> int:
    from nerveseg.data.synth import generate_dataset

    flags = {
        "subjects": args.subjects,
        "frames_per_subject": args.frames_per_subject,
        "test_frames": args.test_frames,
        "width": args.width,
        "height": args.height,
        "empty_fraction": args.empty_fraction,
        "contradictory_pairs": args.contradictory_pairs,
        "seed": args.seed,
    }
    overrides = list(args.overrides) + [f"synth.{k}={v}" for k, v in flags.items() if v is not None]
    config = load_config(args.preset, overrides).synth
    summary = generate_dataset(args.out, config, overwrite=args.overwrite)
    print(
        f"wrote {summary.train_frames} labelled frames ({summary.empty_frames} empty) and "
        f"{summary.test_frames} test frames to {summary.root} in {summary.seconds:.1f} s"
    )
    return 0


def _add_train(commands) -> None:
    parser = commands.add_parser("train", help="train a model on labelled frames")
    parser.add_argument(
        "--data", type=Path, help="data folder (Kaggle layout or image/mask folders)"
    )
    parser.add_argument("--run", type=Path, help="run folder to create (default runs/DATE-TIME)")
    _config_arguments(parser)
    parser.add_argument(
        "--resume", action="store_true", help="continue --run from its last checkpoint"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run in --run")
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out unusable files (listed) instead of stopping",
    )
    parser.add_argument(
        "--folds", type=int, help="k-fold cross-validation by subject (stratified by empty share)"
    )
    parser.add_argument(
        "--fold",
        help="the fold to validate on (0-based), or 'all' to train every fold into RUN/fold-K",
    )
    parser.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from nerveseg.training import train

    overrides = list(args.overrides)
    if args.data is not None:
        overrides.append(f"data.root={args.data}")
    if args.skip_bad:
        overrides.append("data.skip_bad=true")
    if args.folds is not None:
        overrides.append(f"data.folds={args.folds}")
    every_fold = args.fold == "all"
    if args.fold is not None and not every_fold:
        if not args.fold.isdigit():
            raise NervesegError(f"--fold takes a fold number or 'all', got {args.fold!r}")
        overrides.append(f"data.fold={args.fold}")
    if args.resume and args.run is None:
        raise NervesegError("--resume needs --run RUN_DIR, the run to continue")
    if every_fold:
        return _train_every_fold(args, overrides)
    if args.resume and (args.preset or overrides):
        raise NervesegError(
            "--resume continues a run with its saved config; drop --preset, --set and --data"
        )
    config = load_config(args.preset, overrides)
    run = args.run or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    result = train(config, run, overwrite=args.overwrite, resume=args.resume)
    if result.interrupted:
        print(f"training interrupted; continue with: nerveseg train --run {run} --resume")
        return 130
    print(json.dumps(nan_to_none(result.__dict__), indent=2))
    print(f"run folder: {run} (model.pt, metrics.csv, checkpoints/, summary.json)")
    return 0


def _train_every_fold(args: argparse.Namespace, overrides: list[str]) -> int:
    """Train fold 0..k-1 into RUN/fold-K; with --resume, finish the unfinished folds."""
    from nerveseg import runs
    from nerveseg.training import train

    if args.run is None:
        raise NervesegError("--fold all needs --run RUN_DIR, the folder for the fold runs")
    config = load_config(args.preset, overrides)
    if config.data.folds < 2:
        raise NervesegError("--fold all needs --folds K (K >= 2)")
    for fold in range(config.data.folds):
        run = args.run / f"fold-{fold}"
        if args.resume and (run / runs.SUMMARY).is_file():
            print(f"fold {fold}: finished earlier, skipped")
            continue
        resume = args.resume and (run / runs.CHECKPOINTS / runs.LAST_CHECKPOINT).is_file()
        fold_config = load_config(args.preset, [*overrides, f"data.fold={fold}"])
        result = train(fold_config, run, overwrite=args.overwrite, resume=resume)
        if result.interrupted:
            print(f"interrupted in fold {fold}; continue with the same command and --resume")
            return 130
        print(f"fold {fold}: best validation score {result.best_val_score:.4f} ({run})")
    return 0


def _add_evaluate(commands) -> None:
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
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    parser.set_defaults(handler=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    from nerveseg.evaluation import evaluate_run

    split = args.split or ("all" if args.data else "val")
    evaluation = evaluate_run(
        args.run, args.data, split=split, batch_size=args.batch_size, device=args.device
    )
    print(json.dumps(nan_to_none(evaluation.as_dict()), indent=2))
    return 0


def _add_predict(commands) -> None:
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


if __name__ == "__main__":
    sys.exit(main())
