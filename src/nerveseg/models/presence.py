"""A presence head for any registered model: "is there a nerve (a vessel ...) in this frame at all?"

59% of the competition's frames have an empty mask, and a single stray blob on one of them scores
0. A per-frame classifier on the deepest features sees the whole frame at once, which the pixel
decoder does not, and its probability can empty the mask of frames it calls empty (the presence
gate, ``presence_threshold`` in :func:`nerveseg.postprocess.kept_frames`).

Design: every model has ``forward_with_bottleneck(x) -> (mask_logits, deepest_features)``, so
:class:`WithPresenceHead` computes both outputs in one explicit forward. No forward hooks: they
are invisible in the code, and easy to lose in ONNX export and ``torch.compile``.

One presence logit per structure (output channel): a frame may show a nerve and no vessel, and
each structure's mask is gated by its own probability. Output contract (see
:mod:`nerveseg.models.outputs`): ``(mask_logits (N, S, H, W), presence_logits)`` with presence
logits ``(N,)`` for one structure (as before structures existed, so model files, exports and
their readers are unchanged) and ``(N, S)`` for several; read it with ``split_output``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# Share of Kaggle training frames that show a nerve (41.2%; 58.8% are empty).
NERVE_SHARE = 0.41


class PresenceHead(nn.Module):
    """Global average and max pooling of a feature map, then a small MLP to a logit per structure.

    Average pooling says how much nerve-like texture there is, max pooling whether any position
    is confident: a small nerve lights up a few positions and would vanish in the average alone.

    Args:
        channels: channels of the features.
        prior: the presence probability the untrained head predicts (the logit's bias starts at
            ``log(prior / (1 - prior))``), so training does not start by unlearning a 0.5 guess.
            The nerve's share stands in for every structure: a set's own shares are unknown
            when the model is built, and the bias is learnt within the first epoch anyway.
        structures: logits per image, one per structure (the segmenter's output channels).

    Shapes: ``(N, C, h, w)`` -> ``(N,)`` logits for one structure, ``(N, S)`` for several.
    """

    def __init__(self, channels: int, prior: float = NERVE_SHARE, structures: int = 1) -> None:
        super().__init__()
        if not 0.0 < prior < 1.0:
            raise ValueError(f"presence prior must be in (0, 1), got {prior}")
        if structures < 1:
            raise ValueError(f"a presence head needs at least one structure, got {structures}")
        hidden = max(16, channels // 4)
        self.structures = structures
        self.mlp = nn.Sequential(
            nn.Linear(2 * channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, structures)
        )
        nn.init.constant_(self.mlp[-1].bias, math.log(prior / (1.0 - prior)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([features.mean(dim=(2, 3)), features.amax(dim=(2, 3))], dim=1)
        logits = self.mlp(pooled)
        return logits[:, 0] if self.structures == 1 else logits


class WithPresenceHead(nn.Module):
    """A segmentation model plus a :class:`PresenceHead` on its bottleneck.

    Built by ``build_model(name, presence_head=True, ...)``. ``size_divisor``, ``bottleneck``
    and ``bottleneck_channels`` are the wrapped model's; its weights live under ``segmenter.``.

    Returns ``(mask_logits (N, S, H, W), presence_logits (N,) or (N, S))`` for ``structures``
    = S output channels of the segmenter (see :class:`PresenceHead`).
    """

    def __init__(
        self, segmenter: nn.Module, prior: float = NERVE_SHARE, structures: int = 1
    ) -> None:
        super().__init__()
        self.segmenter = segmenter
        self.size_divisor = segmenter.size_divisor
        self.bottleneck_channels = segmenter.bottleneck_channels
        self.presence = PresenceHead(segmenter.bottleneck_channels, prior, structures)

    @property
    def bottleneck(self) -> nn.Module:
        return self.segmenter.bottleneck

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask_logits, features = self.segmenter.forward_with_bottleneck(x)
        return mask_logits, self.presence(features)
