"""Post-processing per structure: one :class:`~nerveseg.postprocess.PostprocessParams` per channel.

A model with several structures (``data.structures``: nerve, vessel ...) gives one probability
map per structure, and each needs its own threshold and gates: a vessel is larger than a nerve
and present in more frames, so the nerve's minimum area or presence gate would be wrong for it.
:class:`StructurePostprocess` holds one set of parameters per structure name, in channel order,
and applies each to its own channel; the parameters themselves stay the one plain type every
other part of nerveseg knows.

A model file carries one :class:`PostprocessParams` (the config's ``postprocess`` section), used
for every structure until ``nerveseg fit-postprocess`` fits each on its own channel. The fitted
``postprocess.json`` keeps today's layout for a model with one structure
(``{"params": {...}, "fit": {...}}``, whatever the structure's name) and names the structures
when there are several::

    {"structures": {"nerve": {...}, "vessel": {...}}, "fit": {"nerve": {...}, "vessel": {...}}}

Both layouts load for any model: a ``params`` file applies to every structure.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nerveseg.errors import NervesegError
from nerveseg.files import write_json
from nerveseg.postprocess import PostprocessParams, apply_postprocess


@dataclass(frozen=True)
class StructurePostprocess:
    """One :class:`PostprocessParams` per structure, in the model's channel order.

    Attributes:
        names: the structures, as ``ModelInfo.structures`` names them.
        params: each structure's parameters, in the same order.
    """

    names: tuple[str, ...]
    params: tuple[PostprocessParams, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.params) or not self.names:
            raise ValueError(
                f"one PostprocessParams per structure: {len(self.names)} name(s), "
                f"{len(self.params)} parameter set(s)"
            )

    @classmethod
    def uniform(cls, params: PostprocessParams, names: Sequence[str]) -> StructurePostprocess:
        """The same ``params`` for every structure (a model file's own post-processing)."""
        return cls(tuple(names), tuple(params for _ in names))

    @classmethod
    def of(cls, mapping: dict[str, PostprocessParams]) -> StructurePostprocess:
        """From a name -> parameters mapping, in its order."""
        return cls(tuple(mapping), tuple(mapping.values()))

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, name: str) -> PostprocessParams:
        try:
            return self.params[self.names.index(name)]
        except ValueError:
            raise KeyError(name) from None

    def items(self) -> Iterator[tuple[str, PostprocessParams]]:
        return iter(zip(self.names, self.params, strict=True))

    @property
    def first(self) -> PostprocessParams:
        """The first structure's parameters: the one a Kaggle submission holds."""
        return self.params[0]

    def replace(self, name: str, params: PostprocessParams) -> StructurePostprocess:
        """These settings with structure ``name``'s parameters replaced."""
        index = self.names.index(name)
        return dataclasses.replace(
            self, params=(*self.params[:index], params, *self.params[index + 1 :])
        )

    def map(self, change) -> StructurePostprocess:
        """``change(params)`` applied to every structure's parameters."""
        return dataclasses.replace(self, params=tuple(change(p) for p in self.params))

    def for_model(self, has_presence_head: bool) -> StructurePostprocess:
        """See :meth:`PostprocessParams.for_model`, for every structure."""
        return self.map(lambda p: p.for_model(has_presence_head))

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """``{name: params}``: what a multi-structure ``postprocess.json`` holds."""
        return {name: params.to_dict() for name, params in self.items()}

    def describe(self) -> str:
        """One structure: its own description; several: ``name (description); ...``."""
        if len(self) == 1:
            return self.first.describe()
        return "; ".join(f"{name} ({params.describe()})" for name, params in self.items())


def apply_structures(
    probabilities: np.ndarray | torch.Tensor,
    params: StructurePostprocess,
    presence: np.ndarray | torch.Tensor | None = None,
) -> np.ndarray:
    """Each structure's mask from its own channel, with its own parameters.

    Args:
        probabilities: ``(S, H, W)`` floats in [0, 1] at the frame's original size.
        params: one parameter set per channel.
        presence: ``(S,)`` presence probabilities, or None for a model without a presence head.

    Returns:
        ``(S, H, W)`` bool masks; structures may overlap (each channel is decided on its own).
    """
    if len(probabilities) != len(params):
        raise ValueError(
            f"{len(probabilities)} probability channel(s) for {len(params)} structure(s)"
        )
    # Presence as Python floats, as the one-structure path has always passed it.
    gates = None if presence is None else [float(p) for p in _flat(presence)]
    masks = np.zeros(tuple(probabilities.shape), dtype=bool)
    for k, structure_params in enumerate(params.params):
        gate = None if gates is None else gates[k]
        masks[k] = apply_postprocess(probabilities[k], structure_params, gate)
    return masks


def _flat(values: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().float().reshape(-1).numpy()
    return np.asarray(values).reshape(-1)


def save_structure_postprocess(
    path: Path, params: StructurePostprocess, fit: dict[str, dict[str, Any]]
) -> None:
    """Write a run's fitted ``postprocess.json``: today's layout for one structure.

    Args:
        path: the file to write.
        params: the fitted parameters.
        fit: per structure name, how its parameters were chosen (steps, scores).
    """
    if len(params) == 1:
        data = {"params": params.first.to_dict(), "fit": fit[params.names[0]]}
    else:
        data = {"structures": params.to_dict(), "fit": {name: fit[name] for name in params.names}}
    write_json(Path(path), data)


def load_structure_postprocess(path: Path, names: Sequence[str]) -> StructurePostprocess:
    """A ``postprocess.json`` (either layout) for a model whose structures are ``names``.

    Raises:
        NervesegError: an unreadable file, bad values, or structures that are not the model's.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NervesegError(f"{path}: not a readable postprocess.json ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("params"), dict):
        return StructurePostprocess.uniform(_params(data["params"], str(path)), names)
    if not isinstance(data, dict) or not isinstance(data.get("structures"), dict):
        raise NervesegError(
            f"{path}: no 'params' or 'structures' object; write it with nerveseg fit-postprocess"
        )
    given = data["structures"]
    if sorted(given) != sorted(names):
        raise NervesegError(
            f"{path}: post-processing for {', '.join(map(str, given)) or 'no structure'} but the "
            f"model segments {', '.join(names)}; refit it (nerveseg fit-postprocess RUN)"
        )
    return StructurePostprocess(
        tuple(names), tuple(_params(given[name], f"{path}: structures.{name}") for name in names)
    )


def _params(raw: Any, source: str) -> PostprocessParams:
    return PostprocessParams.from_dict(raw, source=source)  # a ConfigError names the key
