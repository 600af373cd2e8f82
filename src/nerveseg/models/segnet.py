"""SegNet (Badrinarayanan, Kendall, Cipolla: "SegNet: A Deep Convolutional Encoder-Decoder
Architecture for Image Segmentation", TPAMI 2017).

Encoder: the 13 convolutions of VGG16 with batch norm, in 5 stages, each stage ending in a 2x2
max-pooling that remembers where each maximum came from. Decoder: the mirror image; each stage
first *unpools* with the indices of its encoder stage (no learned upsampling, no skip features),
then densifies the sparse map with convolutions. A last 3x3 convolution gives one logit per pixel
and structure.

Shape contract: input ``(N, 1, H, W)`` float with H and W divisible by 32 (``2 ** depth``);
output logits ``(N, S, H, W)``, one channel per structure (``out_channels``), no sigmoid. At
``width=1`` with 1 input and 1 output channel the model has 29,442,433 parameters (29.44 M).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from nerveseg.models.blocks import (
    ConvBNReLU,
    check_divisible,
    init_output_bias,
    max_unpool,
    scaled,
)

# VGG16's five stages: (channels, convolutions).
VGG16_STAGES: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def encoder_stage(in_channels: int, out_channels: int, convs: int) -> nn.Sequential:
    """``convs`` ConvBNReLU units, the first changing the channel count."""
    layers = [ConvBNReLU(in_channels, out_channels)]
    layers += [ConvBNReLU(out_channels, out_channels) for _ in range(convs - 1)]
    return nn.Sequential(*layers)


def decoder_stage(in_channels: int, out_channels: int, convs: int) -> nn.Sequential:
    """The mirror of an encoder stage: the last unit changes the channel count."""
    layers: list[nn.Module] = [ConvBNReLU(in_channels, in_channels) for _ in range(convs - 1)]
    if convs > 0:
        layers.append(ConvBNReLU(in_channels, out_channels))
    return nn.Sequential(*layers)


class SegNet(nn.Module):
    """SegNet with a VGG16-BN encoder and index-unpooling decoder.

    Args:
        in_channels: image channels (1 for ultrasound).
        out_channels: logits per pixel, one per structure (1: the nerve).
        width: multiplies every channel count; 0.25 gives a 1.8 M-parameter real-time variant.
        depth: how many of ``stages`` to use (each halves the resolution once); 5 = all of VGG16.
        stages: the (channels, convolutions) of each encoder stage; VGG16's by default.
        output_prior: the foreground probability the untrained model predicts (see
            :func:`~nerveseg.models.blocks.init_output_bias`).

    Attributes:
        size_divisor: H and W must be multiples of it (``2 ** depth``).
        bottleneck: the last encoder stage, whose output is the deepest feature map (what a
            presence head pools); ``bottleneck_channels`` is its channel count.
    """

    size_divisor = 32

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        width: float = 1.0,
        depth: int = 5,
        stages: tuple[tuple[int, int], ...] = VGG16_STAGES,
        output_prior: float = 0.01,
    ) -> None:
        super().__init__()
        if not 1 <= depth <= len(stages):
            raise ValueError(f"depth must be 1 to {len(stages)}, got {depth}")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        stages = tuple(stages[:depth])
        self.width, self.depth = width, depth
        channels = [scaled(c, width) for c, _ in stages]
        convs = [n for _, n in stages]
        self.size_divisor = 2 ** len(stages)
        self.bottleneck_channels = channels[-1]
        inputs = [in_channels, *channels[:-1]]
        self.encoders = nn.ModuleList(
            encoder_stage(i, o, n) for i, o, n in zip(inputs, channels, convs, strict=True)
        )
        # Decoder stage k mirrors encoder stage k. In the top stage the last of its convolutions
        # is the classifier itself (conv1_1_D in the paper's Caffe model), a plain 3x3 conv.
        outputs = [channels[0], *channels[:-1]]
        convs_per_decoder = [convs[0] - 1, *convs[1:]]
        self.decoders = nn.ModuleList(
            decoder_stage(c, o, n)
            for c, o, n in zip(channels, outputs, convs_per_decoder, strict=True)
        )
        self.classifier = nn.Conv2d(channels[0], out_channels, 3, padding=1)
        init_output_bias(self.classifier, output_prior)

    @property
    def bottleneck(self) -> nn.Module:
        return self.encoders[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_bottleneck(x)[0]

    def forward_with_bottleneck(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (N, S, H, W), deepest features (N, C, H / 2**(depth-1), W / 2**(depth-1)))``."""
        check_divisible(x, self.size_divisor, type(self).__name__)
        pooled: list[tuple[torch.Tensor, torch.Size]] = []
        for encode in self.encoders:
            features = encode(x)
            x, indices = F.max_pool2d(features, 2, 2, return_indices=True)
            pooled.append((indices, features.shape))
        for decode, (indices, size) in zip(self.decoders[::-1], pooled[::-1], strict=True):
            x = max_unpool(x, indices, size)  # SegNet: upsample with the stored pooling indices
            x = decode(x)
        return self.classifier(x), features
