"""``nerveseg compare``: spec parsing, and a tiny two-model comparison end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from nerveseg.cli import main
from nerveseg.errors import ConfigError
from nerveseg.experiments.compare import CompareRow, markdown_table, parse_spec, write_table


def test_parse_spec_with_settings() -> None:
    spec = parse_spec("unet:width=0.5,presence_head=true")
    assert spec.settings == {"name": "unet", "width": "0.5", "presence_head": "true"}
    assert spec.overrides() == ["model.name=unet", "model.width=0.5", "model.presence_head=true"]
    assert spec.slug == "unet-width0.5-presence_headtrue"


def test_parse_dotted_key_with_list_value() -> None:
    spec = parse_spec("segnet:width=0.125,data.image_size=[96,128]")
    assert spec.overrides() == [
        "model.name=segnet",
        "model.width=0.125",
        "data.image_size=[96,128]",
    ]


def test_parse_plain_name() -> None:
    assert parse_spec("segnet").overrides() == ["model.name=segnet"]


@pytest.mark.parametrize("text", ["", ":width=1", "segnet:width", "segnet:=3"])
def test_bad_spec(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_spec(text)


def test_unknown_setting_fails_before_training(tiny_data: Path, tmp_path: Path, capsys) -> None:
    status = main(
        [
            "compare",
            "--data",
            str(tiny_data),
            "--out",
            str(tmp_path / "c"),
            "--preset",
            "smoke",
            "--models",
            "segnet segnet:colour=blue",
        ]
    )
    assert status == 2
    assert "colour" in capsys.readouterr().err
    assert not (tmp_path / "c" / "runs").exists()


@pytest.mark.slow
def test_two_models_one_table(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    args = [
        "compare",
        "--data",
        str(tiny_data),
        "--out",
        str(out),
        "--preset",
        "smoke",
        "--set",
        "train.epochs=1",
        "--models",
        "segnet segnet_basic:width=0.125",
    ]
    assert main(args) == 0
    rows = list(csv.DictReader((out / "compare.csv").open()))
    assert [r["model"] for r in rows] == ["segnet", "segnet_basic:width=0.125"]
    for row in rows:
        assert int(row["parameters"]) > 0
        assert float(row["gflops_kaggle_size"]) > float(row["gflops_train_size"]) > 0
        assert 0.0 <= float(row["score"]) <= 1.0
    assert len(json.loads((out / "compare.json").read_text())) == 2
    assert (out / "compare.png").stat().st_size > 0
    # A second call reuses the finished runs instead of training again.
    mtime = (out / "runs" / "segnet" / "model.pt").stat().st_mtime_ns
    assert main(args) == 0
    assert (out / "runs" / "segnet" / "model.pt").stat().st_mtime_ns == mtime


def compare_row(model: str, structures: dict) -> CompareRow:
    return CompareRow(
        model, 1_000_000, 1.0, 10.0, 50.0, 5.0, 3, 2, 0.7, 0.6, 0.5, 0.1, 0.55, "runs/x",
        structures=structures,
    )  # fmt: skip


def test_table_shows_each_structure_only_when_there_are_several(tmp_path: Path) -> None:
    plain = markdown_table([compare_row("segnet", {})])
    assert "val score" not in plain
    assert plain.splitlines()[1].count("|") == 13  # 12 columns, as before structures

    figures = {"nerve": {"score": 0.8, "dice": 0.75}, "vessel": {"score": 0.6, "dice": 0.45}}
    table = markdown_table([compare_row("segnet", figures)])
    header, rule, line = table.splitlines()
    assert header.endswith(
        "| val score nerve | val Dice nerve | val score vessel | val Dice vessel |"
    )
    assert rule.count("|") == line.count("|") == 17
    assert line.endswith("| 0.800 | 0.750 | 0.600 | 0.450 |")

    write_table(tmp_path, [compare_row("segnet", figures), compare_row("unet", {})])
    rows = list(csv.DictReader((tmp_path / "compare.csv").open()))
    assert float(rows[0]["val_dice_vessel"]) == 0.45 and rows[1]["val_dice_vessel"] == ""
    assert json.loads((tmp_path / "compare.json").read_text())[0]["val_score_nerve"] == 0.8
