"""Segmentation metrics, per image, as the competition scores them.

Every function takes boolean masks ``(N, H, W)`` (or ``(H, W)``) and returns one value per image;
average afterwards. The competition's rule for an empty truth is a named argument,
``empty_score``: when both prediction and truth are empty the image scores ``empty_score``
(1.0 in the competition); a prediction on an empty truth scores 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

COMPETITION_EMPTY_SCORE = 1.0


def _as_batch(mask: torch.Tensor) -> torch.Tensor:
    mask = torch.as_tensor(mask)
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim == 4:
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


@dataclass(frozen=True)
class Scores:
    """Averages over a set of images; see :func:`summarize`."""

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
    """The competition score of predicting every mask empty: the fraction of empty truths."""
    truth_nonempty = np.asarray(truth_nonempty, dtype=bool)
    return float((~truth_nonempty).mean()) if truth_nonempty.size else float("nan")
