"""``nerveseg compare``: spec parsing, and a tiny two-model comparison end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from nerveseg.cli import main
from nerveseg.errors import ConfigError
from nerveseg.experiments.compare import parse_spec


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
