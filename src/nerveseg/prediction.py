"""Predict masks for a folder of frames: PNG masks plus a Kaggle submission CSV.

Masks are written as each batch finishes (atomically, one file each), so a long prediction is a
progress bar, not a wait; the submission CSV is written last, in test-id order.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from nerveseg import runs
from nerveseg.checkpoint import load_model
from nerveseg.data.images import write_mask_png
from nerveseg.data.kaggle import write_submission
from nerveseg.data.loading import load_set
from nerveseg.data.rle import rle_encode
from nerveseg.data.samples import discover_unlabelled
from nerveseg.errors import NervesegError
from nerveseg.inference import (
    TorchPredictor,
    masks_at_original_size,
    pick_device,
    predict_batches,
)

MASKS = "masks"
SUBMISSION = "submission.csv"


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
    model_path: Path,
    input_dir: Path,
    out: Path,
    *,
    overwrite: bool = False,
    batch_size: int = 16,
    device: str = "auto",
) -> PredictionResult:
    """Predict every frame in ``input_dir`` into ``out/masks/`` and ``out/submission.csv``."""
    out = Path(out)
    _prepare_out(out, overwrite)
    model, info = load_model(model_path)
    samples = discover_unlabelled(Path(input_dir))
    loaded = load_set(samples, info.image_size, progress=True)
    rows, nonempty = [], 0
    predictor = TorchPredictor(model, pick_device(device))
    for chunk, output in predict_batches(predictor, info, loaded.images, batch_size=batch_size):
        batch_samples = loaded.samples[chunk]
        masks = masks_at_original_size(output.probabilities, loaded.original_shapes[chunk], info)
        for sample, mask in zip(batch_samples, masks, strict=True):
            write_mask_png(out / MASKS / f"{sample.name}_mask.png", mask)
            rows.append((sample.name, rle_encode(mask)))
            nonempty += bool(mask.any())
    write_submission(out / SUBMISSION, rows)
    return PredictionResult(out, len(rows), nonempty, out / SUBMISSION)


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Refuse to mix with or clobber earlier predictions unless asked; never touch other files."""
    existing = [p for p in (out / MASKS, out / SUBMISSION) if p.exists()]
    if existing and not overwrite:
        raise NervesegError(
            f"{out}: already holds predictions ({', '.join(p.name for p in existing)}); "
            "pass --overwrite to replace them or choose another --out"
        )
    for path in existing:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    out.mkdir(parents=True, exist_ok=True)
