"""Attention SegNet: SegNet whose decoder also sees the encoder's features through attention gates.

SegNet (Badrinarayanan et al., TPAMI 2017) passes only the max-pooling *indices* from encoder to
decoder: boundaries come back where the maxima were, but the decoder must rebuild texture from
the sparse unpooled map. U-Net passes the encoder's features themselves, which in ultrasound also
passes the speckle and every bright fascia and vessel wall. The additive attention gates of
Oktay et al. ("Attention U-Net: Learning Where to Look for the Pancreas", MIDL 2018) let the
coarse decoder features, which know roughly where the nerve is, decide which positions of a skip
get through.

Where the gates sit: one per decoder stage, on every scale. Decoder stage k (k = 0 is the
full-resolution one) gates the output of encoder stage k (``x``: the features just *before*
that stage's pooling, same size as the unpooled map) with the decoder feature that is about to
be unpooled (``g``: half the resolution, the coarser and more semantic signal, as in the paper).
The weights are computed at ``g``'s resolution and upsampled (see
:class:`~nerveseg.models.blocks.AttentionGate`). The unpooling indices are kept: each stage is
``unpool(g) -> concat with gate(x, g) -> 1x1 conv+BN+ReLU back to the stage's channels -> the
SegNet decoder convolutions``.

Why concatenate and project rather than add: the unpooled map is 3/4 zeros and the skip is
dense, so their scales differ from position to position; a learned 1x1 mix with batch norm lets
the network weigh them per channel, and with weights ``[I, 0]`` it is exactly SegNet again. It
costs one 1x1 convolution per stage; the decoder convolutions stay SegNet's, so the encoder and
decoder keep SegNet's layout (and ImageNet initialisation of the encoder works unchanged).

Shape contract: input ``(N, 1, H, W)`` float with H and W divisible by 32 (``2 ** depth``);
output logits ``(N, S, H, W)``, one channel per structure (``out_channels``), no sigmoid. At
``width=1`` the model has 32,194,694 parameters (SegNet's 29.44 M + 2.75 M for gates and
merges).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from nerveseg.models.blocks import AttentionGate, ConvBNReLU, check_divisible, max_unpool, scaled
from nerveseg.models.segnet import VGG16_STAGES, SegNet


class AttentionSegNet(SegNet):
    """SegNet (VGG16-BN encoder, index unpooling) plus an attention-gated skip at every scale.

    Args: as :class:`~nerveseg.models.segnet.SegNet` (``width``, ``depth``, ``stages``,
    ``output_prior``).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        width: float = 1.0,
        depth: int = 5,
        stages: tuple[tuple[int, int], ...] = VGG16_STAGES,
        output_prior: float = 0.01,
    ) -> None:
        super().__init__(in_channels, out_channels, width, depth, stages, output_prior)
        channels = [scaled(c, width) for c, _ in stages[:depth]]
        # Stage k's gate signal is the decoder feature before unpooling: it has channels[k]
        # channels (the mirrored decoder stage k+1 ends with them, or it is the pooled bottleneck).
        self.gates = nn.ModuleList(AttentionGate(c, c) for c in channels)
        self.merges = nn.ModuleList(ConvBNReLU(2 * c, c, kernel=1) for c in channels)

    def forward_with_bottleneck(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (N, S, H, W), deepest features (N, C, H / 2**(depth-1), W / 2**(depth-1)))``."""
        check_divisible(x, self.size_divisor, type(self).__name__)
        skips: list[tuple[torch.Tensor, torch.Tensor]] = []
        for encode in self.encoders:
            features = encode(x)
            x, indices = F.max_pool2d(features, 2, 2, return_indices=True)
            skips.append((features, indices))
        stages = zip(self.decoders, self.gates, self.merges, skips, strict=True)
        for decode, gate, merge, (skip, indices) in list(stages)[::-1]:
            g = x
            x = max_unpool(x, indices, skip.shape)  # as SegNet: upsample with the pooling indices
            x = merge(torch.cat([x, gate(skip, g)], dim=1))  # + the attention-gated encoder skip
            x = decode(x)
        return self.classifier(x), features
