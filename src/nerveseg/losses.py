"""BCE + soft Dice, both computed per image.

Why per image: the competition averages Dice over images, and 59% of them have an empty mask.
A batch-level Dice lets the nerve frames drown out the empty ones; many library Dice losses also
charge ~1.0 for a *correct* empty prediction on an empty mask (MONAI's DiceCELoss does, see
NOTES). With the smoothing term below, a confident empty prediction on an empty mask costs ~0,
and one stray blob on an empty frame costs close to 1, exactly as the score treats it.

A model with a presence head also returns one logit per image; :class:`BCEDiceLoss` then adds
``presence_weight`` times its binary cross-entropy against "the mask is not empty".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from nerveseg.models.outputs import split_output
from nerveseg.settings import setting


@dataclass
class LossConfig:
    """BCE + soft Dice, both per image; the presence term only with ``model.presence_head``."""

    bce_weight: float = setting(1.0, at_least=0.0)
    dice_weight: float = setting(1.0, at_least=0.0)
    smooth: float = setting(1.0, above=0.0)
    presence_weight: float = setting(0.5, at_least=0.0)


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Per-image soft Dice loss.

    Args:
        logits: ``(N, 1, H, W)`` raw scores.
        target: ``(N, 1, H, W)`` in {0, 1} (any float dtype).
        smooth: added to numerator and denominator; makes empty/empty cost ~0.

    Returns:
        ``(N,)`` losses in [0, 1].
    """
    probs = torch.sigmoid(logits.float()).flatten(1)
    target = target.float().flatten(1)
    intersection = (probs * target).sum(1)
    total = probs.sum(1) + target.sum(1)
    return 1.0 - (2.0 * intersection + smooth) / (total + smooth)


def bce_per_image(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over each image's pixels: ``(N,)``."""
    loss = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
    return loss.flatten(1).mean(1)


def presence_loss(presence_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of a per-image presence logit against "the mask is not empty".

    Args:
        presence_logits: ``(N,)`` raw scores.
        target: ``(N, 1, H, W)`` masks in {0, 1}.

    Returns:
        ``(N,)`` losses >= 0.
    """
    present = (target.flatten(1) > 0.5).any(1).float()
    return F.binary_cross_entropy_with_logits(
        presence_logits.float().reshape(-1), present, reduction="none"
    )


class BCEDiceLoss(nn.Module):
    """``bce_weight * BCE + dice_weight * soft Dice (+ presence_weight * presence BCE)``.

    Each term per image, averaged over the batch. ``forward`` takes the model's raw output
    (mask logits, or ``(mask_logits, presence_logits)`` from a model with a presence head); the
    presence term counts only when the model has a head.
    """

    def __init__(
        self,
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
        smooth: float = 1.0,
        presence_weight: float = 0.0,
    ):
        super().__init__()
        self.bce_weight = bce_weight
        self.dice_weight = dice_weight
        self.smooth = smooth
        self.presence_weight = presence_weight

    def forward(self, output: torch.Tensor | tuple, target: torch.Tensor) -> torch.Tensor:
        logits, presence_logits = split_output(output)
        bce = bce_per_image(logits, target)
        dice = soft_dice_loss(logits, target, self.smooth)
        loss = self.bce_weight * bce + self.dice_weight * dice
        if presence_logits is not None and self.presence_weight:
            loss = loss + self.presence_weight * presence_loss(presence_logits, target)
        return loss.mean()

    @classmethod
    def from_config(cls, config: LossConfig) -> BCEDiceLoss:
        return cls(
            config.bce_weight,
            config.dice_weight,
            config.smooth,
            presence_weight=config.presence_weight,
        )
