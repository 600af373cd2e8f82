"""How much a stream's masks jump from frame to frame: the flicker measure beside Dice.

Two numbers, both over consecutive pairs of frames:

- **mask change**: ``1 - IoU`` of the two predicted masks (0 when both are empty), averaged over
  the pairs whose *truth* barely moves (``1 - IoU`` of the truths at most ``still``, 0.1 by
  default). Where the truth is steady a steady model changes little; a model that flickers
  changes a lot. Without truth (a live stream) every pair counts.
- **presence toggles per minute**: how often the mask switches between empty and not, beside
  the truth's own toggles when there is truth.

With truth, the truth's own mean change over the same pairs is reported too: a nerve that moves
a little changes its true mask a little, so a model that tracks it perfectly still shows that
much mask change. The part above it (``excess_mask_change``) is what smoothing can remove.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

STILL = 0.1  # truth pairs changing less than this (1 - IoU) count as "barely moving"


def mask_change(previous: np.ndarray, current: np.ndarray) -> float:
    """``1 - IoU`` of two bool masks; 0 when both are empty (nothing changed)."""
    union = int(np.count_nonzero(previous | current))
    if union == 0:
        return 0.0
    return 1.0 - int(np.count_nonzero(previous & current)) / union


def toggles(present: Sequence[bool]) -> int:
    """How many times a sequence of "mask not empty" flags switches value."""
    flags = np.asarray(present, dtype=bool)
    return int(np.count_nonzero(flags[1:] != flags[:-1]))


@dataclass(frozen=True)
class Flicker:
    """The flicker of one or more sequences.

    Attributes:
        mask_change: mean ``1 - IoU`` of consecutive predicted masks over the counted pairs
            (NaN when no pair counts).
        pairs: how many pairs were counted (those whose truth barely moves, or all).
        toggles_per_minute: predicted presence switches per minute.
        truth_toggles_per_minute: the truth's own switches per minute, or NaN without truth.
        truth_mask_change: the truth's own mean change over the counted pairs (the floor a
            model that tracks the nerve exactly would show), or NaN without truth.
    """

    mask_change: float
    pairs: int
    toggles_per_minute: float
    truth_toggles_per_minute: float = float("nan")
    truth_mask_change: float = float("nan")

    @property
    def excess_mask_change(self) -> float:
        """Mask change above the truth's own: the flicker proper (NaN without truth)."""
        return self.mask_change - self.truth_mask_change

    def as_dict(self) -> dict[str, float]:
        return {**dataclasses.asdict(self), "excess_mask_change": self.excess_mask_change}


def measure_flicker(
    changes: np.ndarray,
    present: Sequence[np.ndarray],
    seconds: float,
    truth_changes: np.ndarray | None = None,
    truth_present: Sequence[np.ndarray] | None = None,
    still: float = STILL,
) -> Flicker:
    """Summarise per-pair changes and per-frame presence of one or more sequences.

    Args:
        changes: ``(P,)`` :func:`mask_change` of every consecutive predicted pair, all
            sequences concatenated.
        present: per sequence, ``(n,)`` bool "predicted mask not empty".
        seconds: the sequences' total duration (frames / frame rate).
        truth_changes: ``(P,)`` the same for the truth, pair for pair, or None.
        truth_present: per sequence, the truth's presence flags, or None.
        still: the largest truth change a counted pair may have.
    """
    changes = np.asarray(changes, dtype=float)
    still_pairs = None if truth_changes is None else np.asarray(truth_changes) <= still
    counted = changes if still_pairs is None else changes[still_pairs]
    truth_counted = None if still_pairs is None else np.asarray(truth_changes)[still_pairs]
    minutes = seconds / 60.0 if seconds > 0 else float("nan")
    truth_toggles = (
        float("nan")
        if truth_present is None
        else sum(toggles(flags) for flags in truth_present) / minutes
    )
    return Flicker(
        mask_change=float(counted.mean()) if counted.size else float("nan"),
        pairs=int(counted.size),
        toggles_per_minute=sum(toggles(flags) for flags in present) / minutes,
        truth_toggles_per_minute=truth_toggles,
        truth_mask_change=(
            float(truth_counted.mean())
            if truth_counted is not None and truth_counted.size
            else float("nan")
        ),
    )
