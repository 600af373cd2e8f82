"""``train(config, run)``: one plain function the CLI, the tuner and the comparison all call.

Steps: check the config, prepare the run folder, load and split the frames once, build the
model, let Lightning run the loop (early stopping on the validation competition score, best and
last checkpoints, CSV metrics, exact resume), then write a self-describing ``model.pt`` and
``summary.json``. :func:`continue_run` decides between reusing, resuming and starting a run;
:func:`train_folds` trains every fold of a cross-validation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
from lightning.pytorch.utilities import rank_zero_only
from torch import nn

from nerveseg import runs
from nerveseg.checkpoint import ModelInfo, network_weights, save_model_file
from nerveseg.config import RunConfig, read_run_config, save_config, to_dict
from nerveseg.data.augment import build_augmentation
from nerveseg.errors import NervesegError
from nerveseg.files import write_json
from nerveseg.losses import BCEDiceLoss
from nerveseg.metrics import all_empty_score
from nerveseg.models import build_model
from nerveseg.models.pretrained import load_vgg16_bn_encoder
from nerveseg.settings import check_all
from nerveseg.training.frames import TrainingFrames, prepare_frames, record_frames
from nerveseg.training.metrics_log import best_row, merge_sessions, structure_figures
from nerveseg.training.module import SegmentationModule
from nerveseg.training.result import RunResult, summary_record
from nerveseg.training.startup import (
    check_resumable_checkpoint,
    check_startup,
    model_kwargs,
    with_resolved_precision,
)
from nerveseg.training.trainer import build_trainer, fit

log = logging.getLogger(__name__)


def train(
    config: RunConfig | None,
    run: Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    callbacks: Sequence[L.Callback] = (),
) -> RunResult:
    """Train a model as ``config`` says, in the run folder ``run``.

    With ``resume``, the run's saved config is used (``config`` may be None) and training
    continues from its last checkpoint exactly where it stopped (same data order and
    augmentation draws). A finished run is never resumed, and ``overwrite`` replaces a run only
    once the new one's config, data and model have loaded: until then nothing is written. Extra
    Lightning ``callbacks`` (a tuner's pruning hook, say) join the built-in ones.

    With several processes (``train.devices`` * ``train.num_nodes`` > 1, DDP) every process
    runs this function; only global rank 0 writes to ``run`` and returns the full result.
    """
    run = Path(run)
    if resume:
        runs.require_resumable(run)
        config = read_run_config(run / runs.CONFIG)
        check_resumable_checkpoint(runs.last_checkpoint(run))
    else:
        runs.check_new_run(run, overwrite=overwrite)
    check_all(config)  # a config built in Python never went through load_config's checks
    config = with_resolved_precision(config)
    check_startup(config)
    # Everything that can fail on the user's input runs before the run folder is touched.
    trainer = build_trainer(config.train, run, callbacks, resume=resume)
    frames = prepare_frames(
        config.data, run, batch_size=config.train.batch_size, seed=config.train.seed, resume=resume
    )
    module = build_module(config, frames, load_encoder=not resume)
    writer = trainer.is_global_zero  # the Trainer reads each process's rank from its environment
    if writer:
        run.mkdir(parents=True, exist_ok=True)
    with runs.run_lock(run) if writer else contextlib.nullcontext():
        if writer and not resume:
            runs.prepare_run_dir(run, overwrite=overwrite)
            save_config(config, run / runs.CONFIG)
            record_frames(frames, run)
        started = time.perf_counter()
        resume_from = runs.last_checkpoint(run) if resume else None
        fit(trainer, module, frames.datamodule, resume_from)
        if not writer:
            return _other_process_result(run, trainer, frames)
        return _finish(config, run, trainer, module.model, frames, started)


def build_module(
    config: RunConfig, frames: TrainingFrames, *, load_encoder: bool = True
) -> SegmentationModule:
    """The network, its loss, augmentation and validation post-processing, seeded.

    ``load_encoder`` is False for a resumed run: its checkpoint holds the weights already.
    """
    L.seed_everything(config.train.seed, workers=True, verbose=False)
    model = build_model(config.model.name, **model_kwargs(config))
    if config.model.encoder_weights and load_encoder:
        load_vgg16_bn_encoder(model, Path(config.model.encoder_weights))
    postprocess = config.postprocess.for_model(config.model.presence_head)
    return SegmentationModule(
        model,
        BCEDiceLoss.from_config(config.loss),
        config.optim,
        frames.mean,
        frames.std,
        augmentation=build_augmentation(config.augment),
        postprocess=postprocess.scaled(frames.original_shape, tuple(config.data.image_size)),
        seed=config.train.seed,
        channels_last=config.train.channels_last,
        structures=list(config.data.structures),
    )


def continue_run(
    config: RunConfig,
    run: Path,
    *,
    overwrite: bool = False,
    callbacks: Sequence[L.Callback] = (),
) -> RunResult:
    """A finished run's recorded result, a resumable run resumed, anything else trained afresh.

    What ``train --resume`` does for each fold, ``compare`` for each model and ``tune`` for each
    trial. ``overwrite`` lets a started run without a checkpoint be replaced.
    """
    state = runs.run_state(run)
    if state is runs.RunState.FINISHED:
        log.info("%s: finished earlier, reused", run)
        return RunResult.read(run)
    resume = state is runs.RunState.RESUMABLE
    log.info("%s: %s", run, "resuming" if resume else "training")
    return train(config, run, overwrite=overwrite, resume=resume, callbacks=callbacks)


def train_folds(
    config: RunConfig, run: Path, *, resume: bool = False, overwrite: bool = False
) -> list[RunResult]:
    """Train fold 0 .. ``data.folds`` - 1 into ``RUN/fold-K``; stop at the first interrupted one.

    With ``resume``, finished folds are reused and unfinished ones continued (:func:`continue_run`).
    """
    if config.data.folds < 2:
        raise NervesegError("training every fold needs data.folds (--folds K) of at least 2")
    results = []
    for fold in range(config.data.folds):
        fold_config = dataclasses.replace(config, data=dataclasses.replace(config.data, fold=fold))
        fold_run = runs.fold_run(run, fold)
        if resume:
            result = continue_run(fold_config, fold_run, overwrite=overwrite)
        else:
            result = train(fold_config, fold_run, overwrite=overwrite)
        results.append(result)
        if result.interrupted:
            break
        if is_main_process():
            log.info(
                "fold %d: best validation score %.4f (%s)", fold, result.best_val_score, fold_run
            )
    return results


def is_main_process() -> bool:
    """False in the other processes of a multi-process (DDP) run, once train() has begun."""
    return rank_zero_only.rank == 0


def _other_process_result(run: Path, trainer: L.Trainer, frames: TrainingFrames) -> RunResult:
    """What a process other than rank 0 knows; it writes nothing (rank 0 reports the run)."""
    best = trainer.checkpoint_callback.best_model_score
    return RunResult(
        run=str(run),
        best_epoch=-1,
        epochs_trained=trainer.current_epoch,
        best_val_score=float(best) if best is not None else float("nan"),
        val_dice_nerve=float("nan"),
        val_false_detection_rate=float("nan"),
        all_empty_val_score=all_empty_score(frames.val_nonempty),
        train_images=frames.train_count,
        val_images=len(frames.val_nonempty),
        train_images_per_s=float("nan"),
        seconds=float("nan"),
        interrupted=bool(trainer.interrupted),
    )


def _no_epoch_message(config: RunConfig, trainer: L.Trainer) -> str:
    """Why a run ended without any checkpoint, and what to change."""
    if trainer.interrupted:
        return "training was stopped before its first epoch ended: there is no model to save"
    return (
        f"train.max_minutes={config.train.max_minutes:g} ran out before the first epoch ended: "
        "there is no model to save; raise it, or shorten the epoch (data.image_size, model.width)"
    )


def _finish(
    config: RunConfig,
    run: Path,
    trainer: L.Trainer,
    model: nn.Module,
    frames: TrainingFrames,
    started: float,
) -> RunResult:
    """Write ``model.pt`` from the best checkpoint and, unless interrupted, ``summary.json``."""
    rows = merge_sessions(run)
    metrics = best_row(rows)
    speeds = [r["train/images_per_s"] for r in rows if "train/images_per_s" in r]
    best_path = trainer.checkpoint_callback.best_model_path or str(runs.last_checkpoint(run))
    if not Path(best_path).is_file():
        raise NervesegError(_no_epoch_message(config, trainer))
    model.load_state_dict(network_weights(Path(best_path)))
    info = ModelInfo(
        model_name=config.model.name,
        model_kwargs=model_kwargs(config),
        image_size=tuple(config.data.image_size),
        mean=frames.mean,
        std=frames.std,
        postprocess=config.postprocess.for_model(config.model.presence_head),
        epoch=int(metrics.get("epoch", -1)),
        score=float(metrics.get(runs.VAL_SCORE, float("nan"))),
        config=to_dict(config),
        structures=list(config.data.structures),
        resize=config.data.resize,
    )
    save_model_file(run / runs.MODEL, model, info)
    result = RunResult(
        run=str(run),
        best_epoch=info.epoch,
        epochs_trained=trainer.current_epoch,
        best_val_score=info.score,
        val_dice_nerve=float(metrics.get("val/dice_nerve", float("nan"))),
        val_false_detection_rate=float(metrics.get("val/false_detection_rate", float("nan"))),
        all_empty_val_score=all_empty_score(frames.val_nonempty),
        train_images=frames.train_count,
        val_images=len(frames.val_nonempty),
        train_images_per_s=float(np.median(speeds)) if speeds else float("nan"),
        seconds=time.perf_counter() - started,
        interrupted=bool(trainer.interrupted),
        val_structures=structure_figures(metrics, list(config.data.structures)),
    )
    if not trainer.interrupted:
        write_json(run / runs.SUMMARY, summary_record(result))
    return result
