"""How fast the browser viewer segments: the real-time preset in headless Chromium.

    python benchmarks/viewer_speed.py [--threads 1,2] [--frames 300] [--preset realtime] [--json]

The preset's architecture with random weights (as ``nerveseg bench`` measures speed; weights do
not change the cost) is served by ``nerveseg view``'s server and run by the page itself on 580x420
synthetic frames, for each WASM thread count:

- back to back: each step grabs a frame from a canvas (as a video frame is grabbed), converts it
  to gray, resizes, normalises, runs the network in onnxruntime-web, resizes the probabilities
  back, post-processes and draws the overlay; frames/s = steps / their total time, and the
  p50/p95 of one step in ms;
- live: a canvas stream (``captureStream``, ``--source-fps``, 60 by default) fed to the page
  like a webcam for ``--live-seconds``; frames/s = overlays drawn per second (frames that arrive
  while one is processed are skipped, as on a real probe). The page that paints the stream
  runs on the same cores, so this is a harder test than a camera.

Timings depend on whatever else runs on the machine; the load average is printed before and
after. Nothing is asserted: this prints figures.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from nerveseg.checkpoint import ModelInfo, save_model_file
from nerveseg.inference.bench import bench_frames, preset_cases
from nerveseg.models import build_model
from nerveseg.viewer import ViewerServer

SETUP = """async ([frames, width, height]) => {
  window.benchFrames = frames.map((b64) => {
    const gray = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext("2d");
    const image = context.createImageData(width, height);
    for (let i = 0; i < gray.length; i++) image.data.set([gray[i], gray[i], gray[i], 255], 4 * i);
    context.putImageData(image, 0, 0);
    return canvas;
  });
}"""

LIVE = """async ([seconds, fps]) => {
  const [first] = window.benchFrames;
  const source = document.createElement("canvas");
  source.width = first.width;
  source.height = first.height;
  const context = source.getContext("2d");
  let n = 0;
  const paint = () => context.drawImage(window.benchFrames[n++ % window.benchFrames.length], 0, 0);
  paint();
  const timer = setInterval(paint, 1000 / fps);
  await viewer.openStream(source.captureStream(fps), "bench");
  await new Promise((r) => setTimeout(r, 1000));  // settle
  const start = viewer.state().drawn, t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const drawn = viewer.state().drawn - start, elapsed = (performance.now() - t0) / 1000;
  clearInterval(timer);
  return drawn / elapsed;
}"""


def model_file(preset: str, folder: Path) -> tuple[Path, str]:
    """The preset's architecture with random weights as a model file, and its label."""
    case = preset_cases([preset])[0]
    torch.manual_seed(0)
    model = build_model(case.model_name, **case.model_kwargs).eval()
    info = ModelInfo(case.model_name, case.model_kwargs, case.image_size, 0.4, 0.2)
    path = folder / "model.pt"
    save_model_file(path, model, info)
    return path, case.label


def measure(page, url: str, threads: int, encoded: list[str], shape, args) -> dict:
    """Load the page with ``threads`` WASM threads, hand it the frames, and measure."""
    page.goto(f"{url}?threads={threads}&provider=wasm")
    page.wait_for_function("window.viewer && document.body.dataset.status !== 'loading'")
    state = page.evaluate("viewer.state()")
    if state["status"] != "ready":
        raise SystemExit(f"the page did not load: {state['message']}")
    page.evaluate(SETUP, [encoded, shape[2], shape[1]])
    frames, warmup, live_seconds = args.frames, args.warmup, args.live_seconds
    page.evaluate("n => viewer.benchmark(window.benchFrames, n)", warmup)
    times = np.array(page.evaluate("n => viewer.benchmark(window.benchFrames, n)", frames))
    live = page.evaluate(LIVE, [live_seconds, args.source_fps]) if live_seconds > 0 else None
    return {
        "threads": page.evaluate("viewer.state().threads"),
        "isolated": page.evaluate("crossOriginIsolated"),
        "frames_per_s": 1000 * len(times) / times.sum(),
        "p50_ms": float(np.percentile(times, 50)),
        "p95_ms": float(np.percentile(times, 95)),
        "live_frames_per_s": live,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="realtime")
    parser.add_argument("--threads", default="1,2", help="WASM thread counts to measure")
    parser.add_argument("--frames", type=int, default=300, help="timed frames per thread count")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--live-seconds", type=float, default=5.0, help="0 skips the live run")
    parser.add_argument(
        "--source-fps", type=int, default=60, help="frames/s of the live stream (a camera: 30)"
    )
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="viewer-speed-") as tmp:
        path, label = model_file(args.preset, Path(tmp))
        frames = bench_frames(None, Path(tmp))  # (16, 420, 580) synthetic uint8
        encoded = [base64.b64encode(f.tobytes()).decode() for f in frames]
        with ViewerServer(path) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium)
            page = browser.new_page()
            results = []
            for threads in [int(t) for t in args.threads.split(",")]:
                results.append(measure(page, server.url, threads, encoded, frames.shape, args))
            version = browser.version
            browser.close()
    report = {
        "model": label,
        "frame": f"{frames.shape[2]}x{frames.shape[1]}",
        "chromium": version,
        "cores": os.cpu_count(),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "results": results,
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return
    print(
        f"{label} in headless Chromium {version}, {report['frame']} frames, {os.cpu_count()} cores"
    )
    print(
        f"load average before {load_before[0]:.2f}, after {report['load_average']['after'][0]:.2f}"
    )
    print(
        f"threads  isolated  frames/s  p50 ms  p95 ms  live frames/s ({args.source_fps}/s source)"
    )
    for r in results:
        live = "-" if r["live_frames_per_s"] is None else f"{r['live_frames_per_s']:.1f}"
        print(
            f"{r['threads']:>7}  {r['isolated']!s:>8}  {r['frames_per_s']:>8.1f}  "
            f"{r['p50_ms']:>6.1f}  {r['p95_ms']:>6.1f}  {live:>13}"
        )


if __name__ == "__main__":
    main()
