"""Finding scans and masks in plain folders, by file name alone.

Two labelled layouts are understood, plus a folder of images to predict on:

* pairs: ``NAME.png`` beside ``NAME_mask.png`` in one folder (the Kaggle ``train/`` folder is
  this layout with ``.tif``), or beside LabelMe's ``NAME.json``;
* split: ``images/NAME.png`` with ``masks/NAME_mask.png``, ``masks/NAME.png`` or
  ``masks/NAME.json``;
* unlabelled: any images in one folder; files named ``*_mask`` are masks and are ignored.

A ``.json`` file is a mask (a LabelMe annotation, see :mod:`nerveseg.data.labelme`) when its
name is an image's, with or without ``_mask``; beside the images, other JSON files are left alone.

Image and mask endings may differ (``.jpg`` scan, ``.png`` mask). Nothing is decoded here:
scanning only pairs names, so it stays instant on thousands of files.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from nerveseg.data.images import IMAGE_SUFFIXES, is_image_file
from nerveseg.errors import DataError, Problem

log = logging.getLogger(__name__)

MASK_SUFFIX = "_mask"
LABELME_SUFFIX = ".json"  # LabelMe annotations, read by nerveseg.data.labelme
_DIGIT_RUNS = re.compile(r"(\d+)", re.ASCII)


@dataclass
class FolderScan:
    """Names found in a folder layout.

    Attributes:
        images: name -> scan file.
        masks: name (without ``_mask``) -> mask file.
        problems: duplicate names and misplaced files.
        bad_names: names that cannot be trusted because of those problems.
    """

    images: dict[str, Path] = field(default_factory=dict)
    masks: dict[str, Path] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    bad_names: set[str] = field(default_factory=set)


def natural_key(name: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key that orders digit runs by value: ``2 < 10``, ``5_36 < 10_1``.

    For Kaggle names ``S_I`` this is exactly the (subject, image) numeric order.
    """
    parts = _DIGIT_RUNS.split(name)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name


def require_folder(path: Path, what: str = "data folder") -> Path:
    """Return ``path`` if it is an existing folder, else raise a DataError saying which."""
    path = Path(path)
    if not path.exists():
        raise DataError([Problem(path, f"{what} does not exist")], "Check the path for typos.")
    if not path.is_dir():
        raise DataError([Problem(path, f"{what} is a file, not a folder")])
    return path


def image_files(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, in a stable order (subfolders are not searched).

    Hidden files (``.x.png``, macOS's ``._x.png``) are left out, with a warning naming them, so a
    frame that is hidden by mistake is never dropped without a word.
    """
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    hidden = [p for p in files if not is_image_file(p)]
    if hidden:
        log.warning(
            "%s: left out %d hidden file(s) (%s%s); rename them without the leading '.' to use them",
            folder,
            len(hidden),
            ", ".join(p.name for p in hidden[:3]),
            " ..." if len(hidden) > 3 else "",
        )
    return [p for p in files if is_image_file(p) and p.is_file()]


def mask_base(stem: str) -> str | None:
    """``"a_mask"`` -> ``"a"``; None when ``stem`` is not a mask name."""
    if stem.endswith(MASK_SUFFIX) and len(stem) > len(MASK_SUFFIX):
        return stem[: -len(MASK_SUFFIX)]
    return None


def labelme_files(folder: Path) -> list[Path]:
    """Visible ``.json`` files directly in ``folder``, in a stable order."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() == LABELME_SUFFIX and not p.name.startswith(".") and p.is_file()
    )


def scan_pairs(folder: Path) -> FolderScan:
    """Pair ``NAME.ext`` with ``NAME_mask.ext`` (or LabelMe's ``NAME.json``) inside one folder."""
    scan = FolderScan()
    images: dict[str, list[Path]] = {}
    masks: dict[str, list[Path]] = {}
    for path in image_files(folder):
        base = mask_base(path.stem)
        if base is None:
            images.setdefault(path.stem, []).append(path)
        else:
            masks.setdefault(base, []).append(path)
    for path in labelme_files(folder):
        base = mask_base(path.stem) or path.stem
        if base in images:
            masks.setdefault(base, []).append(path)
    _keep_unique(scan, images, scan.images, "image")
    _keep_unique(scan, masks, scan.masks, "mask")
    return scan


def scan_split(root: Path) -> FolderScan:
    """Pair ``images/NAME.ext`` with ``masks/NAME_mask.ext``, ``masks/NAME.ext`` or ``.json``."""
    scan = FolderScan()
    images: dict[str, list[Path]] = {}
    masks: dict[str, list[Path]] = {}
    for path in image_files(require_folder(root / "images", "images folder")):
        if mask_base(path.stem) is not None:
            reason = "is named like a mask (ends with _mask) but is in images/; move it to masks/"
            scan.problems.append(Problem(path, reason))
            continue
        images.setdefault(path.stem, []).append(path)
    mask_folder = require_folder(root / "masks", "masks folder")
    for path in [*image_files(mask_folder), *labelme_files(mask_folder)]:
        masks.setdefault(mask_base(path.stem) or path.stem, []).append(path)
    _keep_unique(scan, images, scan.images, "image")
    _keep_unique(scan, masks, scan.masks, "mask")
    return scan


def scan_unlabelled(folder: Path) -> FolderScan:
    """Every image in ``folder`` except ``*_mask`` files."""
    scan = FolderScan()
    images: dict[str, list[Path]] = {}
    for path in image_files(folder):
        if mask_base(path.stem) is None:
            images.setdefault(path.stem, []).append(path)
    _keep_unique(scan, images, scan.images, "image")
    return scan


def _keep_unique(
    scan: FolderScan, found: dict[str, list[Path]], keep: dict[str, Path], kind: str
) -> None:
    """Copy names with one file into ``keep``; report every file of a name found twice.

    ``a.png`` and ``a.tif`` would otherwise silently shadow each other, and predictions for
    both would be written to the same output name.
    """
    for name, paths in found.items():
        keep[name] = paths[0]
        if len(paths) > 1:
            scan.bad_names.add(name)
            for path in paths:
                others = ", ".join(p.name for p in paths if p != path)
                reason = f"{kind} name {name!r} is also used by {others}; keep one file per name"
                scan.problems.append(Problem(path, reason))


def describe_suffixes() -> str:
    """The accepted endings, for messages: ``.png|.tif|...``."""
    return "|".join(IMAGE_SUFFIXES)
