"""Run folders: how stages talk to each other, and the rule that a finished run is never lost.

A run folder holds ``config.yaml`` (written first), ``split.json``, ``checkpoints/``,
``metrics.csv``, ``model.pt`` and, once training has finished, ``summary.json``. Its presence
marks the run as finished; nerveseg refuses to write over a finished run unless asked.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from nerveseg.errors import NervesegError

CONFIG = "config.yaml"
SPLIT = "split.json"
SUMMARY = "summary.json"
MODEL = "model.pt"
CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
EVALUATION = "evaluation.json"


def prepare_run_dir(run: Path, *, overwrite: bool = False, resume: bool = False) -> None:
    """Make ``run`` ready for training, or explain why it cannot be.

    - new or empty folder: created.
    - ``resume``: the folder must hold a run with a last checkpoint.
    - existing run without ``overwrite``: refused, with the two ways forward.
    - ``overwrite``: the old run is removed, but only if it looks like a nerveseg run, so a typo
      in ``--run`` cannot delete someone's data.
    """
    run = Path(run)
    if resume:
        if not (run / CHECKPOINTS / LAST_CHECKPOINT).is_file():
            raise NervesegError(f"{run}: nothing to resume (no {CHECKPOINTS}/{LAST_CHECKPOINT})")
        return
    if run.exists() and not run.is_dir():
        raise NervesegError(f"{run}: exists and is not a folder; choose another --run")
    if run.is_dir() and any(run.iterdir()):
        if not (run / CONFIG).is_file():
            raise NervesegError(
                f"{run}: folder exists and is not a nerveseg run; choose an empty or new --run folder"
            )
        if not overwrite:
            state = "a finished run" if (run / SUMMARY).is_file() else "an unfinished run"
            raise NervesegError(
                f"{run}: holds {state}; pass --resume to continue it, --overwrite to replace it, "
                "or choose another --run"
            )
        shutil.rmtree(run)
    run.mkdir(parents=True, exist_ok=True)


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
