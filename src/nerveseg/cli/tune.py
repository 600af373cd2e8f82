"""``nerveseg tune``: search settings with Optuna; every trial is an ordinary run folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nerveseg.cli.common import config_arguments, non_negative_float, positive_int
from nerveseg.config import load_config


def add(commands) -> None:
    parser = commands.add_parser(
        "tune",
        help="search settings (tune.space) with Optuna; resumable, several workers may share it",
        description=(
            "Run trials of `nerveseg train` with settings drawn from tune.space, into "
            "STUDY/trial-NNN. Running the command again continues the study; "
            "`nerveseg tune --study STUDY` alone continues or joins it with its saved settings "
            "(start it in several terminals, one per GPU, to run trials in parallel)."
        ),
    )
    parser.add_argument("--data", type=Path, help="data folder (to start a study)")
    parser.add_argument("--study", type=Path, required=True, help="study folder (study.db, trials)")
    config_arguments(parser)
    parser.add_argument(
        "--trials",
        type=positive_int,
        help="finished trials the study should have (tune.trials; the study remembers it)",
    )
    parser.add_argument(
        "--timeout-minutes",
        type=non_negative_float,
        help="stop starting trials after this long (tune.timeout_minutes; 0 = no limit)",
    )
    parser.set_defaults(handler=_run_tune)


def _run_tune(args: argparse.Namespace) -> int:
    from nerveseg.experiments.tune_report import BEST, HISTORY, IMPORTANCE, TRIALS_CSV
    from nerveseg.experiments.tune_study import study_base_config

    overrides = list(args.overrides)
    flags = {"data.root": str(args.data)} if args.data is not None else {}  # literal path
    given = (
        load_config(args.preset, overrides, flags) if (args.preset or overrides or flags) else None
    )
    config = study_base_config(
        args.study, given, trials=args.trials, timeout_minutes=args.timeout_minutes
    )
    try:
        study = _run(config, args.study)
    except KeyboardInterrupt:
        print(
            f"study interrupted; continue with: nerveseg tune --study {args.study}",
            file=sys.stderr,
        )
        return 130
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if complete:
        best = study.best_trial
        print(f"best trial {best.number}: val/score {best.value:.4f} ({best.user_attrs['run']})")
    for name in (BEST, TRIALS_CSV, HISTORY, IMPORTANCE):
        if (args.study / name).is_file():
            print(f"  {args.study / name}")
    return 0


def _run(config, study: Path):
    from nerveseg.experiments.tune import run_study

    return run_study(config, study)
