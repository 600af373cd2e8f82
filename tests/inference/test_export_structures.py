"""Export of a model with several structures: S channels out, the names and each structure's
post-processing inside the file, and the ONNX path (predict, live, bench) working with them."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch
from torch import nn

from nerveseg.checkpoint import ModelInfo, save_model_file
from nerveseg.errors import NervesegError
from nerveseg.inference.export import export_model, onnx_bytes
from nerveseg.inference.export_metadata import metadata_json, parse_exported
from nerveseg.inference.predictor import TorchPredictor
from nerveseg.inference.runtimes import OnnxPredictor
from nerveseg.inference.sources import open_predictor
from nerveseg.models import build_model
from nerveseg.postprocess import PostprocessParams
from nerveseg.structure_postprocess import StructurePostprocess, save_structure_postprocess

TOLERANCE = 1e-4
SIZE = (64, 96)
NAMES = ["nerve", "vessel"]
FITTED = StructurePostprocess.of(
    {"nerve": PostprocessParams(min_area=40), "vessel": PostprocessParams(threshold=0.3)}
)


def info(**overrides) -> ModelInfo:
    values = {
        "model_name": "segnet",
        "model_kwargs": {"width": 0.0625, "output_prior": 0.5, "out_channels": 2},
        "image_size": SIZE,
        "mean": 0.4,
        "std": 0.2,
        "structures": NAMES,
    }
    return ModelInfo(**{**values, **overrides})


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A run folder of a two-structure model with a fitted post-processing per structure."""
    folder = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    model = build_model("segnet", width=0.0625, output_prior=0.5, out_channels=2)
    save_model_file(folder / "model.pt", model, info())
    save_structure_postprocess(folder / "postprocess.json", FITTED, {n: {} for n in NAMES})
    return folder


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_structures_match_pytorch_and_carry_their_post_processing(run, tmp_path, fmt):
    out = export_model(
        run / "model.pt", tmp_path / f"model.{'onnx' if fmt == 'onnx' else 'ts'}", format=fmt
    )
    exported, reference = open_predictor(out), open_predictor(run)
    assert exported.info.structures == NAMES
    assert exported.postprocess == FITTED == reference.postprocess
    batch = torch.randn(3, 1, *SIZE)
    got, want = exported.predictor(batch), reference.predictor(batch)
    assert got.probabilities.shape == want.probabilities.shape == (3, 2, *SIZE)
    assert (got.probabilities - want.probabilities).abs().max() < TOLERANCE


def test_onnx_file_names_its_structures(run, tmp_path):
    out = export_model(run / "model.pt", tmp_path / "model.onnx")
    proto = onnx.load(str(out))
    assert "structures nerve, vessel" in proto.doc_string
    shape = proto.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in shape[1:]] == [2, *SIZE]  # (N, S, H, W)


def test_metadata_round_trip_without_and_with_fitted_values():
    plain = info(postprocess=PostprocessParams(threshold=0.45))
    read, params = parse_exported(metadata_json(plain), Path("m.onnx"))
    assert read.structures == NAMES
    assert params == StructurePostprocess.uniform(PostprocessParams(threshold=0.45), NAMES)
    read, params = parse_exported(metadata_json(plain, FITTED).encode(), Path("m.onnx"))
    assert params == FITTED


def test_metadata_for_other_structures_is_refused():
    text = metadata_json(info(), FITTED).replace('"vessel": {', '"artery": {')
    with pytest.raises(NervesegError, match="does not name the model's structures"):
        parse_exported(text, Path("m.onnx"))


class TwoStructuresTwoHeads(nn.Module):
    """A stand-in for a two-structure model with a presence logit per structure."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.presence = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.conv(x)
        return logits, self.presence(logits.mean(dim=(2, 3)))


@pytest.mark.parametrize("real", [False, True], ids=["stand-in", "segnet"])
def test_presence_per_structure_survives_the_export(real):
    torch.manual_seed(0)
    if real:
        kwargs = {"width": 0.0625, "out_channels": 2, "presence_head": True}
        model = build_model("segnet", **kwargs).eval()
    else:
        model = TwoStructuresTwoHeads().eval()
    # Exported at batch 2, run at batch 3: the batch dimension stays free.
    predictor = OnnxPredictor(onnx_bytes(model, info(model_kwargs={})))
    inputs = torch.randn(3, 1, *SIZE)
    got, want = predictor(inputs), TorchPredictor(model)(inputs)
    assert got.presence.shape == want.presence.shape == (3, 2)
    assert (got.presence - want.presence).abs().max() < TOLERANCE
    assert (got.probabilities - want.probabilities).abs().max() < TOLERANCE
