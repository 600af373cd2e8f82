"""``nerveseg train --clean``: only training frames change, and the run records what changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nerveseg.cli import main
from nerveseg.config import load_config
from nerveseg.data.synth import generate_dataset


@pytest.fixture(scope="module")
def paired_data(tmp_path_factory) -> Path:
    """The smoke set with 6 contradictory near-duplicate pairs injected."""
    config = load_config("smoke", ["synth.contradictory_pairs=6", "synth.test_frames=0"]).synth
    root = tmp_path_factory.mktemp("paired") / "data"
    generate_dataset(root, config)
    return root


def _train(data: Path, run: Path, *extra: str) -> None:
    args = ["train", "--data", str(data), "--run", str(run), "--preset", "smoke"]
    assert main([*args, "--set", "train.epochs=1", *extra]) == 0


def test_drop_leaves_validation_alone(paired_data: Path, tmp_path: Path) -> None:
    _train(paired_data, tmp_path / "plain")
    _train(paired_data, tmp_path / "dropped", "--clean", "drop")
    plain = json.loads((tmp_path / "plain" / "split.json").read_text())
    dropped = json.loads((tmp_path / "dropped" / "split.json").read_text())
    assert plain["val"] == dropped["val"]
    clean = json.loads((tmp_path / "dropped" / "clean.json").read_text())
    assert clean["policy"] == "drop"
    assert clean["contradictory_groups"] >= 1
    assert clean["dropped_frames"] >= 2 * clean["contradictory_groups"]
    summary = json.loads((tmp_path / "dropped" / "summary.json").read_text())
    assert summary["train_images"] == len(dropped["train"]) - clean["dropped_frames"]
    assert not (tmp_path / "plain" / "clean.json").exists()


def test_union_changes_masks_not_frame_count(paired_data: Path, tmp_path: Path) -> None:
    _train(paired_data, tmp_path / "union", "--clean", "union")
    clean = json.loads((tmp_path / "union" / "clean.json").read_text())
    split = json.loads((tmp_path / "union" / "split.json").read_text())
    summary = json.loads((tmp_path / "union" / "summary.json").read_text())
    assert clean["dropped_frames"] == 0
    assert clean["changed_frames"] >= clean["contradictory_groups"] >= 1
    assert summary["train_images"] == len(split["train"])


def test_bad_policy_is_one_clear_error(paired_data: Path, tmp_path: Path, capsys) -> None:
    args = ["train", "--data", str(paired_data), "--run", str(tmp_path / "r"), "--preset", "smoke"]
    assert main([*args, "--set", "data.clean=everything"]) == 2
    assert "everything" in capsys.readouterr().err
    assert not (tmp_path / "r" / "config.yaml").exists()


def test_all_empty_masks_warn_but_train(tmp_path: Path, caplog) -> None:
    config = load_config("smoke", ["synth.empty_fraction=1.0", "synth.test_frames=0"]).synth
    root = tmp_path / "empty"
    generate_dataset(root, config)
    with caplog.at_level("WARNING", logger="nerveseg"):
        _train(root, tmp_path / "run")
    assert any("every mask" in record.getMessage() for record in caplog.records)
