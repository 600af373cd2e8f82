"""Structures: which anatomy a mask holds, and how several of them share one uint8 mask.

A data set names its structures in ``data.structures``, an ordered mapping from a name to the
mask values that mean it (``{"nerve": [1], "vessel": [2]}``). The order is the channel order of
every model, loss, metric and output; the first structure is the one a Kaggle submission holds.
An empty list means "any non-zero value" (the Kaggle default, one structure).

Decoded masks keep one ``uint8`` per pixel whatever the count: bit ``k`` (value ``1 << k``) is
structure ``k``. One structure therefore stays ``{0, 1}`` exactly as before, caches and
nearest-neighbour resizing work unchanged, and structures may overlap (LabelMe polygons can).
:func:`unpack` turns such masks into one channel per structure for the network and the metrics.

A :class:`LabelMap` is the checked settings as one object, what every mask reader
(:mod:`nerveseg.data.labels`, :mod:`nerveseg.data.labelme`) looks values up in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class LabelMap:
    """What mask values mean: the structures in channel order and the values ignored.

    Attributes:
        structures: name -> mask values (integers, ``[R, G, B]`` colours, LabelMe labels).
        ignore: values read as background.
    """

    structures: Mapping[str, list]
    ignore: tuple = ()

    @property
    def names(self) -> list[str]:
        return list(self.structures)

    @property
    def count(self) -> int:
        return len(self.structures)

    @property
    def binary(self) -> bool:
        """Every structure is "any non-zero value" and nothing is ignored: the Kaggle rule,
        masks hold ``{0, v}`` (anything else is a blurred, non-binary mask)."""
        return not self.ignore and all(not values for values in self.structures.values())

    @property
    def colours(self) -> bool:
        """Image masks are read as colours (the structures name ``[R, G, B]`` values)."""
        values = [*self.ignore, *(v for values in self.structures.values() for v in values)]
        return any(isinstance(value, list) for value in values)

    def bits_of_label(self, label: str) -> int:
        """The packed bits a LabelMe label stands for (0: no structure)."""
        bits = 0
        for k, (name, values) in enumerate(self.structures.items()):
            texts = [v for v in values if isinstance(v, str)]
            if label in texts or (not texts and label == name):
                bits |= 1 << k
        return bits

    def describe(self) -> str:
        """``nerve: [1], vessel: [2]``: the mapping as a person would write it, for messages."""
        return ", ".join(f"{name}: {values}" for name, values in self.structures.items())


def label_map(
    structures: Mapping[str, list] | None = None, ignore_values: Sequence = ()
) -> LabelMap:
    """A :class:`LabelMap` for ``data.structures`` and ``data.ignore_values`` (checked there)."""
    structures = dict(DEFAULT_STRUCTURES if structures is None else structures)
    if len(structures) > MAX_STRUCTURES:
        raise ValueError(f"at most {MAX_STRUCTURES} structures fit a uint8 mask")
    return LabelMap(structures, tuple(ignore_values))


DEFAULT_LABELS = label_map()
"""One structure, nerve = any non-zero value of a binary mask: the Kaggle set."""


def unknown_values_reason(kind: str, unknown: list, found: list, labels: LabelMap) -> str:
    """The one line for values that mean nothing: which, what the file holds, how to fix it."""
    shown = ", ".join(_show(v) for v in unknown[:8]) + (" ..." if len(unknown) > 8 else "")
    held = ", ".join(_show(v) for v in found[:12]) + (" ..." if len(found) > 12 else "")
    example = _show(unknown[0])
    return (
        f"mask {kind}(s) {shown} mean no structure (the file holds {held}; data.structures is "
        f"{{{labels.describe()}}}); add {example} to a structure in data.structures, or to "
        f"data.ignore_values to read it as background"
    )


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


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
