"""BCE + soft Dice (+ the Lovasz hinge), each computed per image and per structure.

Why per image: the competition averages Dice over images, and 59% of them have an empty mask.
A batch-level Dice lets the nerve frames drown out the empty ones; many library Dice losses also
charge ~1.0 for a *correct* empty prediction on an empty mask (MONAI's DiceCELoss does, see
NOTES). With the smoothing term below, a confident empty prediction on an empty mask costs ~0,
and one stray blob on an empty frame costs close to 1, exactly as the score treats it.

Several structures (a nerve and a vessel): the masks have one channel per structure, and each
term is computed per image *and* per structure, with the empty rule per structure: a frame
whose vessel channel is empty charges ~0 for a confident empty vessel prediction, whatever its
nerve channel holds. The terms are then averaged over structures, then over images, so every
structure weighs the same whatever its area. With one structure this is exactly the per-image
loss (the same operations on the same ``(N, H*W)`` values).

The Lovasz hinge (Berman et al., CVPR 2018) is the convex surrogate of one image's Jaccard
loss: the hinge errors sorted from worst to best, each weighted by how much it raises the
Jaccard loss when the ones before it are already wrong. On confident predictions it equals the
frame's Jaccard loss times the margin, and Dice is a monotone function of Jaccard on one frame:
it is tight on the score where BCE and soft Dice only lean towards it. Off unless
``lovasz_weight`` is set. On an empty mask it charges only the worst pixel's hinge, so a frame
predicted empty with every logit below -1 costs nothing.

A model with a presence head also returns one logit per image and structure;
:class:`BCEDiceLoss` then adds ``presence_weight`` times its binary cross-entropy against "this
structure's mask is not empty".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from nerveseg.models.outputs import presence_columns, split_output
from nerveseg.settings import setting


@dataclass
class LossConfig:
    """BCE + soft Dice (+ Lovasz hinge), each per image; the presence term only with
    ``model.presence_head``."""

    bce_weight: float = setting(1.0, at_least=0.0)
    dice_weight: float = setting(1.0, at_least=0.0)
    smooth: float = setting(1.0, above=0.0)
    presence_weight: float = setting(0.5, at_least=0.0)
    lovasz_weight: float = setting(0.0, at_least=0.0)


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


def lovasz_hinge(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image Lovasz hinge: the Lovasz extension of the Jaccard loss on hinge errors.

    Args:
        logits: ``(N, 1, H, W)`` raw scores; a margin of 1 counts as right.
        target: ``(N, 1, H, W)`` in {0, 1}.

    Returns:
        ``(N,)`` losses >= 0; 0 when every logit has the right sign and a magnitude >= 1.
    """
    logits = logits.float().flatten(1)
    target = target.float().flatten(1)
    errors = 1.0 - logits * (2.0 * target - 1.0)
    errors, order = errors.sort(dim=1, descending=True)
    truth = target.gather(1, order)
    return (F.relu(errors) * jaccard_increments(truth)).sum(1)


def jaccard_increments(truth_sorted: torch.Tensor) -> torch.Tensor:
    """How much the Jaccard loss grows as each pixel, in the given order, is also counted wrong.

    ``truth_sorted`` is ``(N, P)`` in {0, 1}, worst error first. With the first ``k`` pixels
    wrong, the intersection is the truth outside them and the union the truth plus the
    background among them; the increments of ``1 - intersection / union`` over ``k`` are the
    gradient of the Lovasz extension, and sum to the loss of getting everything wrong.
    """
    total = truth_sorted.sum(1, keepdim=True)
    intersection = total - truth_sorted.cumsum(1)
    union = total + (1.0 - truth_sorted).cumsum(1)
    jaccard_loss = 1.0 - intersection / union
    return torch.cat([jaccard_loss[:, :1], jaccard_loss.diff(dim=1)], dim=1)


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


def per_structure_term(
    term, logits: torch.Tensor, target: torch.Tensor, *args: float
) -> torch.Tensor:
    """A per-image ``term`` (``(N, 1, H, W)`` pairs -> ``(N,)``) for every structure: ``(N, S)``.

    Each (image, structure) pair becomes an image of its own, so the empty rule of
    :func:`soft_dice_loss` holds per structure. For ``S == 1`` the term sees exactly the tensor
    it always saw.
    """
    n, count = logits.shape[:2]
    pairs = logits.reshape(n * count, 1, *logits.shape[2:])
    return term(pairs, target.reshape(pairs.shape), *args).reshape(n, count)


def per_structure_presence_loss(
    presence_logits: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """:func:`presence_loss` of each structure: ``(N, S)`` logits and ``(N, S, H, W)`` masks
    give ``(N, S)`` losses."""
    n, count = target.shape[:2]
    flat = presence_loss(presence_logits.reshape(n * count), target.reshape(n * count, -1))
    return flat.reshape(n, count)


class BCEDiceLoss(nn.Module):
    """``bce_weight * BCE + dice_weight * soft Dice + lovasz_weight * Lovasz hinge``
    (``+ presence_weight * presence BCE``).

    Each term per image and structure, averaged over structures, then over the batch.
    ``forward`` takes the model's raw output (mask logits ``(N, S, H, W)``, or
    ``(mask_logits, presence_logits)`` from a model with a presence head) and the ``(N, S, H, W)``
    {0, 1} target; the presence term counts only when the model has a head.
    """

    def __init__(
        self,
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
        smooth: float = 1.0,
        presence_weight: float = 0.0,
        lovasz_weight: float = 0.0,
    ):
        super().__init__()
        self.bce_weight = bce_weight
        self.dice_weight = dice_weight
        self.smooth = smooth
        self.presence_weight = presence_weight
        self.lovasz_weight = lovasz_weight

    def forward(self, output: torch.Tensor | tuple, target: torch.Tensor) -> torch.Tensor:
        return self.per_structure(output, target).mean(1).mean()

    def per_structure(self, output: torch.Tensor | tuple, target: torch.Tensor) -> torch.Tensor:
        """The loss of every image and structure, ``(N, S)``, before any averaging."""
        logits, presence_logits = split_output(output)
        if logits.shape != target.shape:
            raise ValueError(
                f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape: "
                "the model needs one output channel per structure"
            )
        bce = per_structure_term(bce_per_image, logits, target)
        dice = per_structure_term(soft_dice_loss, logits, target, self.smooth)
        loss = self.bce_weight * bce + self.dice_weight * dice
        if self.lovasz_weight:
            loss = loss + self.lovasz_weight * per_structure_term(lovasz_hinge, logits, target)
        if presence_logits is not None and self.presence_weight:
            present = presence_columns(presence_logits)
            loss = loss + self.presence_weight * per_structure_presence_loss(present, target)
        return loss

    @classmethod
    def from_config(cls, config: LossConfig) -> BCEDiceLoss:
        return cls(
            config.bce_weight,
            config.dice_weight,
            config.smooth,
            presence_weight=config.presence_weight,
            lovasz_weight=config.lovasz_weight,
        )
