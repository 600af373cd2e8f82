"""Self-describing model files: ``load_model(path)`` needs nothing else.

Lightning's ``.ckpt`` files hold the optimizer, loop and callback state for an exact resume;
the ``model.pt`` written at the end of a run holds what inference needs: the model's name and
arguments, its weights, the input size and normalisation, the post-processing, the resolved
config, and the epoch and score it was chosen at. Only tensors and plain Python types go in, so
it loads with ``torch.load(weights_only=True)``: opening a model file never runs code from it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nerveseg.data.structures import RESIZE_MODES, check_structures
from nerveseg.errors import ConfigError, NervesegError
from nerveseg.files import atomic_path
from nerveseg.models import ModelConfig, build_model, size_divisor
from nerveseg.postprocess import PostprocessParams
from nerveseg.settings import from_mapping, setting

FORMAT = "nerveseg-model"
# 2: the post-processing travels as one ``postprocess`` object. Version 1 files (flat
# ``threshold``, ``min_area`` and ``presence_threshold``) still load.
FORMAT_VERSION = 2
_LEGACY_POSTPROCESS_KEYS = ("threshold", "min_area", "presence_threshold")
# What a model file may pass to a network (see nerveseg.models); width and depth are bounded by
# ModelConfig, so a hostile file cannot ask for a 200-times-wide network.
_MODEL_ARGUMENTS = frozenset(
    {"width", "depth", "presence_head", "in_channels", "out_channels", "output_prior"}
)
# The largest network input side a model file may ask for (Kaggle frames are 420x580).
MAX_IMAGE_SIDE = 2048


@dataclass
class ModelInfo:
    """What travels with the weights.

    Attributes:
        model_name, model_kwargs: what :func:`~nerveseg.models.build_model` rebuilds it from.
        image_size: ``(height, width)`` the network sees.
        mean, std: normalisation of [0, 1] intensities, from the training frames.
        postprocess: the post-processing the model was trained and validated with (a run's
            fitted ``postprocess.json`` replaces it at prediction; an export carries that one).
        epoch, score: the epoch the weights are from and its validation score.
        config: the run's resolved config.
        structures: the structure each output channel is, in order (``data.structures``);
            files written before structures existed hold one nerve channel.
        resize: how a frame becomes ``image_size``: ``stretch`` (each side scaled on its own,
            the Kaggle default) or ``letterbox`` (aspect kept, the rest padded; predictions are
            cropped back to each frame's own size), see :mod:`nerveseg.data.geometry`.
    """

    model_name: str
    model_kwargs: dict[str, Any]
    # Bounded so a hostile file cannot make nerveseg allocate gigabytes before failing.
    image_size: tuple[int, int] = setting(at_least=1, at_most=MAX_IMAGE_SIDE)
    mean: float = setting(at_least=0.0, at_most=1.0)
    std: float = setting(above=0.0)
    postprocess: PostprocessParams = field(default_factory=PostprocessParams)
    epoch: int = -1
    score: float = math.nan
    config: dict[str, Any] = field(default_factory=dict)
    structures: list[str] = field(default_factory=lambda: ["nerve"])
    resize: str = setting("stretch", choices=RESIZE_MODES)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["image_size"] = list(self.image_size)
        return data

    @classmethod
    def from_dict(cls, raw: Any, source: str) -> ModelInfo:
        """Read back :meth:`to_dict`'s data (or a version 1 file's), checking every value."""
        if not isinstance(raw, dict):
            raise NervesegError(f"{source}: its model description is not a mapping")
        raw = dict(raw)
        legacy = {k: raw.pop(k) for k in _LEGACY_POSTPROCESS_KEYS if k in raw}
        if legacy and "postprocess" not in raw:
            raw["postprocess"] = legacy
        if raw.get("score") is None:  # strict JSON writes NaN as null
            raw["score"] = math.nan
        try:
            info = from_mapping(cls, raw, source=f"{source}: model description")
            check_model_arguments(info, source)
        except ConfigError as exc:
            raise NervesegError(str(exc)) from None
        return info


def check_model_arguments(info: ModelInfo, source: str) -> None:
    """Check the described network against :class:`ModelConfig`'s bounds and its input size.

    A width of 200 or an unknown argument is refused here, in one line, instead of being
    allocated (several GB) or failing deep inside the model's constructor.
    """
    kwargs = dict(info.model_kwargs)
    unknown = sorted(set(kwargs) - _MODEL_ARGUMENTS)
    if unknown:
        raise ConfigError(
            f"{source}: model description: unknown model argument(s) {', '.join(unknown)}; "
            f"a nerveseg model takes {', '.join(sorted(_MODEL_ARGUMENTS))}"
        )
    sized = {k: kwargs.pop(k) for k in ("width", "depth", "presence_head") if k in kwargs}
    config = from_mapping(ModelConfig, {"name": info.model_name, **sized}, source=source)
    for key in ("in_channels", "out_channels"):
        if key in kwargs and (not _is_int(kwargs[key]) or not 1 <= kwargs[key] <= 16):
            raise ConfigError(f"{source}: model description: {key} must be 1 to 16")
    prior = kwargs.get("output_prior", 0.5)
    if not isinstance(prior, float | int) or isinstance(prior, bool) or not 0 < prior < 1:
        raise ConfigError(f"{source}: model description: output_prior must be between 0 and 1")
    check_structures({name: [] for name in info.structures})
    channels = kwargs.get("out_channels", 1)
    if channels != len(info.structures):
        raise ConfigError(
            f"{source}: model description: {channels} output channel(s) but "
            f"{len(info.structures)} structure(s) {info.structures}; the file is damaged or was edited"
        )
    divisor = size_divisor(config.name, **config.build_kwargs(), **kwargs)
    if any(side % divisor for side in info.image_size):
        raise ConfigError(
            f"{source}: image_size {list(info.image_size)} is not a multiple of {divisor}, "
            f"which {info.model_name} needs; the file is damaged or was edited"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def network_weights(checkpoint_path: Path) -> dict[str, torch.Tensor]:
    """The network's weights in a Lightning checkpoint: its ``state_dict`` (the weight average's,
    when training averaged) without the module's ``model.`` prefix and the loss's entries."""
    state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)["state_dict"]
    return {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}


def save_model_file(path: Path, model: nn.Module, info: ModelInfo) -> None:
    """Write weights and info atomically to ``path``."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "info": info.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    with atomic_path(Path(path)) as tmp:
        torch.save(payload, tmp)


def check_format(data: Any, source: Path, how: str) -> None:
    """Raise unless ``data`` is nerveseg's (model file or export metadata) of a known version."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise NervesegError(f"{source}: not a nerveseg model ({how})")
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise NervesegError(f"{source}: written by a newer nerveseg; upgrade to read it")


def load_model(path: Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, ModelInfo]:
    """Load a model file written by :func:`save_model_file`; the model is in eval mode.

    Raises:
        NervesegError: when the file is missing, not a nerveseg model file, or from a newer version.
    """
    path = Path(path)
    if not path.is_file():
        raise NervesegError(f"{path}: model file not found (a finished run keeps it as model.pt)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a foreign or damaged file
        raise NervesegError(
            f"{path}: not a readable nerveseg model file ({exc.__class__.__name__})"
        ) from None
    check_format(payload, path, "use a run's model.pt")
    info = ModelInfo.from_dict(payload.get("info"), str(path))
    weights = payload.get("state_dict")
    if not isinstance(weights, dict):
        raise NervesegError(f"{path}: holds no weights (state_dict); use a run's model.pt")
    model = build_model(info.model_name, **info.model_kwargs)
    try:
        model.load_state_dict(weights)
    except Exception as exc:  # size mismatch, missing keys, non-tensors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NervesegError(
            f"{path}: its weights do not fit the model it describes ({first}); the file is "
            "damaged or was edited"
        ) from None
    model.eval()
    return model, info
