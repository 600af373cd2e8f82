"""What training with several processes (DDP) needs beyond Lightning's defaults.

Lightning starts the processes, averages the gradients and saves checkpoints from rank 0. The
run-specific parts live elsewhere: :class:`~nerveseg.training.datamodule.FramesDataModule` gives
each process its share of the frames (validation unpadded, so the metrics are exact) and
:func:`~nerveseg.training.train.train` lets only rank 0 write the run folder. This module holds the
rest: when BatchNorm can be synchronised, and the running statistics every process validates
with.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from nerveseg.config import TrainConfig


def several_processes(train: TrainConfig) -> bool:
    """True when the run trains with more than one process (``devices=-1`` may mean several)."""
    return train.devices != 1 or train.num_nodes > 1


def sync_batchnorm(train: TrainConfig) -> bool:
    """Whether to use SyncBatchNorm: asked for, several processes, and on GPUs.

    torch's SyncBatchNorm runs only on GPUs. Without it each process normalises its training
    batch with the statistics of its own share of the batch.
    """
    on_gpu = train.accelerator in ("gpu", "cuda") or (
        train.accelerator == "auto" and torch.cuda.is_available()
    )
    return train.sync_batchnorm and several_processes(train) and on_gpu


class AverageBatchNormStatistics(L.Callback):
    """Average BatchNorm running statistics over the processes before each validation.

    DDP copies rank 0's buffers to the others before every training step, but the last step
    updates each process's copy with its own batch. Each process would then validate its share
    with slightly different statistics, and the checkpoint (rank 0's) would not hold the
    statistics the whole validation set was scored with. After averaging (as timm's
    ``distribute_bn`` does), every process, the checkpoint and ``model.pt`` agree.
    """

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.world_size < 2:
            return
        buffers = [
            buffer
            for module in pl_module.modules()
            if isinstance(module, nn.modules.batchnorm._BatchNorm)
            for buffer in (module.running_mean, module.running_var)
            if buffer is not None
        ]
        if not buffers:
            return
        flat = torch.cat([b.detach().float().reshape(-1) for b in buffers])
        flat = trainer.strategy.reduce(flat, reduce_op="mean")
        offset = 0
        with torch.no_grad():
            for buffer in buffers:
                buffer.copy_(flat[offset : offset + buffer.numel()].view_as(buffer))
                offset += buffer.numel()
