"""The model registry: a plain dict from name to class, and :func:`build_model`.

Every model takes ``(N, 1, H, W)`` float and returns logits ``(N, 1, H, W)`` (no sigmoid), and
has a ``size_divisor`` attribute: H and W must be multiples of it.
"""

from __future__ import annotations

from torch import nn

from nerveseg.errors import ConfigError
from nerveseg.models.segnet import SegNet

MODELS: dict[str, type[nn.Module]] = {
    "segnet": SegNet,
}


def build_model(name: str, **kwargs: object) -> nn.Module:
    """Instantiate a registered model by name.

    Raises:
        ConfigError: for an unknown name (the message lists the valid ones) or bad arguments.
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; valid models: {', '.join(sorted(MODELS))}")
    try:
        return MODELS[name](**kwargs)
    except TypeError as exc:
        raise ConfigError(f"model {name!r}: {exc}") from None
