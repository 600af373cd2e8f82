"""One ``metrics.csv`` per run, one row per epoch, across interruptions and resumes.

Lightning's CSVLogger writes a row per logging call and deletes an existing ``metrics.csv`` in
its folder when a run resumes. So each training session logs into its own folder under
``logs/``, and this module merges the sessions into the run's ``metrics.csv``: one row per
epoch, the latest session winning where a resumed session repeats an epoch.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from nerveseg.files import atomic_write
from nerveseg.runs import LOGS, METRICS, VAL_SCORE
from nerveseg.training.validation import FIGURES


def next_session_name(run: Path) -> str:
    """``session-0``, ``session-1``, ...: a fresh log folder for each start or resume."""
    existing = sorted((run / LOGS).glob("session-*")) if (run / LOGS).is_dir() else []
    return f"session-{len(existing)}"


def merge_sessions(run: Path) -> list[dict[str, float]]:
    """Merge every session's log into ``run/metrics.csv``; return the per-epoch rows."""
    by_epoch: dict[int, dict[str, float]] = {}
    sessions = sorted((run / LOGS).glob("session-*/metrics.csv"), key=_session_number)
    for path in sessions:
        session_rows: dict[int, dict[str, float]] = {}
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if not row.get("epoch"):
                    continue
                epoch = int(float(row["epoch"]))
                merged = session_rows.setdefault(epoch, {"epoch": epoch})
                merged.update({k: float(v) for k, v in row.items() if v not in ("", None)})
        by_epoch.update(session_rows)
    rows = [by_epoch[e] for e in sorted(by_epoch)]
    for row in rows:
        row.pop("step", None)
    _write(run / METRICS, rows)
    return rows


def best_row(rows: list[dict[str, float]], monitor: str = VAL_SCORE) -> dict[str, float]:
    """The first epoch with the highest ``monitor`` (as ModelCheckpoint keeps it), or {}."""
    scored = [r for r in rows if monitor in r and not math.isnan(r[monitor])]
    return max(scored, key=lambda r: r[monitor]) if scored else {}


def structure_figures(row: dict[str, float], structures: list[str]) -> dict[str, dict[str, float]]:
    """Each structure's validation figures in a ``metrics.csv`` row: ``{name: {figure: value}}``.

    Empty for the single nerve: its figures are the row's own (``val/score``,
    ``val/dice_nerve`` ...). A figure the row lacks (no such frame) is NaN.
    """
    if structures == ["nerve"]:
        return {}
    several = len(structures) > 1
    figures = {}
    for name in structures:
        keys = {f: f"val/{f}_{name}" if several or f == "dice" else f"val/{f}" for f in FIGURES}
        figures[name] = {f: float(row.get(key, float("nan"))) for f, key in keys.items()}
    return figures


def _session_number(path: Path) -> int:
    return int(path.parent.name.split("-")[1])


def _write(path: Path, rows: list[dict[str, float]]) -> None:
    keys = ["epoch", *sorted({k for r in rows for k in r} - {"epoch"})]

    def write(handle) -> None:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (int(v) if k == "epoch" else f"{v:.6g}") for k, v in row.items()})

    atomic_write(path, write)
