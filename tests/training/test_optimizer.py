import pytest
import torch
from torch import nn

from nerveseg.training.optimizer import build_optimizer, decay_groups


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 1, 1))


def test_no_decay_keeps_one_group_of_every_parameter_so_old_runs_resume():
    net = _net()
    groups = decay_groups(net, 0.0)
    assert len(groups) == 1
    assert len(groups[0]["params"]) == len(list(net.parameters()))


def test_decay_reaches_filters_only_never_batchnorm_or_biases():
    net = _net()
    filters, shifts = decay_groups(net, 0.1)
    assert filters["weight_decay"] == 0.1 and shifts["weight_decay"] == 0.0
    assert {id(p) for p in filters["params"]} == {id(net[0].weight), id(net[2].weight)}
    assert {id(p) for p in shifts["params"]} == {
        id(net[0].bias), id(net[1].weight), id(net[1].bias), id(net[2].bias)
    }  # fmt: skip


def test_frozen_parameters_are_left_out():
    net = _net()
    net[0].weight.requires_grad_(False)
    params = [p for group in decay_groups(net, 0.1) for p in group["params"]]
    assert all(p is not net[0].weight for p in params)


def test_adamw_shrinks_filters_by_lr_times_decay_and_leaves_batchnorm():
    # With a zero gradient Adam's step is 0, so one AdamW step only decays: w <- w (1 - lr wd).
    net = _net()
    with torch.no_grad():
        net[1].weight.fill_(2.0)
    before = net[0].weight.detach().clone()
    optimizer = build_optimizer("adamw", net, lr=0.1, weight_decay=0.5)
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    torch.testing.assert_close(net[0].weight.detach(), before * (1 - 0.1 * 0.5))
    torch.testing.assert_close(net[1].weight.detach(), torch.full((4,), 2.0))


def test_adam_adds_the_decay_to_the_gradient():
    # Adam's first step moves every decayed weight by ~lr against the sign of (grad + wd w).
    net = _net()
    before = net[0].weight.detach().clone()
    optimizer = build_optimizer("adam", net, lr=0.01, weight_decay=1.0)
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    moved = before - net[0].weight.detach()
    torch.testing.assert_close(moved, 0.01 * torch.sign(before), atol=1e-6, rtol=1e-4)


def test_unknown_optimizer_is_named():
    with pytest.raises(ValueError, match=r"'sgd'.*adam, adamw"):
        build_optimizer("sgd", _net(), lr=0.1, weight_decay=0.0)
