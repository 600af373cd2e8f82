"""The output folder of a folder prediction: its layout, who owns it, and what it holds.

Its own module because it is a file format, not prediction: which files a prediction writes
(``masks/``, ``submission.csv`` or ``masks.csv``), the marker that makes a folder nerveseg's,
reading finished masks back for ``resume`` and writing the run-length tables. The loop in
:mod:`~nerveseg.inference.predict` only decides which frames to predict and calls these.

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
from pathlib import Path

import numpy as np

from nerveseg.data.folders import natural_key
from nerveseg.data.images import read_mask, write_mask_png
from nerveseg.data.kaggle import write_submission
from nerveseg.data.rle import rle_encode
from nerveseg.data.samples import Sample
from nerveseg.errors import DataError, NervesegError
from nerveseg.files import atomic_write
from nerveseg.inference.indexed_masks import read_indexed_mask, write_indexed_mask

MASKS = "masks"
MARKER = ".nerveseg-predictions"
SUBMISSION = "submission.csv"
RLE_TABLE = "masks.csv"  # for frames whose names are not Kaggle test ids


def check_out_flags(overwrite: bool, resume: bool) -> None:
    if resume and overwrite:
        raise NervesegError("--resume keeps earlier masks and --overwrite deletes them: pick one")


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


def mask_path(out: Path, sample: Sample) -> Path:
    return out / MASKS / f"{sample.name}_mask.png"


def write_mask(path: Path, masks: np.ndarray, names: list[str]) -> None:
    """One structure: a ``{0, 255}`` PNG as always; several: one indexed PNG."""
    if len(names) == 1:
        write_mask_png(path, masks[0])
    else:
        write_indexed_mask(path, masks, names)


def write_rle_tables(out: Path, rows: dict[str, list[str]], names: list[str]) -> list[Path]:
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


def written_masks(folder: Path, samples: list[Sample], names: list[str]) -> dict[str, list[str]]:
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


def earlier_predictions(out: Path, *, overwrite: bool, resume: bool) -> list[Path]:
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


def claim_out(out: Path, earlier: list[Path]) -> None:
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
