"""Training options for speed: channels-last layout and the frame set on the model's device."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nerveseg.cli import main
from nerveseg.training.datamodule import CachedFrames


def test_cached_frames_batch_on_their_device() -> None:
    frames = CachedFrames(
        torch.arange(12, dtype=torch.uint8).view(3, 1, 2, 2), torch.zeros(3, 1, 2, 2)
    )
    moved = frames.to(torch.device("cpu"))
    images, masks = moved.__getitems__([2, 0])
    assert images[:, 0, 0, 0].tolist() == [8, 0]
    assert masks.shape == (2, 1, 2, 2)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cached_frames_gather_on_gpu() -> None:
    frames = CachedFrames(torch.zeros(4, 1, 2, 2, dtype=torch.uint8), torch.zeros(4, 1, 2, 2))
    images, _ = frames.to(torch.device("cuda")).__getitems__([1, 3])
    assert images.device.type == "cuda"


def test_channels_last_run_trains(tiny_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "cl"
    args = ["train", "--data", str(tiny_data), "--run", str(run), "--preset", "smoke"]
    assert main([*args, "--set", "train.epochs=1", "--set", "train.channels_last=true"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_trained"] == 1
    assert 0.0 <= summary["best_val_score"] <= 1.0
