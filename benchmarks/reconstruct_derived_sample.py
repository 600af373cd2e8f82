"""Rebuild a Kaggle-layout training folder from the real sample's ``derived_256`` copies.

The derived JPEGs are 580x420 frames pasted at (0, 80) on a 580x580 canvas and shrunk to
256x256 (see the sample's README). Undoing that gives blurrier but correctly placed 580x420
scans; their masks are taken exactly from ``train_masks.csv``. The sample's original TIFF pairs
are copied as they are, and replace the reconstruction of the same frames.

Usage (from the repository root)::

    python benchmarks/reconstruct_derived_sample.py /tmp/real_kaggle
    python benchmarks/reconstruct_derived_sample.py SRC OUT --overwrite

OUT receives ``train/S_I.tif`` + ``train/S_I_mask.tif``, ``train_masks.csv`` with only those
rows, and ``test/`` when the sample has one. It is written to a temporary folder and renamed
into place at the end, so an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from nerveseg.data.folders import natural_key
from nerveseg.data.images import read_image
from nerveseg.data.kaggle import KAGGLE_SHAPE, TRAIN_MASKS_CSV, read_train_masks_csv
from nerveseg.data.rle import rle_decode
from nerveseg.errors import NervesegError

CANVAS = 580  # the derived images were square canvases of the frame's width
TOP = 80  # row at which the 420-row frame was pasted
MARKER = ".nerveseg-reconstructed"  # lets --overwrite delete only folders this script made
REPO = Path(__file__).resolve().parents[1]


def reconstruct_image(jpeg: Path) -> np.ndarray:
    """Undo the derived copy's padding and shrinking: ``(420, 580)`` uint8."""
    small = Image.fromarray(read_image(jpeg))
    canvas = np.asarray(small.resize((CANVAS, CANVAS), Image.Resampling.BICUBIC))
    frame = canvas[TOP : TOP + KAGGLE_SHAPE[0]]
    assert frame.shape == KAGGLE_SHAPE
    return np.ascontiguousarray(frame)


def save_tiff(path: Path, pixels: np.ndarray) -> None:
    """8-bit grayscale LZW TIFF, like the competition's files."""
    Image.fromarray(pixels).save(path, format="TIFF", compression="tiff_lzw")


def build(src: Path, out: Path, rles: dict[str, str]) -> list[str]:
    """Write the folder into ``out``; return the names written, in (subject, image) order."""
    train = out / "train"
    train.mkdir(parents=True)
    originals = {p.stem: p for p in (src / "train").glob("*.tif") if not p.stem.endswith("_mask")}
    derived = {p.stem: p for p in (src / "derived_256" / "images").glob("*.jpg")}
    missing = sorted(set(derived) - set(rles), key=natural_key)
    if missing:
        raise NervesegError(f"{TRAIN_MASKS_CSV} has no rows for derived images {missing[:5]}")

    def derive(name: str) -> None:
        save_tiff(train / f"{name}.tif", reconstruct_image(derived[name]))
        mask = rle_decode(rles[name], KAGGLE_SHAPE)
        save_tiff(train / f"{name}_mask.tif", np.where(mask, 255, 0).astype(np.uint8))

    for name, image in originals.items():
        shutil.copyfile(image, train / image.name)
        shutil.copyfile(image.with_name(f"{name}_mask.tif"), train / f"{name}_mask.tif")
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(derive, sorted(set(derived) - set(originals))))
    if (src / "test").is_dir():
        shutil.copytree(src / "test", out / "test")

    names = sorted(set(derived) | set(originals), key=natural_key)
    _write_csv_subset(src / TRAIN_MASKS_CSV, out / TRAIN_MASKS_CSV, set(names))
    (out / MARKER).write_text("written by benchmarks/reconstruct_derived_sample.py\n")
    return names


def _write_csv_subset(source: Path, target: Path, names: set[str]) -> None:
    """Copy the header and the rows for ``names`` verbatim, in the source's order."""
    lines = source.read_text(encoding="utf-8").splitlines()
    kept = [lines[0]]
    for line in lines[1:]:
        subject, img, _ = line.split(",", 2)
        if f"{int(subject)}_{int(img)}" in names:
            kept.append(line)
    target.write_text("\n".join(kept) + "\n", encoding="utf-8")


def compare_with_originals(src: Path, names: list[str]) -> str:
    """How close reconstructions are to the real frames, for the frames we have both of."""
    errors = []
    for name in names:
        jpeg = src / "derived_256" / "images" / f"{name}.jpg"
        original = src / "train" / f"{name}.tif"
        if jpeg.is_file() and original.is_file():
            diff = reconstruct_image(jpeg).astype(float) - read_image(original)
            errors.append(np.abs(diff).mean())
    if not errors:
        return "no frame has both an original and a derived copy"
    return f"mean absolute error vs {len(errors)} originals: {np.mean(errors):.2f} grey levels"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "src",
        metavar="SRC",
        nargs="?",
        type=Path,
        default=Path("../shared/data/kaggle_nerve_sample"),
    )
    parser.add_argument("out", metavar="OUT", type=Path, help="folder to create (outside the repo)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier OUT")
    args = parser.parse_args(argv)
    src, out = args.src.resolve(), args.out.resolve()

    if not (src / "derived_256" / "images").is_dir() or not (src / TRAIN_MASKS_CSV).is_file():
        parser.error(f"{src} is not the real sample (no derived_256/images or {TRAIN_MASKS_CSV})")
    if out == REPO or REPO in out.parents:
        parser.error(f"{out} is inside the repository; real data must stay outside it")
    if out.exists() and not out.is_dir():
        parser.error(f"{out} is a file, not a folder")
    if out.exists() and any(out.iterdir()):
        if not args.overwrite:
            parser.error(f"{out} exists and is not empty; pass --overwrite to replace it")
        if not (out / MARKER).is_file():
            parser.error(f"{out} was not made by this script; refusing to delete it")

    start = time.perf_counter()
    rles = read_train_masks_csv(src / TRAIN_MASKS_CSV)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
        names = build(src, Path(tmp) / "out", rles)
        if out.exists():
            shutil.rmtree(out)
        (Path(tmp) / "out").rename(out)
    seconds = time.perf_counter() - start
    empty = sum(rles[name] == "" for name in names)
    copied = sum((src / "train" / f"{name}.tif").is_file() for name in names)
    print(
        f"wrote {len(names)} image/mask pairs ({copied} original, {len(names) - copied} "
        f"reconstructed, {empty} empty masks) to {out} in {seconds:.1f} s"
    )
    print(compare_with_originals(src, names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
