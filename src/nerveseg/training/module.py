"""The LightningModule and DataModule: thin wrappers that let Lightning run the loop.

The module holds the model, the loss, the validation metrics and the optimizer; the data module
serves frames that were decoded and resized once (uint8 tensors in memory). Conversion to float,
augmentation and normalisation happen after the batch reaches its device, so a GPU does that
work itself and never waits on CPU workers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import lightning as L
import torch
from lightning.pytorch.callbacks import TQDMProgressBar
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from torchmetrics import MeanMetric

from nerveseg.config import OptimConfig
from nerveseg.data.augment import augment_batch
from nerveseg.metrics import dice
from nerveseg.models.outputs import split_output
from nerveseg.postprocess import gate_by_presence, probabilities_to_masks


class CachedFrames(Dataset):
    """Frames already in memory as ``(N, 1, H, W)`` uint8 images and masks; fetched a batch at a time."""

    def __init__(self, images: torch.Tensor, masks: torch.Tensor) -> None:
        self.images, self.masks = images, masks

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.masks[index]

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices, device=self.images.device)
        return self.images[index], self.masks[index]

    def to(self, device: torch.device) -> CachedFrames:
        """The same frames on ``device``: on a GPU a batch is then a gather there, no copy."""
        return CachedFrames(self.images.to(device), self.masks.to(device))


def _already_batched(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return batch


class EpochShuffle(Sampler[int]):
    """A shuffle that depends only on (seed, epoch), so a resumed run sees the same order.

    With several processes (DDP), process ``rank`` of ``world_size`` takes every
    ``world_size``-th index of that one order, padded with its head to a multiple of
    ``world_size`` as torch's DistributedSampler pads. Step k of all processes together then
    covers the frames of step k of one process with ``world_size`` times the batch.
    Lightning calls ``set_epoch`` at the start of every epoch.
    """

    def __init__(self, size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.seed, self.epoch = size, seed, 0
        self.rank, self.world_size = rank, world_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.size // self.world_size)

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        total = len(self) * self.world_size
        while len(order) < total:
            order += order[: total - len(order)]
        return iter(order[self.rank : total : self.world_size])


class FramesDataModule(L.LightningDataModule):
    """Training and validation frames from memory."""

    def __init__(self, train: CachedFrames, val: CachedFrames, batch_size: int, seed: int) -> None:
        super().__init__()
        self.train_set, self.val_set = train, val
        self.batch_size, self.seed = batch_size, seed

    def setup(self, stage: str) -> None:
        # On a GPU the whole set moves there once (5,635 Kaggle frames at 128x160 are 0.23 GB
        # with masks): no host-to-device copy per batch, and the CPU only draws indices.
        trainer = self.trainer
        device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        if device.type == "cuda":
            self.train_set, self.val_set = self.train_set.to(device), self.val_set.to(device)

    def _rank(self) -> tuple[int, int]:
        # The Trainer runs with use_distributed_sampler=False: each process picks its share here.
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> DataLoader:
        rank, world_size = self._rank()
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=EpochShuffle(len(self.train_set), self.seed, rank, world_size),
            collate_fn=_already_batched,
        )

    def val_dataloader(self) -> DataLoader:
        # Each process validates its own contiguous slice, unpadded, and the metrics add up the
        # slices' sums: the one-process result. (DistributedSampler would pad with repeats.)
        rank, world_size = self._rank()
        size = len(self.val_set)
        share = range(size * rank // world_size, size * (rank + 1) // world_size)
        return DataLoader(
            self.val_set, batch_size=self.batch_size * 2, sampler=share, collate_fn=_already_batched
        )


class SegmentationModule(L.LightningModule):
    """Model + loss + competition metrics + Adam.

    Args:
        model: any registered network (logits out, or ``(mask_logits, presence_logits)``).
        loss: maps ``(model output, target)`` to a scalar.
        optim: learning rate and schedule.
        mean, std: normalisation of [0, 1] intensities, from the training set.
        augmentation: a kornia pipeline or None.
        threshold, min_area: post-processing used for the validation score (min_area in
            pixels at the training size).
        presence_threshold: with a presence head, frames whose presence probability is below
            this score as empty predictions; 0 = off.
        seed: reseeds augmentation each epoch so a resumed run repeats it exactly.
        channels_last: NHWC memory layout for the model and its inputs (GPU speed).
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        optim: OptimConfig,
        mean: float,
        std: float,
        augmentation: nn.Module | None = None,
        threshold: float = 0.5,
        min_area: int = 0,
        seed: int = 0,
        presence_threshold: float = 0.0,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.channels_last = channels_last
        self.model, self.loss, self.optim = model, loss, optim
        self.mean, self.std = mean, std
        self.augmentation = augmentation
        self.threshold, self.min_area, self.seed = threshold, min_area, seed
        self.presence_threshold = presence_threshold
        self.val_loss = MeanMetric()
        self.val_score = MeanMetric()
        self.val_dice_nerve = MeanMetric()
        self.val_false_detection = MeanMetric()
        self.val_presence_accuracy = MeanMetric()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, masks = batch
        images = images.float() / 255.0
        masks = masks.float()
        if self.trainer is not None and self.trainer.training:
            # Augmentation draws depend only on (seed, step): a resumed run repeats them exactly,
            # whatever order Lightning's hooks run in after a restore.
            # Each process of a multi-process run draws its own augmentations.
            step = self.seed * 100_003 + self.global_step
            torch.manual_seed(step * self.trainer.world_size + self.global_rank)
            images, masks = augment_batch(self.augmentation, images, masks)
        images = (images - self.mean) / self.std
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, masks

    def on_fit_start(self) -> None:
        if self.channels_last:  # NHWC convolutions: faster with tensor cores and large inputs
            self.model.to(memory_format=torch.channels_last)

    def on_train_epoch_start(self) -> None:
        # The data order depends only on (seed, epoch), so a resumed run sees what the
        # uninterrupted run would have seen. Set it from the restored epoch explicitly.
        sampler = getattr(self.trainer.train_dataloader, "sampler", None)
        if callable(getattr(sampler, "set_epoch", None)):
            sampler.set_epoch(self.current_epoch)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, masks = batch
        loss = self.loss(self(images), masks)
        self.log(
            "train/loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=len(images),
            sync_dist=True,  # the epoch's mean over every process (DDP), once per epoch
        )
        return loss

    def on_train_epoch_end(self) -> None:
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], sync_dist=True)

    def validation_step(self, batch, batch_idx: int) -> None:
        images, masks = batch
        output = self(images)
        self.val_loss.update(self.loss(output, masks), weight=len(images))
        logits, presence_logits = split_output(output)
        presence = None if presence_logits is None else torch.sigmoid(presence_logits.float())
        predicted = probabilities_to_masks(
            torch.sigmoid(logits[:, 0]), self.threshold, self.min_area
        )
        predicted = gate_by_presence(predicted, presence, self.presence_threshold)
        truth = masks[:, 0] > 0.5
        per_image = dice(predicted, truth).float()
        self.val_score.update(per_image)
        has_nerve = truth.flatten(1).any(1)
        if has_nerve.any():
            self.val_dice_nerve.update(per_image[has_nerve])
        if (~has_nerve).any():
            detected = predicted.flatten(1).any(1)[~has_nerve].float()
            self.val_false_detection.update(detected)
        if presence is not None:
            self.val_presence_accuracy.update(((presence >= 0.5) == has_nerve).float())

    def on_validation_epoch_end(self) -> None:
        for name, metric in (
            ("val/loss", self.val_loss),
            ("val/score", self.val_score),
            ("val/dice_nerve", self.val_dice_nerve),
            ("val/false_detection_rate", self.val_false_detection),
            ("val/presence_accuracy", self.val_presence_accuracy),
        ):
            # compute() adds up every process's sums (DDP), so every process calls it, also one
            # whose slice held no frame of this kind; NaN = no such frame anywhere, no row.
            if metric.update_count or self.trainer.world_size > 1:
                value = metric.compute()
                if not torch.isnan(value):
                    # Already reduced: sync_dist averages equal values (and keeps Lightning quiet).
                    prog_bar = name in ("val/score", "val/dice_nerve")
                    self.log(name, value, prog_bar=prog_bar, sync_dist=True)
            metric.reset()

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(
            self.model.parameters(), lr=self.optim.lr, weight_decay=self.optim.weight_decay
        )
        if self.optim.scheduler == "plateau":
            # On the validation loss, not the score: the score sits at the all-empty level
            # for the first epochs while the loss already shows progress.
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode="min",
                factor=self.optim.plateau_factor,
                patience=self.optim.plateau_patience,
            )
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss"},
            }
        if self.optim.scheduler == "cosine":
            epochs = max(1, self.trainer.max_epochs or 1)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
            return {"optimizer": optimizer, "lr_scheduler": scheduler}
        return optimizer


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
