"""BCE + per-image soft Dice (+ Lovasz hinge): hand-computed cases, the empty-mask rule, and all
per structure."""

import math

import pytest
import torch

from nerveseg.losses import (
    BCEDiceLoss,
    bce_per_image,
    lovasz_hinge,
    presence_loss,
    soft_dice_loss,
)

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


# The Lovasz hinge: the Jaccard loss's convex extension, per image.


def test_lovasz_hand_case():
    # truth [1, 1, 0, 0], logits [2, 0, -0.5, 1]: hinge errors [-1, 1, 0.5, 2]; worst first the
    # truth reads [0, 1, 0, 1], the Jaccard losses [1/3, 2/3, 3/4, 1], their increments
    # [1/3, 1/3, 1/12, 1/4]: 2/3 + 1/3 + 0.5/12 + 0 = 1 + 1/24
    logits = torch.tensor([2.0, 0.0, -0.5, 1.0]).view(1, 1, 1, 4)
    assert lovasz_hinge(logits, masks([1, 1, 0, 0])).item() == pytest.approx(1 + 1 / 24)


def test_lovasz_of_undecided_logits_is_the_loss_of_everything_wrong():
    # every hinge error is 1: the increments sum to the Jaccard loss with all pixels wrong, 1
    assert lovasz_hinge(torch.zeros(1, 1, 1, 4), masks([1, 1, 0, 0])).item() == pytest.approx(1)


def test_lovasz_of_hard_predictions_is_the_jaccard_loss_times_the_margin():
    torch.manual_seed(0)
    target = (torch.rand(3, 1, 8, 8) > 0.6).float()
    predicted = (torch.rand(3, 1, 8, 8) > 0.5).float()
    logits = (predicted * 2 - 1) * 4.0  # right pixels cost 0, wrong ones a hinge error of 5
    intersection = (predicted * target).flatten(1).sum(1)
    union = ((predicted + target) > 0).float().flatten(1).sum(1)
    expected = 5.0 * (1 - intersection / union)
    assert torch.allclose(lovasz_hinge(logits, target), expected, atol=1e-5)


def test_lovasz_on_an_empty_mask_charges_only_the_worst_pixel():
    logits = torch.full((1, 1, 4, 4), -3.0)
    logits[0, 0, 1, 2] = 0.5
    logits[0, 0, 3, 3] = -0.2
    assert lovasz_hinge(logits, torch.zeros_like(logits)).item() == pytest.approx(1.5)
    assert lovasz_hinge(torch.full((1, 1, 4, 4), -1.5), torch.zeros(1, 1, 4, 4)).item() == 0


def test_lovasz_weight_adds_its_term_per_image_and_structure():
    torch.manual_seed(1)
    logits, target = torch.randn(2, 2, 8, 8), (torch.rand(2, 2, 8, 8) > 0.5).float()
    with_lovasz = BCEDiceLoss(1.0, 1.0, lovasz_weight=0.5)(logits, target)
    lovasz = lovasz_hinge(logits.reshape(4, 1, 8, 8), target.reshape(4, 1, 8, 8)).mean()
    expected = BCEDiceLoss(1.0, 1.0)(logits, target) + 0.5 * lovasz
    assert with_lovasz.item() == pytest.approx(expected.item(), rel=1e-6)


def test_lovasz_gradient_lowers_the_loss():
    torch.manual_seed(2)
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:6, 2:6] = 1
    logits = torch.randn(1, 1, 8, 8, requires_grad=True)
    before = lovasz_hinge(logits, target)
    before.backward()
    after = lovasz_hinge(logits.detach() - 0.1 * logits.grad, target)
    assert after.item() < before.item()


# Several structures: one channel per structure, the empty rule per structure.


def test_an_empty_structure_beside_a_present_one_costs_nothing_when_predicted_empty():
    # Channel 0 (nerve): two of four pixels, predicted at p = 0.5. Channel 1 (vessel): empty,
    # predicted confidently empty.
    target = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.float32).view(1, 2, 1, 4)
    logits = torch.stack([torch.zeros(1, 4), torch.full((1, 4), -BIG)]).view(1, 2, 1, 4)
    per_structure = BCEDiceLoss().per_structure(logits, target)
    # nerve: BCE log 2 + soft Dice 1 - (2*1 + 1) / (2 + 2 + 1) = 0.4; vessel: ~0 + ~0.
    assert per_structure[0, 0].item() == pytest.approx(math.log(2) + 0.4, abs=1e-6)
    assert per_structure[0, 1].item() == pytest.approx(0.0, abs=1e-6)
    # The loss is the mean over structures, then images.
    assert BCEDiceLoss()(logits, target).item() == pytest.approx((math.log(2) + 0.4) / 2, abs=1e-6)


def test_a_stray_blob_in_one_structure_costs_that_structure_not_the_other():
    target = torch.zeros(1, 2, 4, 4)
    target[0, 0, :2, :2] = 1  # a nerve, found exactly
    logits = (target * 2 - 1) * BIG
    logits[0, 1, 3, 3] = BIG  # one false vessel pixel on a frame without a vessel
    dice = BCEDiceLoss(bce_weight=0.0).per_structure(logits, target)
    assert dice[0, 0].item() == pytest.approx(0.0, abs=1e-6)
    assert dice[0, 1].item() == pytest.approx(1 - 1 / 2, abs=1e-6)  # 1 - (0 + 1) / (1 + 1)


def test_each_structure_is_scored_as_if_it_were_alone():
    logits, target = torch.randn(3, 2, 8, 8), (torch.rand(3, 2, 8, 8) > 0.6).float()
    loss = BCEDiceLoss()
    both = loss(logits, target)
    alone = [loss(logits[:, k : k + 1], target[:, k : k + 1]) for k in range(2)]
    assert both.item() == pytest.approx(sum(alone).item() / 2, rel=1e-6)


def test_one_structure_is_exactly_the_old_per_image_loss():
    # The formula before structures existed, spelled out: per-image terms, then the batch mean.
    torch.manual_seed(0)
    logits, target = torch.randn(4, 1, 16, 20), (torch.rand(4, 1, 16, 20) > 0.7).float()
    target[1] = 0  # an empty frame
    presence = torch.randn(4)
    old = (
        0.7 * bce_per_image(logits, target)
        + 1.3 * soft_dice_loss(logits, target, 2.0)
        + 0.5 * presence_loss(presence, target)
    ).mean()
    new = BCEDiceLoss(0.7, 1.3, 2.0, presence_weight=0.5)((logits, presence), target)
    assert torch.equal(new, old)


def test_presence_loss_per_structure():
    target = torch.zeros(2, 2, 4, 4)
    target[0, 0, 0, 0] = 1  # frame 0 shows a nerve only; frame 1 nothing
    presence = torch.tensor([[BIG, -BIG], [-BIG, -BIG]])  # all right
    logits = torch.full_like(target, -BIG)
    logits[0, 0, 0, 0] = BIG
    assert BCEDiceLoss(presence_weight=1.0)((logits, presence), target).item() == pytest.approx(
        0.0, abs=1e-6
    )
    wrong = torch.tensor([[BIG, BIG], [-BIG, -BIG]])  # a vessel "seen" on frame 0
    per_structure = BCEDiceLoss(presence_weight=1.0).per_structure((logits, wrong), target)
    assert per_structure[0, 1].item() == pytest.approx(BIG, rel=1e-3)  # BCE of a confident miss
    assert per_structure[0, 0].item() == pytest.approx(0.0, abs=1e-6)


def test_gradients_reach_every_structure_and_presence_output():
    logits = torch.zeros(2, 3, 8, 8, requires_grad=True)
    presence = torch.zeros(2, 3, requires_grad=True)
    target = torch.zeros(2, 3, 8, 8)
    target[0, 0, :4, :4] = 1
    target[1, 2, 4:, 4:] = 1  # channel 1 is empty everywhere: its loss still pulls it down
    BCEDiceLoss(presence_weight=0.5)((logits, presence), target).backward()
    for k in range(3):
        assert logits.grad[:, k].abs().sum() > 0, k
        assert presence.grad[:, k].abs().sum() > 0, k


def test_a_model_with_too_few_channels_is_refused():
    with pytest.raises(ValueError, match="one output channel per structure"):
        BCEDiceLoss()(torch.zeros(1, 1, 4, 4), torch.zeros(1, 2, 4, 4))
