"""An exponential moving average of the weights: what validation, checkpoints and ``model.pt`` use.

A segmentation network's weights wander from step to step, and on small data (a few thousand
near-duplicate frames) one epoch's weights can score 0.1 below the next's. The average over the
last epoch or so does not wander: validation curves flatten, and picking the best epoch stops
picking noise. Lightning's :class:`~lightning.pytorch.callbacks.WeightAveraging` does the work
(swaps the average in for validation, writes it as the checkpoint's ``state_dict``, restores
both models on resume); this module chooses the decay.

BatchNorm statistics are averaged with the weights (``use_buffers``), so the running means and
variances belong to the same window of steps as the averaged weights.
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import WeightAveraging


def ema_decay(steps_per_epoch: int, epochs: float) -> float:
    """The decay whose time constant is ``epochs`` epochs of ``steps_per_epoch`` steps."""
    steps = max(1.0, steps_per_epoch * epochs)
    return 1.0 - 1.0 / steps


def warmed_decay(decay: float, updates: int) -> float:
    """The decay for the ``updates``-th update: small at first, so the first average is not the
    random initialisation held for a thousand steps (timm's warm-up rule)."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class EmaWeights(WeightAveraging):
    """EMA of the weights and BatchNorm statistics, with a time constant of ``epochs`` epochs."""

    def __init__(self, epochs: float) -> None:
        if epochs <= 0:
            raise ValueError(f"epochs must be above 0, got {epochs}")
        self.epochs = epochs
        self.decay = 0.0  # set once the number of steps per epoch is known
        super().__init__(use_buffers=True, avg_fn=self._average)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        batches = trainer.num_training_batches
        steps = max(1, int(batches if batches != float("inf") else 1))
        self.decay = ema_decay(steps, self.epochs)

    def _average(
        self, averaged: torch.Tensor, current: torch.Tensor, updates: torch.Tensor | int
    ) -> torch.Tensor:
        decay = warmed_decay(self.decay, int(updates))
        return averaged + (current - averaged) * (1.0 - decay)
