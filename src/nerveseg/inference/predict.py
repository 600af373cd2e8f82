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

from nerveseg import runs
from nerveseg.checkpoint import ModelInfo
from nerveseg.data.folders import natural_key
from nerveseg.data.images import read_mask, write_mask_png
from nerveseg.data.kaggle import write_submission
from nerveseg.data.loading import load_set
from nerveseg.data.rle import rle_encode
from nerveseg.data.samples import Sample, discover_unlabelled
from nerveseg.errors import DataError, NervesegError
from nerveseg.files import atomic_write
from nerveseg.inference.predictor import Predictor, masks_at_original_size, predict_batches
from nerveseg.postprocess import PostprocessParams

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


def resolve_model_path(run: Path | None, model: Path | None) -> Path:
    """The model file from ``--run`` (its model.pt) or ``--model``; exactly one must be given."""
    if (run is None) == (model is None):
        raise NervesegError("give exactly one of --run RUN_DIR or --model MODEL_FILE")
    if run is not None:
        runs.require_finished(run)
        return Path(run) / runs.MODEL
    return Path(model)


def predict_folder(
    model_path: Path | None,
    input_dir: Path,
    out: Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    batch_size: int = 16,
    device: str = "auto",
    predictor: Predictor | None = None,
    info: ModelInfo | None = None,
    postprocess: PostprocessParams | None = None,
    progress: bool = True,
) -> PredictionResult:
    """Predict every frame in ``input_dir`` into ``out/masks/`` and ``out/submission.csv``.

    A caller that built its own ``predictor`` (an ensemble, test-time augmentation) passes it
    with its ``info`` instead of ``model_path``; ``postprocess`` replaces the model file's
    threshold and minimum area (a run's fitted ``postprocess.json``). ``model_path`` may be a
    ``model.pt``, an exported ``.onnx`` or ``.ts`` (see :func:`nerveseg.inference.runtimes.open_model`).

    With ``resume``, masks already in ``out/masks/`` are kept and read back for the CSV, and
    only the frames without one are predicted: the way to finish a killed run. It assumes the
    earlier masks came from the same model and post-processing.
    """
    out = Path(out)
    if resume and overwrite:
        raise NervesegError("--resume keeps earlier masks and --overwrite deletes them: pick one")
    if resume:
        out.mkdir(parents=True, exist_ok=True)
    else:
        _prepare_out(out, overwrite)
    if predictor is None:
        from nerveseg.inference.runtimes import (
            open_model,  # ONNX Runtime is only imported when used
        )

        opened = open_model(Path(model_path), device)
        predictor, info = opened.predictor, opened.info
        postprocess = postprocess or opened.postprocess
    elif info is None:
        raise ValueError("a predictor passed in needs its ModelInfo (info=...)")
    params = postprocess or info
    samples = discover_unlabelled(Path(input_dir))
    rows = _written_masks(out / MASKS, samples) if resume else {}
    todo = [sample for sample in samples if sample.name not in rows]
    # tqdm comes with Lightning; the bar counts frames, starting at those already done.
    bar = tqdm(
        total=len(samples), initial=len(rows), desc="predicting", unit="frame", disable=not progress
    )
    with bar:
        for batch, masks in _predicted_masks(todo, predictor, info, params, batch_size):
            for sample, mask in zip(batch, masks, strict=True):
                write_mask_png(_mask_path(out, sample), mask)
                rows[sample.name] = rle_encode(mask)
            bar.update(len(masks))
    table = _write_rle_table(out, rows)
    nonempty = sum(bool(rle) for rle in rows.values())
    return PredictionResult(out, len(rows), nonempty, table)


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
    samples: list[Sample],
    predictor: Predictor,
    info: ModelInfo,
    params: PostprocessParams | ModelInfo,
    batch_size: int,
) -> Iterator[tuple[list[Sample], list[np.ndarray]]]:
    """Masks at each frame's original size, a batch at a time, decoding CHUNK frames at a time."""
    for start in range(0, len(samples), CHUNK):
        loaded = load_set(samples[start : start + CHUNK], info.image_size)
        for chunk, output in predict_batches(predictor, info, loaded.images, batch_size=batch_size):
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
