"""Checks against the real competition files in ``../shared/data/kaggle_nerve_sample``.

The real files stay where they are; tests copy what they need into ``tmp_path``.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from nerveseg.data.images import read_image, read_mask
from nerveseg.data.kaggle import KAGGLE_SHAPE, read_train_masks_csv
from nerveseg.data.loading import load_set, read_full_mask
from nerveseg.data.rle import rle_decode, rle_encode
from nerveseg.data.samples import discover_labelled, discover_unlabelled
from nerveseg.errors import DataError

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kaggle_nerve_sample"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not (SAMPLE / "train_masks.csv").is_file(),
        reason=f"real Kaggle sample not found at {SAMPLE} (it is not part of the repository)",
    ),
]


def _csv_rows() -> dict[str, str]:
    with (SAMPLE / "train_masks.csv").open(newline="") as handle:
        return {f"{r['subject']}_{r['img']}": r["pixels"] for r in csv.DictReader(handle)}


def _mask_files() -> list[Path]:
    return sorted((SAMPLE / "train").glob("*_mask.tif"))


def test_there_are_real_masks() -> None:
    assert len(_mask_files()) == 6


@pytest.mark.parametrize("mask_path", _mask_files(), ids=lambda p: p.stem)
def test_real_masks_match_their_csv_rows_exactly(mask_path: Path) -> None:
    rows = _csv_rows()
    name = mask_path.stem.removesuffix("_mask")
    mask = read_mask(mask_path)
    assert mask.shape == KAGGLE_SHAPE
    assert rle_encode(mask) == rows[name]
    assert np.array_equal(rle_decode(rows[name], KAGGLE_SHAPE), mask)


def test_read_all_csv_rows() -> None:
    rles = read_train_masks_csv(SAMPLE / "train_masks.csv")
    assert len(rles) == 5635
    assert sum(rle == "" for rle in rles.values()) == 3312
    assert len({name.split("_")[0] for name in rles}) == 47


def test_real_test_image() -> None:
    image = read_image(SAMPLE / "test" / "1.tif")
    assert image.shape == (420, 580) and image.dtype == np.uint8
    assert image.std() > 10  # a real scan, not a blank frame


def test_real_train_images() -> None:
    for path in sorted((SAMPLE / "train").glob("*.tif")):
        assert read_image(path).shape == KAGGLE_SHAPE


def _copy_kaggle_subset(target: Path) -> list[str]:
    """Copy the real pairs and only their CSV rows: a consistent little Kaggle folder."""
    shutil.copytree(SAMPLE / "train", target / "train")
    names = sorted(p.stem.removesuffix("_mask") for p in _mask_files())
    lines = (SAMPLE / "train_masks.csv").read_text().splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if "_".join(line.split(",")[:2]) in set(names)]
    (target / "train_masks.csv").write_text("\n".join(kept) + "\n")
    shutil.copytree(SAMPLE / "test", target / "test")
    return names


def test_discover_and_load_a_copy_of_the_real_files(tmp_path: Path) -> None:
    _copy_kaggle_subset(tmp_path)
    samples = discover_labelled(tmp_path)
    assert [s.name for s in samples] == ["5_36", "8_85", "9_92", "10_100", "11_21", "13_8"]
    assert [s.subject for s in samples] == ["5", "8", "9", "10", "11", "13"]
    assert all(s.mask_path is not None and s.mask_rle for s in samples)

    loaded = load_set(samples, (128, 160))  # checks every CSV row against its mask file
    assert loaded.images.shape == (6, 128, 160) and loaded.masks.sum() > 0
    full = read_full_mask(samples[0], KAGGLE_SHAPE)
    assert np.array_equal(full, read_mask(samples[0].mask_path))

    (test_sample,) = discover_unlabelled(tmp_path)
    assert test_sample.name == "1" and not test_sample.labelled


def test_full_csv_beside_a_partial_train_folder(tmp_path: Path) -> None:
    """The sample's own layout: 6 images, 5,635 rows. The extra rows are reported, not hidden."""
    shutil.copytree(SAMPLE / "train", tmp_path / "train")
    shutil.copy(SAMPLE / "train_masks.csv", tmp_path / "train_masks.csv")
    with pytest.raises(DataError) as error:
        discover_labelled(tmp_path)
    assert len(error.value.problems) == 5635 - 6
    with pytest.warns(UserWarning, match="5629 problem"):
        assert len(discover_labelled(tmp_path, skip_bad=True)) == 6
