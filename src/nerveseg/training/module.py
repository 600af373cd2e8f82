"""The LightningModule: model, loss, validation metrics and optimizer, and nothing else.

Conversion to float, augmentation and normalisation happen after the batch reaches its device,
so a GPU does that work itself and never waits on CPU workers; that is also where the packed
masks (a bit per structure, see :mod:`nerveseg.data.structures`) become one channel per
structure. Validation scores masks made by the run's post-processing (threshold and gates, at
the training size) exactly as the competition scores them, per image and per structure
(:mod:`nerveseg.training.validation`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import lightning as L
import torch
from lightning.pytorch.callbacks import Timer
from torch import nn
from torchmetrics import MeanMetric

from nerveseg.config import OptimConfig
from nerveseg.data.augment import augment_batch
from nerveseg.data.structures import DEFAULT_STRUCTURES, unpack
from nerveseg.models.outputs import presence_columns, split_output
from nerveseg.postprocess import PostprocessParams, postprocess_batch
from nerveseg.training.optimizer import build_optimizer
from nerveseg.training.schedule import budget_progress, warmup_cosine
from nerveseg.training.validation import StructureValidation, prog_bar_names


class SegmentationModule(L.LightningModule):
    """Model + loss + competition metrics + Adam.

    Args:
        model: any registered network (logits out, or ``(mask_logits, presence_logits)``).
        loss: maps ``(model output, target)`` to a scalar.
        optim: learning rate and schedule.
        mean, std: normalisation of [0, 1] intensities, from the training set.
        augmentation: a kornia pipeline or None.
        postprocess: how validation turns probabilities into masks: the threshold and the
            gates, with areas in pixels at the training size
            (:meth:`~nerveseg.postprocess.PostprocessParams.scaled`).
        seed: reseeds augmentation each epoch so a resumed run repeats it exactly.
        channels_last: NHWC memory layout for the model and its inputs (GPU speed).
        structures: the structure names in channel order (``data.structures``); the model has
            one output channel per structure.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        optim: OptimConfig,
        mean: float,
        std: float,
        augmentation: nn.Module | None = None,
        postprocess: PostprocessParams | None = None,
        seed: int = 0,
        channels_last: bool = False,
        structures: Sequence[str] = tuple(DEFAULT_STRUCTURES),
    ) -> None:
        super().__init__()
        self.channels_last = channels_last
        self.model, self.loss, self.optim = model, loss, optim
        self.mean, self.std = mean, std
        self.augmentation = augmentation
        self.postprocess = postprocess or PostprocessParams()
        self.seed = seed
        self.structures = list(structures)
        self.val_loss = MeanMetric()
        self.val_figures = StructureValidation(self.structures)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, masks = batch
        images = images.float() / 255.0
        masks = unpack(masks[:, 0], len(self.structures)).float()  # (B, S, h, w) {0, 1}
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
        presence = None
        if presence_logits is not None:
            presence = presence_columns(torch.sigmoid(presence_logits.float()))  # (B, S)
        predicted = postprocess_batch(torch.sigmoid(logits), self.postprocess, presence)
        self.val_figures.update(predicted, masks > 0.5, presence)

    def on_validation_epoch_end(self) -> None:
        # compute() adds up every process's sums (DDP), so every process calls it, also one
        # whose slice held no frame of this kind; NaN = no such frame anywhere, no row.
        world_size = self.trainer.world_size
        values = {}
        if self.val_loss.update_count or world_size > 1:
            values["val/loss"] = self.val_loss.compute()
        self.val_loss.reset()
        values.update(self.val_figures.compute(world_size))
        shown = prog_bar_names(self.structures)
        for name, value in values.items():
            if not torch.isnan(value):
                # Already reduced: sync_dist averages equal values (and keeps Lightning quiet).
                self.log(name, value, prog_bar=name in shown, sync_dist=True)

    def configure_optimizers(self):
        optimizer = build_optimizer(
            self.optim.optimizer, self.model, self.optim.lr, self.optim.weight_decay
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
        if self.optim.scheduler == "warmup_cosine":
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._budget_factor)
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
            }
        if self.optim.scheduler == "cosine":
            epochs = max(1, self.trainer.max_epochs or 1)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
            return {"optimizer": optimizer, "lr_scheduler": scheduler}
        return optimizer

    def _budget_factor(self, step: int) -> float:
        """The warm-up + cosine factor at ``step``, over the epoch or wall-clock budget."""
        trainer = self.trainer
        total = float(trainer.estimated_stepping_batches)
        epochs = max(1, trainer.max_epochs or 1)
        warmup = round(self.optim.warmup_epochs * total / epochs) if math.isfinite(total) else 0
        timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
        elapsed = timer.time_elapsed("train") if timer is not None else 0.0
        remaining = timer.time_remaining("train") if timer is not None else None
        budget = elapsed + remaining if remaining is not None else 0.0
        return warmup_cosine(step, warmup, budget_progress(step, total, elapsed, budget))
