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

from nerveseg.errors import ConfigError, NervesegError
from nerveseg.files import atomic_path
from nerveseg.models import build_model
from nerveseg.postprocess import PostprocessParams
from nerveseg.settings import from_mapping, setting

FORMAT = "nerveseg-model"
# 2: the post-processing travels as one ``postprocess`` object. Version 1 files (flat
# ``threshold``, ``min_area`` and ``presence_threshold``) still load.
FORMAT_VERSION = 2
_LEGACY_POSTPROCESS_KEYS = ("threshold", "min_area", "presence_threshold")


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
    """

    model_name: str
    model_kwargs: dict[str, Any]
    image_size: tuple[int, int] = setting(at_least=1)
    mean: float = setting(at_least=0.0, at_most=1.0)
    std: float = setting(above=0.0)
    postprocess: PostprocessParams = field(default_factory=PostprocessParams)
    epoch: int = -1
    score: float = math.nan
    config: dict[str, Any] = field(default_factory=dict)

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
            return from_mapping(cls, raw, source=f"{source}: model description")
        except ConfigError as exc:
            raise NervesegError(str(exc)) from None


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
    model = build_model(info.model_name, **info.model_kwargs)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, info
