"""The optimizer: Adam, or AdamW with weight decay kept off BatchNorm and biases.

Why AdamW: Adam's ``weight_decay`` adds the decay to the gradient, which Adam then divides by
the gradient's running size, so weights with small gradients are decayed hard and the others
hardly at all (Loshchilov and Hutter, "Decoupled weight decay regularization"). AdamW shrinks
every weight by the same fraction of the learning rate. Why not BatchNorm and biases: they are
shifts and scales, not filters; decaying them only pulls the normalisation towards zero.
"""

from __future__ import annotations

import torch
from torch import nn

from nerveseg.config import OPTIMIZERS


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Parameter groups: filters (2 or more dimensions) decayed, 1-D parameters not.

    One group when ``weight_decay`` is 0, as the optimizer always had, so a run saved before
    this split still resumes.
    """
    trained = [p for p in model.parameters() if p.requires_grad]
    if weight_decay == 0:
        return [{"params": trained, "weight_decay": 0.0}]
    filters = [p for p in trained if p.ndim > 1]
    shifts = [p for p in trained if p.ndim <= 1]
    return [
        {"params": filters, "weight_decay": weight_decay},
        {"params": shifts, "weight_decay": 0.0},
    ]


def build_optimizer(
    name: str, model: nn.Module, lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """``adam`` (decay added to the gradient, the project's original) or ``adamw``."""
    groups = decay_groups(model, weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
