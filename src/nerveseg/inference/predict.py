"""Predict masks for a folder of frames: PNG masks plus a Kaggle submission CSV.

Frames are decoded and resized a chunk at a time and each mask is written as its batch
finishes (atomically, one file each), so predicting Kaggle's 5,508 test frames is a progress
bar from the first second, not a wait, and memory does not grow with the folder. A killed run
continues with ``resume``: frames whose mask is already written are read back instead of
predicted again. The submission CSV is written last, in test-id order.

An output folder is nerveseg's once it holds the marker ``.nerveseg-predictions``: only then
does ``overwrite`` remove earlier predictions, and only the mask files and tables prediction
writes. A data set's own ``masks/`` is never taken for earlier predictions.

A model of several structures (nerve, vessel ...) writes one indexed PNG per frame (value
``k + 1`` = structure ``k``, a colour per structure; see :mod:`~nerveseg.inference.indexed_masks`
for the overlap rule) and ``masks.csv`` with one run-length column per structure
(``name,nerve_pixels,vessel_pixels``); for Kaggle test ids ``submission.csv`` holds the first
structure exactly as a one-structure model writes it. Resuming reads finished frames back from
their PNG, where overlapping pixels belong to the first structure only.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from nerveseg.data.folders import natural_key
from nerveseg.data.images import read_mask, write_mask_png
from nerveseg.data.kaggle import write_submission
from nerveseg.data.loading import load_set
from nerveseg.data.rle import rle_encode
from nerveseg.data.samples import Sample, discover_unlabelled, warn_skipped
from nerveseg.errors import DataError, NervesegError
from nerveseg.files import atomic_write
from nerveseg.inference.indexed_masks import read_indexed_mask, write_indexed_mask
from nerveseg.inference.predictor import predict_batches, structure_masks_at_original_size
from nerveseg.inference.sources import OpenedPredictor, open_predictor

MASKS = "masks"
MARKER = ".nerveseg-predictions"
SUBMISSION = "submission.csv"
RLE_TABLE = "masks.csv"  # for frames whose names are not Kaggle test ids
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
    _check_out_flags(overwrite, resume)
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
    _check_out_flags(overwrite, resume)
    samples = discover_unlabelled(Path(input_dir))
    check_distinct_ids(samples)
    existing = _earlier_predictions(out, overwrite=overwrite, resume=resume)
    names = opened.structures
    rows = _written_masks(out / MASKS, samples, names) if resume else {}
    todo = [sample for sample in samples if sample.name not in rows]
    claimed = False
    # tqdm comes with Lightning; the bar counts frames, starting at those already done.
    bar = tqdm(
        total=len(samples), initial=len(rows), desc="predicting", unit="frame", disable=not progress
    )
    with bar:
        for batch, masks in _predicted_masks(todo, opened, batch_size, skip_bad, rows):
            if not claimed:
                _claim_out(out, existing)
                claimed = True
            for sample, mask in zip(batch, masks, strict=True):
                _write_mask(_mask_path(out, sample), mask, names)
                rows[sample.name] = [rle_encode(channel) for channel in mask]
            bar.update(len(masks))
    if not claimed:  # every frame was done before (resume) or unreadable (skip_bad)
        _claim_out(out, existing)
    tables = _write_rle_tables(out, rows, names)
    counts = {name: sum(bool(rles[k]) for rles in rows.values()) for k, name in enumerate(names)}
    return PredictionResult(out, len(rows), counts[names[0]], tables[0], counts, tables)


def _write_mask(path: Path, masks: np.ndarray, names: list[str]) -> None:
    """One structure: a ``{0, 255}`` PNG as always; several: one indexed PNG."""
    if len(names) == 1:
        write_mask_png(path, masks[0])
    else:
        write_indexed_mask(path, masks, names)


def _check_out_flags(overwrite: bool, resume: bool) -> None:
    if resume and overwrite:
        raise NervesegError("--resume keeps earlier masks and --overwrite deletes them: pick one")


def _write_rle_tables(out: Path, rows: dict[str, list[str]], names: list[str]) -> list[Path]:
    """Kaggle test ids (whole numbers) give ``submission.csv`` of the first structure in id
    order; any other names a ``masks.csv`` of ``name,pixels`` in natural order, so a folder of
    one's own scans works too. Several structures always add (or make) ``masks.csv`` with a
    ``STRUCTURE_pixels`` column each."""
    tables = []
    if all(name.strip().isdigit() for name in rows):
        write_submission(out / SUBMISSION, ((name, rles[0]) for name, rles in rows.items()))
        tables.append(out / SUBMISSION)
        if len(names) == 1:
            return tables
    header = ["name", "pixels"] if len(names) == 1 else ["name", *(f"{n}_pixels" for n in names)]

    def write(handle) -> None:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows((name, *rows[name]) for name in sorted(rows, key=natural_key))

    atomic_write(out / RLE_TABLE, write)
    return [*tables, out / RLE_TABLE]


def check_distinct_ids(samples: list[Sample]) -> None:
    """Refuse two frames a submission would give one id (``12.tif`` and ``012.tif``), up front."""
    seen: dict[int, Sample] = {}
    for sample in samples:
        if not sample.name.strip().isdigit():
            return  # not Kaggle ids: the table keeps each name as it is
        earlier = seen.setdefault(int(sample.name), sample)
        if earlier is not sample:
            raise NervesegError(
                f"{earlier.image_path.name} and {sample.image_path.name}: both are test id "
                f"{int(sample.name)} in a submission; rename or remove one"
            )


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


def _mask_path(out: Path, sample: Sample) -> Path:
    return out / MASKS / f"{sample.name}_mask.png"


def _written_masks(folder: Path, samples: list[Sample], names: list[str]) -> dict[str, list[str]]:
    """RLE of every sample whose mask a previous run wrote; unreadable ones are predicted again.

    Masks are written atomically, so a file that exists is complete; a damaged one (a full disk,
    a hand edit, a mask of another model's structures) is simply redone.
    """
    rows = {}
    for sample in samples:
        path = folder / f"{sample.name}_mask.png"
        if path.is_file():
            try:
                if len(names) == 1:
                    rows[sample.name] = [rle_encode(read_mask(path))]
                else:
                    masks = read_indexed_mask(path, len(names))
                    rows[sample.name] = [rle_encode(mask) for mask in masks]
            except DataError:
                continue
    return rows


def _earlier_predictions(out: Path, *, overwrite: bool, resume: bool) -> list[Path]:
    """The earlier predictions in ``out`` that this run will replace; raises if it must not.

    Only a folder prediction marked as its own is touched; a ``masks/`` or table without the
    marker (a data set's ground truth, a user's file) is never taken for predictions.
    """
    existing = [p for p in (out / MASKS, out / SUBMISSION, out / RLE_TABLE) if p.exists()]
    if not existing:
        return []
    names = ", ".join(p.name for p in existing)
    if not (out / MARKER).is_file() and not _legacy_predictions(out):
        raise NervesegError(
            f"{out}: holds {names} that nerveseg predict did not write (a data set's masks?); "
            "choose another --out"
        )
    if resume:
        return []
    if not overwrite:
        raise NervesegError(
            f"{out}: already holds predictions ({names}); pass --overwrite to replace them, "
            "--resume to finish them, or choose another --out"
        )
    return existing


def _legacy_predictions(out: Path) -> bool:
    """Predictions from before the marker: a table beside a masks/ of nothing but masks."""
    has_table = (out / SUBMISSION).is_file() or (out / RLE_TABLE).is_file()
    masks = out / MASKS
    only_masks = not masks.exists() or all(
        p.is_file() and p.name.endswith("_mask.png") for p in masks.iterdir()
    )
    return has_table and only_masks


def _claim_out(out: Path, earlier: list[Path]) -> None:
    """Remove the earlier predictions (their mask files and tables only) and mark ``out``."""
    for path in earlier:
        if path.is_dir():
            for mask in path.glob("*_mask.png"):
                mask.unlink()
            if not any(path.iterdir()):
                path.rmdir()
        else:
            path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("predictions nerveseg wrote; see nerveseg.inference.predict\n")
