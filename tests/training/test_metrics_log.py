"""metrics.csv: one row per epoch across sessions, the latest session winning."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from nerveseg.training.metrics_log import best_row, merge_sessions, next_session_name


def write_session(run: Path, number: int, rows: list[dict[str, object]]) -> None:
    folder = run / "logs" / f"session-{number}"
    folder.mkdir(parents=True)
    keys = sorted({k for row in rows for k in row})
    with open(folder / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def test_sessions_merge_into_one_row_per_epoch_latest_session_wins(tmp_path):
    # Lightning writes a row per logging call: train and validation values of an epoch apart.
    write_session(
        tmp_path,
        0,
        [
            {"epoch": 0, "step": 3, "train/loss": 0.9},
            {"epoch": 0, "step": 3, "val/score": 0.5},
            {"epoch": 1, "step": 7, "train/loss": 0.8},
            {"epoch": 1, "step": 7, "val/score": 0.55},
        ],
    )
    # Resumed after epoch 0: epoch 1 is trained again and replaces the first session's.
    write_session(tmp_path, 1, [{"epoch": 1, "train/loss": 0.7, "val/score": 0.6}])
    rows = merge_sessions(tmp_path)
    assert [(r["epoch"], r["train/loss"], r["val/score"]) for r in rows] == [
        (0, 0.9, 0.5),
        (1, 0.7, 0.6),
    ]
    assert all("step" not in r for r in rows)
    with open(tmp_path / "metrics.csv", newline="") as handle:
        written = list(csv.DictReader(handle))
    assert [w["epoch"] for w in written] == ["0", "1"]
    assert float(written[1]["val/score"]) == 0.6


def test_sessions_are_ordered_by_number_not_by_name(tmp_path):
    for number in range(11):
        write_session(tmp_path, number, [{"epoch": 0, "val/score": number / 10}])
    assert merge_sessions(tmp_path)[0]["val/score"] == 1.0  # session-10 is the latest
    assert next_session_name(tmp_path) == "session-11"


def test_next_session_of_a_new_run_is_zero(tmp_path):
    assert next_session_name(tmp_path) == "session-0"


def test_best_row_is_the_first_epoch_with_the_highest_score():
    rows = [
        {"epoch": 0, "val/score": 0.4},
        {"epoch": 1, "val/score": 0.7},
        {"epoch": 2, "val/score": 0.7},
        {"epoch": 3, "val/score": math.nan},
        {"epoch": 4, "train/loss": 0.1},
    ]
    assert best_row(rows)["epoch"] == 1
    assert best_row([{"epoch": 0}]) == {}
