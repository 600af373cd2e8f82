"""Predict masks for a folder of frames: PNG masks plus a Kaggle submission CSV.

Frames are decoded and resized a chunk at a time and each mask is written as its batch
finishes (atomically, one file each), so predicting Kaggle's 5,508 test frames is a progress
bar from the first second, not a wait, and memory does not grow with the folder. A killed run
continues with ``resume``: frames whose mask is already written are read back instead of
predicted again. The submission CSV is written last, in test-id order.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from nerveseg.data.folders import natural_key
from nerveseg.data.images import read_mask, write_mask_png
from nerveseg.data.kaggle import write_submission
from nerveseg.data.loading import load_set
from nerveseg.data.rle import rle_encode
from nerveseg.data.samples import Sample, discover_unlabelled
from nerveseg.errors import DataError, NervesegError
from nerveseg.files import atomic_write
from nerveseg.inference.predictor import masks_at_original_size, predict_batches
from nerveseg.inference.sources import OpenedPredictor, open_predictor

MASKS = "masks"
SUBMISSION = "submission.csv"
RLE_TABLE = "masks.csv"  # for frames whose names are not Kaggle test ids
# Frames decoded at a time: a few MB at the network's size, and the bar moves from the start.
CHUNK = 256


@dataclass
class PredictionResult:
    out: Path
    frames: int
    nonempty: int
    submission: Path


def predict_folder(
    source: Path,
    input_dir: Path,
    out: Path,
    *,
    device: str = "auto",
    tta: bool = False,
    overwrite: bool = False,
    resume: bool = False,
    batch_size: int = 16,
    progress: bool = True,
) -> PredictionResult:
    """Predict every frame in ``input_dir`` into ``out/masks/`` and a run-length table.

    ``source`` is a run folder, a cross-validation folder or a model file (``model.pt``,
    ``.onnx``, ``.ts``), opened by :func:`~nerveseg.inference.sources.open_predictor` with
    ``device`` and ``tta``. See :func:`write_predictions` for ``overwrite`` and ``resume``.
    """
    _check_out_flags(overwrite, resume)
    opened = open_predictor(Path(source), device=device, tta=tta)
    return write_predictions(
        opened,
        input_dir,
        out,
        overwrite=overwrite,
        resume=resume,
        batch_size=batch_size,
        progress=progress,
    )


def write_predictions(
    opened: OpenedPredictor,
    input_dir: Path,
    out: Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    batch_size: int = 16,
    progress: bool = True,
) -> PredictionResult:
    """Predict every frame in ``input_dir`` with ``opened`` into ``out``.

    Masks go to ``out/masks/``; the run-length table to ``out/submission.csv`` for Kaggle test
    ids, else ``out/masks.csv``. With ``resume``, masks already in ``out/masks/`` are kept and
    read back for the table, and only the frames without one are predicted: the way to finish a
    killed run. It assumes the earlier masks came from the same model and post-processing.
    """
    out = Path(out)
    _check_out_flags(overwrite, resume)
    if resume:
        out.mkdir(parents=True, exist_ok=True)
    else:
        _prepare_out(out, overwrite)
    samples = discover_unlabelled(Path(input_dir))
    rows = _written_masks(out / MASKS, samples) if resume else {}
    todo = [sample for sample in samples if sample.name not in rows]
    # tqdm comes with Lightning; the bar counts frames, starting at those already done.
    bar = tqdm(
        total=len(samples), initial=len(rows), desc="predicting", unit="frame", disable=not progress
    )
    with bar:
        for batch, masks in _predicted_masks(todo, opened, batch_size):
            for sample, mask in zip(batch, masks, strict=True):
                write_mask_png(_mask_path(out, sample), mask)
                rows[sample.name] = rle_encode(mask)
            bar.update(len(masks))
    table = _write_rle_table(out, rows)
    nonempty = sum(bool(rle) for rle in rows.values())
    return PredictionResult(out, len(rows), nonempty, table)


def _check_out_flags(overwrite: bool, resume: bool) -> None:
    if resume and overwrite:
        raise NervesegError("--resume keeps earlier masks and --overwrite deletes them: pick one")


def _write_rle_table(out: Path, rows: dict[str, str]) -> Path:
    """Kaggle test ids (whole numbers) give ``submission.csv`` in id order; any other names a
    ``masks.csv`` of ``name,pixels`` in natural order, so a folder of one's own scans works too."""
    if all(name.strip().isdigit() for name in rows):
        write_submission(out / SUBMISSION, rows.items())
        return out / SUBMISSION

    def write(handle) -> None:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["name", "pixels"])
        writer.writerows((name, rows[name]) for name in sorted(rows, key=natural_key))

    atomic_write(out / RLE_TABLE, write)
    return out / RLE_TABLE


def _predicted_masks(
    samples: list[Sample], opened: OpenedPredictor, batch_size: int
) -> Iterator[tuple[list[Sample], list[np.ndarray]]]:
    """Masks at each frame's original size, a batch at a time, decoding CHUNK frames at a time."""
    info, params = opened.info, opened.postprocess
    for start in range(0, len(samples), CHUNK):
        loaded = load_set(samples[start : start + CHUNK], info.image_size)
        batches = predict_batches(opened.predictor, info, loaded.images, batch_size=batch_size)
        for chunk, output in batches:
            shapes = loaded.original_shapes[chunk]
            masks = masks_at_original_size(output.probabilities, shapes, params, output.presence)
            yield loaded.samples[chunk], masks


def _mask_path(out: Path, sample: Sample) -> Path:
    return out / MASKS / f"{sample.name}_mask.png"


def _written_masks(folder: Path, samples: list[Sample]) -> dict[str, str]:
    """RLE of every sample whose mask a previous run wrote; unreadable ones are predicted again.

    Masks are written atomically, so a file that exists is complete; a damaged one (a full disk,
    a hand edit) is simply redone.
    """
    rows = {}
    for sample in samples:
        path = folder / f"{sample.name}_mask.png"
        if path.is_file():
            try:
                rows[sample.name] = rle_encode(read_mask(path))
            except DataError:
                continue
    return rows


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Refuse to mix with or clobber earlier predictions unless asked; never touch other files."""
    existing = [p for p in (out / MASKS, out / SUBMISSION, out / RLE_TABLE) if p.exists()]
    if existing and not overwrite:
        raise NervesegError(
            f"{out}: already holds predictions ({', '.join(p.name for p in existing)}); "
            "pass --overwrite to replace them, --resume to finish them, or choose another --out"
        )
    for path in existing:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    out.mkdir(parents=True, exist_ok=True)
