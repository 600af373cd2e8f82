"""BCE + per-image soft Dice: hand-computed cases, and the empty-mask rule."""

import pytest
import torch

from nerveseg.losses import BCEDiceLoss, bce_per_image, soft_dice_loss

BIG = 30.0  # sigmoid(30) = 1 - 9e-14: a confident logit


def masks(*rows):
    return torch.tensor(rows, dtype=torch.float32).view(len(rows), 1, 1, -1)


def test_confident_empty_prediction_on_empty_mask_costs_nothing():
    logits = torch.full((3, 1, 16, 16), -BIG)
    target = torch.zeros(3, 1, 16, 16)
    assert BCEDiceLoss()(logits, target).item() == pytest.approx(0.0, abs=1e-6)


def test_stray_blob_on_empty_mask_costs_nearly_one_dice():
    logits = torch.full((1, 1, 16, 16), -BIG)
    logits[..., :4, :4] = BIG  # 16 false pixels
    loss = soft_dice_loss(logits, torch.zeros_like(logits)).item()
    assert loss == pytest.approx(1 - 1 / 17, abs=1e-6)


def test_perfect_prediction_costs_nothing():
    target = masks([1, 1, 0, 0])
    logits = (target * 2 - 1) * BIG
    assert BCEDiceLoss()(logits, target).item() == pytest.approx(0.0, abs=1e-6)


def test_soft_dice_hand_case():
    # probs 0.5 everywhere on 4 pixels, truth two ones: 1 - (2*1 + 1) / (2 + 2 + 1) = 0.4
    logits = torch.zeros(1, 1, 1, 4)
    assert soft_dice_loss(logits, masks([1, 1, 0, 0])).item() == pytest.approx(0.4)


def test_bce_hand_case():
    # logit 0 -> p = 0.5 -> -log(0.5) per pixel whatever the truth
    assert bce_per_image(torch.zeros(1, 1, 1, 4), masks([1, 0, 1, 0])).item() == pytest.approx(
        0.6931, abs=1e-4
    )


def test_dice_is_per_image_not_per_batch():
    # An image with a tiny missed nerve must cost as much beside a large correct one as alone.
    target = torch.zeros(2, 1, 8, 8)
    target[0, 0, :6, :6] = 1
    target[1, 0, 0, 0] = 1
    logits = (target * 2 - 1) * BIG
    logits[1] = -BIG
    per_image = soft_dice_loss(logits, target)
    assert per_image[1].item() == pytest.approx(1 - 1 / 2, abs=1e-6)
    assert per_image[0].item() == pytest.approx(0.0, abs=1e-6)


def test_weights_combine_linearly():
    logits, target = torch.randn(2, 1, 8, 8), (torch.rand(2, 1, 8, 8) > 0.5).float()
    both = BCEDiceLoss(1.0, 1.0)(logits, target)
    parts = BCEDiceLoss(1.0, 0.0)(logits, target) + BCEDiceLoss(0.0, 1.0)(logits, target)
    assert both.item() == pytest.approx(parts.item(), rel=1e-6)
