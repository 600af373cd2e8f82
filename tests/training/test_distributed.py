"""Training with several processes (DDP): each process's share, and `nerveseg train` on two.

The end-to-end tests run `python -m nerveseg train` in subprocesses (Lightning starts the
second process by running the command again) with two CPU processes over gloo.

What they can and cannot promise on a CPU: torch's SyncBatchNorm runs only on GPUs, so each CPU
process normalises its training batch with the statistics of its own B frames, where one
process with batch 2B uses all 2B. Same frames, same seed and averaged gradients, but not the
same arithmetic: the two runs' final validation metrics agree within a tolerance (below), not to
rounding. Validation itself is exact: the two processes' metrics equal one process's evaluation
of the same weights to the 6 significant digits metrics.csv keeps.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from nerveseg.training.datamodule import CachedFrames, EpochShuffle, FramesDataModule

# The settings both runs share; augmentation off because each process draws its own.
COMMON = ["--preset", "smoke", "--set", "train.accelerator=cpu", "--set", "augment.enabled=false"]
TWO = ["--set", "train.devices=2", "--set", "train.strategy=ddp", "--set", "train.batch_size=4"]
ONE = ["--set", "train.devices=1", "--set", "train.batch_size=8"]  # the same 8 frames a step

# Variables that would make the subprocess join some other distributed job.
_DISTRIBUTED_ENV = {"LOCAL_RANK", "RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"}

needs_gloo = pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="torch built without distributed (gloo) support",
)


def read_rows(run: Path) -> dict[int, dict[str, float]]:
    with open(run / "metrics.csv", newline="") as handle:
        return {
            int(r["epoch"]): {k: float(v) for k, v in r.items() if v}
            for r in csv.DictReader(handle)
        }


def nerveseg(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m nerveseg ARGS`` in its own session; fail if any process outlives it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _DISTRIBUTED_ENV and not k.startswith("SLURM_")
    }
    # One thread per process on a 2-core machine; PASSIVE keeps threads from spinning under load.
    env.update(OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    command = [sys.executable, "-m", "nerveseg", *args]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        # The pipes close only when every process that inherited them (the DDP ranks) has ended.
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        leftovers = _end_session(process.pid)
    assert not leftovers, f"processes left behind: {leftovers}"
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    assert result.returncode == 0, stderr[-3000:]
    return result


def _end_session(session: int) -> list[int]:
    """Kill what is left of a process group; return the pids that were still alive."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == session and state != "Z":
            alive.append(int(stat.parent.name))
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(session, signal.SIGKILL)
    return alive


@pytest.fixture(scope="module")
def one_process(tiny_data, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("ddp") / "one"
    nerveseg("train", "--data", str(tiny_data), "--run", str(run), *COMMON, *ONE)
    return run


@pytest.fixture(scope="module")
def two_processes(tiny_data, tmp_path_factory) -> tuple[Path, list[str]]:
    """Two processes: one epoch, then --resume for a second (also with two processes).

    A one-epoch run without its summary stands in for an interrupted one: its last checkpoint
    is the state after epoch 0 either way (a finished run is never resumed). Raising ``epochs``
    in its saved config lets --resume go on.
    """
    run = tmp_path_factory.mktemp("ddp") / "two"
    first = nerveseg(
        "train",
        "--data",
        str(tiny_data),
        "--run",
        str(run),
        *COMMON,
        *TWO,
        "--set",
        "train.epochs=1",
    )
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["train"]["epochs"] = 2
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (run / "summary.json").unlink()
    second = nerveseg("train", "--run", str(run), "--resume")
    return run, [first.stdout, second.stdout]


@pytest.mark.slow
@needs_gloo
def test_two_processes_resume_and_only_rank_zero_reports(two_processes):
    run, outputs = two_processes
    assert sorted(read_rows(run)) == [0, 1]
    assert sorted(p.name for p in (run / "logs").iterdir()) == ["session-0", "session-1"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_trained"] == 2
    for stdout in outputs:  # rank 1 runs the same command and prints nothing
        assert stdout.count("run folder:") == 1


@pytest.mark.slow
@needs_gloo
def test_two_processes_match_one_process(two_processes, one_process):
    """Same frames per step (8 in one process, 4 + 4 in two), same seed, averaged gradients.

    Tolerance: the only difference on a CPU is BatchNorm's batch statistics over 4 frames
    instead of 8 while training (no SyncBatchNorm off the GPU). After two epochs it moved
    val/loss by ~1e-4 here; allow 5e-3. The score is a thresholded Dice per frame: a frame on the
    edge may flip, so allow one frame in the validation set (1/8).
    """
    two, one = read_rows(two_processes[0])[1], read_rows(one_process)[1]
    frames = json.loads((one_process / "summary.json").read_text())["val_images"]
    assert two["val/loss"] == pytest.approx(one["val/loss"], abs=5e-3)
    assert abs(two["val/score"] - one["val/score"]) <= 1 / frames + 1e-6


@pytest.mark.slow
@needs_gloo
def test_two_process_validation_equals_one_process_evaluation(two_processes):
    """The metrics the two processes logged = one process scoring the same weights afterwards.

    Each process validated half the frames (unpadded) and the sums were added: exact up to float
    rounding and the 6 significant digits of metrics.csv (rel 1e-5).
    """
    from nerveseg.checkpoint import load_model
    from nerveseg.config import read_run_config
    from nerveseg.data.loading import load_set
    from nerveseg.data.samples import discover_labelled
    from nerveseg.losses import BCEDiceLoss
    from nerveseg.metrics import dice

    run = two_processes[0]
    model, info = load_model(run / "model.pt")
    config = read_run_config(run / "config.yaml")
    assert config.postprocess.min_area == 0  # no area rule to rescale below
    split = json.loads((run / "split.json").read_text())
    val = set(split["val"])
    samples = [s for s in discover_labelled(Path(split["data"])) if s.name in val]
    data = load_set(samples, tuple(info.image_size))
    images = torch.from_numpy(data.images).float()[:, None] / 255.0
    masks = torch.from_numpy(data.masks.astype("float32"))[:, None]
    with torch.no_grad():
        logits = model((images - info.mean) / info.std)
    loss_fn = BCEDiceLoss(config.loss.bce_weight, config.loss.dice_weight, config.loss.smooth)
    predicted = torch.sigmoid(logits[:, 0]) > info.postprocess.threshold
    truth = masks[:, 0] > 0.5
    per_image = dice(predicted, truth).float()

    logged = read_rows(run)[info.epoch]
    assert logged["val/loss"] == pytest.approx(float(loss_fn(logits, masks)), rel=1e-5)
    assert logged["val/score"] == pytest.approx(float(per_image.mean()), rel=1e-5, abs=1e-6)
    has_nerve = truth.flatten(1).any(1)
    if has_nerve.any():
        expected = float(per_image[has_nerve].mean())
        assert logged["val/dice_nerve"] == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize(("size", "world_size"), [(24, 2), (25, 2), (26, 3), (2, 4)])
def test_epoch_shuffle_shares_cover_one_process_steps(size, world_size):
    """Step k of all processes = step k of one process with world_size times the batch."""
    batch = 2
    one = list(EpochShuffle(size, seed=3))
    shares = []
    for rank in range(world_size):
        sampler = EpochShuffle(size, seed=3, rank=rank, world_size=world_size)
        sampler.set_epoch(0)
        shares.append(list(sampler))
        assert len(shares[-1]) == len(sampler) == -(-size // world_size)
    padded = one + (one * world_size)[: len(shares[0]) * world_size - size]
    for step in range(-(-len(shares[0]) // batch)):
        together = sorted(i for share in shares for i in share[step * batch : (step + 1) * batch])
        big = padded[step * batch * world_size : (step + 1) * batch * world_size]
        assert together == sorted(big)
    assert set().union(*map(set, shares)) == set(range(size))


def test_epoch_shuffle_changes_with_the_epoch_only():
    sampler = EpochShuffle(20, seed=1, rank=1, world_size=2)
    sampler.set_epoch(4)
    again = EpochShuffle(20, seed=1, rank=1, world_size=2)
    again.set_epoch(4)
    assert list(sampler) == list(again)
    again.set_epoch(5)
    assert list(sampler) != list(again)


@pytest.mark.parametrize(("size", "world_size"), [(8, 2), (9, 2), (7, 3), (1, 2)])
def test_validation_shares_are_disjoint_and_unpadded(size, world_size):
    frames = CachedFrames(torch.zeros(size, 1, 4, 4, dtype=torch.uint8), torch.zeros(size, 1, 4, 4))
    seen = []
    for rank in range(world_size):
        datamodule = FramesDataModule(frames, frames, batch_size=2, seed=0)
        datamodule.trainer = SimpleNamespace(global_rank=rank, world_size=world_size)
        seen += list(datamodule.val_dataloader().sampler)
    assert sorted(seen) == list(range(size))
