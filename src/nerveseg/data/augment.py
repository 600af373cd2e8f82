"""Batch augmentation with kornia, on whatever device the batch is on.

Running on the batch's device means a GPU run never waits for CPU workers, and a CPU run pays for
augmentation once per batch instead of once per image in Python. Geometric transforms move the
mask with the image (nearest-neighbour, so masks stay binary); intensity transforms touch the
image only. Images are expected in [0, 1], before normalisation.
"""

from __future__ import annotations

import torch
from kornia import augmentation as K
from torch import nn

from nerveseg.config import AugmentConfig


def build_augmentation(config: AugmentConfig) -> nn.Module | None:
    """The augmentation pipeline described by ``config``, or None when it is disabled or empty."""
    if not config.enabled:
        return None
    steps: list[nn.Module] = []
    if config.rotation_p > 0 and (config.rotation_degrees > 0 or config.scale > 0):
        steps.append(
            K.RandomAffine(
                degrees=config.rotation_degrees,
                scale=(1.0 - config.scale, 1.0 + config.scale),
                padding_mode="reflection",
                align_corners=False,
                p=config.rotation_p,
            )
        )
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
    if not steps:
        return None
    return K.AugmentationSequential(*steps, data_keys=["input", "mask"])


def augment_batch(
    pipeline: nn.Module | None, images: torch.Tensor, masks: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``pipeline`` to ``(N, 1, H, W)`` images in [0, 1] and their float {0, 1} masks."""
    if pipeline is None:
        return images, masks
    images, masks = pipeline(images, masks)
    return images.clamp(0.0, 1.0), (masks > 0.5).to(images.dtype)
