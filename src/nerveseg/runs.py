"""Run folders: how stages talk to each other, and the rule that a finished run is never lost.

Everything nerveseg knows about a run folder is here: the name of every file in it, the folds of
a cross-validation folder, and whether a folder is a new, started, resumable or finished run.

A run folder holds ``config.yaml`` (written first), ``split.json``, ``checkpoints/``, ``logs/``,
``metrics.csv``, ``model.pt`` and, once training has finished, ``summary.json``: its presence
marks the run as finished, and nerveseg refuses to write over a finished run unless asked.
Later stages add ``evaluation.json``, ``per_image.csv``, ``postprocess.json`` and ``report/``.
A cross-validation folder holds one run per fold, ``fold-0/``, ``fold-1/`` ..., and the
post-processing and report of the fold ensemble.
"""

from __future__ import annotations

import enum
import json
import re
import shutil
from pathlib import Path
from typing import Any

from nerveseg.errors import NervesegError

CONFIG = "config.yaml"
SPLIT = "split.json"
SUMMARY = "summary.json"
MODEL = "model.pt"
CHECKPOINTS = "checkpoints"
BEST_CHECKPOINT = "best.ckpt"
LAST_CHECKPOINT = "last.ckpt"
LOGS = "logs"
METRICS = "metrics.csv"
CLEAN_SUMMARY = "clean.json"
EVALUATION = "evaluation.json"
PER_IMAGE = "per_image.csv"
POSTPROCESS = "postprocess.json"
REPORT_DIR = "report"
# The validation competition score: what checkpoints, early stopping and tuning maximise.
VAL_SCORE = "val/score"

FOLD_GLOB = "fold-*"
_FOLD_NAME = re.compile(r"fold-(\d+)")


class RunState(enum.Enum):
    """Where a run folder stands, which decides what training does with it."""

    NEW = "new"  # missing or empty: train afresh
    STARTED = "started"  # a config but nothing to resume: start again (only if asked)
    RESUMABLE = "resumable"  # a last checkpoint: continue exactly where it stopped
    FINISHED = "finished"  # summary.json: reuse it; replace it only if asked


def run_state(run: Path) -> RunState:
    """The state of ``run``; a folder that is not a nerveseg run raises (never touch it)."""
    run = Path(run)
    if (run / SUMMARY).is_file():
        return RunState.FINISHED
    if last_checkpoint(run).is_file():
        return RunState.RESUMABLE
    if run.exists() and not run.is_dir():
        raise NervesegError(f"{run}: exists and is not a folder; choose another --run")
    if not run.is_dir() or not any(run.iterdir()):
        return RunState.NEW
    if not (run / CONFIG).is_file():
        raise NervesegError(
            f"{run}: folder exists and is not a nerveseg run; choose an empty or new --run folder"
        )
    return RunState.STARTED


def last_checkpoint(run: Path) -> Path:
    """The checkpoint written at the end of every epoch: what ``--resume`` continues from."""
    return Path(run) / CHECKPOINTS / LAST_CHECKPOINT


def prepare_run_dir(run: Path, *, overwrite: bool = False) -> None:
    """Make ``run`` ready for a fresh training run, or explain why it cannot be.

    - new or empty folder: created.
    - existing run without ``overwrite``: refused, with the ways forward.
    - ``overwrite``: the old run is removed, but only if it looks like a nerveseg run, so a typo
      in ``--run`` cannot delete someone's data.
    """
    run = Path(run)
    state = run_state(run)
    if state is not RunState.NEW:
        if not overwrite:
            what = "a finished run" if state is RunState.FINISHED else "an unfinished run"
            raise NervesegError(
                f"{run}: holds {what}; pass --resume to continue it, --overwrite to replace it, "
                "or choose another --run"
            )
        shutil.rmtree(run)
    run.mkdir(parents=True, exist_ok=True)


def require_resumable(run: Path) -> None:
    """Raise unless ``run`` has a last checkpoint to continue from."""
    if not last_checkpoint(run).is_file():
        raise NervesegError(f"{run}: nothing to resume (no {CHECKPOINTS}/{LAST_CHECKPOINT})")


def read_json(path: Path) -> Any:
    """Read a JSON file a run stage wrote, with a clear error when it is missing."""
    if not path.is_file():
        raise NervesegError(f"{path}: missing; is {path.parent} a finished nerveseg run?")
    return json.loads(path.read_text(encoding="utf-8"))


def require_finished(run: Path) -> None:
    """Raise unless ``run`` holds a trained model."""
    if not (Path(run) / MODEL).is_file():
        raise NervesegError(
            f"{run}: no {MODEL} here; train first (nerveseg train --run {run}) or point --run at a "
            "finished run"
        )


def fold_run(run: Path, fold: int) -> Path:
    """The run folder of fold ``fold`` in the cross-validation folder ``run``."""
    return Path(run) / f"fold-{fold}"


def is_cross_validation(run: Path) -> bool:
    """True for a folder of fold runs (``RUN/fold-K/``) rather than a single run."""
    run = Path(run)
    return not (run / MODEL).is_file() and bool(fold_dirs(run))


def fold_dirs(run: Path) -> list[Path]:
    """``RUN/fold-0``, ``RUN/fold-1``, ... in fold order."""
    folds = [p for p in Path(run).glob(FOLD_GLOB) if p.is_dir() and _fold_number(p) is not None]
    return sorted(folds, key=_fold_number)


def model_files(run: Path) -> list[Path]:
    """``RUN/model.pt``, or every ``RUN/fold-K/model.pt`` of a cross-validation folder.

    Raises:
        NervesegError: no model at all, or a fold without one (unfinished cross-validation).
    """
    run = Path(run)
    if (run / MODEL).is_file():
        return [run / MODEL]
    folds = fold_dirs(run)
    if not folds:
        require_finished(run)  # raises with the usual "train first" message
    missing = [f.name for f in folds if not (f / MODEL).is_file()]
    if missing:
        raise NervesegError(
            f"{run}: {', '.join(missing)} has no {MODEL} (unfinished cross-validation); "
            f"finish it with nerveseg train --run {run} --folds {len(folds)} --fold all --resume"
        )
    return [f / MODEL for f in folds]


def data_root(run: Path) -> Path:
    """The data folder a run (or the first fold of a cross-validation folder) trained on."""
    run = Path(run)
    first = fold_dirs(run)[0] if is_cross_validation(run) else run
    return Path(read_json(first / SPLIT)["data"])


def _fold_number(path: Path) -> int | None:
    match = _FOLD_NAME.fullmatch(path.name)
    return int(match.group(1)) if match else None
