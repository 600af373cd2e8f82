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


def build_augmentation(config: AugmentConfig) -> nn.Module | None:
    """The augmentation pipeline described by ``config``, or None when it is disabled or empty."""
    from kornia import augmentation as K  # ~1 s to import: only when training builds it

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
