"""Frames for Lightning: already decoded in memory, served a batch at a time, in an order that
depends only on (seed, epoch) so a resumed run sees what the uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


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
