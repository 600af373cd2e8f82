"""Every model with one output channel per structure, and a presence logit per structure."""

import pytest
import torch

from nerveseg.models import MODELS, ModelConfig, build_model
from nerveseg.models.outputs import presence_columns, split_output

SLIM = {"width": 0.125}
NAMES = sorted(MODELS)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("head", [False, True], ids=["plain", "presence"])
def test_two_structures_give_two_channels_and_two_presence_logits(name, head):
    model = build_model(name, presence_head=head, out_channels=2, **SLIM).eval()
    with torch.no_grad():
        mask_logits, presence_logits = split_output(model(torch.randn(3, 1, 64, 96)))
    assert mask_logits.shape == (3, 2, 64, 96)
    if head:
        assert presence_logits.shape == (3, 2)
        assert presence_columns(presence_logits).shape == (3, 2)
    else:
        assert presence_logits is None


@pytest.mark.parametrize("name", NAMES)
def test_every_structure_channel_and_presence_logit_gets_a_gradient(name):
    model = build_model(name, presence_head=True, out_channels=3, **SLIM)
    mask_logits, presence_logits = split_output(model(torch.randn(2, 1, 64, 64)))
    names = [n for n, _ in model.named_parameters()]
    for k in range(3):
        masks = torch.autograd.grad(
            mask_logits[:, k].square().mean(), list(model.parameters()), retain_graph=True,
            allow_unused=True,
        )  # fmt: skip
        used = [g for g in masks if g is not None]
        assert used and all(torch.isfinite(g).all() for g in used), k
        assert sum(g.abs().sum() for g in used) > 0, k
        presence = torch.autograd.grad(
            presence_logits[:, k].sum(), list(model.parameters()), retain_graph=True,
            allow_unused=True,
        )  # fmt: skip
        out = dict(zip(names, presence, strict=True))["presence.mlp.2.weight"]
        assert out[k].abs().sum() > 0, k  # each structure's own row of the output layer
        assert out[[j for j in range(3) if j != k]].abs().sum() == 0, k


def test_one_structure_keeps_the_old_presence_shape_and_weights():
    model = build_model("segnet_basic", presence_head=True, **SLIM)
    assert model.presence.mlp[-1].weight.shape[0] == 1  # old model files load unchanged
    _, presence_logits = split_output(model(torch.randn(2, 1, 32, 32)))
    assert presence_logits.shape == (2,)
    assert presence_columns(presence_logits).shape == (2, 1)


def test_presence_head_starts_every_structure_at_the_prior():
    model = build_model("segnet_basic", presence_head=True, out_channels=2, **SLIM).eval()
    with torch.no_grad():
        _, presence_logits = model(torch.zeros(1, 1, 32, 32))
    assert torch.sigmoid(presence_logits).flatten().tolist() == pytest.approx([0.41] * 2, abs=0.15)


def test_build_kwargs_name_the_channels_only_for_several_structures():
    config = ModelConfig(name="segnet", width=0.25)
    assert config.build_kwargs() == {"width": 0.25, "presence_head": False}
    assert config.build_kwargs(out_channels=1) == config.build_kwargs()
    assert config.build_kwargs(out_channels=2)["out_channels"] == 2
