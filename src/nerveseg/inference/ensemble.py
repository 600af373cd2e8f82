"""Ensembles: average several predictors, such as every fold model of a cross-validation run.

Members may have been trained with different normalisation statistics (each fold computes the
mean and std of its own training frames), while :func:`~nerveseg.inference.predictor.predict_batches`
standardises a batch once, with one :class:`~nerveseg.checkpoint.ModelInfo`. Rather than
refusing folds whose statistics differ (they always do, slightly) or changing that contract,
each member is wrapped in a :class:`Renormalised` predictor that undoes the ensemble's
standardisation and applies its own: an exact affine map, so each member sees precisely the
input it was trained on. Members must share the input size; that is checked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import torch

from nerveseg import runs
from nerveseg.checkpoint import ModelInfo, load_model
from nerveseg.errors import NervesegError
from nerveseg.inference.predictor import BatchOutput, Predictor, TorchPredictor, pick_device
from nerveseg.inference.tta import TTAPredictor

FOLD_GLOB = "fold-*"


class EnsemblePredictor:
    """Averages the probabilities (and presence, when every member gives it) of ``predictors``."""

    def __init__(self, predictors: Sequence[Predictor]) -> None:
        if not predictors:
            raise ValueError("an ensemble needs at least one predictor")
        self.predictors = list(predictors)

    def __call__(self, batch: torch.Tensor) -> BatchOutput:
        outputs = [predictor(batch) for predictor in self.predictors]
        probabilities = torch.stack([o.probabilities for o in outputs]).mean(0)
        presences = [o.presence for o in outputs]
        if any(p is None for p in presences):
            return BatchOutput(probabilities, None)
        return BatchOutput(probabilities, torch.stack(presences).mean(0))


class Renormalised:
    """Feeds ``base`` a batch standardised with ``target`` = (mean, std) instead of ``source``."""

    def __init__(
        self, base: Predictor, source: tuple[float, float], target: tuple[float, float]
    ) -> None:
        self.base = base
        self.source = source
        self.target = target

    def __call__(self, batch: torch.Tensor) -> BatchOutput:
        if self.source == self.target:
            return self.base(batch)
        unit = batch * self.source[1] + self.source[0]  # back to [0, 1] intensities
        return self.base((unit - self.target[0]) / self.target[1])


def is_cross_validation(run: Path) -> bool:
    """True for a folder of fold runs (``RUN/fold-K/``) rather than a single run."""
    run = Path(run)
    return not (run / runs.MODEL).is_file() and any(run.glob(FOLD_GLOB))


def fold_dirs(run: Path) -> list[Path]:
    """``RUN/fold-0``, ``RUN/fold-1``, ... in fold order."""
    folds = [p for p in Path(run).glob(FOLD_GLOB) if p.is_dir() and _fold_number(p) is not None]
    return sorted(folds, key=_fold_number)


def model_files(run: Path) -> list[Path]:
    """``RUN/model.pt``, or every ``RUN/fold-K/model.pt`` of a cross-validation folder.

    Raises:
        NervesegError: no model at all, or a fold without one (unfinished cross-validation).
    """
    run = Path(run)
    if (run / runs.MODEL).is_file():
        return [run / runs.MODEL]
    folds = fold_dirs(run)
    if not folds:
        runs.require_finished(run)  # raises with the usual "train first" message
    missing = [f.name for f in folds if not (f / runs.MODEL).is_file()]
    if missing:
        raise NervesegError(
            f"{run}: {', '.join(missing)} has no {runs.MODEL} (unfinished cross-validation); "
            f"finish it with nerveseg train --run {run} --folds {len(folds)} --fold all --resume"
        )
    return [f / runs.MODEL for f in folds]


def load_run_predictors(
    run: Path, device: str = "auto", *, channels_last: bool = False
) -> list[tuple[Predictor, ModelInfo]]:
    """A :class:`TorchPredictor` and its :class:`ModelInfo` for each model in ``run``."""
    members = []
    for path in model_files(run):
        model, info = load_model(path)
        members.append((TorchPredictor(model, pick_device(device), channels_last), info))
    return members


def combine(members: Sequence[tuple[Predictor, ModelInfo]]) -> tuple[Predictor, ModelInfo]:
    """One predictor for ``members``: itself, or an ensemble fed through its first member's info.

    The returned info (input size, normalisation, threshold) is the first member's; the others
    are renormalised to it.

    Raises:
        NervesegError: when the members need different input sizes.
    """
    if len(members) == 1:
        return members[0]
    first = members[0][1]
    sizes = {tuple(info.image_size) for _, info in members}
    if len(sizes) > 1:
        raise NervesegError(
            f"ensemble members need different input sizes {sorted(sizes)}; an ensemble here "
            "shares one resized copy of each frame, so train its members at one data.image_size"
        )
    source = (first.mean, first.std)
    wrapped = [Renormalised(p, source, (info.mean, info.std)) for p, info in members]
    return EnsemblePredictor(wrapped), first


def load_run_predictor(
    run: Path, device: str = "auto", *, tta: bool = False
) -> tuple[Predictor, ModelInfo]:
    """The predictor for ``nerveseg predict/evaluate --run RUN``: every fold model averaged for
    a cross-validation folder, wrapped in horizontal-flip :class:`TTAPredictor` with ``tta``."""
    predictor, info = combine(load_run_predictors(run, device))
    return (TTAPredictor(predictor) if tta else predictor), info


def _fold_number(path: Path) -> int | None:
    match = re.fullmatch(r"fold-(\d+)", path.name)
    return int(match.group(1)) if match else None
