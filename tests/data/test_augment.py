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


def _elastic_only(**strength) -> AugmentConfig:
    return AugmentConfig(
        rotation_p=0.0, hflip_p=0.0, clahe_p=0.0, intensity_p=0.0, gamma_p=0.0, elastic_p=1.0,
        **strength,
    )  # fmt: skip


def _grid_displacement(config: AugmentConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Deform images whose pixels hold their own column, with a column-coded mask: the mean and
    largest displacement (pixels, away from the border) and whether the mask moved as the image."""
    torch.manual_seed(0)
    columns = torch.arange(160.0).expand(8, 1, 128, 160).contiguous()
    masks = (columns.long() % 20 < 10).float()
    out_images, out_masks = augment_batch(build_augmentation(config), columns / 160, masks)
    moved = (out_images * 160 - columns)[..., 24:-24, 24:-24]
    # a mask pixel follows the image when its stripe is the stripe of the column it now shows
    follows = (out_masks == ((out_images * 160).round().long() % 20 < 10).float())[
        ..., 24:-24, 24:-24
    ]
    return moved.abs().mean(), moved.abs().max(), follows.float().mean()


def test_elastic_deformation_is_off_by_default():
    from kornia.augmentation import RandomElasticTransform

    pipeline = build_augmentation(AugmentConfig())
    assert not [s for s in pipeline.modules() if isinstance(s, RandomElasticTransform)]


def test_elastic_deformation_moves_mask_with_image_by_its_documented_size():
    # The docstring's figures at 128x160: sigma 16, alpha 4 move ~3 px on average.
    mean, largest, follows = _grid_displacement(_elastic_only())
    assert 1.5 < mean < 4.0 and largest < 16
    assert follows > 0.97  # stripe edges may round to either side


def test_elastic_strength_scales_with_alpha():
    weak = _grid_displacement(_elastic_only(elastic_alpha=1.0))[0]
    strong = _grid_displacement(_elastic_only(elastic_alpha=4.0))[0]
    assert 3.0 < strong / weak < 5.0  # the displacement field is alpha times the smoothed noise


def _intensity_only(**steps) -> AugmentConfig:
    return AugmentConfig(
        rotation_p=0.0, hflip_p=0.0, clahe_p=0.0, intensity_p=0.0, gamma_p=0.0, **steps
    )  # fmt: skip


def test_noise_and_blur_are_off_by_default():
    from kornia.augmentation import RandomGaussianBlur, RandomGaussianNoise

    steps = list(build_augmentation(AugmentConfig()).modules())
    assert not [s for s in steps if isinstance(s, RandomGaussianBlur | RandomGaussianNoise)]


def test_noise_has_its_standard_deviation_and_leaves_the_mask():
    torch.manual_seed(0)
    images = torch.full((4, 1, 64, 80), 0.5)
    masks = (torch.rand(4, 1, 64, 80) > 0.5).float()
    config = _intensity_only(noise_p=1.0, noise_std=0.05)
    out_images, out_masks = augment_batch(build_augmentation(config), images, masks)
    assert abs(float((out_images - images).std()) - 0.05) < 0.005
    assert torch.equal(out_masks, masks)


def test_blur_smooths_the_image_up_to_its_sigma_and_leaves_the_mask():
    torch.manual_seed(0)
    images = torch.zeros(8, 1, 32, 32)
    images[..., ::2, :] = 1.0  # rows alternate: a blur of sigma ~1 all but evens them out
    masks = images.clone()
    out_images, out_masks = augment_batch(
        build_augmentation(_intensity_only(blur_p=1.0, blur_sigma=2.0)), images, masks
    )
    assert torch.equal(out_masks, masks)
    contrast = (out_images[..., 8:24:2, 8:24] - out_images[..., 9:25:2, 8:24]).mean((1, 2, 3))
    # sigmas drawn from 0.1 to 2 px: from barely blurred to all but even, never inverted
    assert contrast.mean() < 0.9 and (contrast > 0.0).all() and (contrast <= 1.0).all()
