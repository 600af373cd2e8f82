"""From probability maps to masks: threshold, then drop masks too small to be a nerve.

The competition scores a predicted blob on an empty frame as 0, the same as missing a whole
nerve, so a minimum area that turns small detections into empty masks is worth more than most
architecture changes. Parameters are plain data, stored with the model.
"""

from __future__ import annotations

import torch


def probabilities_to_masks(
    probabilities: torch.Tensor, threshold: float = 0.5, min_area: int = 0
) -> torch.Tensor:
    """Binarise ``(N, H, W)`` probabilities; masks with fewer than ``min_area`` pixels become empty.

    Returns:
        ``(N, H, W)`` bool masks.
    """
    masks = probabilities > threshold
    if min_area > 0:
        too_small = masks.flatten(1).sum(1) < min_area
        masks[too_small] = False
    return masks


def scale_area(min_area: int, from_shape: tuple[int, int], to_shape: tuple[int, int]) -> int:
    """Express an area threshold given at ``from_shape`` in pixels of ``to_shape``."""
    ratio = (to_shape[0] * to_shape[1]) / (from_shape[0] * from_shape[1])
    return round(min_area * ratio)
