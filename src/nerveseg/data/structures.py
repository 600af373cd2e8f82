"""Structures: which anatomy a mask holds, and how several of them share one uint8 mask.

A data set names its structures in ``data.structures``, an ordered mapping from a name to the
mask values that mean it (``{"nerve": [1], "vessel": [2]}``). The order is the channel order of
every model, loss, metric and output; the first structure is the one a Kaggle submission holds.
An empty list means "any non-zero value" (the Kaggle default, one structure).

Decoded masks keep one ``uint8`` per pixel whatever the count: bit ``k`` (value ``1 << k``) is
structure ``k``. One structure therefore stays ``{0, 1}`` exactly as before, caches and
nearest-neighbour resizing work unchanged, and structures may overlap (LabelMe polygons can).
:func:`unpack` turns such masks into one channel per structure for the network and the metrics.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from nerveseg.errors import ConfigError

DEFAULT_STRUCTURES: dict[str, list] = {"nerve": []}
MAX_STRUCTURES = 8  # bits of a uint8 mask
# How a frame of any size becomes the network's input size (data.resize, recorded in the model).
RESIZE_MODES = ("stretch", "letterbox")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


def structure_names(structures: Mapping[str, list]) -> list[str]:
    """The structures in channel order."""
    return list(structures)


def check_structures(structures: Mapping[str, Any]) -> None:
    """Refuse a mapping the rest of the pipeline cannot honour, naming the bad entry."""
    if not isinstance(structures, Mapping) or not structures:
        raise ConfigError(
            "structures must map at least one name to its mask values, e.g. {nerve: [1], vessel: [2]}"
        )
    if len(structures) > MAX_STRUCTURES:
        raise ConfigError(f"structures: at most {MAX_STRUCTURES} structures, got {len(structures)}")
    for name, values in structures.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(
                f"structures: name {name!r} must start with a letter and hold only letters, "
                "digits, '_' or '-' (at most 32)"
            )
        if not isinstance(values, list):
            raise ConfigError(f"structures.{name} must be a list of mask values, got {values!r}")
        for value in values:
            _check_value(value, f"structures.{name}")
    _check_one_kind([v for values in structures.values() for v in values], "structures")


def check_ignore_values(structures: Mapping[str, list], ignore_values: Any) -> None:
    """``data.ignore_values``: mask values (or colours, labels) read as background.

    A value may not both mean a structure and be ignored: one of the two settings is a typo.
    """
    if not isinstance(ignore_values, list):
        raise ConfigError(f"ignore_values must be a list of mask values, got {ignore_values!r}")
    for value in ignore_values:
        _check_value(value, "ignore_values")
    named = [v for values in structures.values() for v in values]
    _check_one_kind(named + list(ignore_values), "structures and ignore_values")
    for value in ignore_values:
        owners = [name for name, values in structures.items() if value in values]
        if owners:
            raise ConfigError(
                f"ignore_values: {value!r} also means structure {owners[0]}; drop it from one of "
                "data.structures and data.ignore_values"
            )


def _check_value(value: Any, where: str) -> None:
    if not _valid_value(value):
        raise ConfigError(
            f"{where}: {value!r} is not a mask value: use an integer 0-255 "
            "(grey / palette index), an [R, G, B] colour or a LabelMe label (text)"
        )


def _check_one_kind(values: list, where: str) -> None:
    """Integers (grey levels, palette indices) and colours describe different mask files.

    One pixel value cannot be both, so a set of image masks is read either way, never both
    (LabelMe labels, being text, combine with either).
    """
    if any(isinstance(v, int) for v in values) and any(isinstance(v, list) for v in values):
        raise ConfigError(
            f"{where}: mix integers and [R, G, B] colours; image masks are read as one or the "
            "other: give every structure its colours, or every structure its integer values"
        )


def _valid_value(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0 <= value <= 255
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list):
        return len(value) == 3 and all(
            isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value
        )
    return False


def pack(channels: np.ndarray) -> np.ndarray:
    """``(..., S, h, w)`` {0, 1} -> ``(..., h, w)`` uint8 with bit ``k`` = channel ``k``."""
    count = channels.shape[-3]
    if count > MAX_STRUCTURES:
        raise ValueError(f"at most {MAX_STRUCTURES} structures fit a uint8 mask, got {count}")
    weights = (1 << np.arange(count, dtype=np.uint8)).reshape(count, 1, 1)
    return ((channels.astype(bool) * weights).sum(axis=-3)).astype(np.uint8)


def unpack(masks: np.ndarray | torch.Tensor, count: int) -> np.ndarray | torch.Tensor:
    """``(..., h, w)`` packed masks -> ``(..., count, h, w)`` {0, 1}, NumPy or torch alike."""
    if isinstance(masks, torch.Tensor):
        bits = torch.arange(count, device=masks.device, dtype=torch.int32).view(count, 1, 1)
        return (masks.to(torch.int32).unsqueeze(-3) >> bits) & 1
    bits = np.arange(count, dtype=np.uint8).reshape(count, 1, 1)
    return (masks.astype(np.uint8)[..., None, :, :] >> bits) & 1
