"""Predict masks for a folder of frames: PNG masks plus a Kaggle submission CSV.

Frames are decoded and resized a chunk at a time and each mask is written as its batch
finishes (atomically, one file each), so predicting Kaggle's 5,508 test frames is a progress
bar from the first second, not a wait, and memory does not grow with the folder. A killed run
continues with ``resume``: frames whose mask is already written are read back instead of
predicted again. The submission CSV is written last, in test-id order.

What the output folder holds, when it may be replaced, and how several structures are written
is :mod:`~nerveseg.inference.predict_output`'s; this module is the prediction loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from nerveseg.data.loading import load_set
from nerveseg.data.rle import rle_encode
from nerveseg.data.samples import Sample, discover_unlabelled, warn_skipped
from nerveseg.errors import DataError
from nerveseg.inference.predict_output import (
    MASKS,
    check_distinct_ids,
    check_out_flags,
    claim_out,
    earlier_predictions,
    mask_path,
    write_mask,
    write_rle_tables,
    written_masks,
)
from nerveseg.inference.predictor import predict_batches, structure_masks_at_original_size
from nerveseg.inference.sources import OpenedPredictor, open_predictor

# Frames decoded at a time: a few MB at the network's size, and the bar moves from the start.
CHUNK = 256


@dataclass
class PredictionResult:
    """What :func:`write_predictions` wrote.

    Attributes:
        out: the output folder.
        frames: frames in the table.
        nonempty: frames with a non-empty mask of the first structure.
        submission: the run-length table: ``submission.csv`` for Kaggle test ids, else
            ``masks.csv``.
        nonempty_by_structure: per structure name, frames with a non-empty mask.
        tables: every table written (for several structures on Kaggle ids: the submission of
            the first structure and ``masks.csv`` with all of them).
    """

    out: Path
    frames: int
    nonempty: int
    submission: Path
    nonempty_by_structure: dict[str, int] = field(default_factory=dict)
    tables: list[Path] = field(default_factory=list)


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
    skip_bad: bool = False,
    progress: bool = True,
) -> PredictionResult:
    """Predict every frame in ``input_dir`` into ``out/masks/`` and a run-length table.

    ``source`` is a run folder, a cross-validation folder or a model file (``model.pt``,
    ``.onnx``, ``.ts``), opened by :func:`~nerveseg.inference.sources.open_predictor` with
    ``device`` and ``tta``. See :func:`write_predictions` for ``overwrite`` and ``resume``.
    """
    check_out_flags(overwrite, resume)
    opened = open_predictor(Path(source), device=device, tta=tta)
    return write_predictions(
        opened,
        input_dir,
        out,
        overwrite=overwrite,
        resume=resume,
        batch_size=batch_size,
        skip_bad=skip_bad,
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
    skip_bad: bool = False,
    progress: bool = True,
) -> PredictionResult:
    """Predict every frame in ``input_dir`` with ``opened`` into ``out``.

    Masks go to ``out/masks/``; the run-length table to ``out/submission.csv`` for Kaggle test
    ids, else ``out/masks.csv``. With ``resume``, masks already in ``out/masks/`` are kept and
    read back for the table, and only the frames without one are predicted: the way to finish a
    killed run. It assumes the earlier masks came from the same model and post-processing.
    With ``skip_bad``, an unreadable frame is listed in a warning and gets an empty row in the
    table (a submission must have every id) instead of stopping the whole folder.

    Nothing is written until the first batch is decoded: a bad input leaves ``out`` as it was.
    """
    out = Path(out)
    check_out_flags(overwrite, resume)
    samples = discover_unlabelled(Path(input_dir))
    check_distinct_ids(samples)
    existing = earlier_predictions(out, overwrite=overwrite, resume=resume)
    names = opened.structures
    rows = written_masks(out / MASKS, samples, names) if resume else {}
    todo = [sample for sample in samples if sample.name not in rows]
    claimed = False
    # tqdm comes with Lightning; the bar counts frames, starting at those already done.
    bar = tqdm(
        total=len(samples), initial=len(rows), desc="predicting", unit="frame", disable=not progress
    )
    with bar:
        for batch, masks in _predicted_masks(todo, opened, batch_size, skip_bad, rows):
            if not claimed:
                claim_out(out, existing)
                claimed = True
            for sample, mask in zip(batch, masks, strict=True):
                write_mask(mask_path(out, sample), mask, names)
                rows[sample.name] = [rle_encode(channel) for channel in mask]
            bar.update(len(masks))
    if not claimed:  # every frame was done before (resume) or unreadable (skip_bad)
        claim_out(out, existing)
    tables = write_rle_tables(out, rows, names)
    counts = {name: sum(bool(rles[k]) for rles in rows.values()) for k, name in enumerate(names)}
    return PredictionResult(out, len(rows), counts[names[0]], tables[0], counts, tables)


def _predicted_masks(
    samples: list[Sample],
    opened: OpenedPredictor,
    batch_size: int,
    skip_bad: bool,
    rows: dict[str, list[str]],
) -> Iterator[tuple[list[Sample], list[np.ndarray]]]:
    """``(S, H, W)`` masks at each frame's original size, a batch at a time, decoding CHUNK
    frames at a time.

    With ``skip_bad``, unreadable frames get an empty row in ``rows`` (and a warning).
    """
    info, params = opened.info, opened.postprocess
    empty = ["" for _ in opened.structures]
    for start in range(0, len(samples), CHUNK):
        chunk = samples[start : start + CHUNK]
        try:
            loaded = load_set(chunk, info.image_size, resize=info.resize, skip_bad=skip_bad)
        except DataError as exc:
            if not skip_bad:
                raise
            warn_skipped(exc.problems, "predicting")  # every frame of this chunk is unreadable
            rows.update((sample.name, empty) for sample in chunk)
            continue
        kept = {sample.name for sample in loaded.samples}
        rows.update((sample.name, empty) for sample in chunk if sample.name not in kept)
        batches = predict_batches(opened.predictor, info, loaded.images, batch_size=batch_size)
        for chunk, output in batches:
            shapes = loaded.original_shapes[chunk]
            masks = structure_masks_at_original_size(
                output.probabilities,
                shapes,
                params,
                output.presence,
                info.resize,
                images=loaded.images[chunk],
            )
            yield loaded.samples[chunk], masks
