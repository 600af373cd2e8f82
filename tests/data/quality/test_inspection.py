"""``nerveseg inspect``: statistics checked against the masks themselves, outputs and warnings."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nerveseg.cli import main
from nerveseg.data.quality.duplicates import DuplicateGroup
from nerveseg.data.quality.frame_stats import spread
from nerveseg.data.quality.inspection import Inspection, inspect_data
from nerveseg.data.quality.inspection_figures import pick_frames
from nerveseg.data.quality.inspection_report import OUTPUTS, prepare_out, summarise
from nerveseg.data.synth import SynthConfig, generate_dataset
from nerveseg.errors import NervesegError

SIZE = (32, 40)  # small: the statistics that matter are measured at full resolution anyway


@pytest.fixture(scope="module")
def kaggle_set(tmp_path_factory) -> Path:
    """3 subjects x 6 frames of 160x128 synthetic frames in the Kaggle layout."""
    root = tmp_path_factory.mktemp("inspect") / "synthetic"
    config = SynthConfig(
        subjects=3, frames_per_subject=6, test_frames=0, width=160, height=128, seed=1
    )
    generate_dataset(root, config)
    return root


@pytest.fixture(scope="module")
def inspection(kaggle_set) -> Inspection:
    return inspect_data(kaggle_set, SIZE)


@pytest.fixture(scope="module")
def cli_run(kaggle_set, tmp_path_factory) -> tuple[list[str], Path, str]:
    """One end-to-end ``nerveseg inspect`` (rendering is the slow part: do it once)."""
    out = tmp_path_factory.mktemp("inspect") / "report"
    args = ["inspect", str(kaggle_set), "--out", str(out), "--size", *map(str, SIZE)]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(args) == 0
    return args, out, printed.getvalue()


@pytest.fixture(scope="module")
def written(cli_run) -> Path:
    return cli_run[1]


def _mask_areas(root: Path) -> dict[str, int]:
    """Nerve pixels per frame, read straight from the mask files."""
    return {
        path.name.removesuffix("_mask.tif"): int(np.count_nonzero(np.asarray(Image.open(path))))
        for path in (root / "train").glob("*_mask.tif")
    }


def _pairs(folder: Path, masks: dict[str, bool], shape: tuple[int, int] = (24, 32)) -> Path:
    """A folder of ``NAME.png`` + ``NAME_mask.png``; ``masks[name]`` says whether a nerve is drawn."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, nerve in masks.items():
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"{name}.png")
        mask = np.zeros(shape, np.uint8)
        if nerve:
            mask[4:10, 6:14] = 255
        Image.fromarray(mask).save(folder / f"{name}_mask.png")
    return folder


# ---- statistics ---------------------------------------------------------------------------------


def test_counts_match_the_mask_files(kaggle_set, inspection):
    areas = _mask_areas(kaggle_set)
    summary = summarise(inspection)
    assert summary["frames"] == len(areas) == 18
    assert summary["failing_files"] == 0 and inspection.problems == []
    per_subject = Counter(name.split("_")[0] for name in areas)
    assert {row.subject: row.frames for row in inspection.subjects} == per_subject
    assert summary["frames_per_subject"]["min"] == summary["frames_per_subject"]["max"] == 6
    empty = sum(area == 0 for area in areas.values())
    assert summary["empty_frames"] == empty
    assert summary["empty_fraction"] == pytest.approx(empty / len(areas))
    for row in inspection.subjects:
        mine = [a for name, a in areas.items() if name.split("_")[0] == row.subject]
        assert row.empty_frames == sum(a == 0 for a in mine)


def test_mask_areas_are_in_original_pixels(kaggle_set, inspection):
    areas = _mask_areas(kaggle_set)
    assert {
        s.name: int(a) for s, a in zip(inspection.samples, inspection.frames.areas, strict=True)
    } == areas
    nonempty = [a for a in areas.values() if a]
    stats = summarise(inspection)["mask_area"]
    assert (stats["min"], stats["max"]) == (min(nonempty), max(nonempty))
    assert stats["median"] == pytest.approx(np.median(nonempty))
    assert sum(stats["histogram"]["counts"]) == len(nonempty)


def test_positions_and_intensity_are_consistent(inspection):
    frames = inspection.frames
    nerve = frames.areas > 0
    top, left, bottom, right = frames.boxes[nerve].T
    rows, cols = frames.centroids[nerve].T
    assert ((top <= rows) & (rows <= bottom) & (left <= cols) & (cols <= right)).all()
    assert np.isnan(frames.centroids[~nerve]).all()
    assert inspection.mean_mask.shape == SIZE and 0 < inspection.mean_mask.max() <= 1
    summary = summarise(inspection)
    light = summary["intensity"]
    assert 0 < light["mean"] < 1 and 0 < light["std"] < 0.5
    assert light["frame_mean"]["min"] <= light["mean"] <= light["frame_mean"]["max"]
    assert summary["image_sizes"] == [{"width": 160, "height": 128, "frames": 18}]
    assert summary["all_580x420"] is False


def test_spread_of_nothing_is_nan():
    assert all(np.isnan(value) for value in spread(np.array([])).values())
    assert spread(np.array([1.0, np.nan, 3.0])) == {"min": 1, "median": 2, "mean": 2, "max": 3}


def test_contact_sheet_mixes_empty_and_nerve_frames(inspection):
    picked = pick_frames(inspection, per_subject=4)
    assert len(picked) == 12 and len(set(picked)) == 12
    areas = inspection.frames.areas[picked]
    assert (areas > 0).sum() >= 3 and (areas == 0).sum() >= 3


def test_contact_sheet_shows_contradictory_frames_first(inspection):
    last_two = [i for i, s in enumerate(inspection.samples) if s.subject == "2"][-2:]
    conflict = DuplicateGroup("2", last_two, True, "1 of 2 masks empty", 0.001)
    picked = pick_frames(replace(inspection, duplicates=[conflict]), per_subject=2)
    assert set(last_two) <= set(picked) and len(picked) == 6


# ---- outputs --------------------------------------------------------------------------------------


def test_every_output_is_written(written, inspection):
    for name in OUTPUTS:
        assert (written / name).stat().st_size > 0, name
    summary = json.loads((written / "summary.json").read_text())  # strict: NaN written as null
    assert summary["frames"] == 18 and summary["warnings"] == inspection.warnings
    with open(written / "subjects.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["frames"]) for r in rows] == [6, 6, 6]
    page = (written / "report.html").read_text()
    assert 'src="statistics.png"' in page and 'src="contact_sheet.png"' in page
    for name in ("statistics.png", "contact_sheet.png"):
        assert Image.open(written / name).format == "PNG"


def test_an_earlier_inspection_is_not_overwritten(written):
    with pytest.raises(NervesegError, match="--overwrite") as error:
        prepare_out(written, overwrite=False)
    assert str(written) in str(error.value)
    prepare_out(written, overwrite=True)


# ---- problems and warnings ------------------------------------------------------------------------


def test_a_corrupt_image_is_listed_not_fatal(kaggle_set, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(kaggle_set, root)
    (root / "train" / "2_3.tif").write_bytes(b"not a tiff at all" * 20)
    with pytest.warns(UserWarning, match="skipped"):
        found = inspect_data(root, SIZE)
    assert len(found.samples) == 17
    assert [p.path.name for p in found.problems] == ["2_3.tif"]
    assert any("could not be used" in text for text in found.warnings)
    assert summarise(found)["failing"][0]["path"].endswith("2_3.tif")


def test_a_discovery_problem_is_listed(kaggle_set, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(kaggle_set, root)
    (root / "train" / "3_6_mask.tif").unlink()
    (root / "train_masks.csv").unlink()  # else the CSV row would still label 3_6
    with pytest.warns(UserWarning, match="skipped"):
        found = inspect_data(root, SIZE)
    assert [p.path.name for p in found.problems] == ["3_6.tif"]
    assert "without mask" in found.problems[0].reason


def test_a_single_frame_subject_is_warned_about(tmp_path):
    root = _pairs(tmp_path / "data", {"a_1": True, "a_2": False, "a_3": True, "b_1": False})
    found = inspect_data(root, (12, 16))
    assert summarise(found)["single_frame_subjects"] == ["b"]
    assert any("single frame (b)" in text for text in found.warnings)


def test_all_empty_masks_are_warned_about(tmp_path):
    root = _pairs(tmp_path / "data", {"a_1": False, "a_2": False, "b_1": False, "b_2": False})
    found = inspect_data(root, (12, 16))
    assert found.warnings[0].startswith("All 4 masks are empty")
    summary = summarise(found)
    assert summary["empty_fraction"] == 1.0 and np.isnan(summary["mask_area"]["median"])


# ---- command line --------------------------------------------------------------------------------


def test_inspect_command_end_to_end(cli_run, capsys):
    args, out, printed = cli_run
    assert "frames: 18" in printed and str(out / "report.html") in printed
    assert main(args) == 2  # refused before any decoding
    assert "--overwrite" in capsys.readouterr().err


def test_inspect_command_on_an_empty_folder_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["inspect", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    assert "no images found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ---- own scans: several sizes, borders, structures, no subjects ---------------------------------


def _own_scans(root: Path) -> Path:
    """Six frames named 0001..0006 in images/ + masks/, two sizes with black borders, palette
    masks of two structures (1 = nerve, 2 = vessel) and one mask holding an unknown value 5."""
    rng = np.random.default_rng(3)
    for number in range(1, 7):
        wide = number % 2 == 0
        shape = (50, 100) if wide else (60, 80)
        image = rng.integers(40, 256, shape, dtype=np.uint8)
        if wide:
            image[:, :5] = 0  # left and right borders, in every wide frame
            image[:, -7:] = rng.integers(0, 9, (50, 7))  # faint noise still counts as black
        else:
            image[-10 - number :, :] = 0  # a bottom border of 10 rows, deeper in some frames
        mask = np.zeros(shape, np.uint8)
        mask[10:20, 20:30] = 1  # 100 nerve pixels in every frame
        if number <= 4:
            mask[30:35, 40:50] = 2  # 50 vessel pixels in four frames
        if number == 6:
            mask[0, 0] = 5
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks").mkdir(exist_ok=True)
        Image.fromarray(image).save(root / "images" / f"{number:04d}.png")
        palette = Image.fromarray(mask, mode="P")
        palette.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * 759)
        palette.save(root / "masks" / f"{number:04d}.png")
    return root


def test_own_scans_report_sizes_borders_and_structures(tmp_path):
    from nerveseg.data.quality.inspection_report import summary_text
    from nerveseg.data.structures import label_map

    root = _own_scans(tmp_path / "own")
    with pytest.warns(UserWarning, match="skipped"):
        found = inspect_data(root, (16, 20), labels=label_map({"nerve": [1], "vessel": [2]}))
    (problem,) = found.problems
    assert problem.path.name == "0006.png" and "value(s) 5 mean no structure" in problem.reason
    summary = summarise(found)
    sizes = {(s["width"], s["height"]): s["frames"] for s in summary["image_sizes"]}
    assert sizes == {(80, 60): 3, (100, 50): 2}
    borders = {(s["width"], s["height"]): s for s in summary["borders"]}
    assert borders[(100, 50)]["every_frame"] == {"top": 0, "bottom": 0, "left": 5, "right": 7}
    tall = borders[(80, 60)]
    assert tall["every_frame"]["bottom"] == 11 and tall["median_frame"]["bottom"] == 13
    nerve, vessel = summary["structures"]
    pixels = 3 * 60 * 80 + 2 * 50 * 100
    assert (nerve["name"], nerve["frames"], vessel["frames"]) == ("nerve", 5, 4)
    assert nerve["pixel_share"] == pytest.approx(5 * 100 / pixels)
    assert vessel["pixel_share"] == pytest.approx(4 * 50 / pixels)
    assert found.sweeps and summary["subjects_are_sweeps"]
    text = summary_text(found)
    assert "nerve 5 (100%)" in text and "vessel 4 (80%)" in text
    assert "100x50: 0 / 0 / 5 / 7" in text and "80x60: 0 / 11 / 0 / 0 (median frame 0 / 13" in text
    assert any("carry no subject" in w for w in found.warnings)
    assert any("2 different sizes" in w and "letterbox" in w for w in found.warnings)


def test_inspect_command_takes_the_structures_setting(tmp_path, capsys):
    root = _own_scans(tmp_path / "own")
    out = tmp_path / "report"
    args = ["inspect", str(root), "--out", str(out), "--size", "16", "20"]
    structures = ["--set", "data.structures={nerve: [1], vessel: [2]}"]
    assert main([*args, *structures, "--set", "data.ignore_values=[5]"]) == 0
    printed = capsys.readouterr().out
    assert "failing files: 0" in printed and "vessel 4 (67%)" in printed
    assert (out / "contact_sheet.png").is_file()
    # Without the setting the palette masks are not binary: listed, not a crash.
    with pytest.warns(UserWarning, match="skipped"):
        assert main([*args, "--overwrite"]) == 0
    assert "failing files: 5" in capsys.readouterr().out  # all but the binary 0005
