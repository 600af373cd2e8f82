"""End-to-end runs of ``nerveseg`` on the tiny synthetic set, in process."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from nerveseg.checkpoint import load_model
from nerveseg.cli import main

SMOKE = ["--preset", "smoke"]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_train_writes_a_complete_run_folder(trained_run):
    for name in ["config.yaml", "split.json", "metrics.csv", "model.pt", "summary.json"]:
        assert (trained_run / name).is_file(), name
    assert (trained_run / "checkpoints" / "last.ckpt").is_file()
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary["epochs_trained"] == 2
    rows = read_csv(trained_run / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert {"train/loss", "val/score", "val/dice_nerve", "train/lr"} <= set(rows[0])


def test_split_is_by_subject(trained_run):
    split = json.loads((trained_run / "split.json").read_text())
    train_subjects = {n.split("_")[0] for n in split["train"]}
    val_subjects = {n.split("_")[0] for n in split["val"]}
    assert train_subjects and val_subjects and train_subjects.isdisjoint(val_subjects)


def test_model_file_is_self_describing_and_loads_weights_only(trained_run):
    model, info = load_model(trained_run / "model.pt")
    assert info.model_name == "segnet" and info.image_size == (64, 96)
    assert info.config["train"]["epochs"] == 2
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 64, 96)).shape == (1, 1, 64, 96)


def test_finished_run_is_never_overwritten_silently(trained_run, tiny_data, capsys):
    before = (trained_run / "model.pt").read_bytes()
    code = main(["train", "--data", str(tiny_data), "--run", str(trained_run), *SMOKE])
    assert code == 2
    assert "finished run" in capsys.readouterr().err
    assert (trained_run / "model.pt").read_bytes() == before


def test_evaluate_scores_at_full_resolution(run_copy, capsys):
    assert main(["evaluate", "--run", str(run_copy)]) == 0
    result = json.loads((run_copy / "evaluation.json").read_text())
    split = json.loads((run_copy / "split.json").read_text())
    assert result["images"] == len(split["val"])
    assert 0.0 <= result["score"] <= 1.0
    assert 0.0 <= result["all_empty_score"] <= 1.0
    rows = read_csv(run_copy / "per_image.csv")
    assert len(rows) == len(split["val"])


def test_predict_writes_masks_and_submission(trained_run, tiny_data, tmp_path):
    out = tmp_path / "pred"
    args = ["predict", "--run", str(trained_run), "--input", str(tiny_data / "test")]
    args += ["--out", str(out)]
    assert main(args) == 0
    rows = read_csv(out / "submission.csv")
    assert [r["img"] for r in rows] == ["1", "2", "3", "4"]
    assert len(list((out / "masks").glob("*_mask.png"))) == 4
    # A second prediction into the same folder is refused, then allowed with --overwrite.
    assert main(args) == 2
    assert main([*args, "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--data", "/nonexistent/folder", *SMOKE], "/nonexistent/folder"),
        (["train", "--set", "train.epochz=1", *SMOKE], "unknown key 'train.epochz'"),
        (["train", "--preset", "nope"], "unknown preset 'nope'"),
        (["evaluate", "--run", "/nonexistent/run"], "no model.pt"),
        (["predict", "--input", "x", "--out", "y"], "exactly one of --run"),
        (["train", "--resume"], "--resume needs --run"),
    ],
)
def test_bad_requests_give_one_clear_message(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_corrupt_image_is_named(tiny_data, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    victim = sorted((data / "train").glob("2_*[0-9].tif"))[0]
    victim.write_bytes(b"not a tiff")
    assert main(["train", "--data", str(data), "--run", str(tmp_path / "run"), *SMOKE]) == 2
    assert victim.name in capsys.readouterr().err
    code = main(
        ["train", "--data", str(data), "--run", str(tmp_path / "run2"), "--skip-bad", *SMOKE]
    )
    assert code == 0


def test_every_fold_trains_into_its_own_run(tiny_data, tmp_path):
    run = tmp_path / "cv"
    args = ["train", "--data", str(tiny_data), "--run", str(run), "--folds", "2", "--fold", "all"]
    assert main([*args, *SMOKE, "--set", "train.epochs=1"]) == 0
    val_sets = []
    for fold in range(2):
        split = json.loads((run / f"fold-{fold}" / "split.json").read_text())
        assert (split["folds"], split["fold"]) == (2, fold)
        assert (run / f"fold-{fold}" / "model.pt").is_file()
        val_sets.append(set(split["val_subjects"]))
    assert val_sets[0].isdisjoint(val_sets[1])
    assert val_sets[0] | val_sets[1] == {"1", "2", "3", "4"}
    # Finished folds are skipped on --resume instead of being retrained or refused.
    assert main([*args, *SMOKE, "--resume"]) == 0


def test_resume_on_a_finished_run_says_so_and_changes_nothing(run_copy, capsys):
    before = {p: p.stat().st_mtime_ns for p in run_copy.rglob("*") if p.is_file()}
    assert main(["train", "--run", str(run_copy), "--resume"]) == 0
    assert "finished earlier, nothing to resume" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in run_copy.rglob("*") if p.is_file()} == before


def test_export_overwrite_replaces_its_own_file_only(run_copy, tmp_path):
    out = tmp_path / "m.onnx"
    assert main(["export", str(run_copy), "--out", str(out)]) == 0
    assert main(["export", str(run_copy), "--out", str(out), "--overwrite"]) == 0
    mine = tmp_path / "mine.onnx"
    mine.write_bytes(b"my own model")
    assert main(["export", str(run_copy), "--out", str(mine), "--overwrite"]) == 2
    assert mine.read_bytes() == b"my own model"


@pytest.mark.parametrize(
    ("device", "says"),
    [("bogus", "unknown device"), ("cuda:x", "unknown device"), ("cpu:1", "unknown device")],
)
def test_devices_are_checked_when_parsed(device, says, capsys):
    from nerveseg.inference.predictor import check_device

    assert says in check_device(device)
    assert check_device("cpu") is None and check_device("auto") is None
