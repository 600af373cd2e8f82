"""One inference path for evaluation and prediction: uint8 frames -> probabilities -> masks.

decode/resize (done once by :func:`nerveseg.data.loading.load_set`) -> normalise -> network ->
sigmoid -> resize back to each frame's original size -> threshold and minimum area.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nerveseg.checkpoint import ModelInfo
from nerveseg.postprocess import probabilities_to_masks


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` means the GPU when there is one."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


@torch.inference_mode()
def predict_probabilities(
    model: nn.Module,
    info: ModelInfo,
    images: np.ndarray,
    *,
    batch_size: int = 16,
    device: torch.device | None = None,
) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield ``(batch_slice, probabilities)`` for ``(N, h, w)`` uint8 frames at the model's size.

    Batches are yielded as they are computed so callers can write results as they come.
    """
    device = device or torch.device("cpu")
    model = model.to(device).eval()
    for start in range(0, len(images), batch_size):
        chunk = slice(start, min(start + batch_size, len(images)))
        batch = torch.from_numpy(np.ascontiguousarray(images[chunk]))[:, None].to(device)
        batch = (batch.float() / 255.0 - info.mean) / info.std
        yield chunk, torch.sigmoid(model(batch)[:, 0]).float().cpu()


def resize_probabilities(probabilities: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(N, h, w)`` probabilities to ``shape`` = ``(H, W)``."""
    if tuple(probabilities.shape[-2:]) == tuple(shape):
        return probabilities
    resized = F.interpolate(
        probabilities[:, None], size=shape, mode="bilinear", align_corners=False
    )
    return resized[:, 0]


def masks_at_original_size(
    probabilities: torch.Tensor, shapes: list[tuple[int, int]], info: ModelInfo
) -> list[np.ndarray]:
    """Post-processed boolean masks, each at its frame's original size."""
    masks = []
    for prob, shape in zip(probabilities, shapes, strict=True):
        full = resize_probabilities(prob[None], shape)
        masks.append(probabilities_to_masks(full, info.threshold, info.min_area)[0].numpy())
    return masks
