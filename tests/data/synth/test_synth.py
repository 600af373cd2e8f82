"""The synthetic generator writes the exact Kaggle layout, deterministically, and never clobbers."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from nerveseg.data.rle import rle_decode
from nerveseg.data.synth import SynthConfig, generate_dataset
from nerveseg.data.synth.scene import (
    build_scene,
    presence_plan,
    render_frame,
    speckle_bank,
    sweep_poses,
)
from nerveseg.errors import NervesegError

TINY = SynthConfig(subjects=2, frames_per_subject=6, test_frames=4, width=160, height=120)


def read(path: Path) -> np.ndarray:
    return np.array(Image.open(path))


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "data"
    generate_dataset(root, TINY)
    return root


def test_layout_and_names(tiny: Path) -> None:
    expected = {
        f"{s}_{i}{suffix}.tif" for s in (1, 2) for i in range(1, 7) for suffix in ("", "_mask")
    }
    assert {p.name for p in (tiny / "train").iterdir()} == expected
    assert {p.name for p in (tiny / "test").iterdir()} == {f"{n}.tif" for n in range(1, 5)}
    assert (tiny / "train_masks.csv").read_text().splitlines()[0] == "subject,img,pixels"
    assert (tiny / "synth_truth.csv").read_text().splitlines() == ["subject,img_a,img_b"]
    rows = csv_rows(tiny / "train_masks.csv")
    assert [(int(r["subject"]), int(r["img"])) for r in rows] == [
        (s, i) for s in (1, 2) for i in range(1, 7)
    ]
    assert not list(tiny.rglob("*.tmp"))


def test_images_are_8bit_grey_and_masks_binary(tiny: Path) -> None:
    for path in (tiny / "train").glob("*.tif"):
        with Image.open(path) as image:
            assert image.mode == "L" and image.size == (160, 120)
        if path.stem.endswith("_mask"):
            assert set(np.unique(read(path))) <= {0, 255}
    for path in (tiny / "test").glob("*.tif"):
        assert read(path).shape == (120, 160)


def test_csv_matches_mask_files(tiny: Path) -> None:
    for row in csv_rows(tiny / "train_masks.csv"):
        mask = read(tiny / "train" / f"{row['subject']}_{row['img']}_mask.tif") > 0
        np.testing.assert_array_equal(rle_decode(row["pixels"], (120, 160)), mask)


def test_empty_fraction_close_to_target(tmp_path: Path) -> None:
    config = SynthConfig(subjects=8, frames_per_subject=30, test_frames=0, width=80, height=64)
    summary = generate_dataset(tmp_path / "data", config)
    rows = csv_rows(tmp_path / "data" / "train_masks.csv")
    empty = sum(not r["pixels"] for r in rows)
    assert summary.train_frames == len(rows) == 240
    assert summary.empty_frames == empty
    assert abs(empty / len(rows) - 0.59) < 0.08


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.59, 1.0])
def test_presence_plan_comes_in_runs(fraction: float) -> None:
    plans = [presence_plan(np.random.default_rng(k), 120, fraction) for k in range(20)]
    empty = np.mean([(~plan).mean() for plan in plans])
    assert abs(empty - fraction) < 0.05
    for plan in plans:
        starts = np.flatnonzero(np.diff(plan.astype(int)) == 1).size + int(plan[0])
        assert starts <= 3  # the nerve comes and goes in a few runs, not frame by frame


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path, tiny: Path) -> None:
    generate_dataset(tmp_path / "again", TINY)
    assert tree_bytes(tmp_path / "again") == tree_bytes(tiny)
    generate_dataset(tmp_path / "other", replace(TINY, seed=1))
    first = read(tiny / "train" / "1_1.tif")
    assert not np.array_equal(read(tmp_path / "other" / "train" / "1_1.tif"), first)


def test_more_subjects_keep_the_earlier_ones(tmp_path: Path, tiny: Path) -> None:
    generate_dataset(tmp_path / "more", replace(TINY, subjects=3, test_frames=0))
    for name in ("1_1.tif", "1_6_mask.tif", "2_3.tif"):
        assert (tmp_path / "more" / "train" / name).read_bytes() == (
            tiny / "train" / name
        ).read_bytes()


def test_contradictory_pairs_are_recorded_and_near_identical(tmp_path: Path) -> None:
    config = replace(TINY, frames_per_subject=12, contradictory_pairs=3, test_frames=0)
    summary = generate_dataset(tmp_path / "data", config)
    assert summary.contradictory_pairs == 3
    truth = csv_rows(tmp_path / "data" / "synth_truth.csv")
    assert len(truth) == 3
    train = tmp_path / "data" / "train"
    for row in truth:
        a, b = (f"{row['subject']}_{row[key]}" for key in ("img_a", "img_b"))
        assert a != b
        assert read(train / f"{a}_mask.tif").any() and not read(train / f"{b}_mask.tif").any()
        diff = np.abs(read(train / f"{a}.tif").astype(int) - read(train / f"{b}.tif").astype(int))
        assert 0 < diff.mean() < 1.5 and diff.max() <= 6
    # Neighbouring frames of a sweep are alike, but far less so than an injected pair.
    neighbours = np.abs(read(train / "1_1.tif").astype(int) - read(train / "1_2.tif").astype(int))
    assert neighbours.mean() > 5


def test_empty_frames_hide_the_nerve_and_only_the_nerve() -> None:
    rng = np.random.default_rng(3)
    scene = build_scene(rng, 420, 580, speckle_bank(np.random.default_rng(4), 420, 580))
    pose = sweep_poses(rng, 10, 420, 580)[4]
    with_nerve, mask = render_frame(scene, pose, True, (7, 11))
    without, no_mask = render_frame(scene, pose, False, (7, 11))
    assert not no_mask.any()
    assert 2_000 < mask.sum() < 15_000  # real nerves cover ~1-4% of a 580x420 frame
    changed = with_nerve != without
    assert changed[mask].mean() > 0.5
    assert not changed[~ndimage.binary_dilation(mask, iterations=4)].any()
    assert with_nerve[mask].mean() > without[mask].mean() + 10  # a brighter cluster


def test_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    for overwrite in (False, True):  # a folder without a synthetic set is never written into
        with pytest.raises(NervesegError, match="did not write"):
            generate_dataset(root, TINY, overwrite=overwrite)
    assert [p.name for p in root.iterdir()] == ["notes.txt"]


def test_overwrite_replaces_only_its_own_files(tmp_path: Path) -> None:
    root = tmp_path / "data"
    generate_dataset(root, TINY)
    (root / "notes.txt").write_text("mine")
    generate_dataset(root, replace(TINY, frames_per_subject=3, test_frames=2), overwrite=True)
    assert (root / "notes.txt").read_text() == "mine"
    assert not (root / "train" / "1_6.tif").exists()
    assert {p.name for p in (root / "test").iterdir()} == {"1.tif", "2.tif"}
    assert len(csv_rows(root / "train_masks.csv")) == 6


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"subjects": 0}, "subjects"),
        ({"frames_per_subject": -1}, "frames_per_subject"),
        ({"test_frames": -1}, "test_frames"),
        ({"width": 32}, "width"),
        ({"height": 20.5}, "height"),
        ({"width": 600, "height": 100}, "width/height"),
        ({"empty_fraction": 1.5}, "empty_fraction"),
        ({"seed": -3}, "seed"),
        ({"contradictory_pairs": 50}, "contradictory_pairs=50 does not fit"),
        ({"empty_fraction": 0.0, "contradictory_pairs": 1}, "does not fit"),
    ],
)
def test_bad_settings_fail_clearly_and_write_nothing(
    tmp_path: Path, change: dict, message: str
) -> None:
    with pytest.raises(NervesegError, match=message):
        generate_dataset(tmp_path / "data", replace(TINY, **change))
    assert not (tmp_path / "data").exists()


def test_vessel_option_labels_the_drawn_artery(tmp_path: Path, tiny: Path) -> None:
    from nerveseg.data.loading import load_set
    from nerveseg.data.samples import discover_labelled
    from nerveseg.data.structures import label_map

    root = tmp_path / "vessel"
    generate_dataset(root, replace(TINY, vessel=True))
    # The pictures and the nerve's CSV rows are those of the nerve-only set: same drawing.
    for path in sorted((tiny / "train").glob("*.tif")):
        if not path.stem.endswith("_mask"):
            assert np.array_equal(read(root / "train" / path.name), read(path))
    assert (root / "train_masks.csv").read_text() == (tiny / "train_masks.csv").read_text()
    loaded = load_set(
        discover_labelled(root), None, labels=label_map({"nerve": [1], "vessel": [2]})
    )
    nerve, vessel = (loaded.masks & 1) > 0, (loaded.masks & 2) > 0
    for name, mask in zip((s.name for s in loaded.samples), nerve, strict=True):
        assert np.array_equal(mask, read(tiny / "train" / f"{name}_mask.tif") > 0)
    assert vessel.reshape(len(vessel), -1).any(axis=1).all()  # the artery is in every frame
    assert not (nerve & vessel).any()
    # The labelled lumen is the dark (anechoic) disc of the picture, not somewhere else.
    inside = loaded.images[vessel].mean()
    ring = np.stack([ndimage.binary_dilation(v, iterations=6) & ~v for v in vessel])
    assert inside < loaded.images[ring].mean() - 30


def test_vessel_masks_cannot_go_to_video(tmp_path: Path) -> None:
    from nerveseg.cli import main

    assert main(["synth", str(tmp_path / "v"), "--vessel", "--video", "--subjects", "1"]) == 2
    assert not (tmp_path / "v").exists()


def test_a_contradictory_copy_keeps_its_vessel_and_loses_the_nerve(tmp_path: Path) -> None:
    root = tmp_path / "pairs"
    generate_dataset(root, replace(TINY, vessel=True, contradictory_pairs=1))
    (pair,) = csv_rows(root / "synth_truth.csv")
    a = read(root / "train" / f"{pair['subject']}_{pair['img_a']}_mask.tif")
    b = read(root / "train" / f"{pair['subject']}_{pair['img_b']}_mask.tif")
    assert (a == 1).any() and not (b == 1).any()
    assert np.array_equal(a == 2, b == 2) and (b == 2).any()
