"""Writing files so that an interrupted write never leaves a half-done file behind.

Everything nerveseg writes for a user (masks, CSVs, JSON, checkpoints) goes through a temporary
file in the same folder, renamed into place only when complete.
"""

from __future__ import annotations

import glob
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success.

    The temporary file's name carries the writing process's id, so a file left by a killed
    writer (``kill -9`` skips every ``finally``) is removed the next time ``target`` is written.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f"{_temporary_prefix(target)}{os.getpid()}.", suffix=".tmp", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _temporary_prefix(target: Path) -> str:
    return f".{target.name}."


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove temporary files of ``target`` whose writing process no longer runs."""
    prefix = _temporary_prefix(target)
    removed = []
    for path in Path(target).parent.glob(f"{glob.escape(prefix)}*.tmp"):
        pid = path.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` runs on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def atomic_write(target: Path, writer: Callable[[IO[str]], None]) -> None:
    """Write a text file through ``writer(handle)`` atomically."""
    with atomic_path(target) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer(handle)


def write_text(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    atomic_write(target, lambda handle: handle.write(text))


def write_json(target: Path, data: Any) -> None:
    """Write ``data`` as indented JSON atomically; NaN (an undefined average) becomes null.

    Python's json writes NaN, which strict JSON readers (browsers, jq) reject.
    """
    write_text(target, json.dumps(nan_to_none(data), indent=2, allow_nan=False) + "\n")


def nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nan_to_none(v) for v in value]
    return value
