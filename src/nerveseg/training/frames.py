"""The frames one run trains on: load (through the cache), split by subject, clean, normalise.

Kept apart from :mod:`nerveseg.training.train` so the loop's wiring and the data's rules each read
on their own. Only training frames are ever cleaned; validation keeps its labels as given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nerveseg import runs
from nerveseg.data.cache import load_set_cached
from nerveseg.data.config import DataConfig
from nerveseg.data.labels import labels_of
from nerveseg.data.loading import LoadedSet, load_set
from nerveseg.data.quality.cleaning import clean_training_frames
from nerveseg.data.samples import discover_labelled
from nerveseg.data.splits import fewer_training_subjects, fold_by_subject, split_by_subject
from nerveseg.data.structures import unpack
from nerveseg.data.sweeps import with_sweep_subjects
from nerveseg.errors import NervesegError
from nerveseg.files import write_json
from nerveseg.training.datamodule import CachedFrames, FramesDataModule

log = logging.getLogger(__name__)


@dataclass
class TrainingFrames:
    """What the loop needs from the data, and what the run's summary reports about it.

    Attributes:
        datamodule: training (cleaned) and validation frames, served to Lightning.
        mean, std: normalisation of [0, 1] intensities, from the training frames.
        original_shape: the first frame's ``(H, W)``, to scale area thresholds.
        train_count: training frames after cleaning.
        val_nonempty: ``(V, S)`` bool, which validation masks show each structure.
        records: what the run folder records about the frames, by file name (``split.json``,
            ``clean.json``); written by :func:`record_frames` once the folder is ready.
    """

    datamodule: FramesDataModule
    mean: float
    std: float
    original_shape: tuple[int, int]
    train_count: int
    val_nonempty: np.ndarray
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


def prepare_frames(
    data_config: DataConfig, run: Path, *, batch_size: int, seed: int, resume: bool
) -> TrainingFrames:
    """Load, split, normalise and clean the frames ``data_config`` names, for one run.

    Nothing is written: a run folder is only touched once its data is known to load, so a
    typo or a corrupt frame cannot cost an ``--overwrite``-n run. :func:`record_frames`
    writes the split and the cleaning summary afterwards (rank 0 only with several processes).
    """
    data = load_training_data(data_config)
    train_idx, val_idx, split_record = split_frames(data_config, data, run, resume)
    mean, std = intensity_stats(data.images[train_idx])
    train_images, train_masks, clean_record = cleaned_training_frames(data_config, data, train_idx)
    records = {runs.SPLIT: split_record, runs.CLEAN_SUMMARY: clean_record}
    images, masks = as_tensors(data)
    datamodule = FramesDataModule(
        CachedFrames(train_images, train_masks),
        CachedFrames(images[val_idx], masks[val_idx]),
        batch_size=batch_size,
        seed=seed,
    )
    return TrainingFrames(
        datamodule=datamodule,
        mean=mean,
        std=std,
        original_shape=data.original_shapes[0],
        train_count=len(train_images),
        val_nonempty=structures_shown(data.masks[val_idx], len(data_config.structures)),
        records={name: record for name, record in records.items() if record is not None},
    )


def record_frames(frames: TrainingFrames, run: Path) -> None:
    """Write what :func:`prepare_frames` decided (split, cleaning) into the run folder."""
    for name, record in frames.records.items():
        write_json(Path(run) / name, record)


def load_training_data(config: DataConfig) -> LoadedSet:
    """Every labelled frame of ``config.root`` at ``config.image_size``, through the cache."""
    if not config.root:
        raise NervesegError("no training data given: pass --data DIR (or set data.root)")
    root = Path(config.root)
    samples = discover_labelled(root, skip_bad=config.skip_bad)
    size = tuple(config.image_size)
    log.info("loading %d labelled frames from %s at %dx%d", len(samples), root, *size)
    how = {"labels": labels_of(config), "resize": config.resize, "skip_bad": config.skip_bad}
    if config.cache:
        cache_dir = Path(config.cache_dir) if config.cache_dir else None
        data = load_set_cached(samples, size, cache_dir=cache_dir, progress=True, **how)
    else:
        data = load_set(samples, size, progress=True, **how)
    warn_about_labels(data, root)
    return with_sweep_subjects(data, config.sweep_threshold)


def warn_about_labels(data: LoadedSet, root: Path) -> None:
    """Training goes on, but a set with one kind of mask only cannot teach the other kind."""
    nonempty = int(data.masks.reshape(len(data.masks), -1).any(1).sum())
    if nonempty == 0:
        log.warning(
            "every mask in %s is empty: the model can only learn to predict no nerve. Check the "
            "masks (nerveseg inspect %s) before spending time on training.",
            root,
            root,
        )
    elif nonempty == len(data.masks):
        log.warning(
            "no mask in %s is empty: the model never sees a frame without a nerve and will "
            "tend to find one everywhere; the competition score then equals Dice on nerve frames.",
            root,
        )


def _indices_named(names: list[str], wanted: list[str]) -> np.ndarray:
    """Positions in ``names`` of the frames a ``split.json`` list names, in data order."""
    chosen = set(wanted)
    return np.array([i for i, n in enumerate(names) if n in chosen], dtype=np.int64)


def split_frames(
    config: DataConfig, data: LoadedSet, run: Path, resume: bool
) -> tuple[np.ndarray, np.ndarray, dict[str, Any] | None]:
    """Training and validation indices: by subject, or by fold, then ``data.train_subjects`` of
    the training subjects only when set; a resumed run keeps the frames its ``split.json`` names.

    The third item is the ``split.json`` record of a new split (None when resumed).
    """
    names = [s.name for s in data.samples]
    if resume and (run / runs.SPLIT).is_file():
        split = runs.read_json(run / runs.SPLIT)
        return _indices_named(names, split["train"]), _indices_named(names, split["val"]), None
    subjects = [s.subject for s in data.samples]
    if config.folds:
        has_nerve = data.masks.reshape(len(names), -1).any(1).tolist()
        train_idx, val_idx = fold_by_subject(
            subjects, has_nerve, config.folds, config.fold, config.split_seed
        )
    else:
        train_idx, val_idx = split_by_subject(subjects, config.val_fraction, config.split_seed)
    train_idx = fewer_training_subjects(
        subjects, train_idx, config.train_subjects, config.split_seed
    )
    record = {
        "folds": config.folds,
        "fold": config.fold,
        # Absolute, so `nerveseg evaluate --run` works from any folder.
        "data": str(Path(config.root).resolve()),
        "val_subjects": sorted({subjects[i] for i in val_idx}),
        "train": [names[i] for i in train_idx],
        "val": [names[i] for i in val_idx],
    }
    return train_idx, val_idx, record


def structures_shown(masks: np.ndarray, count: int) -> np.ndarray:
    """``(N, S)`` bool: which of ``count`` structures each packed ``(N, h, w)`` mask shows."""
    return unpack(masks, count).reshape(len(masks), count, -1).any(2)


def intensity_stats(images: np.ndarray) -> tuple[float, float]:
    """Mean and std of the training images in [0, 1]: the normalisation stored with the model."""
    values = images.astype(np.float32) / 255.0
    return float(values.mean()), float(max(values.std(), 1e-3))


def as_tensors(data: LoadedSet) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(np.ascontiguousarray(data.images))[:, None]
    masks = torch.from_numpy(np.ascontiguousarray(data.masks).astype(np.uint8))[:, None]
    return images, masks


def cleaned_training_frames(
    config: DataConfig, data: LoadedSet, train_idx: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any] | None]:
    """The training frames after ``data.clean`` repaired or dropped contradictory near-duplicates.

    Only training frames are ever cleaned: validation keeps its labels as given, so scores stay
    comparable between policies. The third item is the ``clean.json`` record (None: no cleaning).
    """
    images, masks = data.images[train_idx], data.masks[train_idx]
    record = None
    if config.clean != "none":
        subjects = [data.samples[i].subject for i in train_idx]
        result = clean_training_frames(
            images, masks, subjects, config.clean, config.duplicate_threshold
        )
        images, masks = images[result.keep], result.masks[result.keep]
        log.info(
            "clean=%s: %d near-duplicate groups, %d contradictory; %d masks changed, %d frames "
            "dropped",
            config.clean,
            len(result.groups),
            sum(g.contradictory for g in result.groups),
            result.changed_frames,
            result.dropped_frames,
        )
        record = _clean_summary(config, data, train_idx, result)
    tensors = as_tensors(LoadedSet(samples=[], images=images, masks=masks, original_shapes=[]))
    return (*tensors, record)


def _clean_summary(config: DataConfig, data: LoadedSet, train_idx, result) -> dict[str, Any]:
    names = [data.samples[i].name for i in train_idx]
    return {
        "policy": config.clean,
        "threshold": config.duplicate_threshold,
        "groups": len(result.groups),
        "contradictory_groups": sum(g.contradictory for g in result.groups),
        "changed_frames": result.changed_frames,
        "dropped_frames": result.dropped_frames,
        "contradictory": [
            {"frames": [names[m] for m in g.members], "reason": g.reason}
            for g in result.groups
            if g.contradictory
        ],
    }
