"""The model registry: a plain dict from name to class, and :func:`build_model`.

Every model takes ``(N, 1, H, W)`` float and returns logits ``(N, S, H, W)`` (no sigmoid), one
channel per structure (``out_channels`` = S, the entries of ``data.structures``; 1 for the
Kaggle nerve), and has a ``size_divisor`` attribute: H and W must be multiples of it. Every
model accepts ``in_channels=1, out_channels=1, width=1.0, depth=<its default>,
output_prior=0.01`` and has a
``bottleneck`` (the module whose output is the deepest feature map), ``bottleneck_channels`` and
``forward_with_bottleneck(x) -> (logits, deepest features)``, which a presence head uses.

| name               | architecture                                        | default depth |
|--------------------|-----------------------------------------------------|---------------|
| `segnet`           | SegNet, VGG16-BN encoder, index unpooling           | 5 (/32)       |
| `segnet_basic`     | SegNet-Basic: 4 x 7x7 conv, 64 channels             | 4 (/16)       |
| `attention_segnet` | SegNet + attention-gated encoder skips              | 5 (/32)       |
| `unet`             | MONAI BasicUNet (U-Net, concatenated skips)         | 4 (/16), fixed|
| `attention_unet`   | MONAI AttentionUnet (gated, concatenated skips)     | 4 (/16)       |

``build_model(name, presence_head=True, ...)`` adds a presence classifier, one probability per
structure: the model then returns ``(mask_logits, presence_logits)`` (see
:mod:`nerveseg.models.outputs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from nerveseg.errors import ConfigError
from nerveseg.models.attention_segnet import AttentionSegNet
from nerveseg.models.monai_unets import AttentionUNet, UNet
from nerveseg.models.presence import WithPresenceHead
from nerveseg.models.segnet import SegNet
from nerveseg.models.segnet_basic import SegNetBasic
from nerveseg.settings import setting

MODELS: dict[str, type[nn.Module]] = {
    "segnet": SegNet,
    "segnet_basic": SegNetBasic,
    "attention_segnet": AttentionSegNet,
    "unet": UNet,
    "attention_unet": AttentionUNet,
}


@dataclass
class ModelConfig:
    """Which network (a name in :data:`MODELS`) and its size knobs.

    ``width`` multiplies every channel count; ``depth`` is the number of poolings (0 = the
    architecture's own). ``presence_head`` adds a per-frame "is there a nerve" classifier.
    ``encoder_weights`` is a local torchvision ``vgg16_bn`` state dict that initialises the
    encoder of ``segnet`` / ``attention_segnet`` at width 1 (nothing is downloaded).
    """

    name: str = setting("segnet", choices=tuple(MODELS))
    width: float = setting(1.0, above=0.0, at_most=4.0)
    depth: int = setting(0, at_least=0, at_most=8)
    presence_head: bool = False
    encoder_weights: str = ""

    def build_kwargs(self, out_channels: int = 1) -> dict[str, Any]:
        """The :func:`build_model` arguments; stored in ``model.pt`` to rebuild the network.

        ``out_channels`` is the number of structures (``data.structures``), which the data and
        not this section decides; it is left out at 1 so a one-structure model file reads as
        it always did. ``encoder_weights`` is not among them: those weights are loaded after
        building, so a model file never depends on that file.
        """
        kwargs: dict[str, Any] = {"width": self.width, "presence_head": self.presence_head}
        if self.depth:  # 0 = the architecture's own depth
            kwargs["depth"] = self.depth
        if out_channels != 1:
            kwargs["out_channels"] = out_channels
        return kwargs


def build_model(name: str, presence_head: bool = False, **kwargs: object) -> nn.Module:
    """Instantiate a registered model by name, with a presence head if ``presence_head``.

    The presence head gives one logit per output channel (``out_channels``, default 1).

    Raises:
        ConfigError: for an unknown name (the message lists the valid ones) or bad arguments.
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; valid models: {', '.join(sorted(MODELS))}")
    try:
        model = MODELS[name](**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model {name!r}: {exc}") from None
    if not presence_head:
        return model
    return WithPresenceHead(model, structures=int(kwargs.get("out_channels", 1)))


def size_divisor(name: str, presence_head: bool = False, **kwargs: object) -> int:
    """What the input's height and width must be multiples of for this network.

    Built on the ``meta`` device (no memory, no time), so a config or a model file can be
    checked against it before anything is decoded or allocated.
    """
    import torch

    with torch.device("meta"):
        model = build_model(name, presence_head=presence_head, **kwargs)
    return int(getattr(model, "size_divisor", 1))
