"""``kill -9`` in the middle of train, predict and export: nothing half-written is ever used,
nothing is left blocking, and the same command (or ``--resume``) finishes the job.

A killed process runs no clean-up at all, so these are the cases that atomic writes, the run
lock and stale-temporary removal exist for.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from nerveseg import runs
from nerveseg.cli import main
from nerveseg.data.images import read_mask
from nerveseg.files import atomic_path


def _start(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.Popen(
        [sys.executable, "-m", "nerveseg", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill_when(process: subprocess.Popen, ready, timeout: float = 120) -> None:
    """SIGKILL ``process`` as soon as ``ready()`` holds (fail if it ends first)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "the process ended before it could be killed"
        assert time.monotonic() < deadline, "never reached the point to kill at"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.slow
def test_train_killed_after_an_epoch_resumes_and_finishes(tiny_data, tmp_path):
    run = tmp_path / "run"
    process = _start(
        "train", "--preset", "smoke", "--data", str(tiny_data), "--run", str(run),
        "--set", "train.epochs=6", "--set", "train.patience=10", "--set", "train.progress_bar=false",
    )  # fmt: skip
    _kill_when(process, lambda: runs.last_checkpoint(run).is_file())
    assert runs.run_state(run) is runs.RunState.RESUMABLE
    # The killed process's lock is gone with it: a plain retry is told to resume, not blocked.
    assert main(["train", "--preset", "smoke", "--data", str(tiny_data), "--run", str(run)]) == 2
    assert main(["train", "--run", str(run), "--resume"]) == 0
    assert runs.run_state(run) is runs.RunState.FINISHED
    assert (run / runs.MODEL).is_file()
    assert not list(run.glob(".*.tmp")) and not (run / runs.LOCK).exists()


@pytest.mark.slow
def test_predict_killed_midway_resumes_to_the_same_submission(trained_run, tiny_data, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    test_frames = sorted((tiny_data / "test").glob("*.tif"))
    for i in range(1, 1201):  # enough frames to be killed in the middle of them
        shutil.copy(test_frames[i % len(test_frames)], frames / f"{i}.tif")
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    process = _start("predict", "--run", str(trained_run), "--input", str(frames), "--out",
                     str(killed), "--batch-size", "4")  # fmt: skip
    masks = killed / "masks"
    # Count finished masks only: the folder also holds the temporary file being written.
    _kill_when(process, lambda: masks.is_dir() and len(list(masks.glob("*_mask.png"))) >= 20)
    written = list(masks.glob("*_mask.png"))
    assert 20 <= len(written) < 1200
    for mask in written:  # every mask that exists is whole: atomic writes
        read_mask(mask)
    assert main(["predict", "--run", str(trained_run), "--input", str(frames), "--out",
                 str(killed), "--resume"]) == 0  # fmt: skip
    assert main(["predict", "--run", str(trained_run), "--input", str(frames), "--out",
                 str(whole)]) == 0  # fmt: skip
    assert (killed / "submission.csv").read_text() == (whole / "submission.csv").read_text()
    assert not list(masks.glob(".*.tmp"))


def test_a_killed_writers_temporary_file_is_removed_by_the_next_export(trained_run, tmp_path):
    out = tmp_path / "model.onnx"
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom pathlib import Path\nfrom nerveseg.files import atomic_path\n"
         f"with atomic_path(Path({str(out)!r})) as tmp:\n"
         "    tmp.write_bytes(b'x' * 1_000_000)\n    print('writing', flush=True)\n"
         "    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    leftovers = list(tmp_path.glob(".model.onnx.*.tmp"))
    assert len(leftovers) == 1 and not out.exists()  # what kill -9 leaves behind
    with atomic_path(tmp_path / "other.onnx"):
        pass  # another file's write leaves it alone
    assert leftovers[0].exists()
    assert main(["export", str(trained_run), "--out", str(out)]) == 0
    assert not leftovers[0].exists() and out.stat().st_size > 0


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    out = tmp_path / "table.csv"
    with atomic_path(out) as mine:  # this process is alive: its temporary is not stale
        mine.write_text("half")
        with atomic_path(tmp_path / "other.csv"):
            pass
        assert mine.exists()
