"""Run configuration: small typed dataclasses per concern, composed into one :class:`RunConfig`.

Precedence is defaults < YAML preset < ``--set section.key=value`` overrides. Unknown keys and
values of the wrong type fail loudly with a :class:`~nerveseg.errors.ConfigError`, because a typo
that silently falls back to a default wastes a training run. Only the CLI sees the whole
RunConfig; every other function takes the slice it uses.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from nerveseg.data.quality.duplicates import DEFAULT_THRESHOLD
from nerveseg.data.synth.dataset import SynthConfig
from nerveseg.errors import ConfigError


@dataclass
class DataConfig:
    """Where the data is and how frames become tensors."""

    root: str = ""
    image_size: list[int] = field(default_factory=lambda: [128, 160])  # (height, width)
    val_fraction: float = 0.2  # share of subjects held out when folds == 0
    folds: int = 0  # >= 2: k-fold cross-validation by subject; validate on fold `fold`
    fold: int = 0
    split_seed: int = 0
    skip_bad: bool = False
    cache: bool = True  # decode and resize once, reuse while files and settings are unchanged
    cache_dir: str = ""  # default: $NERVESEG_CACHE or ~/.cache/nerveseg
    # Contradictory near-duplicates in the training frames: none | report | drop | union |
    # majority (see nerveseg.data.quality.cleaning). Validation frames are never changed.
    clean: str = "none"
    duplicate_threshold: float = (
        DEFAULT_THRESHOLD  # thumbnail distance, nerveseg.data.quality.duplicates
    )


@dataclass
class ModelConfig:
    """Which network (a name in ``nerveseg.models.MODELS``) and its size knobs.

    ``width`` multiplies every channel count; ``depth`` is the number of poolings (0 = the
    architecture's own). ``presence_head`` adds a per-frame "is there a nerve" classifier.
    ``encoder_weights`` is a local torchvision ``vgg16_bn`` state dict that initialises the
    encoder of ``segnet`` / ``attention_segnet`` at width 1 (nothing is downloaded).
    """

    name: str = "segnet"
    width: float = 1.0
    depth: int = 0
    presence_head: bool = False
    encoder_weights: str = ""


@dataclass
class AugmentConfig:
    """Batch augmentation on the model's device; each transform has a strength and a probability.

    Vertical flips are off by default: depth runs top to bottom in every ultrasound frame.
    """

    enabled: bool = True
    rotation_degrees: float = 10.0
    rotation_p: float = 0.5
    scale: float = 0.1
    hflip_p: float = 0.5
    vflip_p: float = 0.0
    clahe_p: float = 0.2
    clahe_clip_limit: float = 4.0
    brightness: float = 0.1
    contrast: float = 0.2
    intensity_p: float = 0.5
    gamma: float = 0.2
    gamma_p: float = 0.3


@dataclass
class LossConfig:
    """BCE + soft Dice, both per image (see :mod:`nerveseg.losses`)."""

    bce_weight: float = 1.0
    dice_weight: float = 1.0
    smooth: float = 1.0
    presence_weight: float = 0.5  # BCE of the presence logit; used only with model.presence_head


@dataclass
class OptimConfig:
    """Adam with a learning-rate schedule driven by the validation score."""

    lr: float = 5e-4
    weight_decay: float = 0.0
    scheduler: str = "plateau"  # plateau | cosine | none
    plateau_patience: int = 3
    plateau_factor: float = 0.5


@dataclass
class TrainConfig:
    """The loop's budget and hardware. Lightning does the loop."""

    epochs: int = 60
    batch_size: int = 16  # per process: the effective batch is batch_size * devices * num_nodes
    patience: int = 10
    seed: int = 0
    precision: str = "32-true"
    accelerator: str = "auto"
    devices: int = 1  # per machine (node)
    num_nodes: int = 1
    strategy: str = "auto"  # auto = ddp when devices * num_nodes > 1; or ddp, fsdp, ...
    # With several processes, BatchNorm statistics over the whole batch, not each process's
    # share: training then matches one process with the effective batch.
    sync_batchnorm: bool = True
    max_minutes: float = 0.0  # 0 = no wall-clock limit
    progress_bar: bool = True
    channels_last: bool = False  # NHWC layout: faster on GPUs with bf16/fp16, not on this CPU


@dataclass
class PostprocessConfig:
    """How probabilities become a mask: threshold, then empty the mask if it is too small.

    ``min_area`` is in pixels at the original resolution (580x420 for Kaggle): the competition
    punishes a stray small blob on an empty frame with a score of 0.
    """

    threshold: float = 0.5
    min_area: int = 0
    # With model.presence_head: a frame whose presence probability is below this gets an empty
    # mask (validation score and the model file); 0 = off.
    presence_threshold: float = 0.5


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
    ``[log_int, low, high]``, ``[categorical, choice, ...]`` (see :mod:`nerveseg.experiments.tune_space`).
    A preset's ``space`` replaces this default; ``--set tune.space.optim.lr=[...]`` changes one
    entry and ``--set tune.space.optim.lr=null`` drops it.
    """

    trials: int = 20  # finished (complete or pruned) trials the study wants, over all workers
    timeout_minutes: float = 0.0  # 0 = no limit; per worker
    sampler_seed: int = 0
    pruner: str = "median"  # median | none
    pruner_startup_trials: int = 3  # trials that finish before any trial is pruned
    pruner_warmup_epochs: int = 1  # epochs every trial runs before it may be pruned
    heartbeat_seconds: int = 30  # a killed worker's trial is retried 2 x this later
    space: dict[str, list] = field(default_factory=_default_search_space)


@dataclass
class RunConfig:
    """Everything one run needs; saved resolved as ``config.yaml`` in the run folder."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)


def preset_names() -> list[str]:
    """Names of the presets shipped inside the package."""
    folder = resources.files("nerveseg") / "configs"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_config(preset: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Build a RunConfig from defaults, an optional preset (name or YAML path) and overrides."""
    config = RunConfig()
    if preset:
        config = merge(config, _read_preset(preset), source=str(preset))
    for item in overrides or []:
        config = apply_override(config, item)
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
        raise ConfigError(f"{preset}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{preset}: the top level must be a mapping of sections")
    return data


def merge(config: Any, values: dict[str, Any], *, source: str) -> Any:
    """Return ``config`` with ``values`` (a nested mapping) laid over it, checking keys and types."""
    known = {f.name: f for f in dataclasses.fields(config)}
    hints = typing.get_type_hints(type(config))
    changes = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(
                f"{source}: unknown key {key!r} in {type(config).__name__}; "
                f"valid keys: {', '.join(known)}"
            )
        current = getattr(config, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {key!r} must be a mapping of its settings")
            changes[key] = merge(current, value, source=f"{source}: {key}")
        else:
            changes[key] = _coerce(value, hints[key], f"{source}: {key}")
    return dataclasses.replace(config, **changes)


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
    nested: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        nested = {part: nested}
    return merge(config, nested, source=f"--set {item}")


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


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        if value is None:
            return None
        return _coerce(value, options[0], where)
    if origin is list or hint is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = typing.get_args(hint)
        return [_coerce(v, inner[0], where) for v in value] if inner else list(value)
    if origin is dict:
        key_hint, value_hint = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping of key: value, got {value!r}")
        return {
            _coerce(k, key_hint, where): _coerce(v, value_hint, f"{where}: {k}")
            for k, v in value.items()
        }
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected a whole number, got {value!r}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as text
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected text, got {value!r}")
    return value


def to_dict(config: Any) -> dict[str, Any]:
    """The config as plain nested dicts (for YAML, JSON and checkpoints)."""
    return dataclasses.asdict(config)


def save_config(config: RunConfig, path: Path) -> None:
    """Write the resolved config as YAML, atomically."""
    from nerveseg.files import write_text

    write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))


def read_run_config(path: Path) -> RunConfig:
    """Read a run folder's ``config.yaml`` back into a RunConfig."""
    return merge(RunConfig(), _read_preset(path), source=str(path))
