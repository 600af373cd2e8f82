"""open_predictor: run folders, cross-validation folders and model files, opened one way."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from nerveseg.errors import NervesegError
from nerveseg.inference import open_predictor
from nerveseg.inference.ensemble import EnsemblePredictor
from nerveseg.inference.export import export_model
from nerveseg.inference.export_metadata import parse_metadata
from nerveseg.inference.predictor import TorchPredictor
from nerveseg.inference.tta import TTAPredictor
from nerveseg.postprocess import PostprocessParams, save_postprocess


def test_a_run_folder_opens_its_model_with_the_models_own_post_processing(trained_run):
    opened = open_predictor(trained_run, device="cpu")
    assert isinstance(opened.predictor, TorchPredictor) and opened.models == 1
    assert opened.postprocess.first == opened.info.postprocess
    assert opened.info.image_size == (64, 96)


def test_a_fitted_post_processing_file_wins_unless_told_otherwise(run_copy):
    fitted = PostprocessParams(threshold=0.3, min_area=40, fill_holes=True)
    save_postprocess(run_copy / "postprocess.json", fitted, {})
    assert open_predictor(run_copy).postprocess.first == fitted
    ignored = open_predictor(run_copy, use_postprocess_file=False)
    assert ignored.postprocess.first == ignored.info.postprocess != fitted


def test_tta_wraps_whatever_was_opened(trained_run):
    opened = open_predictor(trained_run, tta=True, tta_shifts=2)
    assert isinstance(opened.predictor, TTAPredictor) and opened.predictor.views == 10


def test_a_cross_validation_folder_is_one_ensemble(trained_run, tmp_path):
    for fold in range(2):
        shutil.copytree(trained_run, tmp_path / f"fold-{fold}")
    opened = open_predictor(tmp_path)
    assert isinstance(opened.predictor, EnsemblePredictor) and opened.models == 2
    frames = torch.randn(2, 1, 64, 96)
    single = open_predictor(trained_run).predictor(frames).probabilities
    torch.testing.assert_close(opened.predictor(frames).probabilities, single)


def test_model_files_open_in_their_runtime_and_segment_a_frame_like_pytorch(trained_run, tmp_path):
    pytest.importorskip("onnxruntime")
    onnx = export_model(trained_run, tmp_path / "model.onnx")
    frame = np.random.default_rng(0).integers(0, 255, (128, 160), dtype=np.uint8)
    torch_mask = open_predictor(trained_run / "model.pt").segment(frame)
    onnx_mask = open_predictor(onnx, runtime="onnx").segment(frame)
    assert torch_mask.shape == (1, 128, 160)  # one structure
    assert (torch_mask != onnx_mask).mean() < 1e-3


@pytest.mark.parametrize(
    ("name", "runtime", "message"),
    [
        ("missing-run", "auto", "no model.pt here; train first"),
        ("model.pth", "auto", "unknown model file ending"),
        ("run", "onnx", "is a run folder, which runs in torch"),
        ("run/model.pt", "onnx", "runs in torch, not onnx"),
        ("run", "tensorrt", "unknown runtime 'tensorrt'"),
    ],
)
def test_what_cannot_be_opened_says_why(trained_run, tmp_path, name, runtime, message):
    shutil.copytree(trained_run, tmp_path / "run")
    (tmp_path / "model.pth").write_bytes(b"")
    with pytest.raises(NervesegError, match=message):
        open_predictor(tmp_path / name, runtime=runtime)


def test_version_1_export_metadata_with_its_separate_post_processing_still_reads():
    info = {
        "model_name": "segnet",
        "model_kwargs": {"width": 0.0625},
        "image_size": [64, 96],
        "mean": 0.4,
        "std": 0.2,
        "threshold": 0.5,
        "min_area": 0,
        "presence_threshold": 0.0,
        "epoch": 1,
        "score": None,
        "config": {},
    }
    fitted = {"threshold": 0.35, "min_area": 200, "keep_largest": True}
    text = json.dumps(
        {"format": "nerveseg-model", "format_version": 1, "info": info, "postprocess": fitted}
    )
    parsed = parse_metadata(text, "old.onnx")
    assert parsed.postprocess == PostprocessParams(threshold=0.35, min_area=200, keep_largest=True)
