"""``nerveseg bench`` runs end to end; a benchmark, so nothing here asserts on time."""

from __future__ import annotations

import json

import pytest

from nerveseg.cli import main


@pytest.mark.slow
def test_bench_runs_and_writes_valid_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    args = ["bench", "--preset", "smoke", "--runtimes", "torch,onnx", "--iterations", "2"]
    args += ["--warmup", "1", "--batch-sizes", "1,2", "--threads", "1", "--json", str(out)]
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert report["machine"]["matmul_gflops"] > 0
    results = report["results"]
    assert [r["runtime"] for r in results] == ["torch", "onnx"]
    for result in results:
        assert "error" not in result, result
        assert result["params"] == 116_473  # segnet at width 1/16
        assert result["gflops"] > 0 and result["e2e_fps"] > 0
        assert result["video_fps"] > 0  # decode + segment + overlay + encode
        assert result["video_ms"]["p50"] <= result["video_ms"]["p95"]
        assert result["net_ms"]["p50"] <= result["net_ms"]["p95"]
        assert set(result["throughput_by_batch"]) == {"1", "2"}
        assert result["rss_peak_mb"] >= result["rss_after_imports_mb"] > 0
        assert result["matmul_share"] > 0
    assert "smoke segnet w0.0625 64x96" in capsys.readouterr().out
