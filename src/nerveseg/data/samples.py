"""Which samples a data folder holds: discovery of labelled and unlabelled sets.

Discovery looks only at names (and ``train_masks.csv``), never at pixels, so it is instant and
finds every structural problem at once: an image without a mask, a mask without an image, a bad
CSV row, two files with one name, a folder mixing layouts. Pixel-level checks (corrupt files,
sizes, binary masks) happen in :mod:`nerveseg.data.loading`, where the pixels are decoded anyway.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nerveseg.data.folders import (
    FolderScan,
    describe_suffixes,
    image_files,
    natural_key,
    require_folder,
    scan_pairs,
    scan_split,
    scan_unlabelled,
)
from nerveseg.data.kaggle import TRAIN_MASKS_CSV, MaskTable, parse_train_masks_csv
from nerveseg.errors import DataError, Problem

_LABELLED_HINT = (
    "Labelled data is read as: a Kaggle folder (train/S_I.tif with train/S_I_mask.tif and/or "
    f"{TRAIN_MASKS_CSV}), a folder of NAME.png with NAME_mask.png, or images/NAME.png with "
    f"masks/NAME.png (endings {describe_suffixes()}). Fix or remove the files listed, or skip "
    "bad samples with --skip-bad (skip_bad=True in Python) to use the rest."
)


@dataclass(frozen=True)
class Sample:
    """One scan and, when labelled, where its mask comes from.

    Attributes:
        name: file stem without ``_mask``: ``"5_36"`` (Kaggle train) or ``"12"`` (Kaggle test).
        subject: the patient/sweep the frame belongs to, see :func:`subject_of`.
        image_path: the scan file.
        mask_path: the mask file, if the layout has one.
        mask_rle: the mask's row in ``train_masks.csv`` (``""`` = empty mask), if there is one.
            When both are set, loading checks that they agree.
    """

    name: str
    subject: str
    image_path: Path
    mask_path: Path | None = None
    mask_rle: str | None = field(default=None, repr=False)  # long; keeps reprs readable

    @property
    def labelled(self) -> bool:
        """True when a mask is known, from a file or from the CSV (an empty RLE counts)."""
        return self.mask_path is not None or self.mask_rle is not None


def subject_of(name: str) -> str:
    """The subject (one patient / one ultrasound sweep) a frame belongs to.

    Frames of one subject are near-duplicates, so train/validation splits must keep a subject on
    one side. The rule: when the name ends in ``_<digits>``, the subject is everything before
    that last underscore (Kaggle ``"5_36"`` -> ``"5"``, ``"pat_3_017"`` -> ``"pat_3"``);
    otherwise the whole name is its own subject (``"12"``, ``"scan_a"``).
    """
    head, sep, tail = name.rpartition("_")
    if sep and head and tail.isascii() and tail.isdigit():
        return head
    return name


def discover_labelled(root: Path, *, skip_bad: bool = False) -> list[Sample]:
    """Find every (scan, mask) pair under ``root``, in natural name order.

    ``root`` may be a Kaggle folder holding ``train/`` (and maybe ``train_masks.csv``), the
    ``train/`` folder itself, a folder of ``NAME`` + ``NAME_mask`` files, or a folder with
    ``images/`` + ``masks/``. Masks come from mask files, from ``train_masks.csv`` rows, or both.

    Args:
        root: the data folder.
        skip_bad: leave out samples with problems (one warning lists them) instead of raising.

    Raises:
        DataError: listing every structural problem at once; with ``skip_bad`` only when the
            folder itself is unusable (missing, empty, mixed layouts, unreadable CSV header).
    """
    root = require_folder(Path(root))
    layout, folder = _labelled_layout(root)
    scan = scan_split(folder) if layout == "split" else scan_pairs(folder)
    if not scan.images:
        reason = f"no images found (looked for {describe_suffixes()} files)"
        raise DataError([Problem(folder, reason), *scan.problems], _LABELLED_HINT)
    table = _mask_table(root, folder)
    if not scan.masks and table is None:
        reason = (
            f"has {len(scan.images)} images but no masks (NAME_mask.png) and no {TRAIN_MASKS_CSV}; "
            "images without masks can only be predicted on (discover_unlabelled)"
        )
        raise DataError([Problem(folder, reason)], _LABELLED_HINT)
    samples, problems = _match(folder, scan, table, split=layout == "split")
    return _keep_or_raise(samples, problems, skip_bad=skip_bad, hint=_LABELLED_HINT)


def discover_unlabelled(root: Path) -> list[Sample]:
    """Find the scans to predict on, in natural name order (Kaggle ``test/``: by integer id).

    ``root`` may be a folder of images (``*_mask`` files are ignored) or a Kaggle folder
    holding ``test/``.

    Raises:
        DataError: missing or empty folder, two files with one name, or a folder holding both
            images and ``test/``.
    """
    root = require_folder(Path(root))
    folder = root
    test = root / "test"
    if test.is_dir():
        if _direct_images(root):
            reason = "holds images and a test/ folder; point at one of them"
            raise DataError([Problem(root, reason)])
        folder = test
    scan = scan_unlabelled(folder)
    if scan.problems:
        raise DataError(scan.problems, "Each image needs its own name; remove or rename one.")
    if not scan.images:
        reason = f"no images found (looked for {describe_suffixes()} files not named *_mask)"
        raise DataError([Problem(folder, reason)])
    names = sorted(scan.images, key=natural_key)
    return [Sample(name, subject_of(name), scan.images[name]) for name in names]


def warn_skipped(problems: Sequence[Problem], what: str) -> None:
    """One warning summarising what ``skip_bad`` left out, so it is never silent."""
    shown = "\n".join(f"  - {p}" for p in problems[:10])
    more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
    warnings.warn(
        f"{what}: {len(problems)} problem(s), bad samples skipped:\n{shown}{more}", stacklevel=3
    )


def _direct_images(folder: Path) -> bool:
    return bool(image_files(folder))


def _labelled_layout(root: Path) -> tuple[str, Path]:
    """``("pairs" | "split", folder to scan)``; a folder mixing layouts is refused.

    Mixing would make it ambiguous which files are the training set, so we don't guess.
    """
    found = []
    if (root / "train").is_dir():
        found.append(("pairs", root / "train", "a Kaggle train/ folder"))
    if (root / "images").is_dir() or (root / "masks").is_dir():
        found.append(("split", root, "images/ and masks/ folders"))
    if _direct_images(root):
        found.append(("pairs", root, "image files directly inside"))
    if len(found) > 1:
        kinds = " and ".join(description for _, _, description in found)
        reason = f"mixes layouts: it has {kinds}; keep one layout per folder"
        raise DataError([Problem(root, reason)], _LABELLED_HINT)
    if not found:
        reason = f"no images found (looked for {describe_suffixes()} files, train/, images/)"
        raise DataError([Problem(root, reason)], _LABELLED_HINT)
    layout, folder, _ = found[0]
    return layout, folder


def _mask_table(root: Path, folder: Path) -> MaskTable | None:
    """Parse the ``train_masks.csv`` beside the images, in ``root``, or above ``train/``."""
    candidates = [folder / TRAIN_MASKS_CSV, root / TRAIN_MASKS_CSV]
    if folder.name == "train":
        candidates.append(folder.parent / TRAIN_MASKS_CSV)
    for path in candidates:
        if path.is_file():
            return parse_train_masks_csv(path)
    return None


def _match(
    folder: Path, scan: FolderScan, table: MaskTable | None, *, split: bool
) -> tuple[list[Sample], list[Problem]]:
    """Join images, mask files and CSV rows by name; every unmatched piece is a problem."""
    expected_mask = "masks/{0}.png or masks/{0}_mask.png" if split else "{0}_mask.png"
    expected_image = "images/{0}.png" if split else "{0}.png"
    problems = list(scan.problems)
    bad = set(scan.bad_names)
    rles: dict[str, str] = {}
    if table is not None:
        problems += table.problems
        bad |= table.bad_names
        rles = table.rles
    samples = []
    for name in sorted(scan.images, key=natural_key):
        if name in bad:
            continue
        image, mask, rle = scan.images[name], scan.masks.get(name), rles.get(name)
        if mask is None and rle is None:
            where = f" or a row in {table.path.name}" if table is not None else ""
            expected = expected_mask.format(name)
            reason = f"image without mask: expected {expected} (or .tif ...){where}"
            problems.append(Problem(image, reason))
            continue
        samples.append(Sample(name, subject_of(name), image, mask, rle))
    for name, mask in sorted(scan.masks.items(), key=lambda item: natural_key(item[0])):
        if name not in scan.images and name not in scan.bad_names:
            expected = expected_image.format(name)
            problems.append(Problem(mask, f"mask without image: no {expected} (or .tif ...)"))
    if table is not None:
        for name, line in table.lines.items():
            if name not in scan.images and name not in table.bad_names:
                reason = f"line {line}: row for image {name}, but {folder.name}/ has no {name}.tif"
                problems.append(Problem(table.path, reason))
    return samples, problems


def _keep_or_raise(
    samples: list[Sample], problems: list[Problem], *, skip_bad: bool, hint: str
) -> list[Sample]:
    apply_skip_policy(
        problems, len(samples), skip_bad=skip_bad, hint=hint, stage="discovering labelled data"
    )
    return samples


def apply_skip_policy(
    problems: Sequence[Problem], kept: int, *, skip_bad: bool, hint: str, stage: str
) -> None:
    """The one rule for bad files: stop and list them all, or with ``skip_bad`` warn and go on.

    Even with ``skip_bad`` there must be something left to use.
    """
    if problems and not skip_bad:
        raise DataError(problems, hint)
    if not kept:
        raise DataError(problems, "No usable sample is left. " + hint)
    if problems:
        warn_skipped(problems, stage)
