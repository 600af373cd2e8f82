"""Segmentation metrics, per image, as the competition scores them.

Every function takes boolean masks ``(N, H, W)`` (or ``(H, W)``) and returns one value per image;
average afterwards. The competition's rule for an empty truth is a named argument,
``empty_score``: when both prediction and truth are empty the image scores ``empty_score``
(1.0 in the competition); a prediction on an empty truth scores 0.

Several structures (``data.structures``): masks ``(N, S, H, W)`` hold one channel per structure,
and every structure is scored as a set of images of its own, with the empty rule per structure
(:func:`per_structure`, :class:`StructureScoreAccumulator` -> one :class:`Scores` per structure).
Their mean over structures (:func:`mean_scores`) is the one figure runs are ranked on; with one
structure it is that structure's figure exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

COMPETITION_EMPTY_SCORE = 1.0


def _as_batch(mask: torch.Tensor) -> torch.Tensor:
    mask = torch.as_tensor(mask)
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim == 4:
        if mask.shape[1] != 1:  # silently scoring channel 0 of several would hide the others
            raise ValueError(
                f"masks {tuple(mask.shape)} have {mask.shape[1]} structures; score them with "
                "per_structure or StructureScoreAccumulator"
            )
        mask = mask[:, 0]
    return mask.bool().flatten(1)


def _counts(pred: torch.Tensor, truth: torch.Tensor) -> tuple[torch.Tensor, ...]:
    p, t = _as_batch(pred), _as_batch(truth)
    if p.shape != t.shape:
        raise ValueError(f"prediction {tuple(p.shape)} and truth {tuple(t.shape)} differ in shape")
    tp = (p & t).sum(1).double()
    fp = (p & ~t).sum(1).double()
    fn = (~p & t).sum(1).double()
    tn = (~p & ~t).sum(1).double()
    return tp, fp, fn, tn


def dice(pred: torch.Tensor, truth: torch.Tensor, empty_score: float = COMPETITION_EMPTY_SCORE):
    """Per-image Dice ``2|P∩T| / (|P|+|T|)``; ``empty_score`` when both are empty. ``(N,)``."""
    tp, fp, fn, _ = _counts(pred, truth)
    denominator = 2 * tp + fp + fn
    value = torch.where(denominator > 0, 2 * tp / denominator.clamp(min=1), empty_score)
    return value


def jaccard(pred: torch.Tensor, truth: torch.Tensor, empty_score: float = COMPETITION_EMPTY_SCORE):
    """Per-image IoU ``|P∩T| / |P∪T|``; ``empty_score`` when both are empty. ``(N,)``."""
    tp, fp, fn, _ = _counts(pred, truth)
    union = tp + fp + fn
    return torch.where(union > 0, tp / union.clamp(min=1), empty_score)


def pixel_accuracy(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per-image fraction of pixels classified correctly. ``(N,)``."""
    tp, fp, fn, tn = _counts(pred, truth)
    return (tp + tn) / (tp + fp + fn + tn)


def per_structure(
    metric: Callable[..., torch.Tensor], pred: torch.Tensor, truth: torch.Tensor, **kwargs: float
) -> torch.Tensor:
    """A per-image ``metric`` of ``(N, S, H, W)`` masks, each structure on its own: ``(N, S)``.

    E.g. ``per_structure(dice, pred, truth)``: an image whose vessel channel is empty in both
    scores 1 for the vessel whatever its nerve channel holds.
    """
    pred, truth = torch.as_tensor(pred), torch.as_tensor(truth)
    if pred.ndim != 4 or pred.shape != truth.shape:
        raise ValueError(
            f"per-structure masks must both be (N, S, H, W), got {tuple(pred.shape)} and "
            f"{tuple(truth.shape)}"
        )
    n, count = pred.shape[:2]
    pairs = (n * count, *pred.shape[2:])  # each (image, structure) an image of its own
    values = metric(pred.reshape(pairs), truth.reshape(pairs), **kwargs)
    return values.reshape(n, count)


@dataclass(frozen=True)
class Scores:
    """Averages over a set of images; see :func:`summarize`.

    Scored per structure (:class:`StructureScoreAccumulator`), ``nerve_images``, ``dice_nerve``
    and the rates read "the structure" for "nerve": frames whose truth shows that structure,
    Dice over them, and so on.
    """

    images: int
    nerve_images: int
    score: float  # the competition score: mean Dice with empty/empty = 1
    dice_nerve: float  # mean Dice over frames whose truth has a nerve
    jaccard: float
    pixel_accuracy: float
    false_detection_rate: float  # fraction of empty frames where a nerve was predicted
    missed_rate: float  # fraction of nerve frames predicted empty

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


class ScoreAccumulator:
    """Collects per-image results batch by batch, so full-resolution masks never pile up."""

    def __init__(self) -> None:
        self.dice: list[float] = []
        self.jaccard: list[float] = []
        self.accuracy: list[float] = []
        self.truth_nonempty: list[bool] = []
        self.pred_nonempty: list[bool] = []

    def update(self, pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        """Add a batch of boolean masks; returns the batch's per-image Dice."""
        per_image = dice(pred, truth)
        self.dice += per_image.tolist()
        self.jaccard += jaccard(pred, truth).tolist()
        self.accuracy += pixel_accuracy(pred, truth).tolist()
        self.truth_nonempty += _as_batch(truth).any(1).tolist()
        self.pred_nonempty += _as_batch(pred).any(1).tolist()
        return per_image

    def summary(self) -> Scores:
        return summarize(
            np.array(self.dice),
            np.array(self.jaccard),
            np.array(self.accuracy),
            np.array(self.truth_nonempty, dtype=bool),
            np.array(self.pred_nonempty, dtype=bool),
        )


class StructureScoreAccumulator:
    """A :class:`ScoreAccumulator` per structure: ``(N, S, H, W)`` batches in, ``{name: Scores}`` out.

    Args:
        structures: the structure names in channel order (``data.structures``).
    """

    def __init__(self, structures: Sequence[str]) -> None:
        self.parts = {name: ScoreAccumulator() for name in structures}

    def update(self, pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        """Add a batch of ``(N, S, H, W)`` boolean masks; returns its per-image Dice ``(N, S)``."""
        pred, truth = torch.as_tensor(pred), torch.as_tensor(truth)
        if pred.ndim != 4 or pred.shape[1] != len(self.parts) or pred.shape != truth.shape:
            raise ValueError(
                f"expected (N, {len(self.parts)}, H, W) masks for {list(self.parts)}, got "
                f"{tuple(pred.shape)} and {tuple(truth.shape)}"
            )
        values = [
            part.update(pred[:, k], truth[:, k]) for k, part in enumerate(self.parts.values())
        ]
        return torch.stack(values, dim=1)

    def summary(self) -> dict[str, Scores]:
        """One :class:`Scores` per structure, in channel order."""
        return {name: part.summary() for name, part in self.parts.items()}


def mean_scores(per_structure_scores: Mapping[str, Scores]) -> Scores:
    """The mean over structures of each figure (structures where it is NaN left out).

    ``score`` is what runs are ranked on. With one structure every figure is that structure's
    own, exactly. ``nerve_images`` becomes the number of (frame, structure) pairs whose truth
    shows the structure.
    """
    parts = list(per_structure_scores.values())
    if not parts:
        raise ValueError("no structures to average")

    def mean(name: str) -> float:
        values = [getattr(p, name) for p in parts if not math.isnan(getattr(p, name))]
        return sum(values) / len(values) if values else float("nan")

    averaged = {f.name: mean(f.name) for f in fields(Scores) if f.type in ("float", float)}
    return Scores(
        images=parts[0].images, nerve_images=sum(p.nerve_images for p in parts), **averaged
    )


def summarize(
    dice_values: np.ndarray,
    jaccard_values: np.ndarray,
    accuracy_values: np.ndarray,
    truth_nonempty: np.ndarray,
    pred_nonempty: np.ndarray,
) -> Scores:
    """Average per-image values into :class:`Scores` (NaN where a subset is empty)."""

    def mean(values: np.ndarray) -> float:
        return float(values.mean()) if values.size else float("nan")

    empty = ~truth_nonempty
    return Scores(
        images=int(dice_values.size),
        nerve_images=int(truth_nonempty.sum()),
        score=mean(dice_values),
        dice_nerve=mean(dice_values[truth_nonempty]),
        jaccard=mean(jaccard_values),
        pixel_accuracy=mean(accuracy_values),
        false_detection_rate=mean(pred_nonempty[empty].astype(float)),
        missed_rate=mean((~pred_nonempty[truth_nonempty]).astype(float)),
    )


def all_empty_score(truth_nonempty: np.ndarray) -> float:
    """The competition score of predicting every mask empty: the fraction of empty truths.

    ``truth_nonempty`` is ``(N,)``, or ``(N, S)`` per structure: then the mean over structures
    of each structure's empty fraction (the mean score of predicting nothing anywhere).
    """
    truth_nonempty = np.asarray(truth_nonempty, dtype=bool)
    return float((~truth_nonempty).mean()) if truth_nonempty.size else float("nan")
