"""ImageNet initialisation of the SegNet encoder from a local VGG16-BN weights file.

The file is a state dict in torchvision's ``vgg16_bn`` layout (e.g. ``vgg16_bn-6c64b313.pth``):
``features.{i}.weight/bias`` for the 13 convolutions at ``i`` in :data:`VGG16_BN_CONVS`, and
``features.{i+1}.weight/bias/running_mean/running_var`` for the batch norm right after each.
``classifier.*`` (the fully connected layers) is ignored. Nothing is downloaded and torchvision
is not needed; config: ``model.encoder_weights: PATH``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from nerveseg.errors import ConfigError
from nerveseg.models.presence import WithPresenceHead
from nerveseg.models.segnet import SegNet

# Index of each convolution in torchvision's vgg16_bn.features (ReLUs and poolings in between).
VGG16_BN_CONVS = (0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40)


def load_vgg16_bn_encoder(model: nn.Module, path: Path) -> None:
    """Copy ImageNet VGG16-BN weights into the encoder of a ``segnet`` or ``attention_segnet``.

    The first convolution's RGB kernels are *summed* into one grayscale kernel: a gray image
    shown to VGG as three equal channels gives exactly the same response, so the first batch
    norm's running statistics stay valid (a mean would scale them by 1/3). A model with fewer
    than 5 stages (``depth``) takes the first convolutions only. The decoder keeps its random
    initialisation.

    Args:
        model: a :class:`~nerveseg.models.segnet.SegNet` (or subclass) at ``width=1``, with or
            without a presence head.
        path: the ``.pth`` file.

    Raises:
        ConfigError: when the model is not a SegNet at width 1, the file is missing or not a
            state dict, or a key is missing or has the wrong shape (the message names it).
    """
    path = Path(path)
    segnet = model.segmenter if isinstance(model, WithPresenceHead) else model
    if not isinstance(segnet, SegNet):
        raise ConfigError(
            f"model.encoder_weights: VGG16-BN weights fit segnet and attention_segnet only, "
            f"not {type(segnet).__name__}"
        )
    if segnet.width != 1:
        raise ConfigError(
            f"model.encoder_weights: VGG16-BN weights need model.width=1, got {segnet.width}"
        )
    if not path.is_file():
        raise ConfigError(f"model.encoder_weights: {path} not found (nothing is downloaded)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a foreign or damaged file
        raise ConfigError(
            f"model.encoder_weights: {path} is not a readable state dict ({exc.__class__.__name__})"
        ) from None
    if not isinstance(state, dict):
        raise ConfigError(f"model.encoder_weights: {path} holds no state dict")
    units = [unit for stage in segnet.encoders for unit in stage]
    if len(units) > len(VGG16_BN_CONVS):
        raise ConfigError(
            f"model.encoder_weights: the encoder has {len(units)} convolutions, VGG16 13"
        )
    with torch.no_grad():
        for unit, index in zip(units, VGG16_BN_CONVS, strict=False):
            conv, norm = unit[0], unit[1]
            weight = _get(state, f"features.{index}.weight", path)
            if conv.in_channels == 1 and weight.shape[1] == 3:
                weight = weight.sum(dim=1, keepdim=True)
            pairs = [
                (conv.weight, weight, f"features.{index}.weight"),
                (conv.bias, _get(state, f"features.{index}.bias", path), f"features.{index}.bias"),
            ]
            for name in ("weight", "bias", "running_mean", "running_var"):
                key = f"features.{index + 1}.{name}"
                pairs.append((getattr(norm, name), _get(state, key, path), key))
            for target, source, key in pairs:
                if target.shape != source.shape:
                    raise ConfigError(
                        f"model.encoder_weights: {path}: {key} has shape {tuple(source.shape)}, "
                        f"the model needs {tuple(target.shape)} (is it vgg16_bn?)"
                    )
                target.copy_(source)


def _get(state: dict, key: str, path: Path) -> torch.Tensor:
    if key not in state:
        raise ConfigError(
            f"model.encoder_weights: {path} has no {key!r}; expected torchvision's vgg16_bn "
            "layout (features.0.weight, features.1.running_mean, ...)"
        )
    return state[key]
