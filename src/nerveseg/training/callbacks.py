"""Callbacks of nerveseg's own: throughput in the metrics log, and a quieter progress bar."""

from __future__ import annotations

import time

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar


class ThroughputMeter(L.Callback):
    """Logs training images per second: fetch, augmentation, forward, backward and step; not validation.

    The clock runs from one batch's end to the next, so validation (which starts after the last
    batch of the epoch) is never counted.
    """

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last, self._seconds, self._images = time.perf_counter(), 0.0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        now = time.perf_counter()
        self._seconds += now - self._last
        self._last = now
        self._images += len(batch[0])

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._seconds > 0 and self._images:
            # Summed over the processes of a multi-process run: the run's throughput.
            pl_module.log(
                "train/images_per_s", self._images / self._seconds, sync_dist=True, reduce_fx="sum"
            )


class RunProgressBar(TQDMProgressBar):
    """Lightning's bar without ``v_num``: the log folder's name means nothing to a user here."""

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics
