"""The Lightning Trainer a run uses: checkpoints, early stopping, logging, precision, processes.

Lightning does the loop; this module only says how: which checkpoints (the best by validation
score, what ``model.pt`` is made from, and the latest every epoch, what ``--resume`` continues),
where the per-session CSV logs go, and which of Lightning's messages are noise here.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from nerveseg import runs
from nerveseg.config import TrainConfig
from nerveseg.errors import ConfigError
from nerveseg.training.averaging import EmaWeights
from nerveseg.training.callbacks import RunProgressBar, ThroughputMeter
from nerveseg.training.distributed import (
    AverageBatchNormStatistics,
    several_processes,
    sync_batchnorm,
)
from nerveseg.training.metrics_log import next_session_name
from nerveseg.training.plateau_resume import ReplayPlateauStep

# Messages Lightning prints on every run that tell a user nothing actionable here.
_LIGHTNING_NOISE = (
    ".*does not have many workers.*",
    ".*overridden `on_after_batch_transfer`.*",
    ".*LeafSpec.*",
    # torchmetrics, with several processes: one process's share of the validation frames held
    # none of a kind (no nerve, say); the metric still adds up the other processes' sums.
    ".*was called before the ``update`` method.*",
)


def build_trainer(
    train: TrainConfig, run: Path, extra_callbacks: Sequence[L.Callback], *, resume: bool
) -> L.Trainer:
    """A Trainer for ``run``; its ``checkpoint_callback`` keeps the best validation score."""
    # Two checkpoints: ModelCheckpoint's save_last only refreshes last.ckpt when the monitored
    # score improves, which would resume from a stale epoch.
    best = ModelCheckpoint(
        dirpath=run / runs.CHECKPOINTS,
        filename=runs.BEST_CHECKPOINT.removesuffix(".ckpt"),
        monitor=runs.VAL_SCORE,
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
        best,  # first: the Trainer's checkpoint_callback
        latest,
        EarlyStopping(monitor=runs.VAL_SCORE, mode="max", patience=train.patience),
        ThroughputMeter(),
        ReplayPlateauStep(),
        *([AverageBatchNormStatistics()] if several_processes(train) else []),
        *([EmaWeights(train.ema_epochs)] if train.ema_epochs > 0 else []),
        *extra_callbacks,
    ]
    if train.progress_bar:
        callbacks.append(RunProgressBar())
    try:
        return _trainer(train, run, callbacks, resume=resume)
    except (MisconfigurationException, ValueError, TypeError, RuntimeError, ImportError) as exc:
        # Lightning refuses some combinations only here (16-mixed on a CPU, say): one line.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"train settings ({train.accelerator}, {train.precision}): {first}"
        ) from None


def _trainer(
    train: TrainConfig, run: Path, callbacks: list[L.Callback], *, resume: bool
) -> L.Trainer:
    return L.Trainer(
        default_root_dir=run,
        max_epochs=train.epochs,
        max_time={"minutes": train.max_minutes} if train.max_minutes > 0 else None,
        accelerator=train.accelerator,
        devices=train.devices,
        num_nodes=train.num_nodes,
        strategy=train.strategy,
        sync_batchnorm=sync_batchnorm(train),
        # FramesDataModule gives each process its share itself, with unpadded validation.
        use_distributed_sampler=False,
        precision=train.precision,
        gradient_clip_val=train.grad_clip_norm or None,
        gradient_clip_algorithm="norm",
        callbacks=callbacks,
        logger=CSVLogger(
            save_dir=run,
            name=runs.LOGS,
            # A new run's folder is emptied after this (rank 0, --overwrite): it starts at 0.
            version=next_session_name(run) if resume else "session-0",
            flush_logs_every_n_steps=1,
        ),
        enable_progress_bar=train.progress_bar,
        enable_model_summary=False,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
        deterministic=False,
    )


def fit(
    trainer: L.Trainer,
    module: L.LightningModule,
    datamodule: L.LightningDataModule,
    resume_from: Path | None,
) -> None:
    """``trainer.fit`` without Lightning's noise; Ctrl-C leaves an interrupted trainer, not an exit."""
    with warnings.catch_warnings():
        for noise in _LIGHTNING_NOISE:
            warnings.filterwarnings("ignore", message=noise)
        try:
            # weights_only whatever TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says: a checkpoint never
            # runs code (nerveseg's hold only tensors and plain values).
            trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
        except SystemExit:
            # Lightning turns Ctrl-C into sys.exit(1) after a graceful shutdown; the last
            # checkpoint is intact, so report an interrupted run instead of vanishing.
            if not trainer.interrupted:
                raise
