"""Resume the plateau schedule exactly: replay the step a checkpoint was saved before.

Lightning saves checkpoints at the end of validation, and steps a ``ReduceLROnPlateau`` only
after that, at the epoch's end; on resume it starts at the next epoch and never replays the step
(the metric it needs is not in the checkpoint). So a resumed run was one plateau step behind the
straight run: one fewer "bad epoch", sometimes a learning rate not yet halved. This callback keeps
the monitored value in the checkpoint and makes that step once when training restarts from it.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
from torch.optim.lr_scheduler import ReduceLROnPlateau


class ReplayPlateauStep(L.Callback):
    """Saves each plateau scheduler's monitored value with the checkpoint; steps it on resume."""

    def __init__(self) -> None:
        self._pending: dict[int, float] = {}

    @staticmethod
    def _plateaus(trainer: L.Trainer) -> list[tuple[int, Any]]:
        return [
            (index, config)
            for index, config in enumerate(trainer.lr_scheduler_configs)
            if isinstance(config.scheduler, ReduceLROnPlateau)
        ]

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        values = {}
        for index, config in self._plateaus(trainer):
            value = trainer.callback_metrics.get(config.monitor)
            if value is not None and math.isfinite(float(value)):
                values[index] = float(value)
        checkpoint["plateau_metrics"] = values

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        self._pending = {int(k): float(v) for k, v in checkpoint.get("plateau_metrics", {}).items()}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for index, config in self._plateaus(trainer):
            if index in self._pending:
                config.scheduler.step(self._pending[index])
        self._pending = {}
