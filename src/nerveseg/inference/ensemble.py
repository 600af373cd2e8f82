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

from collections.abc import Sequence

import torch

from nerveseg.checkpoint import ModelInfo
from nerveseg.errors import NervesegError
from nerveseg.inference.predictor import BatchOutput, Predictor


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


def combine(members: Sequence[tuple[Predictor, ModelInfo]]) -> tuple[Predictor, ModelInfo]:
    """One predictor for ``members``: itself, or an ensemble fed through its first member's info.

    The returned info (input size, normalisation, threshold) is the first member's; the others
    are renormalised to it.

    Raises:
        NervesegError: when the members need different input sizes or resize modes.
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
    modes = {info.resize for _, info in members}
    if len(modes) > 1:
        raise NervesegError(
            f"ensemble members resize frames differently ({', '.join(sorted(modes))}); an "
            "ensemble shares one resized copy of each frame, so train them at one data.resize"
        )
    source = (first.mean, first.std)
    wrapped = [Renormalised(p, source, (info.mean, info.std)) for p, info in members]
    return EnsemblePredictor(wrapped), first
