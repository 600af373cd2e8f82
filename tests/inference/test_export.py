"""ONNX and TorchScript export: parity with PyTorch, dynamic batch, metadata, errors."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from nerveseg.checkpoint import ModelInfo, load_model, save_model_file
from nerveseg.cli import main
from nerveseg.data.loading import load_set
from nerveseg.data.samples import discover_unlabelled
from nerveseg.errors import NervesegError
from nerveseg.inference.export import export_model, onnx_bytes
from nerveseg.inference.predictor import TorchPredictor, normalise
from nerveseg.inference.runtimes import OnnxPredictor
from nerveseg.inference.sources import open_predictor
from nerveseg.models import MODELS, build_model
from nerveseg.postprocess import PostprocessParams, save_postprocess

# Exported probabilities agree with PyTorch's to ~1e-7 (float32 rounding in fused kernels);
# 1e-4 leaves room for other CPUs' kernels and still catches any real graph difference.
TOLERANCE = 1e-4
SIZE = (64, 96)


def make_info(**overrides) -> ModelInfo:
    # output_prior 0.5: an untrained model then draws varied masks at threshold 0.5, not none.
    values = {
        "model_name": "segnet",
        "model_kwargs": {"width": 0.0625, "output_prior": 0.5},
        "image_size": SIZE,
        "mean": 0.4,
        "std": 0.2,
        "postprocess": PostprocessParams(threshold=0.5, min_area=3),
        "epoch": 2,
        "score": math.nan,
        "config": {"model": {"name": "segnet"}},
    }
    return ModelInfo(**{**values, **overrides})


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    info = make_info()
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model_file(path, build_model(info.model_name, **info.model_kwargs), info)
    return path


@pytest.fixture(scope="module")
def exported(model_file) -> dict[str, Path]:
    return {fmt: export_model(model_file, format=fmt) for fmt in ("onnx", "torchscript")}


@pytest.fixture(scope="module")
def frames(tiny_data) -> torch.Tensor:
    """The synthetic test frames, normalised as prediction does: ``(4, 1, 64, 96)``."""
    loaded = load_set(discover_unlabelled(tiny_data / "test"), SIZE)
    return normalise(loaded.images, 0.4, 0.2)


def reference(model_file) -> TorchPredictor:
    model, _ = load_model(model_file)
    return TorchPredictor(model)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("batch", [1, 3])
def test_exported_probabilities_match_pytorch(model_file, exported, frames, fmt, batch):
    predictor = open_predictor(exported[fmt]).predictor
    torch.manual_seed(batch)
    for inputs in (torch.randn(batch, 1, *SIZE), frames[:batch]):
        got, want = predictor(inputs), reference(model_file)(inputs)
        assert got.probabilities.shape == (batch, 1, *SIZE)  # one structure's channel
        assert got.presence is None
        assert (got.probabilities - want.probabilities).abs().max() < TOLERANCE


def test_metadata_round_trip(model_file, exported):
    _, info = load_model(model_file)
    for path in exported.values():
        opened = open_predictor(path)
        assert opened.info.to_dict().keys() == info.to_dict().keys()
        for key, value in info.to_dict().items():
            if key != "score":
                assert opened.info.to_dict()[key] == value, key
        assert math.isnan(opened.info.score)
        assert opened.info.image_size == SIZE  # a tuple again, as load_model gives
        assert opened.postprocess.first == PostprocessParams(threshold=0.5, min_area=3)


def test_run_folder_export_carries_fitted_postprocess(model_file, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.pt").write_bytes(model_file.read_bytes())
    fitted = PostprocessParams(threshold=0.3, min_area=50, keep_largest=True)
    save_postprocess(run / "postprocess.json", fitted, {"steps": []})
    out = export_model(run)
    assert out == run / "model.onnx"
    assert open_predictor(out).postprocess.first == fitted


class TwoHeads(nn.Module):
    """A stand-in for any model with a presence head: returns (mask logits, presence logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.presence = nn.Linear(1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.conv(x)
        return logits, self.presence(logits.mean(dim=(2, 3)))[:, 0]


def test_presence_head_is_exported_as_a_second_output():
    torch.manual_seed(0)
    model = TwoHeads().eval()
    predictor = OnnxPredictor(onnx_bytes(model, make_info()))
    assert predictor.output_names == ["probabilities", "presence"]
    inputs = torch.randn(3, 1, *SIZE)
    got = predictor(inputs)
    want = TorchPredictor(model)(inputs)
    assert got.presence.shape == (3, 1)  # per structure
    assert (got.probabilities - want.probabilities).abs().max() < TOLERANCE
    assert (got.presence - want.presence).abs().max() < TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_exports_with_its_presence_head(name):
    torch.manual_seed(0)
    model = build_model(name, presence_head=True, width=0.125).eval()
    predictor = OnnxPredictor(onnx_bytes(model, make_info(model_name=name)))
    inputs = torch.randn(2, 1, *SIZE)
    got, want = predictor(inputs), TorchPredictor(model)(inputs)
    assert (got.probabilities - want.probabilities).abs().max() < TOLERANCE
    assert (got.presence - want.presence).abs().max() < TOLERANCE


def test_existing_output_is_kept_unless_overwrite(model_file, exported):
    before = exported["onnx"].stat().st_mtime_ns
    with pytest.raises(NervesegError, match="already exists"):
        export_model(model_file, exported["onnx"])
    assert exported["onnx"].stat().st_mtime_ns == before
    assert export_model(model_file, exported["onnx"], overwrite=True) == exported["onnx"]


@pytest.mark.parametrize(
    ("source", "out", "message"),
    [
        ("missing.pt", None, "not found"),
        ("notes.pt", None, "not a"),
        (".", None, "no model.pt"),  # a folder that is not a finished run
        ("model.onnx", None, "already exported"),
        ("MODEL", "model.txt", "must end in .onnx"),
    ],
)
def test_bad_requests_are_explained(model_file, tmp_path, source, out, message):
    (tmp_path / "notes.pt").write_text("not a model")
    path = model_file if source == "MODEL" else tmp_path / source
    with pytest.raises(NervesegError, match=message):
        export_model(path, None if out is None else tmp_path / out)


def test_cli_export_then_predict_matches_pytorch(model_file, tiny_data, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", str(model_file), "--out", str(out)]) == 0
    assert main(["export", str(model_file), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    submissions = []
    for model in (model_file, out):
        pred = tmp_path / f"pred-{model.suffix[1:]}"
        args = ["predict", "--model", str(model), "--input", str(tiny_data / "test")]
        assert main([*args, "--out", str(pred)]) == 0
        with open(pred / "submission.csv", newline="") as handle:
            submissions.append(list(csv.DictReader(handle)))
    assert submissions[0] == submissions[1]
    assert any(row["pixels"] for row in submissions[0])  # a test that compares something
