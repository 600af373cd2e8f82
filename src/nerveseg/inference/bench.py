"""Inference speed and memory per model and runtime on this machine (``nerveseg bench``).

For each model (a preset's architecture with random weights, or a model file) and runtime:

- parameters and GFLOPs per frame (``nerveseg.models.profile.count_flops``: convolutions and
  matrix products, a multiply-add counted as 2 FLOPs);
- latency at batch 1, p50 and p95: the network alone (a normalised batch in, probabilities out)
  and end to end on a 580x420 uint8 frame: resize, normalise, network, resize back,
  post-processing, RLE (:meth:`~nerveseg.inference.sources.OpenedPredictor.segment`, what a
  live probe needs);
- the video case at batch 1: a frame decoded from an H.264 mp4, segmented through the stream
  path, its overlay drawn and encoded to H.264, as ``nerveseg live`` does
  (:mod:`~nerveseg.inference.bench_video`);
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
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nerveseg.checkpoint import ModelInfo, load_model, save_model_file
from nerveseg.config import load_config
from nerveseg.errors import NervesegError
from nerveseg.inference.bench_measure import matmul_gflops, resized
from nerveseg.inference.bench_video import write_source_video
from nerveseg.inference.export import onnx_bytes, quantize_static_int8
from nerveseg.inference.predictor import normalise
from nerveseg.inference.runtimes import available_cores
from nerveseg.inference.sources import open_predictor
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
        video = write_source_video(Path(tmp) / "frames.mp4", frames, warmup + iterations)
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
                    "video": str(video),
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
        half = [resized(frame, info.image_size) for frame in frames[: len(frames) // 2]]
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
    code = "from nerveseg.inference.bench_measure import main; main()"
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


def _versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0], "torch": torch.__version__}
    try:
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return versions
