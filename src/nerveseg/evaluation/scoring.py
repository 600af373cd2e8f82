"""The one scoring loop: held-out predictions under a post-processing, frame by frame.

``nerveseg evaluate`` and the report both score here, so their numbers and their
``per_image.csv`` files (one schema) always agree. Masks are made at each frame's original
resolution one frame at a time, so full-resolution masks never pile up.

A model of several structures is scored one structure at a time (each :class:`HeldOut` is one
structure's channel against its own truth), then the metrics are averaged over the structures
(:func:`mean_scores`); its ``per_image.csv`` has a set of columns per structure
(:func:`structure_columns`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nerveseg.data.samples import Sample
from nerveseg.evaluation.holdout import HeldOut
from nerveseg.files import atomic_write
from nerveseg.metrics import ScoreAccumulator, Scores
from nerveseg.postprocess import PostprocessParams, apply_postprocess

PER_IMAGE_COLUMNS = ("name", "subject", "truth_pixels", "predicted_pixels", "dice", "nerve_score")


@dataclass
class FrameResult:
    """One held-out frame under a post-processing: a row of ``per_image.csv``."""

    index: int
    name: str
    subject: str
    truth_pixels: int
    predicted_pixels: int
    dice: float
    nerve_score: float  # presence probability, or the frame's highest pixel probability


def score_frames(held: HeldOut, params: PostprocessParams) -> tuple[list[FrameResult], Scores]:
    """Per-frame results and their averages for ``held`` under ``params``."""
    accumulator, results = ScoreAccumulator(), []
    for i, (sample, truth, mask) in enumerate(masks_and_truths(held, params)):
        value = accumulator.update(torch.from_numpy(mask), torch.from_numpy(truth))
        results.append(
            FrameResult(
                index=i,
                name=sample.name,
                subject=sample.subject,
                truth_pixels=int(truth.sum()),
                predicted_pixels=int(mask.sum()),
                dice=float(value[0]),
                nerve_score=nerve_score(held, i),
            )
        )
    return results, accumulator.summary()


def nerve_score(held: HeldOut, index: int) -> float:
    """How sure the model is that frame ``index`` shows a nerve: its presence probability, or
    (without a presence head) its highest pixel probability."""
    if held.presence is not None:
        return float(held.presence[index])
    return float(held.probabilities[index].max())


def masks_and_truths(
    held: HeldOut, params: PostprocessParams
) -> Iterator[tuple[Sample, np.ndarray, np.ndarray]]:
    """``(sample, truth, mask)`` per frame, both ``(H, W)`` bool at the original size."""
    for i, sample in enumerate(held.samples):
        yield sample, held.truth(i), predicted_mask(held, params, i)


def predicted_mask(held: HeldOut, params: PostprocessParams, index: int) -> np.ndarray:
    """Frame ``index``'s ``(H, W)`` bool mask at its original size under ``params``."""
    full = held.full_probability(index, params)
    return apply_postprocess(full, params, held.frame_presence(index))


def write_per_image(path: Path, results: list[FrameResult]) -> None:
    """``per_image.csv``: one row per frame, :data:`PER_IMAGE_COLUMNS`."""

    def write(handle) -> None:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(PER_IMAGE_COLUMNS)
        for r in results:
            row = [r.name, r.subject, r.truth_pixels, r.predicted_pixels]
            writer.writerow([*row, f"{r.dice:.6f}", f"{r.nerve_score:.6f}"])

    atomic_write(path, write)


def structure_columns(names: list[str]) -> tuple[str, ...]:
    """``per_image.csv``'s header: :data:`PER_IMAGE_COLUMNS` for one structure; for several,
    ``STRUCTURE_truth_pixels``, ``STRUCTURE_predicted_pixels``, ``STRUCTURE_dice`` and
    ``STRUCTURE_presence_score`` per structure after ``name`` and ``subject``."""
    if len(names) == 1:
        return PER_IMAGE_COLUMNS
    per = ("truth_pixels", "predicted_pixels", "dice", "presence_score")
    return ("name", "subject", *(f"{name}_{column}" for name in names for column in per))


def write_structures_per_image(path: Path, results: dict[str, list[FrameResult]]) -> None:
    """``per_image.csv`` of every structure (``results``: per name, one row per frame, the
    frames in the same order); one structure writes exactly :func:`write_per_image`'s file."""
    if len(results) == 1:
        write_per_image(path, next(iter(results.values())))
        return
    per_structure = list(results.values())

    def write(handle) -> None:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(structure_columns(list(results)))
        for rows in zip(*per_structure, strict=True):
            cells = [rows[0].name, rows[0].subject]
            for r in rows:
                cells += [
                    r.truth_pixels,
                    r.predicted_pixels,
                    f"{r.dice:.6f}",
                    f"{r.nerve_score:.6f}",
                ]
            writer.writerow(cells)

    atomic_write(path, write)
