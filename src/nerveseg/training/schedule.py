"""The learning rate over a training budget: linear warm-up, then cosine decay to the end.

The end is whichever comes first of the epoch budget (``train.epochs``) and the wall-clock
budget (``train.max_minutes``): a 4.5-minute demo run decays over its 4.5 minutes, not over 40
epochs it will never reach. Progress is the larger of the two fractions, so the learning rate
only ever falls after warm-up. With a time budget the curve depends on the machine's speed,
as the number of epochs already does; resuming restores the elapsed time with Lightning's timer.
"""

from __future__ import annotations

import math

FINAL_FRACTION = 0.01  # the learning rate at the end, as a fraction of the peak


def warmup_cosine(step: int, warmup_steps: int, progress: float) -> float:
    """The learning-rate factor at optimizer ``step``.

    Args:
        step: optimizer steps taken.
        warmup_steps: steps of linear warm-up from ~0 to the peak.
        progress: the fraction of the budget used, 0 to 1 (the larger of steps and time).
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, max(0.0, progress))
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return FINAL_FRACTION + (1.0 - FINAL_FRACTION) * cosine


def budget_progress(
    step: int, total_steps: float, elapsed_seconds: float, budget_seconds: float
) -> float:
    """How much of the budget is used: the larger of the step and the wall-clock fractions."""
    by_steps = step / total_steps if math.isfinite(total_steps) and total_steps > 0 else 0.0
    by_time = elapsed_seconds / budget_seconds if budget_seconds > 0 else 0.0
    return max(by_steps, by_time)
