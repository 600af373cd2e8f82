"""Evaluate a trained run at the original resolution, as the competition scores.

Validation during training is measured at the training size for speed; this recomputes every
metric on masks resized back to 580x420 and compared with the original masks, per image, and
puts the all-empty prediction's score on the same frames beside it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import torch

from nerveseg import runs
from nerveseg.checkpoint import load_model
from nerveseg.data.loading import load_set, read_full_mask
from nerveseg.data.samples import discover_labelled
from nerveseg.errors import NervesegError
from nerveseg.files import atomic_write, write_json
from nerveseg.inference import (
    TorchPredictor,
    masks_at_original_size,
    pick_device,
    predict_batches,
)
from nerveseg.metrics import ScoreAccumulator, Scores, all_empty_score


@dataclass
class Evaluation:
    """Scores on a set of frames, with the all-empty baseline on the same frames."""

    split: str
    scores: Scores
    all_empty_score: float

    def as_dict(self) -> dict:
        return {
            "split": self.split,
            **self.scores.as_dict(),
            "all_empty_score": self.all_empty_score,
        }


def evaluate_run(
    run: Path,
    data_root: Path | None = None,
    *,
    split: str = "val",
    batch_size: int = 16,
    device: str = "auto",
) -> Evaluation:
    """Score ``run``'s model on its validation split (or all frames of ``data_root``).

    Writes ``evaluation.json`` and ``per_image.csv`` into the run folder when evaluating the
    run's own validation split, so later stages (reports, post-processing) can read them.
    """
    run = Path(run)
    runs.require_finished(run)
    model, info = load_model(run / runs.MODEL)
    split_info = runs.read_json(run / runs.SPLIT)
    root = Path(data_root) if data_root else Path(split_info["data"])
    samples = discover_labelled(root)
    if split == "val":
        wanted = set(split_info["val"])
        samples = [s for s in samples if s.name in wanted]
        if not samples:
            raise NervesegError(
                f"none of the run's validation frames are in {root}; pass --split all to score "
                "every frame of another data set"
            )
    elif split != "all":
        raise NervesegError(f"--split must be val or all, got {split!r}")
    loaded = load_set(samples, info.image_size, progress=True)
    accumulator, rows = ScoreAccumulator(), []
    predictor = TorchPredictor(model, pick_device(device))
    for chunk, output in predict_batches(predictor, info, loaded.images, batch_size=batch_size):
        batch_samples = loaded.samples[chunk]
        shapes = loaded.original_shapes[chunk]
        predicted = masks_at_original_size(output.probabilities, shapes, info)
        for sample, shape, pred in zip(batch_samples, shapes, predicted, strict=True):
            truth = read_full_mask(sample, shape)
            value = accumulator.update(torch.from_numpy(pred), torch.from_numpy(truth))
            rows.append(
                (sample.name, sample.subject, int(truth.sum()), int(pred.sum()), float(value[0]))
            )
    scores = accumulator.summary()
    evaluation = Evaluation(split, scores, all_empty_score(accumulator.truth_nonempty))
    if split == "val" and data_root is None:
        write_json(run / runs.EVALUATION, evaluation.as_dict())
        _write_per_image(run / "per_image.csv", rows)
    return evaluation


def _write_per_image(path: Path, rows: list[tuple]) -> None:
    def write(handle) -> None:
        writer = csv.writer(handle)
        writer.writerow(["name", "subject", "truth_pixels", "predicted_pixels", "dice"])
        writer.writerows(rows)

    atomic_write(path, write)
