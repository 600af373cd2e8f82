"""``nerveseg train``: train one run, or every fold of a cross-validation."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from nerveseg.cli.common import config_arguments, positive_int
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
        "--folds",
        type=positive_int,
        help="k-fold cross-validation by subject (stratified by empty share)",
    )
    parser.add_argument(
        "--fold",
        help="the fold to validate on (0-based), or 'all' to train every fold into RUN/fold-K",
    )
    parser.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from nerveseg.training import train

    overrides = list(args.overrides)
    flags = _flag_settings(args)
    every_fold = args.fold == "all"
    if args.resume and args.run is None:
        raise NervesegError("--resume needs --run RUN_DIR, the run to continue")
    if args.resume and args.overwrite:
        raise NervesegError("--resume continues the run and --overwrite replaces it: pick one")
    if every_fold:
        return _train_every_fold(args, overrides, flags)
    if args.resume and (args.preset or overrides or flags):
        raise NervesegError(
            "--resume continues a run with its saved config; drop --preset, --set and --data"
        )
    if args.resume:
        return _resume(args.run)
    config = load_config(args.preset, overrides, flags)
    run = args.run or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    return _report(run, train(config, run, overwrite=args.overwrite))


def _report(run: Path, result) -> int:
    """Print what the run reports (rank 0 only); 130 for an interrupted run."""
    from nerveseg.training import is_main_process

    if not is_main_process():  # another DDP process: rank 0 reports
        return 130 if result.interrupted else 0
    if result.interrupted:
        print(f"training interrupted; continue with: nerveseg train --run {run} --resume")
        return 130
    print(json.dumps(nan_to_none(result.__dict__), indent=2))
    print(f"run folder: {run} (model.pt, metrics.csv, checkpoints/, summary.json)")
    return 0


def _flag_settings(args: argparse.Namespace) -> dict[str, object]:
    """The settings the flags give, as typed values (never parsed as YAML: paths stay literal)."""
    flags: dict[str, object] = {}
    if args.data is not None:
        flags["data.root"] = str(args.data)
    if args.skip_bad:
        flags["data.skip_bad"] = True
    if args.clean is not None:
        flags["data.clean"] = args.clean
    if args.folds is not None:
        flags["data.folds"] = args.folds
    if args.fold is not None and args.fold != "all":
        if not args.fold.isdigit():
            raise NervesegError(f"--fold takes a fold number or 'all', got {args.fold!r}")
        flags["data.fold"] = int(args.fold)
    return flags


def _resume(run: Path) -> int:
    """Continue an unfinished run; a finished one is reported, never trained again."""
    from nerveseg import runs
    from nerveseg.training import RunResult, train

    if runs.run_state(run) is runs.RunState.FINISHED:
        print(
            f"{run}: finished earlier, nothing to resume (best epoch {RunResult.read(run).best_epoch})"
        )
        return 0
    return _report(run, train(None, run, resume=True))


def _train_every_fold(
    args: argparse.Namespace, overrides: list[str], flags: dict[str, object]
) -> int:
    """Train fold 0..k-1 into RUN/fold-K; with --resume, finish the unfinished folds."""
    from nerveseg.training import train_folds

    if args.run is None:
        raise NervesegError("--fold all needs --run RUN_DIR, the folder for the fold runs")
    config = load_config(args.preset, overrides, flags)
    results = train_folds(config, args.run, resume=args.resume, overwrite=args.overwrite)
    if results and results[-1].interrupted:
        print(
            f"interrupted in fold {len(results) - 1}; continue with the same command and --resume"
        )
        return 130
    return 0
