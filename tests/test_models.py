"""Shape contract, gradients, size errors, determinism and pinned sizes of every registered model."""

import pytest
import torch
from torch.nn import functional as F

from nerveseg.errors import ConfigError
from nerveseg.models import MODELS, build_model
from nerveseg.models.blocks import max_unpool
from nerveseg.models.segnet import SegNet

SLIM = {"width": 0.125}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_output_shape_matches_input(name):
    model = build_model(name, **SLIM).eval()
    x = torch.randn(2, 1, 64, 96)
    assert model(x).shape == (2, 1, 64, 96)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradients_are_finite_and_reach_every_parameter(name):
    model = build_model(name, **SLIM)
    loss = model(torch.randn(2, 1, 64, 64)).square().mean()
    loss.backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, pname
        assert torch.isfinite(param.grad).all(), pname


@pytest.mark.parametrize("name", sorted(MODELS))
def test_indivisible_size_names_the_padded_size(name):
    model = build_model(name, **SLIM)
    with pytest.raises(ValueError, match="96x128"):
        model(torch.randn(1, 1, 90, 120))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_eval_mode_is_deterministic(name):
    model = build_model(name, **SLIM).eval()
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_full_segnet_parameter_count_is_the_published_one():
    # VGG16-BN encoder (13 convs) + mirrored decoder, 1 input channel, 1 logit: 29.44 M.
    assert sum(p.numel() for p in SegNet().parameters()) == 29_442_433


def test_segnet_has_13_encoder_convolutions_in_5_stages():
    model = SegNet()
    assert len(model.encoders) == 5
    convs = [m for m in model.encoders.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 13


def test_width_multiplier_shrinks_the_model():
    assert sum(p.numel() for p in SegNet(width=0.25).parameters()) == 1_844_833


def test_scatter_unpool_equals_max_unpool2d():
    x = torch.randn(2, 3, 8, 12)
    pooled, indices = F.max_pool2d(x, 2, 2, return_indices=True)
    expected = F.max_unpool2d(pooled, indices, 2, 2, output_size=x.shape[-2:])
    assert torch.equal(max_unpool(pooled, indices, x.shape), expected)


def test_unknown_model_lists_valid_names():
    with pytest.raises(ConfigError, match="segnet"):
        build_model("segnett")


def test_bad_model_argument_is_a_config_error():
    with pytest.raises(ConfigError, match="segnet"):
        build_model("segnet", depth=3)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_untrained_model_predicts_the_foreground_prior(name):
    model = build_model(name, **SLIM).eval()
    with torch.no_grad():
        probability = torch.sigmoid(model(torch.zeros(1, 1, 64, 64))).mean().item()
    assert probability < 0.2  # starts near "no nerve", not at 0.5
