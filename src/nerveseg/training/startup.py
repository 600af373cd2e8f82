"""What is checked, and derived, from a run's config before any frame is decoded.

Kept apart from :mod:`nerveseg.training.train` so the loop's wiring reads on its own: each check
here turns a setting that cannot work on this machine (an input size the network cannot take, a
missing GPU, fp16 on a CPU, a foreign checkpoint to resume) into one line, before minutes of
decoding.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch

from nerveseg.config import RunConfig, TrainConfig
from nerveseg.errors import NervesegError
from nerveseg.models import size_divisor
from nerveseg.training.precision import AUTO, resolve_precision

log = logging.getLogger(__name__)


def check_startup(config: RunConfig) -> None:
    """What can be known wrong before any frame is decoded: the model, its input size, devices.

    The network is built on the ``meta`` device (no memory), so a size it cannot take or an
    argument it refuses is reported in one line before minutes of decoding.
    """
    divisor = size_divisor(config.model.name, **model_kwargs(config))
    height, width = config.data.image_size
    if height % divisor or width % divisor:
        fit_size = [max(divisor, round(v / divisor) * divisor) for v in (height, width)]
        raise NervesegError(
            f"data.image_size={list(config.data.image_size)}: {config.model.name} needs "
            f"multiples of {divisor}; use e.g. data.image_size={fit_size}"
        )
    problem = accelerator_problem(config.train.accelerator) or precision_problem(config.train)
    if problem:
        raise NervesegError(problem)


def with_resolved_precision(config: RunConfig) -> RunConfig:
    """``config`` with ``train.precision=auto`` replaced by what this machine trains fastest in.

    The run's ``config.yaml`` then records the arithmetic used, and a resume keeps it.
    """
    if config.train.precision != AUTO:
        return config
    precision = resolve_precision(AUTO, config.train.accelerator)
    log.info("train.precision=auto: %s on this machine", precision)
    train = dataclasses.replace(config.train, precision=precision)
    return dataclasses.replace(config, train=train)


def accelerator_problem(accelerator: str) -> str | None:
    """Why ``train.accelerator`` cannot run on this machine, or None."""
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        return f"train.accelerator={accelerator}: no CUDA GPU here; use auto or cpu"
    if accelerator == "mps" and not torch.backends.mps.is_available():
        return "train.accelerator=mps: no Apple GPU here; use auto or cpu"
    if accelerator == "tpu":
        return "train.accelerator=tpu: TPUs are not supported; use auto, cpu or gpu"
    return None


def precision_problem(train_config: TrainConfig) -> str | None:
    """fp16 on a CPU: Lightning would quietly train in bf16 instead, 50-200x slower here."""
    on_cpu = train_config.accelerator == "cpu" or (
        train_config.accelerator == "auto" and not torch.cuda.is_available()
    )
    if on_cpu and train_config.precision in ("16", "16-mixed", "16-true"):
        return (
            f"train.precision={train_config.precision}: a CPU has no fp16 training (Lightning "
            "would switch to bf16, far slower here); use 32-true, or a GPU"
        )
    return None


def model_kwargs(config: RunConfig) -> dict[str, Any]:
    """The network's arguments: the ``model`` section's, and one output per structure."""
    return config.model.build_kwargs(out_channels=len(config.data.structures))


def check_resumable_checkpoint(path: Path) -> None:
    """Refuse a last checkpoint that does not load as plain tensors and values.

    Lightning restores it with ``weights_only=True`` too (see :func:`~.trainer.fit`); this check
    turns a refusal into one line instead of Lightning's traceback, before anything is decoded.
    """
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a foreign file
        raise NervesegError(
            f"{path}: does not load as a plain checkpoint ({exc.__class__.__name__}); it was not "
            "written by nerveseg or is damaged, and is never unpickled; retrain with --overwrite"
        ) from None
