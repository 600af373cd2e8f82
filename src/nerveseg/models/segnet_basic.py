"""SegNet-Basic: the small SegNet that Badrinarayanan, Kendall and Cipolla use to compare decoder
designs ("SegNet: A Deep Convolutional Encoder-Decoder Architecture for Image Segmentation",
TPAMI 2017).

4 encoder stages, each one 7x7 convolution with 64 channels, batch norm, ReLU, then a 2x2
max-pooling that remembers where each maximum came from; 4 decoder stages, each an unpooling with
the indices of its encoder stage followed by one 7x7 convolution and batch norm; a 1x1 classifier.
The large kernels give a wide context (a 7x7 kernel after 3 poolings spans 56 input pixels) with
few layers.

As in the paper and the authors' Caffe model (``segnet_basic_train.prototxt`` in
SegNet-Tutorial), the decoder has **no ReLU**: each decoder stage is unpool -> conv -> BN. The
paper also uses no convolution biases (batch norm follows every convolution, so a bias would be
redundant); we follow it. The Caffe model's input LRN layer is left out: our inputs are
standardised already.

Shape contract: input ``(N, 1, H, W)`` float with H and W divisible by 16 (``2 ** depth``);
output logits ``(N, S, H, W)``, one channel per structure (``out_channels``), no sigmoid. At
``width=1`` the model has 1,409,153 parameters.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from nerveseg.models.blocks import check_divisible, init_output_bias, max_unpool, scaled


def conv_bn(in_channels: int, out_channels: int, kernel: int, relu: bool) -> nn.Sequential:
    """A ``kernel x kernel`` convolution without bias, batch norm, and a ReLU if ``relu``."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SegNetBasic(nn.Module):
    """SegNet-Basic: 4 x (7x7 conv, BN, ReLU, pool) and 4 x (unpool, 7x7 conv, BN), 64 channels.

    Args:
        in_channels: image channels (1 for ultrasound).
        out_channels: logits per pixel, one per structure (1: the nerve).
        width: multiplies the 64 channels of every layer.
        depth: encoder (and decoder) stages; the paper's is 4.
        kernel: convolution size; the paper's is 7.
        output_prior: the foreground probability the untrained model predicts (see
            :func:`~nerveseg.models.blocks.init_output_bias`).

    Attributes:
        size_divisor: H and W must be multiples of it (``2 ** depth``).
        bottleneck: the last encoder stage (deepest features); ``bottleneck_channels`` its channels.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        width: float = 1.0,
        depth: int = 4,
        kernel: int = 7,
        output_prior: float = 0.01,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel must be odd, got {kernel}")
        channels = scaled(64, width)
        self.width, self.depth = width, depth
        self.size_divisor = 2**depth
        self.bottleneck_channels = channels
        self.encoders = nn.ModuleList(
            conv_bn(in_channels if i == 0 else channels, channels, kernel, relu=True)
            for i in range(depth)
        )
        self.decoders = nn.ModuleList(
            conv_bn(channels, channels, kernel, relu=False) for _ in range(depth)
        )
        self.classifier = nn.Conv2d(channels, out_channels, 1)
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
            x = max_unpool(x, indices, size)  # upsample with the stored pooling indices
            x = decode(x)  # 7x7 conv + BN, no ReLU
        return self.classifier(x), features
