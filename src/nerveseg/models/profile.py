"""Model size and cost: parameters and FLOPs per image, for comparisons and benchmarks.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode``, which counts convolutions,
transposed convolutions and matrix products, a multiply-add as 2 FLOPs. Batch norm, activations,
pooling, unpooling and interpolation are not counted (a few percent of a conv net's work).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    """Number of trainable and frozen parameters."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, size: tuple[int, int], in_channels: int = 1) -> int:
    """FLOPs of one forward pass on one ``(1, in_channels, *size)`` image (multiply-add = 2).

    Runs the model once in eval mode without gradients, on the model's device; the model's
    training mode is restored afterwards.
    """
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    x = torch.zeros(1, in_channels, *size, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
