"""Live segmentation: speed on a 60-second sweep, and flicker against Dice with and without smoothing.

    python benchmarks/live_speed.py [--work DIR] [--seconds 60] [--model model.onnx]
                                    [--flicker-run RUN] [--skip-speed] [--skip-flicker]

**Speed.** A synthetic 60-second sweep at 30 frames/s (580x420, 1,800 frames), re-encoded as
H.264 mp4 as a scanner's recording would be, goes through ``nerveseg live``
(:func:`~nerveseg.inference.live.run_live`) four times: every frame as fast as possible
(frames/s against the source's 30), once without and once with stream smoothing (EMA, pixel
and presence hysteresis: their cost per frame), real-time pacing at 30 frames/s, and
real-time pacing with the same frames declared 60 frames/s (frames dropped, longest queue). Decoding, the overlay and
its H.264 encoding are all included. The model is the ``realtime`` preset's architecture
(SegNet width 0.125 at 96x128) with random weights through ONNX Runtime, unless ``--model``
gives one: speed does not depend on the weights.

**Flicker.** A slim SegNet trained with the ``demo`` preset on synthetic data (seed 0; or
``--flicker-run`` reuses a trained run), its post-processing fitted by ``fit_run_postprocess``
(still steps, then the stream fields on its validation subjects played as sweeps), and the
stream fields fitted a second time on four synthetic validation videos (seed 2, 10 s at 30
frames/s: the frame spacing of the test videos); then four unseen synthetic sweeps (seed 1,
10 s at 30 frames/s) are segmented with smoothing off, with each fitted smoothing, and with
what the fit on videos would have chosen from parts of it (the average alone, pixel hysteresis
alone, both without presence hysteresis), and
scored against their truth: competition score, Dice on nerve frames, mask change
where the truth barely moves (and its excess over the truth's own), presence toggles per minute,
and each smoothing's cut of the mask change against smoothing off.

Timings depend on whatever else runs on the machine (the load average is printed); prints
figures and writes ``WORK/live_speed.json``, asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nerveseg.checkpoint import ModelInfo, save_model_file
from nerveseg.config import load_config
from nerveseg.data.streams import open_stream
from nerveseg.data.streams.writer import VideoWriter
from nerveseg.data.synth import SynthConfig, generate_dataset
from nerveseg.data.synth.video import generate_sweeps, sweep_paths
from nerveseg.evaluation.fit_run import fit_run_postprocess
from nerveseg.evaluation.sweeps import video_sweeps
from nerveseg.evaluation.temporal_fit import SweepScorer, TemporalFit, fit_temporal, within_loss
from nerveseg.files import write_json
from nerveseg.flicker import mask_change, measure_flicker
from nerveseg.inference import open_predictor
from nerveseg.inference.export import onnx_bytes
from nerveseg.inference.live import run_live
from nerveseg.inference.stream import StreamSegmenter, without_smoothing
from nerveseg.models import build_model
from nerveseg.structure_postprocess import StructurePostprocess
from nerveseg.training import train

# The stream smoothing the speed run "smoothing on" applies (what fit-postprocess chose for a
# demo run on validation videos): its cost per frame, not its effect, is measured there.
SMOOTHING = {"ema_alpha": 0.8, "pixel_off": 0.2, "presence_on": 0.5, "presence_off": 0.3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--seconds", type=int, default=60, help="length of the speed sweep")
    parser.add_argument("--model", type=Path, help="model for the speed runs (default: random)")
    parser.add_argument("--flicker-run", type=Path, help="a trained run for the flicker figure")
    parser.add_argument("--train-minutes", type=float, default=4.5)
    parser.add_argument("--flicker-sweeps", type=int, default=4)
    parser.add_argument("--flicker-seconds", type=int, default=10)
    parser.add_argument(
        "--explore", action="store_true", help="also score every grid setting on the test sweeps"
    )
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-flicker", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    work = args.work or Path(tempfile.mkdtemp(prefix="nerveseg-live-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"load_average_before": os.getloadavg(), "cores": os.cpu_count()}
    if not args.skip_speed:
        report["speed"] = speed(work / "speed", args.seconds, args.model)
    if not args.skip_flicker:
        report["flicker"] = flicker(
            work / "flicker",
            args.flicker_run,
            args.train_minutes,
            args.flicker_sweeps,
            args.flicker_seconds,
            args.explore,
        )
    report["load_average_after"] = os.getloadavg()
    write_json(work / "live_speed.json", report)
    print(
        f"load average {report['load_average_before'][0]:.1f} -> {report['load_average_after'][0]:.1f}"
    )
    print(f"wrote {work / 'live_speed.json'}")


def speed(work: Path, seconds: int, model: Path | None) -> dict[str, Any]:
    """Three live runs on one H.264 sweep: every frame, real time at 30 and at 60 frames/s."""
    work.mkdir(parents=True, exist_ok=True)
    source = h264_sweep(work, seconds)
    model = model or random_realtime_model(work)
    opened = open_predictor(model, device="cpu")
    smoothed = dataclasses.replace(
        opened,
        postprocess=opened.postprocess.map(lambda p: dataclasses.replace(p, **SMOOTHING)),
    )
    runs = {
        "every frame (30 fps source)": {},
        "every frame, smoothing on": {"opened": smoothed},
        "real time, 30 fps source": {"realtime": True},
        "real time, 60 fps source": {"realtime": True, "fps": 60.0},
    }
    results = {}
    for name, options in runs.items():
        out = work / name.replace(" ", "_").replace(",", "")
        options = {"opened": opened, **options}
        result = run_live(source, model, out, overwrite=True, **options)
        results[name] = dataclasses.asdict(result)
    print(f"\nlive speed: {source.name}, {seconds} s at 30 frames/s, 580x420, model {model.name}")
    print(
        f"{'run':<30} {'read':>5} {'done':>5} {'drop':>5} {'fps':>6} {'latency p50/p95 ms':>19} "
        f"{'segment p50/p95':>16} {'draw+encode p50/p95':>20} {'decode p50':>10} {'max queue':>9}"
    )
    for name, r in results.items():
        print(
            f"{name:<30} {r['frames_read']:>5} {r['frames_processed']:>5} {r['frames_dropped']:>5} "
            f"{r['fps']:>6.1f} {r['latency_ms']['p50']:>9.1f}/{r['latency_ms']['p95']:<9.1f} "
            f"{r['segment_ms']['p50']:>7.1f}/{r['segment_ms']['p95']:<8.1f} "
            f"{r['write_ms']['p50']:>9.1f}/{r['write_ms']['p95']:<10.1f} "
            f"{r['decode_ms']['p50']:>10.1f} {r['max_queue']:>6}/{r['queue_size']}"
        )
    return {"source": str(source), "model": str(model), "runs": results}


def h264_sweep(work: Path, seconds: int) -> Path:
    """A synthetic sweep of ``seconds`` at 30 frames/s, re-encoded as H.264 mp4."""
    config = SynthConfig(subjects=1, frames_per_subject=30 * seconds, test_frames=0)
    generate_sweeps(work, config, overwrite=True)
    target = work / "sweep.mp4"
    with open_stream(sweep_paths(work, 1)[0]) as frames, VideoWriter(target, 30.0) as video:
        for frame in frames:
            video.write(frame.image)
    return target


def random_realtime_model(work: Path) -> Path:
    """The realtime preset's architecture with random weights, exported to ONNX."""
    config = load_config("realtime")
    torch.manual_seed(0)
    kwargs = config.model.build_kwargs()
    model = build_model(config.model.name, **kwargs).eval()
    info = ModelInfo(config.model.name, kwargs, tuple(config.data.image_size), 0.4, 0.2)
    save_model_file(work / "realtime.pt", model, info)
    (work / "realtime.onnx").write_bytes(onnx_bytes(model, info))
    return work / "realtime.onnx"


def flicker(
    work: Path,
    run: Path | None,
    minutes: float,
    sweeps: int,
    seconds: int,
    explore_test: bool = False,
) -> dict[str, Any]:
    """Score unseen sweeps with smoothing off and fitted; see the module docstring."""
    work.mkdir(parents=True, exist_ok=True)
    if run is None:
        run = train_demo_run(work, minutes)
    started = time.perf_counter()
    fit = fit_run_postprocess(run, device="cpu", log=print)["nerve"]
    print(f"fit-postprocess took {time.perf_counter() - started:.0f} s")
    config = SynthConfig(subjects=sweeps, frames_per_subject=30 * seconds, test_frames=0, seed=1)
    generate_sweeps(work / "sweeps", config, overwrite=True)
    opened = open_predictor(run, device="cpu")
    # The run's validation subjects are 36-frame sweeps: frames 8x farther apart than in a
    # 10 s video, and the EMA weight is per frame. So also fit on videos like the test ones
    # (other seed, other anatomy), through the same fit_temporal.
    fit_config = dataclasses.replace(config, seed=2)
    generate_sweeps(work / "fit-sweeps", fit_config, overwrite=True)
    played = video_sweeps(opened, work / "fit-sweeps")
    on_videos = fit_temporal(SweepScorer(played), without_smoothing(fit.params), log=print)
    settings = {
        "smoothing off": without_smoothing(fit.params),
        "fitted, val frames": fit.params,
        "fitted, val videos": on_videos.params,
        **parts_of(on_videos),
    }
    rows = {
        name: score_sweeps(opened, params, work / "sweeps", sweeps)
        for name, params in settings.items()
    }
    print(f"\nflicker on {sweeps} unseen synthetic sweeps of {seconds} s at 30 frames/s ({run})")
    print(
        f"{'setting':<20} {'alpha':>5} {'on/off':>9} {'pixel_off':>9} {'score':>7} "
        f"{'dice nerve':>10} {'mask change':>11} {'truth own':>9} {'excess':>7} "
        f"{'toggles/min':>11} {'truth toggles/min':>17}"
    )
    off = rows["smoothing off"]
    for name, row in rows.items():
        print(
            f"{name:<20} {row['ema_alpha']:>5} {row['presence_on']:>4}/{row['presence_off']:<4} "
            f"{row['pixel_off']:>9} {row['score']:>7.4f} {row['dice_nerve']:>10.4f} "
            f"{row['mask_change']:>11.4f} {row['truth_mask_change']:>9.4f} "
            f"{row['excess_mask_change']:>7.4f} {row['toggles_per_minute']:>11.1f} "
            f"{row['truth_toggles_per_minute']:>17.1f}"
        )
    for name, row in rows.items():
        if name != "smoothing off":
            print(
                f"{name}: mask change {_cut(row, off, 'mask_change')}, excess "
                f"{_cut(row, off, 'excess_mask_change')}; score {row['score'] - off['score']:+.4f}, "
                f"Dice on nerve frames {row['dice_nerve'] - off['dice_nerve']:+.4f}"
            )
    explored = explore(opened, work / "sweeps", fit.params) if explore_test else None
    return {
        "run": str(run),
        "explored_on_test_sweeps": explored,
        "fit_on_validation_frames": fit.extra.get("temporal"),
        "fit_on_validation_videos": on_videos.as_dict(),
        "test_sweeps": rows,
    }


# Each part of the smoothing alone: which grid settings a part may use.
PARTS = {
    "videos, average only": lambda p: p.pixel_off == 0 and p.presence_on == 0,
    "videos, pixel only": lambda p: p.ema_alpha == 1 and p.presence_on == 0,
    "videos, avg + pixel": lambda p: p.presence_on == 0,
}


def parts_of(fit: TemporalFit) -> dict[str, Any]:
    """What the fit on validation videos would have chosen with only some parts of the
    smoothing: the least flicker within the loss among the grid settings each part allows."""
    chosen = {}
    for name, allowed in PARTS.items():
        rows = [t for t in fit.tried if allowed(t.params) and within_loss(t, fit.baseline)]
        if rows:
            best = min(rows, key=lambda t: (t.flicker.mask_change, -t.score))
            chosen[name] = best.params
    return chosen


def explore(opened, folder: Path, params) -> list[dict[str, Any]]:
    """Every grid setting scored on the test sweeps themselves: what is reachable, not a fit."""
    frames = video_sweeps(opened, folder)
    tried = fit_temporal(SweepScorer(frames), without_smoothing(params)).tried
    print("\nexplored on the test sweeps (for reference only; chosen on test data)")
    print(
        f"{'alpha':>5} {'on/off':>9} {'pixel_off':>9} {'score':>7} {'dice nerve':>10} "
        f"{'mask change':>11} {'toggles/min':>11}"
    )
    for row in sorted(tried, key=lambda t: t.flicker.mask_change):
        p = row.params
        print(
            f"{p.ema_alpha:>5} {p.presence_on:>4}/{p.presence_off:<4} {p.pixel_off:>9} "
            f"{row.score:>7.4f} "
            f"{row.dice_nerve:>10.4f} {row.flicker.mask_change:>11.4f} "
            f"{row.flicker.toggles_per_minute:>11.1f}"
        )
    return [row.as_dict() for row in tried]


def train_demo_run(work: Path, minutes: float) -> Path:
    """The demo preset (SegNet width 0.25, 96x128) on its synthetic set, ``minutes`` of training."""
    config = load_config("demo", [f"train.max_minutes={minutes}"])
    data = work / "data"
    generate_dataset(data, config.synth, overwrite=True)
    config = load_config("demo", [f"data.root={data}", f"train.max_minutes={minutes}"])
    run = work / "run"
    train(config, run, overwrite=True)
    return run


def score_sweeps(opened, params, folder: Path, sweeps: int) -> dict[str, float]:
    """Competition score, Dice on nerve frames and flicker of ``params`` over the sweeps."""
    per_frame, nerve, changes, truth_changes, present, truth_present, frames = (
        [],
        [],
        [],
        [],
        [],
        [],
        0,
    )
    fps = 30.0
    for subject in range(1, sweeps + 1):
        segmenter = StreamSegmenter(opened, StructurePostprocess.uniform(params, ["nerve"]))
        video, masks = sweep_paths(folder, subject)
        shown, truths, previous = [], [], None
        with open_stream(video) as images, open_stream(masks) as labels:
            fps = images.fps
            for frame, label in zip(images, labels, strict=True):
                mask, truth = segmenter.segment(frame.image).masks[0], label.image > 127
                per_frame.append(_dice(mask, truth))
                nerve.append(bool(truth.any()))
                if previous is not None:
                    changes.append(mask_change(previous[0], mask))
                    truth_changes.append(mask_change(previous[1], truth))
                previous = (mask, truth)
                shown.append(bool(mask.any()))
                truths.append(bool(truth.any()))
                frames += 1
        present.append(np.array(shown))
        truth_present.append(np.array(truths))
    result = measure_flicker(
        np.array(changes), present, frames / fps, np.array(truth_changes), truth_present
    )
    values, nerve = np.array(per_frame), np.array(nerve)
    return {
        "ema_alpha": params.ema_alpha,
        "presence_on": params.presence_on,
        "presence_off": params.presence_off,
        "pixel_off": params.pixel_off,
        "frames": frames,
        "score": float(values.mean()),
        "dice_nerve": float(values[nerve].mean()) if nerve.any() else float("nan"),
        **result.as_dict(),
    }


def _cut(row: dict[str, float], off: dict[str, float], key: str) -> str:
    """``row[key]`` against the unsmoothed value, as a signed percentage."""
    return f"{row[key] / off[key] - 1:+.0%}" if off[key] > 0 else "n/a"


def _dice(mask: np.ndarray, truth: np.ndarray) -> float:
    total = int(mask.sum()) + int(truth.sum())
    return 1.0 if total == 0 else 2.0 * int((mask & truth).sum()) / total


if __name__ == "__main__":
    main()
