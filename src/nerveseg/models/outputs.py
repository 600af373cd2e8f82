"""What a network returns: mask logits, and optionally presence logits per image.

Plain models return the mask logits ``(N, S, H, W)``, one channel per structure (``S = 1``, the
nerve, for the Kaggle set). A model with a presence head returns the tuple
``(mask_logits, presence_logits)`` with presence logits ``(N,)`` for one structure and
``(N, S)`` for several. Everything downstream (loss, validation, inference, export) goes through
:func:`split_output`, so both kinds work everywhere without asking which one they hold, and
:func:`presence_columns` gives presence ``(N, S)`` whatever the count.
"""

from __future__ import annotations

import torch


def split_output(output: torch.Tensor | tuple) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(mask_logits (N, S, H, W), presence_logits or None)`` from any model's output.

    Presence logits are ``(N,)`` when ``S == 1`` (as before structures existed) and ``(N, S)``
    otherwise.
    """
    if isinstance(output, (tuple, list)):
        mask_logits, presence_logits = output
        if mask_logits.shape[1] == 1:
            return mask_logits, presence_logits.reshape(-1)
        return mask_logits, presence_logits.reshape(len(mask_logits), mask_logits.shape[1])
    return output, None


def presence_columns(presence: torch.Tensor) -> torch.Tensor:
    """Presence values (logits or probabilities) as ``(N, S)``: ``(N,)`` becomes ``(N, 1)``."""
    return presence.reshape(len(presence), -1)
