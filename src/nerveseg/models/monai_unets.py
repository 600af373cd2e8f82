"""U-Net baselines from MONAI, wrapped to our model contract.

* ``unet``: MONAI's ``BasicUNet`` (Ronneberger et al., "U-Net: Convolutional Networks for
  Biomedical Image Segmentation", MICCAI 2015): two 3x3 convolutions per stage, 4 max-poolings,
  transposed-convolution upsampling and *concatenated* encoder skips. Width 1 uses the paper's
  channels, 64-128-256-512-1024.
* ``attention_unet``: MONAI's ``AttentionUnet`` (Oktay et al., "Attention U-Net: Learning Where
  to Look for the Pancreas", MIDL 2018): strided-convolution downsampling, and every skip passes
  an additive attention gate before it is concatenated. Width 1: 64-128-256-512-1024.

Normalisation: ``BasicUNet`` defaults to instance norm and leaky ReLU; we ask for batch norm and
ReLU, as in SegNet, so the comparison is about architecture. ``AttentionUnet`` has no such
options: its convolution blocks use batch norm and ReLU, but the 3x3 convolution that merges each
gated skip with the upsampled features uses MONAI's defaults, instance norm (without running
statistics, so it normalises each frame also in eval mode) and PReLU; we leave MONAI's network
as it is. The wrappers add what our contract asks: ``(N, 1, H, W)`` in, logits
``(N, S, H, W)`` out (S = ``out_channels``, one per structure), a ``size_divisor`` with a
helpful error, ``width`` and ``depth`` knobs, the output bias at the foreground prior, and
``forward_with_bottleneck`` for a presence head. The weights keep MONAI's names under ``net.``.

MONAI is imported inside the constructors: ``import monai.networks.nets`` takes ~4 s on top of
torch (measured on the 2-core CI machine), which every ``nerveseg`` command would otherwise pay.
"""

from __future__ import annotations

import torch
from torch import nn

from nerveseg.models.blocks import check_divisible, init_output_bias, scaled

UNET_CHANNELS = (64, 128, 256, 512, 1024)


class UNet(nn.Module):
    """MONAI ``BasicUNet`` (2-D, batch norm, ReLU) under our contract.

    Args:
        in_channels: image channels (1 for ultrasound).
        out_channels: logits per pixel, one per structure (1: the nerve).
        width: multiplies every channel count (64-128-256-512-1024 and the last stage's 64).
        depth: poolings; ``BasicUNet`` has exactly 4, so only 4 is accepted.
        output_prior: the foreground probability the untrained model predicts (see
            :func:`~nerveseg.models.blocks.init_output_bias`).

    Shape contract: H and W divisible by 16. At ``width=1``: 31,112,065 parameters.
    """

    size_divisor = 16

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        width: float = 1.0,
        depth: int = 4,
        output_prior: float = 0.01,
    ) -> None:
        super().__init__()
        if depth != 4:
            raise ValueError(f"unet (MONAI BasicUNet) has a fixed depth of 4, got {depth}")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        from monai.networks.nets import BasicUNet

        channels = [scaled(c, width) for c in UNET_CHANNELS]
        self.width, self.depth = width, depth
        self.net = BasicUNet(
            spatial_dims=2,
            in_channels=in_channels,
            out_channels=out_channels,
            features=(*channels, channels[0]),
            act=("relu", {"inplace": True}),
            norm=("batch", {}),
        )
        self.bottleneck_channels = channels[-1]
        init_output_bias(self.net.final_conv, output_prior)

    @property
    def bottleneck(self) -> nn.Module:
        return self.net.down_4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_bottleneck(x)[0]

    def forward_with_bottleneck(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (N, S, H, W), deepest features (N, C, H / 16, W / 16))``.

        The same computation as ``BasicUNet.forward``, spelled out to hand back the bottleneck.
        """
        check_divisible(x, self.size_divisor, type(self).__name__)
        net = self.net
        x0 = net.conv_0(x)
        x1 = net.down_1(x0)
        x2 = net.down_2(x1)
        x3 = net.down_3(x2)
        x4 = net.down_4(x3)
        u4 = net.upcat_4(x4, x3)  # U-Net: upsample, concatenate the encoder skip, convolve
        u3 = net.upcat_3(u4, x2)
        u2 = net.upcat_2(u3, x1)
        u1 = net.upcat_1(u2, x0)
        return net.final_conv(u1), x4


class AttentionUNet(nn.Module):
    """MONAI ``AttentionUnet`` (2-D) under our contract.

    Args:
        in_channels: image channels (1 for ultrasound).
        out_channels: logits per pixel, one per structure (1: the nerve).
        width: multiplies every channel count (64, 128, ... doubling per stage).
        depth: downsamplings (stride-2 convolutions), 1 to 5; 4 by default.
        output_prior: the foreground probability the untrained model predicts (see
            :func:`~nerveseg.models.blocks.init_output_bias`).

    Shape contract: H and W divisible by ``2 ** depth`` (16). At ``width=1``: 31,739,185
    parameters.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        width: float = 1.0,
        depth: int = 4,
        output_prior: float = 0.01,
    ) -> None:
        super().__init__()
        if not 1 <= depth <= 5:
            raise ValueError(f"attention_unet depth must be 1 to 5, got {depth}")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        from monai.networks.nets import AttentionUnet

        channels = [scaled(64 * 2**i, width) for i in range(depth + 1)]
        self.width, self.depth = width, depth
        self.size_divisor = 2**depth
        self.net = AttentionUnet(
            spatial_dims=2,
            in_channels=in_channels,
            out_channels=out_channels,
            channels=channels,
            strides=[2] * depth,
        )
        self.bottleneck_channels = channels[-1]
        init_output_bias(self.net.model[2].conv, output_prior)

    def _levels(self) -> list[nn.Module]:
        """MONAI's nested ``AttentionLayer``s, top (full resolution) first."""
        levels, layer = [], self.net.model[1]
        while True:
            levels.append(layer)
            if not isinstance(layer.submodule, nn.Sequential):
                return levels  # the bottom layer: its submodule is the bottleneck ConvBlock
            layer = layer.submodule[1]

    @property
    def bottleneck(self) -> nn.Module:
        return self._levels()[-1].submodule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_bottleneck(x)[0]

    def forward_with_bottleneck(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (N, S, H, W), deepest features (N, C, H / 2**depth, W / 2**depth))``.

        The same computation as MONAI's recursive ``AttentionUnet.forward``, unrolled into a
        loop down and a loop up so the bottleneck can be handed back.
        """
        check_divisible(x, self.size_divisor, type(self).__name__)
        levels = self._levels()
        x = self.net.model[0](x)
        skips = []
        for layer in levels:
            skips.append(x)
            down = layer.submodule if layer is levels[-1] else layer.submodule[0]
            x = down(x)  # stride-2 ConvBlock
        bottleneck = x
        for layer, skip in zip(levels[::-1], skips[::-1], strict=True):
            up = layer.upconv(x)
            gated = layer.attention(g=up, x=skip)  # attention gate on the encoder skip
            x = layer.merge(torch.cat((gated, up), dim=1))  # then concatenate, as U-Net
        return self.net.model[2](x), bottleneck
