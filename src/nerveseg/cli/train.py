"""``nerveseg train``: train one run, or every fold of a cross-validation."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from nerveseg.cli.common import config_arguments
from nerveseg.config import load_config
from nerveseg.data.quality.cleaning import CLEAN_POLICIES
from nerveseg.errors import NervesegError
from nerveseg.files import nan_to_none


def add(commands) -> None:
    parser = commands.add_parser("train", help="train a model on labelled frames")
    parser.add_argument(
        "--data", type=Path, help="data folder (Kaggle layout or image/mask folders)"
    )
    parser.add_argument("--run", type=Path, help="run folder to create (default runs/DATE-TIME)")
    config_arguments(parser)
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
        "--clean",
        choices=CLEAN_POLICIES,
        help="contradictory near-duplicate training frames: report them, drop them, or give "
        "each group one mask (union or majority); validation frames are never changed",
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
    from nerveseg.training import is_main_process, train

    overrides = list(args.overrides)
    if args.data is not None:
        overrides.append(f"data.root={args.data}")
    if args.skip_bad:
        overrides.append("data.skip_bad=true")
    if args.clean is not None:
        overrides.append(f"data.clean={args.clean}")
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
    if not is_main_process():  # another DDP process: rank 0 reports
        return 130 if result.interrupted else 0
    if result.interrupted:
        print(f"training interrupted; continue with: nerveseg train --run {run} --resume")
        return 130
    print(json.dumps(nan_to_none(result.__dict__), indent=2))
    print(f"run folder: {run} (model.pt, metrics.csv, checkpoints/, summary.json)")
    return 0


def _train_every_fold(args: argparse.Namespace, overrides: list[str]) -> int:
    """Train fold 0..k-1 into RUN/fold-K; with --resume, finish the unfinished folds."""
    from nerveseg.training import train_folds

    if args.run is None:
        raise NervesegError("--fold all needs --run RUN_DIR, the folder for the fold runs")
    config = load_config(args.preset, overrides)
    results = train_folds(config, args.run, resume=args.resume, overwrite=args.overwrite)
    if results and results[-1].interrupted:
        print(
            f"interrupted in fold {len(results) - 1}; continue with the same command and --resume"
        )
        return 130
    return 0
