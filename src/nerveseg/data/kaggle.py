"""The Kaggle "Ultrasound Nerve Segmentation" formats: frame size, ``train_masks.csv``, submission.

The competition's training folder holds ``train/S_I.tif`` + ``train/S_I_mask.tif`` (subject
``S``, image ``I``) and ``train_masks.csv`` repeats every mask as an RLE row
``subject,img,pixels``. Submissions are ``img,pixels`` rows, one per test image ``test/N.tif``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nerveseg.errors import DataError, NervesegError, Problem
from nerveseg.files import atomic_write

KAGGLE_SHAPE = (420, 580)
"""``(H, W)`` of every competition frame; ``train_masks.csv`` runs index these pixels."""

TRAIN_MASKS_CSV = "train_masks.csv"
CSV_HEADER = ["subject", "img", "pixels"]
SUBMISSION_HEADER = ["img", "pixels"]

_NOT_RLE_CHARACTER = re.compile(r"[^0-9\s]", re.ASCII)
_CSV_HINT = (
    f"{TRAIN_MASKS_CSV} must start with the header {','.join(CSV_HEADER)} and hold one row per "
    "training image with integer subject and img and an RLE of 'start length' pairs, as in the "
    "Kaggle download; fix or delete the rows named above."
)


@dataclass
class MaskTable:
    """What ``train_masks.csv`` says, with the rows that could not be used set aside.

    Attributes:
        path: the CSV file.
        rles: ``"S_I"`` -> RLE string for every usable row ("" = empty mask).
        lines: ``"S_I"`` -> 1-based line number, to point people at the row.
        bad_names: ``"S_I"`` whose rows are malformed or duplicated: those images have no
            trustworthy CSV mask.
        problems: one per unusable row.
    """

    path: Path
    rles: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    bad_names: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)


def rle_problem(text: str, n_pixels: int) -> str | None:
    """Why ``text`` is not a valid RLE for an image of ``n_pixels`` pixels, or None if it is.

    The same checks as :func:`~nerveseg.data.rle.rle_decode` without building the mask, about
    three times faster, so all 5,635 competition rows are checked on every discovery.
    """
    tokens = text.split()
    if not tokens:
        return None
    if len(tokens) % 2:
        return f"odd number of numbers ({len(tokens)}); the RLE must be 'start length' pairs"
    if _NOT_RLE_CHARACTER.search(text):
        bad = next(t for t in tokens if not _is_whole_number(t))
        return f"RLE token {bad!r} is not a whole number"
    try:
        numbers = np.array(tokens, dtype=np.int64)
    except OverflowError:
        return "RLE holds a number far too large for any frame"
    starts, lengths = numbers[0::2], numbers[1::2]
    if (starts < 1).any() or (lengths < 1).any():
        return "RLE starts and lengths must be >= 1"
    ends = starts - 1 + lengths
    if ends.max() > n_pixels:
        return f"RLE run ends at pixel {int(ends.max())}, past the frame's {n_pixels} pixels"
    if (starts[1:] - 1 < ends[:-1]).any():
        return "RLE runs overlap or are not in increasing order"
    return None


def _is_whole_number(token: str) -> bool:
    """ASCII digits only: ``int()`` would also take ``"1_000"``, ``"+5"`` or Arabic digits."""
    return token.isascii() and token.isdigit()


def parse_train_masks_csv(path: Path) -> MaskTable:
    """Read ``train_masks.csv``, collecting bad rows instead of stopping at the first.

    Raises:
        DataError: the file cannot be read or its header is wrong (no row can be trusted then).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError([Problem(path, "file not found")], _CSV_HINT) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError([Problem(path, f"cannot be read as text ({exc})")], _CSV_HINT) from None
    rows = csv.reader(text.splitlines())
    header = [cell.strip() for cell in next(rows, [])]
    if header != CSV_HEADER:
        reason = f"line 1: header is {','.join(header)!r}, expected {','.join(CSV_HEADER)!r}"
        raise DataError([Problem(path, reason)], _CSV_HINT)

    table = MaskTable(path)
    n_pixels = KAGGLE_SHAPE[0] * KAGGLE_SHAPE[1]
    for line, row in enumerate(rows, start=2):
        if not row or not "".join(row).strip():
            continue
        name, reason = _parse_row(row, n_pixels)
        if name is not None and name in table.lines:
            table.bad_names.add(name)
            reason = f"duplicate row for image {name} (first on line {table.lines[name]})"
        if reason is None:
            table.rles[name] = row[2].strip()
        else:
            table.problems.append(Problem(path, f"line {line}: {reason}"))
            if name is not None:
                table.bad_names.add(name)
        if name is not None:
            table.lines.setdefault(name, line)
    for name in table.bad_names:
        table.rles.pop(name, None)
    return table


def _parse_row(row: list[str], n_pixels: int) -> tuple[str | None, str | None]:
    """``("S_I", reason or None)`` for one data row; the name is None when it can't be read."""
    if len(row) != 3:
        return None, f"has {len(row)} fields, expected 3 (subject,img,pixels)"
    subject, img, pixels = (cell.strip() for cell in row)
    if not (_is_whole_number(subject) and _is_whole_number(img)):
        return None, f"subject {subject!r} and img {img!r} must be whole numbers"
    name = f"{int(subject)}_{int(img)}"
    return name, rle_problem(pixels, n_pixels)


def read_train_masks_csv(path: Path) -> dict[str, str]:
    """Read the competition's ``train_masks.csv`` into ``{"S_I": rle}``, strictly.

    Raises:
        DataError: naming the CSV and the line of every malformed or duplicated row.
    """
    table = parse_train_masks_csv(path)
    if table.problems:
        raise DataError(table.problems, _CSV_HINT)
    return table.rles


def write_submission(path: Path, rows: Iterable[tuple[str, str]]) -> None:
    """Write a Kaggle submission CSV (``img,pixels``) atomically, rows ordered by test id.

    Args:
        path: the CSV to write.
        rows: ``(test id, rle)`` pairs; ids are the test file stems (``"12"`` for ``12.tif``).

    Raises:
        NervesegError: an id is not a whole number or appears twice.
    """
    by_id: dict[int, str] = {}
    for image_id, rle in rows:
        text = str(image_id).strip()
        if not _is_whole_number(text):
            raise NervesegError(f"submission id {image_id!r} is not a whole number (test/N.tif)")
        if int(text) in by_id:
            raise NervesegError(f"submission has two rows for test image {int(text)}")
        by_id[int(text)] = " ".join(str(rle).split())

    def writer(handle) -> None:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(SUBMISSION_HEADER)
        out.writerows((image_id, by_id[image_id]) for image_id in sorted(by_id))

    atomic_write(Path(path), writer)
