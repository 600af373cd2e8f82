"""Self-describing model files: ``load_model(path)`` needs nothing else.

Lightning's ``.ckpt`` files hold the optimizer, loop and callback state for an exact resume;
the ``model.pt`` written at the end of a run holds what inference needs: the model's name and
arguments, its weights, the input size and normalisation, the post-processing, the resolved
config, and the epoch and score it was chosen at. Only tensors and plain Python types go in, so
it loads with ``torch.load(weights_only=True)``: opening a model file never runs code from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nerveseg.errors import NervesegError
from nerveseg.files import atomic_path
from nerveseg.models import build_model

FORMAT = "nerveseg-model"
FORMAT_VERSION = 1


@dataclass
class ModelInfo:
    """What travels with the weights."""

    model_name: str
    model_kwargs: dict[str, Any]
    image_size: tuple[int, int]  # (height, width) the network sees
    mean: float  # normalisation of [0, 1] intensities
    std: float
    threshold: float = 0.5
    min_area: int = 0
    # Frames whose presence probability is below this get an empty mask; 0 = off (and the
    # default, so files written before presence heads existed load unchanged).
    presence_threshold: float = 0.0
    epoch: int = -1
    score: float = float("nan")
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["image_size"] = list(self.image_size)
        return data


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
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise NervesegError(f"{path}: not a nerveseg model file (use a run's model.pt)")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise NervesegError(f"{path}: written by a newer nerveseg; upgrade to read it")
    raw = dict(payload["info"])
    raw["image_size"] = tuple(raw["image_size"])
    info = ModelInfo(**raw)
    model = build_model(info.model_name, **info.model_kwargs)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, info
