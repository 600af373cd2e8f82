"""Bad input, tried as a careless or hostile user would, through ``cli.main``.

Every case must end with exit status 2, one error line on stderr (the last; progress lines
may come before it) that names the file or key, no traceback, and nothing in the workspace
changed: no file added, removed or rewritten.

The workspace of a case holds ``data/`` (a copy of the tiny synthetic set), ``run/`` (a copy of
the shared trained run), ``model.pt`` (that run's model) and whatever the case's setup adds.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nerveseg.cli import main

# A file a crafted checkpoint's unpickling would create: proof that code ran.
PWNED = "PWNED"


@dataclass
class Case:
    name: str
    argv: list[str]
    says: str  # a fragment the one-line message must contain (the key, file or fix)
    setup: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)


class _RunsCode:
    """Unpickling this runs code: it creates the PWNED file."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


# ---- setups ----------------------------------------------------------------------------------


def _model_payload(ws: Path) -> dict:
    return torch.load(ws / "model.pt", weights_only=True)


def _hostile_model(change: Callable[[dict], None], name: str = "bad.pt"):
    def setup(ws: Path) -> None:
        payload = _model_payload(ws)
        change(payload)
        torch.save(payload, ws / name)

    return setup


def _set_info(key: str, value) -> Callable[[dict], None]:
    def change(payload: dict) -> None:
        payload["info"][key] = value

    return change


def _set_kwarg(key: str, value) -> Callable[[dict], None]:
    def change(payload: dict) -> None:
        payload["info"]["model_kwargs"][key] = value

    return change


def _set_postprocess(key: str, value) -> Callable[[dict], None]:
    def change(payload: dict) -> None:
        payload["info"]["postprocess"][key] = value

    return change


def _drop(key: str) -> Callable[[dict], None]:
    def change(payload: dict) -> None:
        payload.pop(key)

    return change


def _drop_info(key: str) -> Callable[[dict], None]:
    def change(payload: dict) -> None:
        payload["info"].pop(key)

    return change


def _crafted_resume(ws: Path) -> None:
    """An unfinished run whose last checkpoint runs code when unpickled."""
    (ws / "run" / "summary.json").unlink()
    (ws / "run" / "model.pt").unlink()
    torch.save({"state_dict": _RunsCode(str(ws / PWNED))}, ws / "run/checkpoints/last.ckpt")


def _crafted_model(ws: Path) -> None:
    with open(ws / "evil.pt", "wb") as handle:
        pickle.dump(_RunsCode(str(ws / PWNED)), handle)


def _user_project(ws: Path) -> None:
    project = ws / "myproject"
    (project / "src").mkdir(parents=True)
    (project / "config.yaml").write_text("name: my project\n")
    (project / "notes.txt").write_text("a week of notes\n")
    (project / "src" / "analysis.py").write_text("print('mine')\n")


def _split_layout_data(ws: Path) -> None:
    """A data set in the images/ + masks/ layout: its masks/ is ground truth, not predictions."""
    for folder in ("images", "masks"):
        (ws / "scans" / folder).mkdir(parents=True)
    for mask in sorted((ws / "data" / "train").glob("*_mask.tif"))[:4]:
        name = mask.name.removesuffix("_mask.tif")
        shutil.copy(mask.with_name(f"{name}.tif"), ws / "scans" / "images" / f"{name}.tif")
        shutil.copy(mask, ws / "scans" / "masks" / f"{name}_mask.tif")


def _corrupt_frame(ws: Path) -> None:
    (ws / "frames").mkdir()
    shutil.copy(next((ws / "data" / "test").glob("*.tif")), ws / "frames" / "1.tif")
    (ws / "frames" / "2.tif").write_bytes(b"not a tiff at all")


def _colliding_ids(ws: Path) -> None:
    (ws / "frames").mkdir()
    frame = next((ws / "data" / "test").glob("*.tif"))
    shutil.copy(frame, ws / "frames" / "12.tif")
    shutil.copy(frame, ws / "frames" / "012.tif")


def _write_file(name: str, content: bytes):
    def setup(ws: Path) -> None:
        (ws / name).write_bytes(content)

    return setup


def _corrupt_training_frame(ws: Path) -> None:
    frame = sorted((ws / "data" / "train").glob("*[0-9].tif"))[0]
    frame.write_bytes(b"\x00" * 100)


def _wrong_size_mask(ws: Path) -> None:
    mask = sorted((ws / "data" / "train").glob("*_mask.tif"))[0]
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(mask)


def _empty_data(ws: Path) -> None:
    (ws / "empty").mkdir()


# ---- the table -------------------------------------------------------------------------------

TRAIN = ["train", "--preset", "smoke"]
NEW_RUN = ["--data", "{ws}/data", "--run", "{ws}/new"]


def _train_set(setting: str, says: str) -> Case:
    return Case(f"train --set {setting}", [*TRAIN, *NEW_RUN, "--set", setting], says)


CASES = [
    # -- data lost: --overwrite must check the new run before touching the old one
    Case(
        "overwrite with a typo in --data",
        [*TRAIN, "--data", "{ws}/dta", "--run", "{ws}/run", "--overwrite"],
        "dta",
    ),
    Case(
        "overwrite with batch size 0",
        [
            *TRAIN,
            "--data",
            "{ws}/data",
            "--run",
            "{ws}/run",
            "--overwrite",
            "--set",
            "train.batch_size=0",
        ],
        "train.batch_size",
    ),
    Case(
        "overwrite with an image size the model cannot take",
        [
            *TRAIN,
            "--data",
            "{ws}/data",
            "--run",
            "{ws}/run",
            "--overwrite",
            "--set",
            "data.image_size=[100,100]",
        ],
        "data.image_size",
    ),
    Case(
        "overwrite a folder that is not a run",
        [*TRAIN, "--data", "{ws}/data", "--run", "{ws}/myproject", "--overwrite"],
        "myproject",
        setup=_user_project,
    ),
    Case(
        "predict over a data set's masks",
        [
            "predict",
            "--run",
            "{ws}/run",
            "--input",
            "{ws}/scans/images",
            "--out",
            "{ws}/scans",
            "--overwrite",
        ],
        "scans",
        setup=_split_layout_data,
    ),
    # -- code executed
    Case(
        "resume from a crafted checkpoint",
        [*TRAIN[:1], "--run", "{ws}/run", "--resume"],
        "last.ckpt",
        setup=_crafted_resume,
        env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"},
    ),
    Case(
        "predict with a crafted model file",
        ["predict", "--model", "{ws}/evil.pt", "--input", "{ws}/data/test", "--out", "{ws}/o"],
        "evil.pt",
        setup=_crafted_model,
        env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"},
    ),
    # -- values out of range, at config load
    _train_set("train.epochs=0", "train.epochs"),
    _train_set("train.epochs=-1", "train.epochs"),
    _train_set("train.batch_size=-3", "train.batch_size"),
    _train_set("optim.scheduler=cosin", "optim.scheduler"),
    _train_set("postprocess.threshold=2", "postprocess.threshold"),
    _train_set("postprocess.presence_threshold=1.5", "postprocess.presence_threshold"),
    _train_set("postprocess.min_area=-5", "postprocess.min_area"),
    _train_set("loss.dice_weight=-1", "loss.dice_weight"),
    _train_set("loss.bce_weight=-0.5", "loss.bce_weight"),
    _train_set("optim.lr=0", "optim.lr"),
    _train_set("optim.lr=-1", "optim.lr"),
    _train_set("optim.lr=.nan", "optim.lr"),
    _train_set("optim.lr=nan", "optim.lr"),
    _train_set("train.patience=-1", "train.patience"),
    _train_set("train.max_minutes=-5", "train.max_minutes"),
    _train_set("augment.hflip_p=1.5", "augment.hflip_p"),
    _train_set("data.image_size=[0,0]", "data.image_size"),
    _train_set("data.image_size=[100,100]", "data.image_size"),
    _train_set("data.image_size=[64]", "data.image_size"),
    _train_set("data.val_fraction=1", "data.val_fraction"),
    _train_set("model.width=200", "model.width"),
    _train_set("model.name=segnett", "model.name"),
    _train_set("train.precision=bogus", "train.precision"),
    _train_set("train.accelerator=gpu", "train.accelerator"),
    _train_set("train.accelerator=cuda", "train.accelerator"),
    _train_set("train.accelerator=mps", "train.accelerator"),
    _train_set("train.devices=0", "train.devices"),
    _train_set("train.epochs=abc", "train.epochs"),
    _train_set("train.epochs=1.5", "train.epochs"),
    _train_set("train.nokey=1", "train.nokey"),
    _train_set("nosection.key=1", "nosection"),
    _train_set("train=5", "train"),
    _train_set("train.epochs", "train.epochs"),
    _train_set("data.folds=1", "data.folds"),
    # -- train: flags and folders
    Case("train --data missing", [*TRAIN, "--data", "{ws}/nope", "--run", "{ws}/new"], "nope"),
    Case(
        "train --data empty folder",
        [*TRAIN, "--data", "{ws}/empty", "--run", "{ws}/new"],
        "empty",
        setup=_empty_data,
    ),
    Case(
        "train --data is a file",
        [*TRAIN, "--data", "{ws}/model.pt", "--run", "{ws}/new"],
        "model.pt",
    ),
    Case("train without --data", [*TRAIN, "--run", "{ws}/new"], "--data"),
    Case("train --preset unknown", ["train", "--preset", "nope", *NEW_RUN], "nope"),
    Case(
        "train --preset broken YAML",
        ["train", "--preset", "{ws}/bad.yaml", *NEW_RUN],
        "bad.yaml",
        setup=_write_file("bad.yaml", b"train: [1, 2\n"),
    ),
    Case(
        "train --preset YAML list",
        ["train", "--preset", "{ws}/list.yaml", *NEW_RUN],
        "list.yaml",
        setup=_write_file("list.yaml", b"- 1\n- 2\n"),
    ),
    Case("train --fold x", [*TRAIN, *NEW_RUN, "--folds", "3", "--fold", "x"], "--fold"),
    Case("train --fold 5 of 3", [*TRAIN, *NEW_RUN, "--folds", "3", "--fold", "5"], "fold"),
    Case("train --folds 1", [*TRAIN, *NEW_RUN, "--folds", "1"], "folds"),
    Case("train --folds -2", [*TRAIN, *NEW_RUN, "--folds", "-2"], "folds"),
    Case("train --resume without --run", [*TRAIN[:1], "--resume"], "--run"),
    Case("train --resume nothing there", ["train", "--run", "{ws}/new", "--resume"], "resume"),
    Case(
        "train --resume and --overwrite",
        ["train", "--run", "{ws}/run", "--resume", "--overwrite"],
        "--overwrite",
    ),
    Case("train a finished run", [*TRAIN, "--data", "{ws}/data", "--run", "{ws}/run"], "run"),
    Case(
        "train --run is a file",
        [*TRAIN, "--data", "{ws}/data", "--run", "{ws}/model.pt"],
        "model.pt",
    ),
    Case(
        "train on a corrupt frame", [*TRAIN, *NEW_RUN], "--skip-bad", setup=_corrupt_training_frame
    ),
    Case("train on a mask of the wrong size", [*TRAIN, *NEW_RUN], "mask", setup=_wrong_size_mask),
    Case("train --clean bogus", [*TRAIN, *NEW_RUN, "--clean", "bogus"], "--clean"),
    # -- predict
    Case(
        "predict --batch-size -3",
        [
            "predict",
            "--run",
            "{ws}/run",
            "--input",
            "{ws}/data/test",
            "--out",
            "{ws}/o",
            "--batch-size",
            "-3",
        ],
        "--batch-size",
    ),
    Case(
        "predict --batch-size 0",
        [
            "predict",
            "--run",
            "{ws}/run",
            "--input",
            "{ws}/data/test",
            "--out",
            "{ws}/o",
            "--batch-size",
            "0",
        ],
        "--batch-size",
    ),
    Case(
        "predict --batch-size x",
        [
            "predict",
            "--run",
            "{ws}/run",
            "--input",
            "{ws}/data/test",
            "--out",
            "{ws}/o",
            "--batch-size",
            "x",
        ],
        "--batch-size",
    ),
    Case(
        "predict --device bogus",
        [
            "predict",
            "--run",
            "{ws}/run",
            "--input",
            "{ws}/data/test",
            "--out",
            "{ws}/o",
            "--device",
            "bogus",
        ],
        "--device",
    ),
    Case(
        "predict --device cuda:7",
        [
            "predict",
            "--run",
            "{ws}/run",
            "--input",
            "{ws}/data/test",
            "--out",
            "{ws}/o",
            "--device",
            "cuda:7",
        ],
        "cuda:7",
    ),
    Case(
        "predict --device cuda",
        [
            "predict",
            "--run",
            "{ws}/run",
            "--input",
            "{ws}/data/test",
            "--out",
            "{ws}/o",
            "--device",
            "cuda",
        ],
        "cuda",
    ),
    Case(
        "predict --input missing",
        ["predict", "--run", "{ws}/run", "--input", "{ws}/nope", "--out", "{ws}/o"],
        "nope",
    ),
    Case(
        "predict --input without frames",
        ["predict", "--run", "{ws}/run", "--input", "{ws}/empty", "--out", "{ws}/o"],
        "empty",
        setup=_empty_data,
    ),
    Case(
        "predict a corrupt frame",
        ["predict", "--run", "{ws}/run", "--input", "{ws}/frames", "--out", "{ws}/o"],
        "--skip-bad",
        setup=_corrupt_frame,
    ),
    Case(
        "predict 12.tif and 012.tif",
        ["predict", "--run", "{ws}/run", "--input", "{ws}/frames", "--out", "{ws}/o"],
        "012.tif",
        setup=_colliding_ids,
    ),
    Case(
        "predict --run not a run",
        ["predict", "--run", "{ws}/data", "--input", "{ws}/data/test", "--out", "{ws}/o"],
        "data",
    ),
    Case(
        "predict --run and --model",
        [
            "predict",
            "--run",
            "{ws}/run",
            "--model",
            "{ws}/model.pt",
            "--input",
            "{ws}/data/test",
            "--out",
            "{ws}/o",
        ],
        "--model",
    ),
    Case(
        "predict into earlier predictions",
        ["predict", "--run", "{ws}/run", "--input", "{ws}/data/test", "--out", "{ws}/run"],
        "run",
        setup=lambda ws: (ws / "run" / "masks").mkdir(),
    ),
    Case(
        "predict --resume --overwrite",
        [
            "predict",
            "--run",
            "{ws}/run",
            "--input",
            "{ws}/data/test",
            "--out",
            "{ws}/o",
            "--resume",
            "--overwrite",
        ],
        "--resume",
    ),
]

# Model files whose description is malformed or hostile: all refused before anything is built.
MODEL_FILES = [
    ("random bytes", _write_file("bad.pt", os.urandom(2000))),
    ("empty file", _write_file("bad.pt", b"")),
    ("a tensor", lambda ws: torch.save(torch.zeros(3), ws / "bad.pt")),
    ("no state_dict", _hostile_model(_drop("state_dict"))),
    ("no info", _hostile_model(_drop("info"))),
    ("no image_size", _hostile_model(_drop_info("image_size"))),
    ("threshold is text", _hostile_model(_set_postprocess("threshold", "high"))),
    ("negative size", _hostile_model(_set_info("image_size", [-64, 96]))),
    ("size 40000x40000", _hostile_model(_set_info("image_size", [40000, 40000]))),
    ("width 200", _hostile_model(_set_kwarg("width", 200.0))),
    ("depth 50", _hostile_model(_set_kwarg("depth", 50))),
    ("unknown model", _hostile_model(_set_info("model_name", "resnet"))),
    ("unknown argument", _hostile_model(_set_kwarg("in_channels", 3))),
    ("std 0", _hostile_model(_set_info("std", 0.0))),
    ("mean text", _hostile_model(_set_info("mean", "grey"))),
    ("size not a multiple", _hostile_model(_set_info("image_size", [100, 100]))),
    ("weights of another model", _hostile_model(_set_kwarg("width", 0.125))),
    ("newer format", _hostile_model(lambda p: p.update(format_version=99))),
]
for _label, _setup in MODEL_FILES:
    CASES.append(
        Case(
            f"predict with a model file: {_label}",
            ["predict", "--model", "{ws}/bad.pt", "--input", "{ws}/data/test", "--out", "{ws}/o"],
            "bad.pt",
            setup=_setup,
        )
    )
    CASES.append(
        Case(
            f"export a model file: {_label}",
            ["export", "{ws}/bad.pt", "--out", "{ws}/bad.onnx"],
            "bad.pt",
            setup=_setup,
        )
    )

CASES += [
    # -- evaluate, fit-postprocess, report
    Case(
        "evaluate --batch-size -1",
        ["evaluate", "--run", "{ws}/run", "--batch-size", "-1"],
        "--batch-size",
    ),
    Case(
        "evaluate --device cuda:7",
        ["evaluate", "--run", "{ws}/run", "--device", "cuda:7"],
        "cuda:7",
    ),
    Case("evaluate a missing run", ["evaluate", "--run", "{ws}/nope"], "nope"),
    Case(
        "evaluate --data missing", ["evaluate", "--run", "{ws}/run", "--data", "{ws}/nope"], "nope"
    ),
    Case("fit-postprocess a missing run", ["fit-postprocess", "{ws}/nope"], "nope"),
    Case(
        "fit-postprocess --margin -1", ["fit-postprocess", "{ws}/run", "--margin", "-1"], "--margin"
    ),
    Case(
        "fit-postprocess --batch-size 0",
        ["fit-postprocess", "{ws}/run", "--batch-size", "0"],
        "--batch-size",
    ),
    Case("report a missing run", ["report", "{ws}/nope"], "nope"),
    # -- export
    Case(
        "export --opset 5",
        ["export", "{ws}/run", "--out", "{ws}/m.onnx", "--opset", "5"],
        "--opset",
    ),
    Case(
        "export --opset 99",
        ["export", "{ws}/run", "--out", "{ws}/m.onnx", "--opset", "99"],
        "--opset",
    ),
    Case("export --format bogus", ["export", "{ws}/run", "--format", "bogus"], "--format"),
    Case(
        "export over a file of the user's",
        ["export", "{ws}/run", "--out", "{ws}/mine.onnx"],
        "mine.onnx",
        setup=_write_file("mine.onnx", b"my own model"),
    ),
    Case("export a missing source", ["export", "{ws}/nope", "--out", "{ws}/m.onnx"], "nope"),
    # -- synth, inspect, clean
    Case("synth --subjects 0", ["synth", "{ws}/s", "--subjects", "0"], "subjects"),
    Case(
        "synth --set synth.height=0", ["synth", "{ws}/s", "--set", "synth.height=0"], "synth.height"
    ),
    Case("synth over a data set", ["synth", "{ws}/data"], "data"),
    Case(
        "synth --overwrite a folder of the user's",
        ["synth", "{ws}/myproject", "--overwrite"],
        "myproject",
        setup=_user_project,
    ),
    Case("inspect a missing folder", ["inspect", "{ws}/nope", "--out", "{ws}/i"], "nope"),
    Case(
        "inspect --size 0 0",
        ["inspect", "{ws}/data", "--out", "{ws}/i", "--size", "0", "0"],
        "--size",
    ),
    Case("clean a missing folder", ["clean", "{ws}/nope", "--out", "{ws}/c"], "nope"),
    Case(
        "clean --threshold -1",
        ["clean", "{ws}/data", "--out", "{ws}/c", "--threshold", "-1"],
        "--threshold",
    ),
    # -- tune, compare, bench
    Case(
        "tune --trials 0",
        ["tune", "--data", "{ws}/data", "--study", "{ws}/st", "--trials", "0"],
        "trials",
    ),
    Case(
        "tune --set tune.space bad spec",
        [
            "tune",
            "--data",
            "{ws}/data",
            "--study",
            "{ws}/st",
            "--set",
            "tune.space.optim.lr=[float, 1]",
        ],
        "optim.lr",
    ),
    Case(
        "compare an unknown model",
        ["compare", "--data", "{ws}/data", "--out", "{ws}/c", "--models", "segnet,bogus"],
        "bogus",
    ),
    Case(
        "compare --budget-minutes -1",
        [
            "compare",
            "--data",
            "{ws}/data",
            "--out",
            "{ws}/c",
            "--models",
            "segnet",
            "--budget-minutes",
            "-1",
        ],
        "--budget-minutes",
    ),
    Case("bench --runtimes bogus", ["bench", "--runtimes", "bogus"], "bogus"),
    Case("bench --threads 0", ["bench", "--threads", "0"], "--threads"),
    Case("bench --size 0 0", ["bench", "--size", "0", "0"], "--size"),
    Case("bench --preset nope", ["bench", "--preset", "nope"], "nope"),
    Case("bench --batch-sizes -1", ["bench", "--batch-sizes", "-1"], "batch"),
    Case("bench --model missing", ["bench", "--model", "{ws}/nope.pt"], "nope.pt"),
    # -- live, view, export --format web
    Case(
        "live a missing source",
        ["live", "{ws}/nope.mp4", "--run", "{ws}/run", "--out", "{ws}/lo"],
        "nope.mp4",
    ),
    Case(
        "live a file that is not a video",
        ["live", "{ws}/model.pt", "--run", "{ws}/run", "--out", "{ws}/lo"],
        "model.pt",
    ),
    Case(
        "live --fps 0",
        ["live", "{ws}/data/test", "--run", "{ws}/run", "--out", "{ws}/lo", "--fps", "0"],
        "--fps",
    ),
    Case(
        "live --queue-size 0",
        ["live", "{ws}/data/test", "--run", "{ws}/run", "--out", "{ws}/lo", "--queue-size", "0"],
        "--queue-size",
    ),
    Case(
        "live --max-frames -1",
        ["live", "{ws}/data/test", "--run", "{ws}/run", "--out", "{ws}/lo", "--max-frames", "-1"],
        "--max-frames",
    ),
    Case(
        "live --device cuda:7",
        ["live", "{ws}/data/test", "--run", "{ws}/run", "--out", "{ws}/lo", "--device", "cuda:7"],
        "cuda:7",
    ),
    Case(
        "live --runtime bogus",
        ["live", "{ws}/data/test", "--run", "{ws}/run", "--out", "{ws}/lo", "--runtime", "bogus"],
        "--runtime",
    ),
    Case(
        "live a missing capture device",
        ["live", "/dev/video97", "--run", "{ws}/run", "--out", "{ws}/lo"],
        "video97",
    ),
    Case(
        "live with a hostile model",
        ["live", "{ws}/data/test", "--model", "{ws}/bad.pt", "--out", "{ws}/lo"],
        "bad.pt",
        setup=_hostile_model(_set_info("image_size", [40000, 40000])),
    ),
    Case("synth --video --fps 0", ["synth", "{ws}/s", "--video", "--fps", "0"], "--fps"),
    Case("view a missing model", ["view", "{ws}/nope", "--no-browser"], "nope"),
    Case("view --port 70000", ["view", "{ws}/run", "--port", "70000", "--no-browser"], "--port"),
    Case(
        "export --format web --input missing",
        ["export", "{ws}/run", "--format", "web", "--out", "{ws}/web", "--input", "{ws}/nope"],
        "nope",
    ),
    Case(
        "export --format web over a folder of the user's",
        ["export", "{ws}/run", "--format", "web", "--out", "{ws}/myproject", "--overwrite"],
        "myproject",
        setup=_user_project,
    ),
    # -- the command line itself
    Case("an unknown command", ["trian"], "trian"),
    Case(
        "an unknown flag",
        ["predict", "--run", "{ws}/run", "--input", "{ws}/data/test", "--out", "{ws}/o", "--bogus"],
        "--bogus",
    ),
]


# ---- the test --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace_template(tiny_data, trained_run, tmp_path_factory) -> Path:
    template = tmp_path_factory.mktemp("bad-input-template")
    shutil.copytree(tiny_data, template / "data")
    shutil.copytree(trained_run, template / "run")
    shutil.copy(trained_run / "model.pt", template / "model.pt")
    return template


def _snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with a digest of its content."""
    state = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        state[key] = hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return state


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(
    case: Case, workspace_template, tmp_path, monkeypatch, capsys
):
    ws = tmp_path / "ws"
    shutil.copytree(workspace_template, ws)
    if case.setup:
        case.setup(ws)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    before = _snapshot(ws)
    argv = [part.replace("{ws}", str(ws)) for part in case.argv]
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse
        status = exc.code
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    errors = [line for line in lines if " error: " in line]
    assert status == 2, f"exit {status}; stderr: {captured.err[-2000:]}"
    assert "Traceback" not in captured.err
    # Progress lines may come first; the error is one line, and the last.
    assert len(errors) == 1 and lines[-1] == errors[0], captured.err
    assert case.says in errors[0], errors[0]
    assert not (ws / PWNED).exists(), "the crafted file ran code"
    assert _snapshot(ws) == before
