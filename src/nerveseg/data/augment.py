"""Batch augmentation with kornia, on whatever device the batch is on.

Running on the batch's device means a GPU run never waits for CPU workers, and a CPU run pays for
augmentation once per batch instead of once per image in Python. Geometric transforms move the
mask with the image (nearest-neighbour, so masks stay binary); intensity transforms touch the
image only. Images are expected in [0, 1], before normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nerveseg.settings import setting


@dataclass
class AugmentConfig:
    """Batch augmentation on the model's device; each transform has a strength and a probability.

    Vertical flips are off by default: depth runs top to bottom in every ultrasound frame.
    Elastic deformation (off by default) bends tissue as the probe's pressure does: a smooth
    random displacement field, Gaussian-smoothed over ``elastic_sigma`` pixels of the training
    size and scaled by ``elastic_alpha`` (at 128x160, sigma 16 and alpha 4 move pixels by ~3
    px on average and ~12 px at most). Noise and blur (off by default) stand for scanners and
    settings a training set did not include: added Gaussian noise of standard deviation
    ``noise_std`` (of the [0, 1] range) and a Gaussian blur of up to ``blur_sigma`` pixels of the training size.
    """

    enabled: bool = True
    rotation_degrees: float = setting(10.0, at_least=0.0, at_most=180.0)
    rotation_p: float = setting(0.5, at_least=0.0, at_most=1.0)
    scale: float = setting(0.1, at_least=0.0, below=1.0)
    translate: float = setting(0.0, at_least=0.0, at_most=0.5)  # share of width / height
    hflip_p: float = setting(0.5, at_least=0.0, at_most=1.0)
    vflip_p: float = setting(0.0, at_least=0.0, at_most=1.0)
    clahe_p: float = setting(0.2, at_least=0.0, at_most=1.0)
    clahe_clip_limit: float = setting(4.0, at_least=1.0)
    brightness: float = setting(0.1, at_least=0.0, below=1.0)
    contrast: float = setting(0.2, at_least=0.0, below=1.0)
    intensity_p: float = setting(0.5, at_least=0.0, at_most=1.0)
    gamma: float = setting(0.2, at_least=0.0, below=1.0)
    gamma_p: float = setting(0.3, at_least=0.0, at_most=1.0)
    elastic_p: float = setting(0.0, at_least=0.0, at_most=1.0)
    elastic_alpha: float = setting(4.0, above=0.0)
    elastic_sigma: float = setting(16.0, above=0.0, at_most=64.0)
    noise_p: float = setting(0.0, at_least=0.0, at_most=1.0)
    noise_std: float = setting(0.03, above=0.0, at_most=0.5)
    blur_p: float = setting(0.0, at_least=0.0, at_most=1.0)
    blur_sigma: float = setting(1.0, above=0.0, at_most=8.0)


def build_augmentation(config: AugmentConfig) -> nn.Module | None:
    """The augmentation pipeline described by ``config``, or None when it is disabled or empty."""
    from kornia import augmentation as K  # ~1 s to import: only when training builds it
    from kornia.constants import DataKey, Resample

    if not config.enabled:
        return None
    steps: list[nn.Module] = []
    moves = config.rotation_degrees > 0 or config.scale > 0 or config.translate > 0
    if config.rotation_p > 0 and moves:
        steps.append(
            K.RandomAffine(
                degrees=config.rotation_degrees,
                translate=(config.translate, config.translate) if config.translate else None,
                scale=(1.0 - config.scale, 1.0 + config.scale),
                padding_mode="reflection",
                align_corners=False,
                p=config.rotation_p,
            )
        )
    if config.elastic_p > 0:
        steps.append(elastic_step(config))
    if config.hflip_p > 0:
        steps.append(K.RandomHorizontalFlip(p=config.hflip_p))
    if config.vflip_p > 0:
        steps.append(K.RandomVerticalFlip(p=config.vflip_p))
    if config.clahe_p > 0:
        steps.append(K.RandomClahe(clip_limit=(1.0, config.clahe_clip_limit), p=config.clahe_p))
    if config.intensity_p > 0 and config.brightness > 0:
        span = (1.0 - config.brightness, 1.0 + config.brightness)
        steps.append(K.RandomBrightness(brightness=span, p=config.intensity_p))
    if config.intensity_p > 0 and config.contrast > 0:
        span = (1.0 - config.contrast, 1.0 + config.contrast)
        steps.append(K.RandomContrast(contrast=span, p=config.intensity_p))
    if config.gamma_p > 0 and config.gamma > 0:
        steps.append(
            K.RandomGamma(gamma=(1.0 - config.gamma, 1.0 + config.gamma), p=config.gamma_p)
        )
    if config.blur_p > 0:
        kernel = int(4 * config.blur_sigma) | 1
        sigma = (min(0.1, config.blur_sigma), config.blur_sigma)
        steps.append(K.RandomGaussianBlur((kernel, kernel), sigma, p=config.blur_p))
    if config.noise_p > 0:
        steps.append(K.RandomGaussianNoise(std=config.noise_std, p=config.noise_p))
    if not steps:
        return None
    # Masks move by nearest neighbour on the images' pixel grid (align_corners as the steps
    # set it; kornia's default None warns in the elastic step and leaves the affine unchanged).
    masks = {DataKey.MASK: {"resample": Resample.NEAREST, "align_corners": False}}
    return K.AugmentationSequential(*steps, data_keys=["input", "mask"], extra_args=masks)


def elastic_step(config: AugmentConfig) -> nn.Module:
    """kornia's elastic transform with a Gaussian kernel wide enough for ``elastic_sigma``
    (four sigmas, odd); borders reflect, as the affine step's do, instead of turning black."""
    from kornia import augmentation as K

    kernel = int(4 * config.elastic_sigma) | 1
    return K.RandomElasticTransform(
        kernel_size=(kernel, kernel),
        sigma=(config.elastic_sigma, config.elastic_sigma),
        alpha=(config.elastic_alpha, config.elastic_alpha),
        align_corners=False,
        padding_mode="reflection",
        p=config.elastic_p,
    )


def augment_batch(
    pipeline: nn.Module | None, images: torch.Tensor, masks: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``pipeline`` to ``(N, 1, H, W)`` images in [0, 1] and their float {0, 1} masks."""
    if pipeline is None:
        return images, masks
    images, masks = pipeline(images, masks)
    return images.clamp(0.0, 1.0), (masks > 0.5).to(images.dtype)
