"""The run configuration: each component's typed config, composed into one :class:`RunConfig`.

Precedence is defaults < YAML preset < ``--set section.key=value`` overrides. Unknown keys,
values of the wrong type and values out of range or not among a setting's choices fail loudly
with a one-line :class:`~nerveseg.errors.ConfigError` naming the key, because a typo that
silently falls back to a default wastes a training run. Only the CLI and the tuner see the whole
RunConfig; every other function takes the slice it uses.

Each component owns its section: ``data`` (:mod:`nerveseg.data.config`), ``model``
(:mod:`nerveseg.models`), ``augment`` (:mod:`nerveseg.data.augment`), ``loss``
(:mod:`nerveseg.losses`), ``postprocess`` (:mod:`nerveseg.postprocess`), ``synth``
(:mod:`nerveseg.data.synth`). The sections of the stages above this module (``optim``,
``train``, ``tune``) are defined here, since ``config.py`` must not import upwards; the training
and tuning code reads them from here. How values are checked lives in :mod:`nerveseg.settings`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from nerveseg.data.augment import AugmentConfig
from nerveseg.data.config import DataConfig
from nerveseg.data.synth import SynthConfig
from nerveseg.errors import ConfigError
from nerveseg.files import write_text
from nerveseg.losses import LossConfig
from nerveseg.models import ModelConfig
from nerveseg.postprocess import PostprocessParams
from nerveseg.settings import check_all, merge, setting

OPTIMIZERS = ("adam", "adamw")  # built by nerveseg.training.optimizer
SCHEDULERS = ("plateau", "cosine", "warmup_cosine", "none")
# Lightning's precision names (lightning.fabric.connector._PRECISION_INPUT), and "auto": bf16
# where the hardware has it, else fp32 (nerveseg.training.precision).
PRECISIONS = (
    "auto", "32-true", "32", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "64", "16",
    "bf16", "transformer-engine", "transformer-engine-float16",
)  # fmt: skip
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
PRUNERS = ("median", "none")


def _strategies() -> list[str]:
    from lightning.pytorch.strategies import StrategyRegistry

    return ["auto", *StrategyRegistry.available_strategies()]


@dataclass
class OptimConfig:
    """Adam or AdamW with a learning-rate schedule."""

    # adamw: weight decay decoupled from the gradient (nerveseg.training.optimizer)
    optimizer: str = setting("adam", choices=OPTIMIZERS)
    lr: float = setting(5e-4, above=0.0, at_most=10.0)
    # on filters only, never on BatchNorm and biases; with adam it is added to the gradient
    weight_decay: float = setting(0.0, at_least=0.0)
    # Warm-up then cosine to the end of the budget, with the weight average (train.ema_epochs):
    # on the demo the validation score then never fell by more than 0.004 after the first
    # third, against falls of 0.33 and 0.91 with plateau (two seeds; recipe_stability.py).
    scheduler: str = setting("warmup_cosine", choices=SCHEDULERS)
    plateau_patience: int = setting(3, at_least=0)
    plateau_factor: float = setting(0.5, above=0.0, below=1.0)
    # warmup_cosine: epochs of linear warm-up, then cosine decay to the end of the epoch or
    # wall-clock budget (nerveseg.training.schedule).
    warmup_epochs: float = setting(1.0, at_least=0.0)


@dataclass
class TrainConfig:
    """The loop's budget and hardware. Lightning does the loop."""

    epochs: int = setting(60, at_least=1)
    # Per process: the effective batch is batch_size * devices * num_nodes.
    batch_size: int = setting(16, at_least=1)
    patience: int = setting(10, at_least=0)
    seed: int = 0
    precision: str = setting("32-true", choices=PRECISIONS)
    accelerator: str = setting("auto", choices=ACCELERATORS)
    devices: int = setting(1, at_least=-1)  # per machine (node); -1 = every device there is
    num_nodes: int = setting(1, at_least=1)
    strategy: str = setting("auto", choices=_strategies)  # auto = ddp with several processes
    # With several processes, BatchNorm statistics over the whole batch, not each process's
    # share: training then matches one process with the effective batch.
    sync_batchnorm: bool = True
    max_minutes: float = setting(0.0, at_least=0.0)  # 0 = no wall-clock limit
    progress_bar: bool = True
    channels_last: bool = False  # NHWC layout: faster with bf16/fp16 (GPUs; CPUs with native bf16)
    # Validation, checkpoints and model.pt use an exponential moving average of the weights with
    # this time constant in epochs (nerveseg.training.averaging); 0 = the raw weights.
    ema_epochs: float = setting(1.0, at_least=0.0)
    grad_clip_norm: float = setting(1.0, at_least=0.0)  # clip the gradient's norm; 0 = off

    def check(self) -> None:
        if self.devices == 0:
            raise ConfigError("devices must be at least 1, or -1 for every device there is")


def _default_search_space() -> dict[str, list]:
    return {
        "optim.lr": ["log_float", 1e-4, 3e-3],
        "loss.dice_weight": ["float", 0.5, 2.0],
        "augment.rotation_degrees": ["float", 0.0, 20.0],
    }


@dataclass
class TuneConfig:
    """``nerveseg tune``: an Optuna study over ``space``, which maps a dotted setting to a spec.

    Specs: ``[float, low, high]``, ``[log_float, low, high]``, ``[int, low, high]``,
    ``[log_int, low, high]``, ``[categorical, choice, ...]`` (see
    :mod:`nerveseg.experiments.tune_space`). A preset's ``space`` replaces this default;
    ``--set tune.space.optim.lr=[...]`` changes one entry and ``--set tune.space.optim.lr=null``
    drops it.
    """

    trials: int = setting(20, at_least=1)  # finished (complete or pruned) trials, all workers
    timeout_minutes: float = setting(0.0, at_least=0.0)  # 0 = no limit; per worker
    sampler_seed: int = 0
    pruner: str = setting("median", choices=PRUNERS)
    pruner_startup_trials: int = setting(3, at_least=0)  # trials finished before any is pruned
    pruner_warmup_epochs: int = setting(1, at_least=0)  # epochs every trial runs before pruning
    heartbeat_seconds: int = setting(30, at_least=1)  # a killed worker's trial is retried later
    space: dict[str, list] = field(default_factory=_default_search_space)


def _training_postprocess() -> PostprocessParams:
    # Validation gates frames on presence when the model has a presence head; a model without
    # one stores 0 (PostprocessParams.for_model), as the type's own default says.
    return PostprocessParams(presence_threshold=0.5)


@dataclass
class RunConfig:
    """Everything one run needs; saved resolved as ``config.yaml`` in the run folder."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    postprocess: PostprocessParams = field(default_factory=_training_postprocess)
    synth: SynthConfig = field(default_factory=SynthConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)


def preset_names() -> list[str]:
    """Names of the presets shipped inside the package."""
    folder = resources.files("nerveseg") / "configs"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_config(
    preset: str | Path | None = None,
    overrides: list[str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Build a RunConfig from defaults, an optional preset (name or YAML path) and overrides.

    ``flags`` maps dotted settings to values a command line flag gave (``{"data.root": path}``):
    they are taken as they are, not parsed as YAML, so ``--data "scans #2"`` stays that folder,
    and they win over ``--set``.
    """
    config = RunConfig()
    if preset:
        config = merge(config, _read_preset(preset), source=str(preset))
    for item in overrides or []:
        config = apply_override(config, item)
    for dotted, value in (flags or {}).items():
        config = merge(config, _nested(dotted.split("."), value), source=dotted)
    check_all(config)
    return config


def _read_preset(preset: str | Path) -> dict[str, Any]:
    path = Path(preset)
    if path.suffix in {".yaml", ".yml"}:
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        text = path.read_text(encoding="utf-8")
    else:
        resource = resources.files("nerveseg") / "configs" / f"{preset}.yaml"
        if not resource.is_file():
            raise ConfigError(
                f"unknown preset {preset!r}; choose one of {', '.join(preset_names())} "
                "or give a path to a .yaml file"
            )
        text = resource.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{preset}: not valid YAML ({yaml_problem(exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{preset}: the top level must be a mapping of sections")
    return data


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line complaint as one phrase with its line and column."""
    problem = getattr(exc, "problem", None) or "unreadable"
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


def apply_override(config: RunConfig, item: str) -> RunConfig:
    """Apply one ``section.key=value`` override; the value is parsed as YAML (``1e-3``, ``[96, 128]``)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. train.epochs=5")
    dotted, raw = item.split("=", 1)
    parts = dotted.strip().split(".")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    parts, value = _into_mapping(config, parts, value)
    return merge(config, _nested(parts, value), source=f"--set {item}")


def _nested(parts: list[str], value: Any) -> dict[str, Any]:
    """``["data", "root"], v`` -> ``{"data": {"root": v}}``."""
    nested: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        nested = {part: nested}
    return nested


def _into_mapping(config: Any, parts: list[str], value: Any) -> tuple[list[str], Any]:
    """A path that runs into a mapping setting names one of its keys, dots and all.

    ``tune.space.optim.lr=V`` sets the key ``optim.lr`` of ``tune.space`` and keeps its other
    keys (``V`` = null drops the key); a whole mapping given at once replaces it.
    """
    section = config
    for i, part in enumerate(parts[:-1]):
        if not dataclasses.is_dataclass(section) or part not in _field_names(section):
            break
        section = getattr(section, part)
        if isinstance(section, dict):
            key = ".".join(parts[i + 1 :])
            mapping = {k: v for k, v in section.items() if k != key}
            if value is not None:
                mapping[key] = value
            return parts[: i + 1], mapping
    return parts, value


def _field_names(config: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(config)}


def to_dict(config: Any) -> dict[str, Any]:
    """The config as plain nested dicts (for YAML, JSON and checkpoints)."""
    return dataclasses.asdict(config)


def save_config(config: RunConfig, path: Path) -> None:
    """Write the resolved config as YAML, atomically."""
    write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))


def read_run_config(path: Path) -> RunConfig:
    """Read a run folder's ``config.yaml`` back into a RunConfig."""
    config = merge(RunConfig(), _read_preset(path), source=str(path))
    check_all(config, source=str(path))
    return config
