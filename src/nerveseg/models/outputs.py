"""What a network returns: mask logits, and optionally a nerve-presence logit per image.

Plain models return the mask logits ``(N, 1, H, W)``. A model with a presence head returns the
tuple ``(mask_logits, presence_logits)`` with presence logits ``(N,)``. Everything downstream
(loss, validation, inference, export) goes through :func:`split_output`, so both kinds work
everywhere without asking which one they hold.
"""

from __future__ import annotations

import torch


def split_output(output: torch.Tensor | tuple) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(mask_logits (N, 1, H, W), presence_logits (N,) or None)`` from any model's output."""
    if isinstance(output, (tuple, list)):
        mask_logits, presence_logits = output
        return mask_logits, presence_logits.reshape(-1)
    return output, None
