"""Validation figures per structure during training, and their mean, as logged each epoch.

Every structure is scored on its own (Dice with the empty rule, IoU, false detections on frames
where the structure is absent, misses where it is present, presence-head accuracy), and
``val/score`` is the mean over structures of each structure's competition score: the figure
early stopping, checkpoints and tuning follow. With one structure the logged keys and values are
those of before structures existed (``val/score``, ``val/dice_nerve``,
``val/false_detection_rate``, ``val/presence_accuracy``), plus ``val/iou`` and
``val/missed_rate``; several structures add ``val/<figure>_<structure>`` for every figure.

The figures are torchmetrics ``MeanMetric``s, so several processes (DDP) add up their sums.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchmetrics import MeanMetric

from nerveseg.metrics import dice, jaccard
from nerveseg.runs import VAL_SCORE

# Each figure's mean over the structures is logged as val/<figure>, except Dice over the frames
# showing the structure: those frames differ from structure to structure, so only
# val/dice_<structure> is logged.
FIGURES = ("score", "dice", "iou", "false_detection_rate", "missed_rate", "presence_accuracy")
PER_STRUCTURE_ONLY = ("dice",)


class StructureValidation(nn.Module):
    """Per-structure running means of the validation figures over an epoch.

    Args:
        structures: the structure names in channel order (``data.structures``).
    """

    def __init__(self, structures: Sequence[str]) -> None:
        super().__init__()
        self.structures = list(structures)
        self.means = nn.ModuleDict(
            {_key(figure, name): MeanMetric() for figure in FIGURES for name in self.structures}
        )

    def update(
        self, predicted: torch.Tensor, truth: torch.Tensor, presence: torch.Tensor | None
    ) -> None:
        """Add a batch: ``(N, S, H, W)`` bool masks, presence probabilities ``(N, S)`` or None."""
        for k, name in enumerate(self.structures):
            pred, true = predicted[:, k], truth[:, k]
            per_image = dice(pred, true).float()
            self._add("score", name, per_image)
            self._add("iou", name, jaccard(pred, true).float())
            present = true.flatten(1).any(1)
            found = pred.flatten(1).any(1)
            self._add("dice", name, per_image[present])
            self._add("false_detection_rate", name, found[~present].float())
            self._add("missed_rate", name, (~found[present]).float())
            if presence is not None:
                self._add("presence_accuracy", name, ((presence[:, k] >= 0.5) == present).float())

    def _add(self, figure: str, name: str, values: torch.Tensor) -> None:
        if values.numel():
            self.means[_key(figure, name)].update(values)

    def compute(self, world_size: int = 1) -> dict[str, torch.Tensor]:
        """The epoch's figures by logged name (NaN ones, from no such frame, left out); resets.

        Every process must call it (``compute`` adds up every process's sums): with several
        processes even a figure this process saw no frame for is computed.
        """
        values: dict[str, dict[str, torch.Tensor]] = {figure: {} for figure in FIGURES}
        for figure in FIGURES:
            for name in self.structures:
                metric = self.means[_key(figure, name)]
                if metric.update_count or world_size > 1:
                    value = metric.compute()
                    if not torch.isnan(value):
                        values[figure][name] = value
                metric.reset()
        return self._logged(values)

    def _logged(self, values: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        logged: dict[str, torch.Tensor] = {}
        several = len(self.structures) > 1
        for figure, by_structure in values.items():
            if by_structure and figure not in PER_STRUCTURE_ONLY:
                logged[f"val/{figure}"] = torch.stack(list(by_structure.values())).mean()
            if several or figure in PER_STRUCTURE_ONLY:
                logged.update({f"val/{figure}_{n}": v for n, v in by_structure.items()})
        return logged


def _key(figure: str, name: str) -> str:
    return f"{figure}:{name}"


def prog_bar_names(structures: Sequence[str]) -> set[str]:
    """What the progress bar shows: the mean score and each structure's Dice."""
    return {VAL_SCORE, *(f"val/dice_{name}" for name in structures)}
