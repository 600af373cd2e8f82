"""What a training run reports: :class:`RunResult`, returned by ``train`` and kept as
``summary.json``, which is how a finished run is recognised and read back without its model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nerveseg import runs


@dataclass
class RunResult:
    """What a finished training run reports (also written as ``summary.json``).

    ``best_val_score`` is the mean over structures of each structure's validation score.
    ``val_structures`` holds each structure's validation figures at the best epoch
    (``{"vessel": {"score": .., "dice": .., ...}}``); it is left out of ``summary.json`` for the
    single nerve, whose figures the other fields already are.
    """

    run: str
    best_epoch: int
    epochs_trained: int
    best_val_score: float
    val_dice_nerve: float
    val_false_detection_rate: float
    all_empty_val_score: float
    train_images: int
    val_images: int
    train_images_per_s: float
    seconds: float
    interrupted: bool = False
    val_structures: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def read(cls, run: Path) -> RunResult:
        """The result a finished run recorded in its ``summary.json``."""
        summary = runs.read_json(Path(run) / runs.SUMMARY)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: _nan_for_none(v) for k, v in summary.items() if k in known})


def _nan_for_none(value: Any) -> Any:
    """JSON's null back to NaN (an undefined average), in nested figures too."""
    if isinstance(value, dict):
        return {k: _nan_for_none(v) for k, v in value.items()}
    return float("nan") if value is None else value


def summary_record(result: RunResult) -> dict[str, Any]:
    """``summary.json``'s content: ``val_structures`` only where it adds something."""
    record = dict(result.__dict__)
    if not record["val_structures"]:
        del record["val_structures"]
    return record
