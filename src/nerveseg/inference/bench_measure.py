"""What ``nerveseg bench`` runs in a fresh interpreter for one model and runtime.

Latency at batch 1 (network alone, end to end, and a video frame decoded, segmented, drawn and
encoded), throughput over batch sizes, GFLOP/s beside
a matrix product measured in the same process, the int8 model's agreement with fp32, and the
resident-set high-water mark, which is only honest in a process of its own (see
:mod:`nerveseg.inference.bench`). It reads a JSON spec on stdin and prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nerveseg.data.loading import resize_image
from nerveseg.data.rle import rle_encode
from nerveseg.errors import NervesegError
from nerveseg.inference.bench_video import video_latencies
from nerveseg.inference.predictor import normalise
from nerveseg.inference.sources import OpenedPredictor, open_predictor


def main() -> None:
    """Measure the spec given on stdin; print the result as one JSON line."""
    spec = json.loads(sys.stdin.read())
    print(json.dumps(measure(spec)))


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Timings and memory for one prepared case and runtime, in this (fresh) process."""
    threads, runtime = spec["threads"], spec["runtime"]
    torch.set_num_threads(threads)
    rss_imports = _current_rss_mb()  # torch and nerveseg loaded; the runtime, model, data not
    kind = "torch" if runtime.startswith("torch") else "onnx"
    if kind not in spec["files"]:
        raise NervesegError(f"{runtime} needs a model.pt, not an exported file")
    opened = _open(spec, runtime)
    predictor, info = opened.predictor, opened.info
    frames = np.load(spec["frames"])
    small = [resized(frame, info.image_size) for frame in frames]
    warmup, iterations = spec["warmup"], spec["iterations"]

    one = normalise(small[0][None], info.mean, info.std)
    net = _latencies(lambda i: predictor(one), warmup, iterations)

    def end_to_end(i: int) -> list[str]:
        return [rle_encode(mask) for mask in opened.segment(frames[i % len(frames)])]

    e2e = _latencies(end_to_end, warmup, iterations)
    video = video_latencies(
        opened,
        Path(spec["video"]),
        Path(spec["video"]).with_suffix(f".{runtime}.mp4"),
        warmup,
        iterations,
    )
    throughput = {}
    for size in spec["batch_sizes"]:
        batch = normalise(
            np.stack([small[i % len(small)] for i in range(size)]), info.mean, info.std
        )
        times = _latencies(lambda i, b=batch: predictor(b), 1, max(2, iterations // size))
        throughput[size] = size / float(np.median(times))
    best = max(throughput, key=throughput.get)
    # The reference product is measured here, beside the model, so both see the same load.
    matmul = matmul_gflops(threads, repeats=3)
    achieved = spec["gflops"] * throughput[best]
    result = {
        "net_ms": _percentiles(net),
        "e2e_ms": _percentiles(e2e),
        "e2e_fps": len(e2e) / float(np.sum(e2e)),
        "video_ms": _percentiles(video),
        "video_fps": len(video) / float(np.sum(video)),
        "throughput_by_batch": throughput,
        "best_batch": best,
        "throughput_fps": throughput[best],
        "achieved_gflops": achieved,
        "matmul_gflops": matmul,
        "matmul_share": achieved / matmul,
    }
    if runtime == "onnx-int8":
        reference = _open(spec, "onnx")
        result["int8_vs_fp32"] = _agreement(opened, reference, frames[len(frames) // 2 :])
    result["rss_peak_mb"] = _peak_rss_mb()
    result["rss_after_imports_mb"] = rss_imports
    return result


def _open(spec: dict[str, Any], runtime: str) -> OpenedPredictor:
    """The prepared file of ``runtime`` (``torch``, ``torch-cl``, ``onnx``, ``onnx-int8``)."""
    if runtime.startswith("torch"):
        path, kind = spec["files"]["torch"], "torch"
    else:
        path, kind = spec["files"][runtime], "onnx"
    return open_predictor(
        Path(path),
        device="cpu",
        runtime=kind,
        threads=spec["threads"],
        channels_last=runtime == "torch-cl",
    )


def _agreement(
    opened: OpenedPredictor, reference: OpenedPredictor, frames: np.ndarray
) -> dict[str, float]:
    """Probability differences and mask Dice (empty/empty = 1) against the fp32 reference.

    With several structures a frame's Dice pools them all (every structure's pixels)."""
    info = opened.info
    small = np.stack([resized(frame, info.image_size) for frame in frames])
    batch = normalise(small, info.mean, info.std)
    diff = (opened.predictor(batch).probabilities - reference.predictor(batch).probabilities).abs()
    dice, nonempty = [], 0
    for frame in frames:
        a, b = opened.segment(frame), reference.segment(frame)
        total = a.sum() + b.sum()
        dice.append(1.0 if total == 0 else 2.0 * (a & b).sum() / total)
        nonempty += bool(b.any())
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "mask_dice": float(np.mean(dice)),
        "nonempty_fp32_frames": nonempty,
    }


def _latencies(call, warmup: int, iterations: int) -> np.ndarray:
    for i in range(warmup):
        call(i)
    return np.array([_seconds(lambda i=i: call(i)) for i in range(iterations)])


def _seconds(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _percentiles(seconds: np.ndarray) -> dict[str, float]:
    return {
        "p50": 1000 * float(np.percentile(seconds, 50)),
        "p95": 1000 * float(np.percentile(seconds, 95)),
    }


def _peak_rss_mb() -> float:
    """This process's resident-set high-water mark in MiB.

    Linux's ``VmHWM`` belongs to the process image, so it starts afresh in a new interpreter;
    ``ru_maxrss`` would carry over the parent's RSS at fork (the fallback on other systems).
    """
    status = _proc_status()
    if "VmHWM" in status:
        return status["VmHWM"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def _current_rss_mb() -> float:
    return _proc_status().get("VmRSS", _peak_rss_mb())


def _proc_status() -> dict[str, float]:
    """``VmRSS`` and ``VmHWM`` in MiB from ``/proc/self/status``; empty where there is none."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024  # reported in kB
    return values


def matmul_gflops(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` fp32 GFLOP/s of a ``size`` x ``size`` matrix product (2 n^3 FLOPs)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(_seconds(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def resized(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` resized as training does: a writable copy (torch warns on read-only arrays)."""
    return np.array(resize_image(frame, size))
