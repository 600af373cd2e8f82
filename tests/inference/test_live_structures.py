"""``nerveseg live`` and the benchmark's video case with a model of two structures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nerveseg.checkpoint import ModelInfo, save_model_file
from nerveseg.cli import main
from nerveseg.config import load_config
from nerveseg.data.rle import rle_decode
from nerveseg.data.streams import open_stream
from nerveseg.data.synth.video import generate_sweeps
from nerveseg.inference import open_predictor
from nerveseg.inference.bench_video import video_latencies
from nerveseg.inference.live import csv_columns
from nerveseg.inference.overlay import COLOURS, draw_overlay, presence_lines
from nerveseg.inference.stream import StreamSegmenter
from nerveseg.models import build_model
from nerveseg.postprocess import PostprocessParams

FRAMES = 6
NAMES = ["nerve", "vessel"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    config = load_config("smoke", ["synth.subjects=1", f"synth.frames_per_subject={FRAMES}"]).synth
    return generate_sweeps(tmp_path_factory.mktemp("sweep"), config).videos[0]


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    kwargs = {"width": 0.0625, "output_prior": 0.5, "out_channels": 2}
    info = ModelInfo(
        "segnet", kwargs, (64, 96), 0.4, 0.2, PostprocessParams(min_area=3), structures=NAMES
    )
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model_file(path, build_model("segnet", **kwargs), info)
    return path


def test_live_writes_columns_outlines_and_flicker_per_structure(sweep, two, tmp_path):
    out = tmp_path / "live"
    assert main(["live", str(sweep), "--model", str(two), "--out", str(out)]) == 0
    with open(out / "frames.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == csv_columns(NAMES)
    assert len(rows) == FRAMES
    opened = open_predictor(two)
    with open_stream(sweep) as stream:
        frames = [frame.image for frame in stream]
    areas = {name: 0 for name in NAMES}
    for row, frame in zip(rows, frames, strict=True):
        masks = opened.segment(frame)  # no smoothing fitted: the still-image masks
        for k, name in enumerate(NAMES):
            mask = rle_decode(row[f"{name}_rle"], frame.shape)
            np.testing.assert_array_equal(mask, masks[k])
            assert int(row[f"{name}_area"]) == mask.sum()
            assert 0.0 <= float(row[f"{name}_presence"]) <= 1.0
            areas[name] += int(mask.sum())
    assert all(areas.values())  # both structures drawn: the comparison above is not vacuous
    summary = json.loads((out / "live.json").read_text())
    assert set(summary["structures"]) == set(NAMES)
    assert set(summary["smoothing"]) == set(NAMES)
    flicker = [summary["structures"][n]["mask_change"] for n in NAMES]
    assert summary["mask_change"] == pytest.approx(np.mean(flicker))
    with open_stream(out / "overlay.mp4") as overlay:
        assert len(list(overlay)) == FRAMES


def test_each_structure_is_outlined_in_its_own_colour():
    image = np.full((40, 60), 100, dtype=np.uint8)
    masks = np.zeros((2, 40, 60), dtype=bool)
    masks[0, 5:15, 5:15] = True
    masks[1, 20:35, 30:50] = True
    rgb = draw_overlay(image, dict(zip(NAMES, masks, strict=True)), [])
    assert tuple(rgb[5, 10]) == COLOURS[0] and tuple(rgb[20, 40]) == COLOURS[1]
    assert tuple(rgb[25, 40]) == (100, 100, 100)  # inside: outlines only
    lines = presence_lines(NAMES, np.array([0.25, 0.75]))
    assert lines == [("nerve 0.25", COLOURS[0]), ("vessel 0.75", COLOURS[1])]
    assert presence_lines(["nerve"], np.array([0.5])) == ["nerve 0.50"]  # white, as before


def test_the_benchmarks_video_case_runs_with_two_structures(sweep, two, tmp_path):
    opened = open_predictor(two, device="cpu")
    seconds = video_latencies(opened, sweep, tmp_path / "out.mp4", warmup=1, iterations=3)
    assert len(seconds) == 3 and (seconds > 0).all()
    result = StreamSegmenter(opened).segment(np.zeros((128, 160), dtype=np.uint8))
    assert result.masks.shape == (2, 128, 160) and result.presence.shape == (2,)


@pytest.mark.slow
def test_bench_measures_a_two_structure_model_file(two, tmp_path):
    out = tmp_path / "bench.json"
    args = ["bench", "--model", str(two), "--runtimes", "torch,onnx,onnx-int8", "--iterations", "2"]
    args += ["--warmup", "1", "--batch-sizes", "1", "--threads", "1", "--json", str(out)]
    assert main(args) == 0
    results = json.loads(out.read_text())["results"]
    assert [r["runtime"] for r in results] == ["torch", "onnx", "onnx-int8"]
    for result in results:
        assert "error" not in result, result
        assert result["e2e_fps"] > 0 and result["video_fps"] > 0
    assert 0 <= results[-1]["int8_vs_fp32"]["mask_dice"] <= 1
