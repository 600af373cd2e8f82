"""Evaluate a trained run at the original resolution, as the competition scores.

Validation during training is measured at the training size for speed; this recomputes every
metric on masks resized back to 580x420 and compared with the original masks, per image, and
puts the all-empty prediction's score on the same frames beside it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nerveseg import runs
from nerveseg.data.samples import Sample, discover_labelled
from nerveseg.errors import NervesegError
from nerveseg.evaluation.holdout import HeldOut, predict_frames, predict_holdout, run_data_root
from nerveseg.files import atomic_write, write_json
from nerveseg.inference.ensemble import load_run_predictor
from nerveseg.metrics import ScoreAccumulator, Scores, all_empty_score
from nerveseg.postprocess import PostprocessParams, apply_postprocess, run_postprocess


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
    tta: bool = False,
    postprocess: PostprocessParams | None = None,
    use_postprocess_file: bool = True,
) -> Evaluation:
    """Score ``run``'s model on its validation split (or all frames of ``data_root``).

    A cross-validation folder (``RUN/fold-K/``) is scored out-of-fold on ``val`` (each frame by
    the fold model that held it out) and as the fold ensemble on ``all``. ``tta`` adds the
    horizontal flip; ``postprocess`` defaults to the run's ``postprocess.json`` (unless
    ``use_postprocess_file`` is False), else the model file's threshold and minimum area.

    Writes ``evaluation.json`` and ``per_image.csv`` into the run folder when evaluating the
    run's own validation split, so later stages (reports, post-processing) can read them.
    """
    run = Path(run)
    if split == "val":
        held = predict_holdout(run, data_root, device=device, tta=tta, batch_size=batch_size)
    elif split == "all":
        predictor, info = load_run_predictor(run, device, tta=tta)
        samples = discover_labelled(Path(data_root) if data_root else run_data_root(run))
        held = predict_frames(predictor, info, samples, batch_size=batch_size)
    else:
        raise NervesegError(f"--split must be val or all, got {split!r}")
    params = postprocess or run_postprocess(run, held.info, use_file=use_postprocess_file)
    accumulator, rows = ScoreAccumulator(), []
    for sample, truth, pred in masks_and_truths(held, params):
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


def masks_and_truths(
    held: HeldOut, params: PostprocessParams
) -> Iterator[tuple[Sample, np.ndarray, np.ndarray]]:
    """``(sample, truth, mask)`` per frame, both ``(H, W)`` bool at the original size.

    One frame at a time, so full-resolution masks never pile up.
    """
    for i, sample in enumerate(held.samples):
        mask = apply_postprocess(held.full_probability(i), params, held.frame_presence(i))
        yield sample, held.truth(i), mask


def _write_per_image(path: Path, rows: list[tuple]) -> None:
    def write(handle) -> None:
        writer = csv.writer(handle)
        writer.writerow(["name", "subject", "truth_pixels", "predicted_pixels", "dice"])
        writer.writerows(rows)

    atomic_write(path, write)
