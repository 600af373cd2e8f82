"""Inference speed and memory per model and runtime on this machine (``nerveseg bench``).

For each model (a preset's architecture with random weights, or a model file) and runtime:

- parameters and GFLOPs per frame (``nerveseg.models.profile.count_flops``: convolutions and
  matrix products, a multiply-add counted as 2 FLOPs);
- latency at batch 1, p50 and p95: the network alone (a normalised batch in, probabilities out)
  and end to end on a 580x420 uint8 frame: resize, normalise, network, resize back,
  post-processing, RLE (:meth:`~nerveseg.inference.sources.OpenedPredictor.segment`, what a
  live probe needs);
- throughput of the network at the best of several batch sizes, and the GFLOP/s that achieves
  as a share of a plain 2048x2048 fp32 matrix product measured in the same run;
- peak memory: each model/runtime pair runs in its own fresh interpreter, which reports its
  resident-set high-water mark (Linux ``VmHWM``) and how much of it came after torch and
  nerveseg were imported (the runtime library, model, session, activations and frames). A
  fresh process per pair is the only honest high-water mark: it never goes down within a
  process, and tracemalloc would miss the C++ allocations of torch and ONNX Runtime.
- for ``onnx-int8`` (static QDQ quantisation calibrated on half the frames), how far its
  probabilities and masks are from fp32 ONNX on the other half.

Frames are synthetic (``nerveseg.data.synth.dataset``) unless a folder of real ones is given. Timings
depend on whatever else runs on the machine: the load average is recorded before and after.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nerveseg.checkpoint import ModelInfo, load_model, save_model_file
from nerveseg.config import load_config
from nerveseg.data.loading import resize_image
from nerveseg.data.rle import rle_encode
from nerveseg.errors import NervesegError
from nerveseg.inference.export import onnx_bytes, quantize_static_int8
from nerveseg.inference.predictor import normalise
from nerveseg.inference.runtimes import available_cores
from nerveseg.inference.sources import OpenedPredictor, open_predictor
from nerveseg.models import build_model
from nerveseg.models.profile import count_flops, count_parameters

RUNTIMES = ("torch", "torch-cl", "onnx", "onnx-int8")
DEFAULT_RUNTIMES = ("torch", "torch-cl", "onnx")
BATCH_SIZES = (1, 4, 16)
FRAMES = 16  # distinct frames cycled through; 580x420 synthetic unless given


@dataclass
class BenchCase:
    """One model to measure: built from ``model_name``/``kwargs`` or loaded from ``path``."""

    label: str
    image_size: tuple[int, int]
    model_name: str = ""
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    path: str = ""  # a model.pt or .onnx file instead


def preset_cases(
    presets: list[str],
    widths: list[float | None] | None = None,
    sizes: list[tuple[int, int] | None] | None = None,
    overrides: list[str] | None = None,
) -> list[BenchCase]:
    """One case per preset x width x input size: the preset's architecture, random weights.

    A width or size of None keeps the preset's own.
    """
    cases = []
    for preset, width, size in itertools.product(presets, widths or [None], sizes or [None]):
        extra = [f"model.width={width}"] if width else []
        config = load_config(preset, [*(overrides or []), *extra])
        size = tuple(size or config.data.image_size)
        label = f"{preset} {config.model.name} w{config.model.width:g} {size[0]}x{size[1]}"
        cases.append(BenchCase(label, size, config.model.name, config.model.build_kwargs()))
    return cases


def run_bench(
    cases: list[BenchCase],
    runtimes: tuple[str, ...] = DEFAULT_RUNTIMES,
    *,
    threads: int | None = None,
    warmup: int = 5,
    iterations: int = 50,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    frames_dir: Path | None = None,
) -> dict[str, Any]:
    """Measure every case with every runtime, each in a fresh process; returns plain data.

    Models are prepared here (random weights saved as a model file, ONNX export, int8
    quantisation), so a measuring process only loads a file, as a deployment would.
    """
    bad = [r for r in runtimes if r not in RUNTIMES]
    if bad:
        raise NervesegError(f"unknown runtime(s) {bad}; choose from {', '.join(RUNTIMES)}")
    threads = threads or available_cores()
    load_before = os.getloadavg()
    machine = {
        "cores": available_cores(),
        "threads": threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "PASSIVE (set by nerveseg bench)"),
        "matmul_gflops": matmul_gflops(threads),
        "versions": _versions(),
    }
    results = []
    with tempfile.TemporaryDirectory(prefix="nerveseg-bench-") as tmp:
        frames = bench_frames(frames_dir, Path(tmp))
        np.save(Path(tmp) / "frames.npy", frames)
        for number, case in enumerate(cases):
            prepared = prepare(case, runtimes, frames, Path(tmp) / f"case-{number}")
            for runtime in runtimes:
                spec = {
                    **prepared,
                    "runtime": runtime,
                    "threads": threads,
                    "warmup": warmup,
                    "iterations": iterations,
                    "batch_sizes": list(batch_sizes),
                    "frames": str(Path(tmp) / "frames.npy"),
                }
                results.append(_in_fresh_process(spec))
    machine["load_average"] = {"before": load_before, "after": os.getloadavg()}
    return {"machine": machine, "results": results}


def prepare(
    case: BenchCase, runtimes: tuple[str, ...], frames: np.ndarray, folder: Path
) -> dict[str, Any]:
    """Model files for ``case`` in ``folder``, with its size and cost."""
    folder.mkdir(parents=True)
    files: dict[str, str] = {}
    if case.path.endswith(".onnx"):
        info = open_predictor(Path(case.path)).info
        model = build_model(info.model_name, **info.model_kwargs).eval()  # to count FLOPs
        files["onnx"] = case.path
    else:
        if case.path:
            model, info = load_model(Path(case.path))
        else:
            torch.manual_seed(0)
            model = build_model(case.model_name, **case.model_kwargs).eval()
            info = ModelInfo(case.model_name, case.model_kwargs, case.image_size, 0.4, 0.2)
        files["torch"] = str(folder / "model.pt")
        save_model_file(Path(files["torch"]), model, info)
    if any(r.startswith("onnx") for r in runtimes) and "onnx" not in files:
        files["onnx"] = str(folder / "model.onnx")
        Path(files["onnx"]).write_bytes(onnx_bytes(model, info))
    if "onnx-int8" in runtimes:
        # Calibrate on the first half of the frames; the agreement is measured on the rest.
        half = [_resize(frame, info.image_size) for frame in frames[: len(frames) // 2]]
        calibration = normalise(np.stack(half), info.mean, info.std).numpy()
        files["onnx-int8"] = str(folder / "model-int8.onnx")
        int8 = quantize_static_int8(Path(files["onnx"]).read_bytes(), info, calibration)
        Path(files["onnx-int8"]).write_bytes(int8)
    return {
        "model": case.label,
        "files": files,
        "image_size": list(info.image_size),
        "params": count_parameters(model),
        "gflops": count_flops(model, info.image_size) / 1e9,
    }


def matmul_gflops(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` fp32 GFLOP/s of a ``size`` x ``size`` matrix product (2 n^3 FLOPs)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(_seconds(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def bench_frames(folder: Path | None, tmp: Path) -> np.ndarray:
    """``(FRAMES, H, W)`` uint8 frames: the first images of ``folder``, else synthetic 580x420."""
    from nerveseg.data.images import read_image
    from nerveseg.data.samples import discover_unlabelled

    if folder is None:
        from nerveseg.data.synth import SynthConfig, generate_dataset

        folder = tmp / "synthetic"
        generate_dataset(folder, SynthConfig(subjects=1, frames_per_subject=FRAMES, test_frames=1))
        folder = folder / "train"
    images = [read_image(s.image_path) for s in discover_unlabelled(folder)[:FRAMES]]
    return np.stack([images[i % len(images)] for i in range(FRAMES)])


def _in_fresh_process(spec: dict[str, Any]) -> dict[str, Any]:
    """Run :func:`measure` in a new interpreter; a failure becomes an ``error`` entry."""
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    code = "from nerveseg.inference.bench import _worker; _worker()"
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    keep = ("model", "runtime", "image_size", "params", "gflops")
    row = {key: spec[key] for key in keep}
    if done.returncode != 0:
        return {**row, "error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return {**row, **json.loads(done.stdout.strip().splitlines()[-1])}


def _worker() -> None:
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
    small = [_resize(frame, info.image_size) for frame in frames]
    warmup, iterations = spec["warmup"], spec["iterations"]

    one = normalise(small[0][None], info.mean, info.std)
    net = _latencies(lambda i: predictor(one), warmup, iterations)

    def end_to_end(i: int) -> str:
        return rle_encode(opened.segment(frames[i % len(frames)]))

    e2e = _latencies(end_to_end, warmup, iterations)
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
    """Probability differences and mask Dice (empty/empty = 1) against the fp32 reference."""
    info = opened.info
    small = np.stack([_resize(frame, info.image_size) for frame in frames])
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


def _resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.array(resize_image(frame, size))  # a writable copy: torch warns on read-only


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


def _versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0], "torch": torch.__version__}
    try:
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return versions
