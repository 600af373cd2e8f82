"""kornia augmentation: masks stay binary and move with the image; off means identity."""

import torch

from nerveseg.config import AugmentConfig
from nerveseg.data.augment import augment_batch, build_augmentation


def test_disabled_is_identity():
    images, masks = torch.rand(2, 1, 32, 32), (torch.rand(2, 1, 32, 32) > 0.5).float()
    pipeline = build_augmentation(AugmentConfig(enabled=False))
    assert pipeline is None
    out = augment_batch(pipeline, images, masks)
    assert out[0] is images and out[1] is masks


def test_masks_stay_binary_and_images_in_range():
    torch.manual_seed(0)
    config = AugmentConfig(rotation_p=1.0, clahe_p=1.0, intensity_p=1.0, gamma_p=1.0)
    images = torch.rand(4, 1, 48, 64)
    masks = torch.zeros(4, 1, 48, 64)
    masks[:, :, 10:30, 20:40] = 1
    out_images, out_masks = augment_batch(build_augmentation(config), images, masks)
    assert out_images.shape == images.shape and out_masks.shape == masks.shape
    assert set(out_masks.unique().tolist()) <= {0.0, 1.0}
    assert out_images.min() >= 0.0 and out_images.max() <= 1.0


def test_flip_moves_mask_with_image():
    config = AugmentConfig(rotation_p=0.0, hflip_p=1.0, clahe_p=0.0, intensity_p=0.0, gamma_p=0.0)
    images = torch.zeros(1, 1, 8, 8)
    images[..., :, :2] = 1.0
    masks = images.clone()
    out_images, out_masks = augment_batch(build_augmentation(config), images, masks)
    assert torch.equal(out_images, images.flip(-1))
    assert torch.equal(out_masks, masks.flip(-1))


def test_translation_shifts_image_and_mask_together_within_its_range():
    """Translation alone (no turn, no scale) moves the square by at most ``translate`` of each side
    and moves the mask by the same amount as the image."""
    torch.manual_seed(0)
    config = AugmentConfig(
        rotation_degrees=0.0, scale=0.0, translate=0.2, rotation_p=1.0,
        hflip_p=0.0, clahe_p=0.0, intensity_p=0.0, gamma_p=0.0,
    )  # fmt: skip
    images = torch.zeros(16, 1, 40, 50)
    images[:, :, 15:25, 20:30] = 1.0
    masks = images.clone()
    out_images, out_masks = augment_batch(build_augmentation(config), images, masks)

    def centre(batch: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(40.0).view(1, 40, 1)
        cols = torch.arange(50.0).view(1, 1, 50)
        weight = batch[:, 0].clamp(min=0)
        total = weight.sum(dim=(1, 2))
        return torch.stack(
            [(weight * rows).sum(dim=(1, 2)) / total, (weight * cols).sum(dim=(1, 2)) / total], 1
        )

    moved = centre(out_masks) - centre(masks)
    assert moved.abs().max() > 1.0  # it does move
    assert (moved[:, 0].abs() <= 0.2 * 40 + 1).all() and (moved[:, 1].abs() <= 0.2 * 50 + 1).all()
    assert (centre(out_images) - centre(out_masks)).abs().max() < 1.0


def test_translation_off_by_default_keeps_the_old_pipeline():
    from kornia.augmentation import RandomAffine

    pipeline = build_augmentation(AugmentConfig())
    (affine,) = [step for step in pipeline.modules() if isinstance(step, RandomAffine)]
    assert "translate=None" in repr(affine)
