"""``nerveseg live`` end to end on a short synthetic sweep with the shared trained run."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from nerveseg.cli import main
from nerveseg.config import load_config
from nerveseg.data.rle import rle_decode
from nerveseg.data.streams import open_stream
from nerveseg.data.synth.video import generate_sweeps
from nerveseg.inference import open_predictor
from nerveseg.inference.stream import StreamSegmenter
from nerveseg.postprocess import PostprocessParams, save_postprocess

FRAMES = 16


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """One 16-frame 160x128 sweep at 30 frames/s (the smoke preset's synthetic subject 1)."""
    config = load_config("smoke", ["synth.subjects=1", f"synth.frames_per_subject={FRAMES}"]).synth
    out = tmp_path_factory.mktemp("sweep")
    return generate_sweeps(out, config).videos[0]


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_live_writes_overlay_csv_and_summary(sweep, trained_run, tmp_path, capsys):
    out = tmp_path / "live"
    assert main(["live", str(sweep), "--run", str(trained_run), "--out", str(out)]) == 0
    assert "16 of 16 frames segmented" in capsys.readouterr().out
    rows = rows_of(out / "frames.csv")
    assert [int(r["index"]) for r in rows] == list(range(FRAMES))
    assert [float(r["time"]) for r in rows] == pytest.approx(np.arange(FRAMES) / 30, abs=2e-3)
    for row in rows:
        mask = rle_decode(row["rle"], (128, 160))
        assert mask.sum() == int(row["area"])
        assert 0.0 <= float(row["presence"]) <= 1.0
        if mask.any():
            assert float(row["centroid_x"]) == pytest.approx(np.nonzero(mask)[1].mean(), abs=0.06)
    with open_stream(out / "overlay.mp4") as overlay:
        frames = list(overlay)
    assert len(frames) == FRAMES and frames[0].image.shape == (128, 160)
    summary = json.loads((out / "live.json").read_text())
    assert summary["frames_processed"] == FRAMES and summary["frames_dropped"] == 0
    assert summary["max_queue"] <= summary["queue_size"] == 2
    assert summary["latency_ms"]["p95"] >= summary["latency_ms"]["p50"] > 0


def test_stream_masks_equal_still_masks_when_smoothing_is_off(sweep, trained_run):
    opened = open_predictor(trained_run)
    segmenter = StreamSegmenter(opened)
    with open_stream(sweep) as stream:
        for frame in stream:
            assert np.array_equal(segmenter.segment(frame.image).mask, opened.segment(frame.image))


def test_smoothing_follows_the_runs_postprocessing(sweep, run_copy, tmp_path):
    fitted = PostprocessParams(ema_alpha=0.5, presence_on=0.6, presence_off=0.4, pixel_off=0.3)
    save_postprocess(run_copy / "postprocess.json", fitted, {})
    for flag, expected in (([], (0.5, 0.3)), (["--no-smoothing"], (1.0, 0.0))):
        out = tmp_path / f"out{len(flag)}"
        assert main(["live", str(sweep), "--run", str(run_copy), "--out", str(out), *flag]) == 0
        smoothing = json.loads((out / "live.json").read_text())["smoothing"]
        assert (smoothing["ema_alpha"], smoothing["pixel_off"]) == expected


def test_pixel_hysteresis_in_a_stream_keeps_what_the_frame_before_had(sweep, trained_run):
    """Through the live path: each mask is the unsmoothed mask plus the frame before's pixels
    that stay above pixel_off, and never anything else."""
    opened = open_predictor(trained_run)
    with open_stream(sweep) as stream:
        images = [frame.image for frame in stream]
    # The smoke run is barely trained: a threshold just under every frame's peak gives masks.
    peaks = [StreamSegmenter(opened).segment(image).presence for image in images]
    still = dataclasses.replace(opened.postprocess, threshold=0.98 * min(peaks))
    held = dataclasses.replace(still, pixel_off=0.9 * still.threshold)
    alone, steady = StreamSegmenter(opened, still), StreamSegmenter(opened, held)
    previous, kept = None, 0
    for image in images:
        mask, plain = steady.segment(image).mask, alone.segment(image).mask
        assert plain.any() and not (plain & ~mask).any()
        if previous is not None:
            assert not (mask & ~plain & ~previous).any()
            kept += int((mask & ~plain).sum())
        previous = mask
    assert kept > 0  # some edge pixels dipped under the threshold and were held


def test_outputs_are_never_overwritten_unless_asked_and_then_only_ours(
    sweep, trained_run, tmp_path, capsys
):
    out = tmp_path / "live"
    args = ["live", str(sweep), "--run", str(trained_run), "--out", str(out), "--max-frames", "3"]
    assert main(args) == 0
    (out / "notes.txt").write_text("mine")
    before = (out / "frames.csv").read_text()
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "frames.csv").read_text() == before
    # a bad source with --overwrite: the earlier outputs are kept
    bad = ["live", str(tmp_path / "missing.mp4"), "--run", str(trained_run), "--out", str(out)]
    assert main([*bad, "--overwrite"]) == 2
    assert (out / "frames.csv").read_text() == before
    assert main([*args, "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert len(rows_of(out / "frames.csv")) == 3


def test_a_source_failing_halfway_keeps_complete_outputs(sweep, trained_run, tmp_path, capsys):
    cut = tmp_path / "cut.mkv"
    data = sweep.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "live"
    assert main(["live", str(cut), "--run", str(trained_run), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "truncated" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    rows = rows_of(out / "frames.csv")
    assert 0 < len(rows) < FRAMES
    with open_stream(out / "overlay.mp4") as overlay:  # the container was finished properly
        assert len(list(overlay)) == len(rows)
    assert json.loads((out / "live.json").read_text())["frames_processed"] == len(rows)


def test_realtime_pacing_drops_frames_of_a_source_faster_than_the_model(
    sweep, trained_run, tmp_path
):
    out = tmp_path / "live"
    # Pretend the sweep was shot at 2,000 frames/s: no model keeps up, the queue must not grow.
    args = ["--realtime", "--fps", "2000", "--queue-size", "1"]
    assert main(["live", str(sweep), "--run", str(trained_run), "--out", str(out), *args]) == 0
    summary = json.loads((out / "live.json").read_text())
    assert summary["mode"] == "realtime" and summary["frames_read"] == FRAMES
    assert summary["frames_dropped"] > 0
    assert summary["frames_processed"] + summary["frames_dropped"] == FRAMES
    assert summary["max_queue"] <= 1
    rows = rows_of(out / "frames.csv")
    assert len(rows) == summary["frames_processed"]
    with open_stream(out / "overlay.mp4") as overlay:  # frames keep their source times
        times = [frame.time for frame in overlay]
    assert times == pytest.approx(
        [float(r["time"]) - float(rows[0]["time"]) for r in rows], abs=1e-3
    )


def test_show_without_a_display_is_one_line(sweep, trained_run, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    args = ["live", str(sweep), "--run", str(trained_run), "--out", str(tmp_path), "--show"]
    assert main(args) == 2
    assert "needs a display" in capsys.readouterr().err
