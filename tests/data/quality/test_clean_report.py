"""``nerveseg clean`` end to end on a small synthetic set with injected contradictory pairs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nerveseg.cli import main
from nerveseg.data.quality.clean_report import write_clean_report
from nerveseg.data.quality.duplicates import DuplicateGroup
from nerveseg.data.synth import SynthConfig, generate_dataset
from nerveseg.errors import NervesegError


@pytest.fixture(scope="module")
def pairs_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clean") / "data"
    config = SynthConfig(
        subjects=4,
        frames_per_subject=12,
        test_frames=0,
        width=160,
        height=128,
        contradictory_pairs=4,
    )
    generate_dataset(root, config)
    return root


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_clean_finds_every_injected_pair_and_writes_the_report(pairs_data, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["clean", str(pairs_data), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "48 frames of 4 subjects" in printed and "4 contradictory" in printed
    rows = read_rows(out / "duplicate_groups.csv")
    flagged = [set(row["frames"].split()) for row in rows if row["contradictory"] == "1"]
    truth = read_rows(pairs_data / "synth_truth.csv")
    assert len(truth) == 4
    for pair in truth:
        names = {f"{pair['subject']}_{pair['img_a']}", f"{pair['subject']}_{pair['img_b']}"}
        assert any(names <= frames for frames in flagged), names
    assert rows[0]["reason"] == "1 of 2 masks empty" and rows[0]["size"] == "128x96"
    assert sorted(int(a) == 0 for a in rows[0]["mask_areas"].split()) == [False, True]
    with Image.open(out / "duplicate_groups.png") as png:
        assert png.format == "PNG" and png.size[0] >= 300


def test_clean_refuses_to_overwrite_a_report(pairs_data, tmp_path, capsys):
    out = tmp_path / "report"
    out.mkdir()
    (out / "duplicate_groups.csv").write_text("earlier\n")
    assert main(["clean", str(pairs_data), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert str(out) in error and "--overwrite" in error
    assert (out / "duplicate_groups.csv").read_text() == "earlier\n"


def test_clean_reports_a_missing_folder_in_one_line(tmp_path, capsys):
    assert main(["clean", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.count("\n") <= 3


def test_report_without_contradictions_writes_both_files_and_overwrites_only_when_asked(tmp_path):
    class Named:
        def __init__(self, name: str) -> None:
            self.name = name

    images = np.zeros((2, 24, 32), np.uint8)
    masks = np.zeros((2, 24, 32), np.uint8)
    groups = [DuplicateGroup("1", [0, 1], False, "", 0.0)]
    samples = [Named("1_1"), Named("1_2")]
    csv_path, png_path = write_clean_report(tmp_path, groups, samples, images, masks)
    assert read_rows(csv_path) == [
        {
            "group": "1",
            "subject": "1",
            "frames": "1_1 1_2",
            "contradictory": "0",
            "reason": "",
            "max_distance": "0.0000",
            "mask_areas": "0 0",
            "size": "32x24",
        }
    ]
    assert png_path.is_file()
    with pytest.raises(NervesegError, match="overwrite=True"):
        write_clean_report(tmp_path, groups, samples, images, masks)
    write_clean_report(tmp_path, [], samples, images, masks, overwrite=True)
    assert read_rows(csv_path) == []


def test_clean_judges_each_structure_of_a_two_structure_set(tmp_path, capsys):
    root = tmp_path / "data"
    config = SynthConfig(
        subjects=2, frames_per_subject=12, test_frames=0, width=160, height=128,
        contradictory_pairs=2, vessel=True,
    )  # fmt: skip
    generate_dataset(root, config)
    out = tmp_path / "report"
    # Without the setting the masks (0, 1, 2) are refused in one line naming the setting.
    assert main(["clean", str(root), "--out", str(out)]) == 2
    assert "data.structures" in capsys.readouterr().err and not out.exists()
    structures = ["--set", "data.structures={nerve: [1], vessel: [2]}"]
    assert main(["clean", str(root), "--out", str(out), *structures]) == 0
    assert "2 contradictory" in capsys.readouterr().out
    rows = [r for r in read_rows(out / "duplicate_groups.csv") if r["contradictory"] == "1"]
    # The copies keep the vessel and lose the nerve: the nerve is what contradicts.
    assert [r["reason"] for r in rows] == ["nerve: 1 of 2 masks empty"] * 2
