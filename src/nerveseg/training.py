"""``train(config, run)``: one plain function the CLI (and later the tuner) calls.

Steps: validate and cache the data once, split by subject, build the model, let Lightning run
the loop (early stopping on the validation competition score, best and last checkpoints, CSV
metrics, exact resume), then write a self-describing ``model.pt`` and ``summary.json``.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from nerveseg import runs
from nerveseg.checkpoint import ModelInfo, save_model_file
from nerveseg.config import RunConfig, read_run_config, save_config, to_dict
from nerveseg.data.augment import build_augmentation
from nerveseg.data.loading import LoadedSet, load_set
from nerveseg.data.samples import discover_labelled
from nerveseg.data.splits import fold_by_subject, split_by_subject
from nerveseg.errors import NervesegError
from nerveseg.files import write_json
from nerveseg.lightning_module import (
    CachedFrames,
    FramesDataModule,
    RunProgressBar,
    SegmentationModule,
    ThroughputMeter,
)
from nerveseg.losses import BCEDiceLoss
from nerveseg.metrics import all_empty_score
from nerveseg.metrics_log import LOGS, best_row, merge_sessions, next_session_name
from nerveseg.models import build_model
from nerveseg.postprocess import scale_area

log = logging.getLogger(__name__)

# Messages Lightning prints on every run that tell a user nothing actionable here.
_LIGHTNING_NOISE = (
    ".*does not have many workers.*",
    ".*overridden `on_after_batch_transfer`.*",
    ".*LeafSpec.*",
)


@dataclass
class RunResult:
    """What a finished training run reports (also written as ``summary.json``)."""

    run: str
    best_epoch: int
    epochs_trained: int
    best_val_score: float
    val_dice_nerve: float
    val_false_detection_rate: float
    all_empty_val_score: float
    train_images: int
    val_images: int
    train_images_per_s: float
    seconds: float
    interrupted: bool = False


def train(
    config: RunConfig,
    run: Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    callbacks: Sequence[L.Callback] = (),
) -> RunResult:
    """Train a model as ``config`` says, in the run folder ``run``.

    With ``resume``, the run's saved config is used and training continues from its last
    checkpoint exactly where it stopped (same data order and augmentation draws). Extra
    Lightning ``callbacks`` (a tuner's pruning hook, say) join the built-in ones.
    """
    run = Path(run)
    runs.prepare_run_dir(run, overwrite=overwrite, resume=resume)
    if resume:
        config = read_run_config(run / runs.CONFIG)
    else:
        save_config(config, run / runs.CONFIG)
    started = time.perf_counter()

    data = _load_training_data(config)
    train_idx, val_idx = _split(config, data, run, resume)
    mean, std = _intensity_stats(data.images[train_idx])
    L.seed_everything(config.train.seed, workers=True, verbose=False)
    model_kwargs = {"width": config.model.width}
    model = build_model(config.model.name, **model_kwargs)

    size = tuple(config.data.image_size)
    min_area_train = scale_area(config.postprocess.min_area, data.original_shapes[0], size)
    module = SegmentationModule(
        model,
        BCEDiceLoss(config.loss.bce_weight, config.loss.dice_weight, config.loss.smooth),
        config.optim,
        mean,
        std,
        augmentation=build_augmentation(config.augment),
        threshold=config.postprocess.threshold,
        min_area=min_area_train,
        seed=config.train.seed,
    )
    frames = _as_tensors(data)
    datamodule = FramesDataModule(
        CachedFrames(frames[0][train_idx], frames[1][train_idx]),
        CachedFrames(frames[0][val_idx], frames[1][val_idx]),
        batch_size=config.train.batch_size,
        seed=config.train.seed,
    )
    trainer, checkpoint = _make_trainer(config, run, callbacks)
    last = run / runs.CHECKPOINTS / runs.LAST_CHECKPOINT
    with warnings.catch_warnings():
        for noise in _LIGHTNING_NOISE:
            warnings.filterwarnings("ignore", message=noise)
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if resume else None)
        except SystemExit:
            # Lightning turns Ctrl-C into sys.exit(1) after a graceful shutdown; the last
            # checkpoint is intact, so report an interrupted run instead of vanishing.
            if not trainer.interrupted:
                raise

    truth_nonempty = data.masks[val_idx].reshape(len(val_idx), -1).any(1)
    result = _finish(
        config, run, trainer, checkpoint, model, mean, std, started, truth_nonempty, len(train_idx)
    )
    return result


def _load_training_data(config: RunConfig) -> LoadedSet:
    if not config.data.root:
        raise NervesegError("no training data given: pass --data DIR (or set data.root)")
    root = Path(config.data.root)
    samples = discover_labelled(root, skip_bad=config.data.skip_bad)
    size = tuple(config.data.image_size)
    if len(size) != 2:
        raise NervesegError(f"data.image_size must be [height, width], got {list(size)}")
    log.info("loading %d labelled frames from %s at %dx%d", len(samples), root, *size)
    return load_set(samples, size, skip_bad=config.data.skip_bad, progress=True)


def _split(config: RunConfig, data: LoadedSet, run: Path, resume: bool):
    names = [s.name for s in data.samples]
    if resume and (run / runs.SPLIT).is_file():
        val_names = set(runs.read_json(run / runs.SPLIT)["val"])
        is_val = np.array([n in val_names for n in names])
        return np.flatnonzero(~is_val), np.flatnonzero(is_val)
    subjects = [s.subject for s in data.samples]
    if config.data.folds:
        has_nerve = data.masks.reshape(len(names), -1).any(1).tolist()
        train_idx, val_idx = fold_by_subject(
            subjects, has_nerve, config.data.folds, config.data.fold, config.data.split_seed
        )
    else:
        train_idx, val_idx = split_by_subject(
            subjects, config.data.val_fraction, config.data.split_seed
        )
    write_json(
        run / runs.SPLIT,
        {
            "folds": config.data.folds,
            "fold": config.data.fold,
            # Absolute, so `nerveseg evaluate --run` works from any folder.
            "data": str(Path(config.data.root).resolve()),
            "val_subjects": sorted({subjects[i] for i in val_idx}),
            "train": [names[i] for i in train_idx],
            "val": [names[i] for i in val_idx],
        },
    )
    return train_idx, val_idx


def _intensity_stats(images: np.ndarray) -> tuple[float, float]:
    """Mean and std of the training images in [0, 1]: the normalisation stored with the model."""
    values = images.astype(np.float32) / 255.0
    return float(values.mean()), float(max(values.std(), 1e-3))


def _as_tensors(data: LoadedSet) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(np.ascontiguousarray(data.images))[:, None]
    masks = torch.from_numpy(np.ascontiguousarray(data.masks).astype(np.uint8))[:, None]
    return images, masks


def _make_trainer(
    config: RunConfig, run: Path, extra_callbacks: Sequence[L.Callback]
) -> tuple[L.Trainer, ModelCheckpoint]:
    train_cfg = config.train
    # Two checkpoints: the best by validation score (what model.pt is made from), and the
    # latest every epoch for --resume. ModelCheckpoint's save_last only refreshes last.ckpt when
    # the monitored score improves, which would resume from a stale epoch.
    checkpoint = ModelCheckpoint(
        dirpath=run / runs.CHECKPOINTS,
        filename="best",
        monitor="val/score",
        mode="max",
        enable_version_counter=False,
    )
    latest = ModelCheckpoint(
        dirpath=run / runs.CHECKPOINTS,
        filename=runs.LAST_CHECKPOINT.removesuffix(".ckpt"),
        monitor=None,
        save_top_k=1,
        enable_version_counter=False,
    )
    callbacks = [
        checkpoint,
        latest,
        EarlyStopping(monitor="val/score", mode="max", patience=train_cfg.patience),
        ThroughputMeter(),
        *extra_callbacks,
    ]
    if train_cfg.progress_bar:
        callbacks.append(RunProgressBar())
    max_time = {"minutes": train_cfg.max_minutes} if train_cfg.max_minutes > 0 else None
    trainer = L.Trainer(
        default_root_dir=run,
        max_epochs=train_cfg.epochs,
        max_time=max_time,
        accelerator=train_cfg.accelerator,
        devices=train_cfg.devices,
        precision=train_cfg.precision,
        callbacks=callbacks,
        logger=CSVLogger(
            save_dir=run, name=LOGS, version=next_session_name(run), flush_logs_every_n_steps=1
        ),
        enable_progress_bar=train_cfg.progress_bar,
        enable_model_summary=False,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
        deterministic=False,
    )
    return trainer, checkpoint


def _finish(
    config, run, trainer, checkpoint, model, mean, std, started, truth_nonempty, train_count
) -> RunResult:
    rows = merge_sessions(run)
    metrics = best_row(rows)
    speeds = [r["train/images_per_s"] for r in rows if "train/images_per_s" in r]
    best_path = checkpoint.best_model_path or str(run / runs.CHECKPOINTS / runs.LAST_CHECKPOINT)
    state = torch.load(best_path, map_location="cpu", weights_only=True)["state_dict"]
    model.load_state_dict(
        {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    )
    info = ModelInfo(
        model_name=config.model.name,
        model_kwargs={"width": config.model.width},
        image_size=tuple(config.data.image_size),
        mean=mean,
        std=std,
        threshold=config.postprocess.threshold,
        min_area=config.postprocess.min_area,
        epoch=int(metrics.get("epoch", -1)),
        score=float(metrics.get("val/score", float("nan"))),
        config=to_dict(config),
    )
    save_model_file(run / runs.MODEL, model, info)
    result = RunResult(
        run=str(run),
        best_epoch=info.epoch,
        epochs_trained=trainer.current_epoch,
        best_val_score=info.score,
        val_dice_nerve=float(metrics.get("val/dice_nerve", float("nan"))),
        val_false_detection_rate=float(metrics.get("val/false_detection_rate", float("nan"))),
        all_empty_val_score=all_empty_score(truth_nonempty),
        train_images=train_count,
        val_images=int(truth_nonempty.size),
        train_images_per_s=float(np.median(speeds)) if speeds else float("nan"),
        seconds=time.perf_counter() - started,
        interrupted=bool(trainer.interrupted),
    )
    if not trainer.interrupted:
        write_json(run / runs.SUMMARY, result.__dict__)
    return result
