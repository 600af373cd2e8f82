"""``nerveseg live``: segment a video, DICOM cine, TIFF stack or capture device frame by frame."""

from __future__ import annotations

import argparse
from pathlib import Path

from nerveseg.cli.common import device_name, model_source, positive_float, positive_int


def add(commands) -> None:
    parser = commands.add_parser(
        "live",
        help="segment a video, DICOM cine loop, TIFF stack or capture device frame by frame",
        description=(
            "Writes OUT/overlay.mp4 (outline, presence score, frame rate), OUT/frames.csv (one "
            "row per frame: index, time, presence, area, centroid, RLE, latency) and "
            "OUT/live.json (frames/s, latency, dropped frames, flicker)."
        ),
    )
    parser.add_argument(
        "source",
        help="video file (mp4, avi, mov, mkv), TIFF stack, DICOM file, folder of images, "
        "or capture device (/dev/video0 or 0)",
    )
    parser.add_argument("--run", type=Path, help="a finished run folder or cross-validation folder")
    parser.add_argument("--model", type=Path, help="a model file: model.pt, .onnx or .ts")
    parser.add_argument("--out", type=Path, required=True, help="folder for the outputs")
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="play a file at its own frame rate and drop frames the model cannot keep up with "
        "(a capture device always runs so); default: every frame, as fast as possible",
    )
    parser.add_argument(
        "--fps", type=positive_float, help="the source's frame rate, instead of its own"
    )
    parser.add_argument(
        "--queue-size",
        type=positive_int,
        default=2,
        help="frames that may wait for the model (default 2)",
    )
    parser.add_argument(
        "--no-smoothing",
        action="store_true",
        help="ignore the fitted smoothing (averaging over frames, presence and pixel hysteresis)",
    )
    parser.add_argument("--max-frames", type=positive_int, help="stop after this many frames")
    parser.add_argument("--show", action="store_true", help="also show the overlay in a window")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace this command's earlier outputs in --out"
    )
    parser.add_argument(
        "--runtime",
        choices=("auto", "torch", "onnx", "torchscript"),
        default="auto",
        help="the runtime for a run folder (a model file picks its own)",
    )
    parser.add_argument(
        "--device", type=device_name, default="auto", help="auto, cpu, cuda, cuda:1 ..."
    )
    parser.set_defaults(handler=_run_live)


def _run_live(args: argparse.Namespace) -> int:
    from nerveseg.inference.live import run_live

    source = model_source(args)
    result = run_live(
        args.source,
        source,
        args.out,
        realtime=args.realtime,
        fps=args.fps,
        queue_size=args.queue_size,
        smoothing=not args.no_smoothing,
        overwrite=args.overwrite,
        show=args.show,
        device=args.device,
        runtime=args.runtime,
        max_frames=args.max_frames,
    )
    print(
        f"{result.frames_processed} of {result.frames_read} frames segmented "
        f"({result.frames_dropped} dropped, {result.mode}) at {result.fps:.1f} frames/s, "
        f"latency p50 {result.latency_ms['p50']:.1f} ms / p95 {result.latency_ms['p95']:.1f} ms; "
        f"wrote {args.out}/overlay.mp4, frames.csv, live.json"
    )
    return 0
