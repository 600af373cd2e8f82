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
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only

from nerveseg import runs
from nerveseg.checkpoint import ModelInfo, save_model_file
from nerveseg.config import ModelConfig, RunConfig, read_run_config, save_config, to_dict
from nerveseg.data.augment import build_augmentation
from nerveseg.data.quality.cleaning import check_policy
from nerveseg.files import write_json
from nerveseg.losses import BCEDiceLoss
from nerveseg.metrics import all_empty_score
from nerveseg.models import build_model
from nerveseg.models.pretrained import load_vgg16_bn_encoder
from nerveseg.postprocess import scale_area
from nerveseg.training.distributed import (
    AverageBatchNormStatistics,
    several_processes,
    sync_batchnorm,
)
from nerveseg.training.frames import (
    as_tensors,
    cleaned_training_frames,
    intensity_stats,
    load_training_data,
    split_frames,
)
from nerveseg.training.metrics_log import LOGS, best_row, merge_sessions, next_session_name
from nerveseg.training.module import (
    CachedFrames,
    FramesDataModule,
    RunProgressBar,
    SegmentationModule,
    ThroughputMeter,
)

log = logging.getLogger(__name__)

# Messages Lightning prints on every run that tell a user nothing actionable here.
_LIGHTNING_NOISE = (
    ".*does not have many workers.*",
    ".*overridden `on_after_batch_transfer`.*",
    ".*LeafSpec.*",
    # torchmetrics, with several processes: one process's share of the validation frames held
    # none of a kind (no nerve, say); the metric still adds up the other processes' sums.
    ".*was called before the ``update`` method.*",
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

    With several processes (``train.devices`` * ``train.num_nodes`` > 1, DDP) every process
    runs this function; only global rank 0 writes to ``run`` and returns the full result.
    """
    run = Path(run)
    check_policy(config.data.clean)  # a typo fails now, not after loading the data
    if resume:
        runs.prepare_run_dir(run, resume=True)  # only checks that there is something to resume
        config = read_run_config(run / runs.CONFIG)
    trainer, checkpoint = _make_trainer(config, run, callbacks, resume=resume)
    writer = trainer.is_global_zero  # the Trainer reads each process's rank from its environment
    if writer and not resume:
        runs.prepare_run_dir(run, overwrite=overwrite)
        save_config(config, run / runs.CONFIG)
    started = time.perf_counter()

    data = load_training_data(config)
    train_idx, val_idx = split_frames(config, data, run, resume, write=writer)
    mean, std = intensity_stats(data.images[train_idx])
    L.seed_everything(config.train.seed, workers=True, verbose=False)
    model = build_model(config.model.name, **model_kwargs(config.model))
    if config.model.encoder_weights and not resume:  # a resumed run has its weights already
        load_vgg16_bn_encoder(model, Path(config.model.encoder_weights))

    size = tuple(config.data.image_size)
    min_area_train = scale_area(config.postprocess.min_area, data.original_shapes[0], size)
    module = SegmentationModule(
        model,
        BCEDiceLoss(
            config.loss.bce_weight,
            config.loss.dice_weight,
            config.loss.smooth,
            presence_weight=config.loss.presence_weight,
        ),
        config.optim,
        mean,
        std,
        augmentation=build_augmentation(config.augment),
        threshold=config.postprocess.threshold,
        min_area=min_area_train,
        seed=config.train.seed,
        presence_threshold=config.postprocess.presence_threshold,
        channels_last=config.train.channels_last,
    )
    frames = as_tensors(data)
    train_images, train_masks = cleaned_training_frames(config, data, train_idx, run, writer)
    datamodule = FramesDataModule(
        CachedFrames(train_images, train_masks),
        CachedFrames(frames[0][val_idx], frames[1][val_idx]),
        batch_size=config.train.batch_size,
        seed=config.train.seed,
    )
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
    if not writer:
        return _other_process_result(run, trainer, checkpoint, truth_nonempty, len(train_images))
    result = _finish(
        config,
        run,
        trainer,
        checkpoint,
        model,
        mean,
        std,
        started,
        truth_nonempty,
        len(train_images),
    )
    return result


def model_kwargs(model: ModelConfig) -> dict[str, Any]:
    """The ``build_model`` arguments of a model config; stored in ``model.pt`` to rebuild it.

    ``encoder_weights`` is not among them: those weights are loaded after building, so a model
    file never depends on that file.
    """
    kwargs: dict[str, Any] = {"width": model.width, "presence_head": model.presence_head}
    if model.depth:  # 0 = the architecture's own depth
        kwargs["depth"] = model.depth
    return kwargs


def _make_trainer(
    config: RunConfig, run: Path, extra_callbacks: Sequence[L.Callback], *, resume: bool = False
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
        *([AverageBatchNormStatistics()] if several_processes(train_cfg) else []),
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
        num_nodes=train_cfg.num_nodes,
        strategy=train_cfg.strategy,
        sync_batchnorm=sync_batchnorm(train_cfg),
        # FramesDataModule gives each process its share itself, with unpadded validation.
        use_distributed_sampler=False,
        precision=train_cfg.precision,
        callbacks=callbacks,
        logger=CSVLogger(
            save_dir=run,
            name=LOGS,
            # A new run's folder is emptied after this (rank 0, --overwrite): it starts at 0.
            version=next_session_name(run) if resume else "session-0",
            flush_logs_every_n_steps=1,
        ),
        enable_progress_bar=train_cfg.progress_bar,
        enable_model_summary=False,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
        deterministic=False,
    )
    return trainer, checkpoint


def _other_process_result(run, trainer, checkpoint, truth_nonempty, train_count) -> RunResult:
    """What a process other than rank 0 knows; it writes nothing (rank 0 reports the run)."""
    best = checkpoint.best_model_score
    return RunResult(
        run=str(run),
        best_epoch=-1,
        epochs_trained=trainer.current_epoch,
        best_val_score=float(best) if best is not None else float("nan"),
        val_dice_nerve=float("nan"),
        val_false_detection_rate=float("nan"),
        all_empty_val_score=all_empty_score(truth_nonempty),
        train_images=train_count,
        val_images=int(truth_nonempty.size),
        train_images_per_s=float("nan"),
        seconds=float("nan"),
        interrupted=bool(trainer.interrupted),
    )


def is_main_process() -> bool:
    """False in the other processes of a multi-process (DDP) run, once train() has begun."""
    return rank_zero_only.rank == 0


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
        model_kwargs=model_kwargs(config.model),
        image_size=tuple(config.data.image_size),
        mean=mean,
        std=std,
        threshold=config.postprocess.threshold,
        min_area=config.postprocess.min_area,
        # The gate needs presence probabilities: a model without a head must not ask for it.
        presence_threshold=(
            config.postprocess.presence_threshold if config.model.presence_head else 0.0
        ),
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
