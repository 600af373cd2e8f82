"""Run folders: how stages talk to each other, and the rule that a finished run is never lost.

Everything nerveseg knows about a run folder is here: the name of every file in it, the folds of
a cross-validation folder, and whether a folder is a new, started, resumable or finished run.

A run folder holds ``config.yaml`` (written first), ``split.json``, ``checkpoints/``, ``logs/``,
``metrics.csv``, ``model.pt`` and, once training has finished, ``summary.json``: its presence
marks the run as finished, and nerveseg refuses to write over a finished run unless asked.
Later stages add ``evaluation.json``, ``per_image.csv``, ``postprocess.json`` and ``report/``.
A cross-validation folder holds one run per fold, ``fold-0/``, ``fold-1/`` ..., and the
post-processing and report of the fold ensemble.

Safety rules: a run folder carries a marker (``.nerveseg-run``) that nerveseg writes when it
creates it; replacing a run removes only the entries nerveseg writes, never a user's file; and
one process at a time writes to a run (:func:`run_lock`).
"""

from __future__ import annotations

import enum
import functools
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

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
MARKER = ".nerveseg-run"  # written first: this folder is a run nerveseg made
LOCK = ".nerveseg-lock"  # held by the one process writing to the run; holds its PID
EXPORTS = ("model.onnx", "model.ts")  # `nerveseg export RUN` writes beside model.pt
# Every entry a run folder may hold that nerveseg wrote: all that --overwrite ever removes.
RUN_ENTRIES = frozenset(
    {MARKER, LOCK, CONFIG, SPLIT, SUMMARY, MODEL, CHECKPOINTS, LOGS, METRICS, CLEAN_SUMMARY,
     EVALUATION, PER_IMAGE, POSTPROCESS, REPORT_DIR, *EXPORTS}
)  # fmt: skip
# The validation competition score: what checkpoints, early stopping and tuning maximise.
VAL_SCORE = "val/score"

T = TypeVar("T")

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
    if run.exists() and not run.is_dir():
        raise NervesegError(f"{run}: exists and is not a folder; choose another --run")
    if not run.is_dir() or not set(_entries(run)) - {MARKER, LOCK}:
        return RunState.NEW
    if not is_run(run):
        raise NervesegError(
            f"{run}: folder exists and is not a nerveseg run; choose an empty or new --run folder"
        )
    if (run / SUMMARY).is_file():
        return RunState.FINISHED
    if last_checkpoint(run).is_file():
        return RunState.RESUMABLE
    return RunState.STARTED


def is_run(folder: Path) -> bool:
    """A folder nerveseg made for a run: its marker, or (runs from before the marker) a config
    and nothing but entries a run holds."""
    folder = Path(folder)
    if (folder / MARKER).is_file():
        return True
    names = set(_entries(folder))
    return CONFIG in names and not names - RUN_ENTRIES - _temporaries(names)


def _entries(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir()]


def _temporaries(names: set[str]) -> set[str]:
    """Half-written files of nerveseg's atomic writes (``.NAME.PID.xxxx.tmp``)."""
    return {n for n in names if n.startswith(".") and n.endswith(".tmp")}


def last_checkpoint(run: Path) -> Path:
    """The checkpoint written at the end of every epoch: what ``--resume`` continues from."""
    return Path(run) / CHECKPOINTS / LAST_CHECKPOINT


def check_new_run(run: Path, *, overwrite: bool = False) -> RunState:
    """Raise unless a fresh run may be trained in ``run``; changes nothing on disk.

    - new or empty folder, or a failed start (a config and no checkpoint): fine.
    - a finished or resumable run without ``overwrite``: refused, with the ways forward.
    - a folder that is not a nerveseg run: refused, even with ``overwrite``.
    """
    state = run_state(run)
    if state in (RunState.FINISHED, RunState.RESUMABLE) and not overwrite:
        what = "a finished run" if state is RunState.FINISHED else "an unfinished run"
        raise NervesegError(
            f"{run}: holds {what}; pass --resume to continue it, --overwrite to replace it, "
            "or choose another --run"
        )
    return state


def prepare_run_dir(run: Path, *, overwrite: bool = False) -> None:
    """Make ``run`` ready for a fresh training run (see :func:`check_new_run`).

    Replacing a run removes only the entries nerveseg writes (:data:`RUN_ENTRIES`); any other
    file a user put there stays. Call it once the new run's config, data and model are known to
    work, so a typo cannot cost the old run.
    """
    run = Path(run)
    if check_new_run(run, overwrite=overwrite) is not RunState.NEW:
        for name in sorted((RUN_ENTRIES - {LOCK}) & set(_entries(run))):
            path = run / name
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    run.mkdir(parents=True, exist_ok=True)
    (run / MARKER).write_text("a run folder nerveseg made; see nerveseg.runs\n", encoding="utf-8")


_HELD: set[Path] = set()  # the run locks this process holds


@contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder`` for this process: a second process is refused, naming the first's PID.

    An advisory ``flock`` on ``.nerveseg-lock``, removed on release: the system drops the lock
    when the holder exits, even by ``kill -9``, so a killed run never leaves its folder blocked
    (its stale lock file is simply taken over).
    """
    folder = Path(folder)
    if not folder.is_dir():  # nothing to hold: the caller reports the missing run
        yield
        return
    path = folder / LOCK
    key = path.resolve()
    if key in _HELD:  # this process holds it already (a report that evaluates, say)
        yield
        return
    handle = _acquire(path)
    _HELD.add(key)
    try:
        yield
    finally:
        _HELD.discard(key)
        path.unlink(missing_ok=True)  # before closing: no one can lock this file meanwhile
        handle.close()  # closing releases the lock


def _acquire(path: Path) -> IO[str]:
    """Open and lock ``path``; retry when the holder removed the file between open and lock."""
    import fcntl

    while True:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise NervesegError(
                f"{path.parent}: another nerveseg process (PID {holder}) is writing to it; wait "
                "for it to finish or stop it"
            ) from None
        if path.exists() and os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
            break
        handle.close()  # locked a file its holder had just removed: take the new one
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def holding_run(function: Callable[..., T]) -> Callable[..., T]:
    """Decorate a stage that writes into the run folder given as its first argument so that it
    runs under :func:`run_lock`: no two processes write one run at once."""

    @functools.wraps(function)
    def held(run: Path, *args: Any, **kwargs: Any) -> T:
        with run_lock(run):
            return function(run, *args, **kwargs)

    return held


def require_resumable(run: Path) -> None:
    """Raise unless ``run`` has a last checkpoint to continue from (and is not finished)."""
    state = run_state(run)
    if state is RunState.FINISHED:
        raise NervesegError(f"{run}: finished earlier, nothing to resume; --overwrite retrains it")
    if state is not RunState.RESUMABLE:
        raise NervesegError(
            f"{run}: nothing to resume (no {CHECKPOINTS}/{LAST_CHECKPOINT}); train it afresh "
            "with the same command without --resume"
        )


def read_json(path: Path) -> Any:
    """Read a JSON file a run stage wrote, with a clear error when it is missing."""
    if not path.is_file():
        raise NervesegError(f"{path}: missing; is {path.parent} a finished nerveseg run?")
    return json.loads(path.read_text(encoding="utf-8"))


def require_finished(run: Path) -> None:
    """Raise unless ``run`` holds a trained model."""
    if not (Path(run) / MODEL).is_file():
        raise NervesegError(
            f"{run}: no {MODEL} here; train first (nerveseg train --run {run}) or give a finished "
            "run folder"
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
