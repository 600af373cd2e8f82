"""train() as a Python API: exact resume, reuse or resume by run state, every fold."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import lightning as L
import pytest
import torch

from nerveseg.config import load_config
from nerveseg.errors import NervesegError
from nerveseg.training import RunResult, continue_run, train, train_folds


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


class StopAfterFirstEpoch(L.Callback):
    """Ctrl-C at the start of epoch 1: Lightning stops gracefully after epoch 0."""

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise KeyboardInterrupt


RECIPES = {
    # patience 0: every epoch without a lower validation loss halves the rate, so a lost
    # plateau step shows in the scheduler's state and in the weights
    "plain": [
        "train.ema_epochs=0", "optim.scheduler=plateau", "train.grad_clip_norm=0",
        "optim.plateau_patience=0",
    ],
    "ema+warmup_cosine+clip": [
        "train.ema_epochs=1", "optim.scheduler=warmup_cosine", "train.grad_clip_norm=1"
    ],
    # two parameter groups (filters decayed, BatchNorm and biases not) resume as one did
    "ema+adamw": ["optim.optimizer=adamw", "optim.weight_decay=0.05"],
}  # fmt: skip


@pytest.mark.parametrize("recipe", RECIPES, ids=list(RECIPES))
def test_resume_repeats_the_uninterrupted_run_exactly(tiny_data, tmp_path, recipe):
    """Stop after epoch 1 of 3, resume, and land on the same weights as a straight run (the
    averaged weights, the raw ones and the learning-rate schedule's position alike)."""
    config = load_config("smoke", ["train.epochs=3", f"data.root={tiny_data}", *RECIPES[recipe]])
    straight = tmp_path / "straight"
    train(config, straight)

    interrupted = tmp_path / "interrupted"
    result = train(config, interrupted, callbacks=[StopAfterFirstEpoch()])
    assert result.interrupted and not (interrupted / "summary.json").exists()
    # continue_run sees a resumable run and resumes it, with the run's own saved config.
    resumed = continue_run(load_config("smoke", [f"data.root={tiny_data}"]), interrupted)
    assert resumed.epochs_trained == 3

    a = torch.load(straight / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(interrupted / "checkpoints" / "last.ckpt", weights_only=True)
    averaged = recipe.startswith("ema")
    for part in ("state_dict", "current_model_state", "averaging_state"):
        assert (part in a) == (part in b) == (averaged or part == "state_dict"), part
        for key in a.get(part, {}):
            torch.testing.assert_close(a[part][key], b[part][key], msg=f"{part}.{key}")
    # the schedule resumes at the same step; the plain recipe's plateau scheduler too, whose
    # last step before the checkpoint Lightning leaves out (ReplayPlateauStep makes it)
    assert a["lr_schedulers"] == b["lr_schedulers"]
    rows = read_csv(interrupted / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]


def test_continue_run_reuses_a_finished_run_without_training(trained_run, tiny_data):
    before = (trained_run / "model.pt").stat().st_mtime_ns
    result = continue_run(load_config("smoke", [f"data.root={tiny_data}"]), trained_run)
    assert result == RunResult.read(trained_run)
    assert (
        result.best_val_score
        == json.loads((trained_run / "summary.json").read_text())["best_val_score"]
    )
    assert (trained_run / "model.pt").stat().st_mtime_ns == before


def test_a_failed_start_is_retried_without_overwrite(tiny_data, tmp_path):
    """A run that stopped before its first checkpoint (a config and nothing to resume) holds
    nothing of value: the same command trains it again, no --overwrite needed."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("train: {epochs: 1}\n")
    config = load_config("smoke", [f"data.root={tiny_data}", "train.epochs=1"])
    assert continue_run(config, run).epochs_trained == 1


def test_train_folds_needs_folds(tiny_data, tmp_path):
    with pytest.raises(NervesegError, match="at least 2"):
        train_folds(load_config("smoke", [f"data.root={tiny_data}"]), tmp_path / "cv")


def test_a_config_built_in_python_is_checked_before_anything_is_written(tiny_data, tmp_path):
    from dataclasses import replace

    config = load_config("smoke", [f"data.root={tiny_data}"])
    config = replace(config, optim=replace(config.optim, scheduler="cosin"))
    with pytest.raises(NervesegError, match=re.escape("optim.scheduler must be one of plateau")):
        train(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_validation_uses_the_post_processing_scaled_to_the_training_size(tiny_data):
    from nerveseg.training.frames import TrainingFrames
    from nerveseg.training.train import build_module

    config = load_config("smoke", [f"data.root={tiny_data}", "postprocess.min_area=1000"])
    frames = TrainingFrames(None, 0.4, 0.2, (128, 160), 0, torch.zeros(0, dtype=torch.bool))
    module = build_module(config, frames)
    # smoke trains at 64x96 on 128x160 frames: an area 0.3 times as large.
    assert module.postprocess.min_area == round(1000 * 64 * 96 / (128 * 160))
    assert module.postprocess.presence_threshold == 0.0  # no presence head: no gate


class StopAtTheFirstBatch(L.Callback):
    """Ctrl-C before any epoch ended: no checkpoint exists yet."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        raise KeyboardInterrupt


def test_a_run_stopped_before_its_first_epoch_ended_says_so_in_one_line(tiny_data, tmp_path):
    config = load_config("smoke", [f"data.root={tiny_data}", "train.epochs=3"])
    with pytest.raises(NervesegError, match="stopped before its first epoch ended"):
        train(config, tmp_path / "run", callbacks=[StopAtTheFirstBatch()])
    with_budget = load_config("smoke", [f"data.root={tiny_data}", "train.max_minutes=0.5"])
    with pytest.raises(NervesegError, match="stopped before its first epoch ended"):
        train(with_budget, tmp_path / "budget", callbacks=[StopAtTheFirstBatch()])
