"""The weight average: its decay, its warm-up, and that model.pt carries the averaged weights."""

from __future__ import annotations

import pytest
import torch

from nerveseg.checkpoint import load_model
from nerveseg.config import load_config
from nerveseg.training import train
from nerveseg.training.averaging import EmaWeights, ema_decay, warmed_decay


def test_decay_has_the_asked_time_constant():
    assert ema_decay(100, 1.0) == pytest.approx(0.99)
    assert ema_decay(30, 2.0) == pytest.approx(1 - 1 / 60)
    assert ema_decay(1, 0.1) == 0.0  # at least one step


def test_the_first_updates_follow_the_weights_closely():
    assert warmed_decay(0.999, 0) == pytest.approx(0.1)
    assert warmed_decay(0.999, 10) == pytest.approx(11 / 20)
    assert warmed_decay(0.9, 1000) == 0.9


def test_average_moves_towards_the_current_weights_by_one_minus_decay():
    ema = EmaWeights(epochs=1.0)
    ema.decay = 0.9
    averaged, current = torch.zeros(3), torch.ones(3)
    torch.testing.assert_close(ema._average(averaged, current, 1000), torch.full((3,), 0.1))
    with pytest.raises(ValueError):
        EmaWeights(epochs=0)


def test_model_file_holds_the_averaged_weights(tiny_data, tmp_path):
    config = load_config(
        "smoke", [f"data.root={tiny_data}", "train.epochs=2", "train.ema_epochs=0.5"]
    )
    run = tmp_path / "run"
    train(config, run)
    best = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    model, _ = load_model(run / "model.pt")
    averaged = {k.removeprefix("model."): v for k, v in best["state_dict"].items()}
    raw = {k.removeprefix("model."): v for k, v in best["current_model_state"].items()}
    weights = model.state_dict()
    name = next(k for k in weights if k.endswith("weight") and weights[k].dim() == 4)
    torch.testing.assert_close(weights[name], averaged[name])
    assert not torch.equal(averaged[name], raw[name])
