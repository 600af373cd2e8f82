"""Test-time augmentation: average a predictor's output over transformed copies of each batch.

Only transforms that keep the anatomy plausible: a horizontal flip (left/right is arbitrary in
these scans, the probe can face either way) and, optionally, small shifts. Vertical flips are
left out on purpose: depth runs from the top of an ultrasound frame to the bottom (skin, then
muscle, then the plexus, with shadows below bright structures), so an upside-down frame is
something the network never saw and should never see.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

from nerveseg.inference.predictor import BatchOutput, Predictor

FLIPS = ("h",)


class TTAPredictor:
    """A :class:`~nerveseg.inference.predictor.Predictor` averaging ``base`` over flips and shifts.

    Each transform is undone on the probabilities before averaging, so the output lines up with
    the input; presence probabilities (when the base gives them) are averaged too.

    Args:
        base: the predictor to wrap.
        flips: ``("h",)`` adds the left-right mirrored batch; ``()`` none. Vertical flips are
            refused (see the module docstring).
        shifts: ``s > 0`` adds four copies shifted by ``s`` pixels up, down, left and right
            (edges replicated); 0 = none.

    The cost is one base call per view: ``1 + len(flips)`` views, times 5 with shifts.
    """

    def __init__(self, base: Predictor, flips: Sequence[str] = FLIPS, shifts: int = 0) -> None:
        flips = tuple(flips)
        bad = [f for f in flips if f not in FLIPS]
        if bad:
            raise ValueError(
                f"unsupported flip(s) {bad}: only 'h' (left-right); vertical flips put depth "
                "upside down, which no ultrasound frame shows"
            )
        if shifts < 0:
            raise ValueError(f"shifts must be >= 0 pixels, got {shifts}")
        self.base = base
        self.flips = flips
        self.shifts = int(shifts)

    @property
    def views(self) -> int:
        """How many base calls one batch costs."""
        return (1 + len(self.flips)) * (5 if self.shifts else 1)

    def __call__(self, batch: torch.Tensor) -> BatchOutput:
        probabilities, presences = [], []
        offsets = [(0, 0)]
        if self.shifts:
            s = self.shifts
            offsets += [(s, 0), (-s, 0), (0, s), (0, -s)]
        for flip in (False, *(True for _ in self.flips)):
            for dy, dx in offsets:
                view = _shift(batch, dy, dx)
                view = view.flip(-1) if flip else view
                output = self.base(view)
                prob = output.probabilities.flip(-1) if flip else output.probabilities
                probabilities.append(_shift(prob, -dy, -dx))
                if output.presence is not None:
                    presences.append(output.presence)
        presence = torch.stack(presences).mean(0) if presences else None
        return BatchOutput(torch.stack(probabilities).mean(0), presence)


def _shift(batch: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Move ``(..., H, W)`` content by ``(dy, dx)`` pixels; the uncovered edge is replicated."""
    if dy == 0 and dx == 0:
        return batch
    height, width = batch.shape[-2:]
    # Replicate padding wants (N, C, H, W): any leading dimensions (frames, structures) fold in.
    planes = batch.reshape(-1, 1, height, width)
    # F.pad order: (left, right, top, bottom).
    padded = F.pad(planes, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)), mode="replicate")
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top : top + height, left : left + width].reshape(batch.shape)
