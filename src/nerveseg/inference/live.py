"""``nerveseg live``: segment a video, cine loop, TIFF stack or capture device frame by frame.

A command of its own rather than ``predict`` on a stream: ``predict`` makes a Kaggle-style
result for a set of stills (PNG masks and a submission in test-id order, resumable), while a
stream's result is a timeline: an overlay video, one CSV row per frame with its time, the
frames dropped to keep up, latency and flicker. One API function, :func:`run_live`, does it.

Writes into ``out``:

- ``overlay.mp4``: each processed frame with the nerve's outline, the presence score and the
  frame rate kept (H.264), at its time on the source's clock;
- ``frames.csv``: ``index,time,presence,area,centroid_x,centroid_y,rle,latency_ms``, one row per
  processed frame, flushed as it is written;
- ``live.json``: the summary (frames read, processed, dropped, frames/s, latency p50/p95,
  decode time, longest queue, flicker).

Unlike every other output of nerveseg these are not written to a temporary name: a stream may
never end, and what was written before a failure or Ctrl-C must be there and complete (the CSV
is flushed row by row; the video's container is finished on the way out).
"""

from __future__ import annotations

import csv
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nerveseg.data.rle import rle_encode
from nerveseg.data.streams import FrameStream, open_stream
from nerveseg.data.streams.writer import VideoWriter
from nerveseg.errors import NervesegError
from nerveseg.files import write_json
from nerveseg.flicker import mask_change, toggles
from nerveseg.inference.display import Window
from nerveseg.inference.overlay import draw_overlay
from nerveseg.inference.pacing import Arrival, FrameFeed
from nerveseg.inference.sources import OpenedPredictor, open_predictor
from nerveseg.inference.stream import StreamSegmenter, without_smoothing

OUTPUTS = ("overlay.mp4", "frames.csv", "live.json")
CSV_COLUMNS = ("index", "time", "presence", "area", "centroid_x", "centroid_y", "rle", "latency_ms")


@dataclass
class LiveResult:
    """What :func:`run_live` did (also written as ``live.json``)."""

    source: str
    source_fps: float
    source_fps_from: str
    mode: str
    frames_read: int
    frames_processed: int
    frames_dropped: int
    max_queue: int
    queue_size: int
    seconds: float
    fps: float
    latency_ms: dict[str, float]
    decode_ms: dict[str, float]
    segment_ms: dict[str, float]
    write_ms: dict[str, float]
    smoothing: dict[str, float]
    mask_change: float
    toggles_per_minute: float
    outputs: dict[str, str] = field(default_factory=dict)


def run_live(
    source: str | Path,
    model: Path,
    out: Path,
    *,
    realtime: bool = False,
    fps: float | None = None,
    queue_size: int = 2,
    smoothing: bool = True,
    overwrite: bool = False,
    show: bool = False,
    device: str = "auto",
    runtime: str = "auto",
    max_frames: int | None = None,
    opened: OpenedPredictor | None = None,
) -> LiveResult:
    """Segment ``source`` frame by frame with ``model``; write the overlay, CSV and summary.

    Args:
        source: anything :func:`~nerveseg.data.streams.open_stream` reads.
        model: a run folder or model file (see :func:`open_predictor`).
        out: the output folder.
        realtime: pace a file as if it were live (its own frame clock), dropping frames the
            model cannot keep up with. A capture device is always live.
        fps: the source's frame rate, instead of its own (or of 30 for sources without one).
        queue_size: frames that may wait for the model at most.
        smoothing: False turns the post-processing's stream fields off (EMA, presence and
            pixel hysteresis).
        overwrite: replace this command's earlier outputs in ``out`` (and only those).
        show: also show the overlay in a window (needs a display).
        max_frames: stop after this many frames read (for tries and benchmarks).
        opened: an already opened predictor (the benchmark reuses one), else ``model`` is opened.

    Raises:
        NervesegError: bad source or model, outputs present without ``overwrite``, no display
            for ``show``, or a source that fails halfway (after what was read is written).
    """
    out = Path(out)
    paths = {name: out / name for name in OUTPUTS}
    window = Window() if show else None  # before anything is touched: no display, no run
    earlier = _earlier_outputs(out, paths, overwrite)
    opened = opened or open_predictor(Path(model), device=device, runtime=runtime)
    params = opened.postprocess if smoothing else without_smoothing(opened.postprocess)
    segmenter = StreamSegmenter(opened, params)
    with open_stream(source, fps=fps) as stream:
        _clear(out, earlier)  # only once the model and the source have opened
        mode = "live" if stream.live else ("realtime" if realtime else "every frame")
        feed = FrameFeed(
            _limited(stream, max_frames),
            realtime=realtime and not stream.live,
            drop=realtime or stream.live,
            queue_size=queue_size,
        )
        timeline = _Timeline()
        started = time.perf_counter()
        try:
            _process(feed, segmenter, stream, paths, timeline, window)
        finally:
            seconds = time.perf_counter() - started
            feed.close()
            result = _summary(stream, mode, feed, timeline, seconds, queue_size, params, paths)
            write_json(paths["live.json"], asdict(result))
    return result


def _earlier_outputs(out: Path, paths: dict[str, Path], overwrite: bool) -> list[Path]:
    """This command's outputs already in ``out``; refused unless ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise NervesegError(f"{out} exists and is not a folder; choose another --out")
    present = [path for path in paths.values() if path.exists()]
    if present and not overwrite:
        raise NervesegError(
            f"{out} already holds {', '.join(p.name for p in present)} from an earlier run; "
            "choose another --out or pass --overwrite to replace them"
        )
    return present


def _clear(out: Path, earlier: list[Path]) -> None:
    for path in earlier:
        path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _limited(stream: FrameStream, max_frames: int | None):
    for frame in stream:
        if max_frames is not None and frame.index >= max_frames:
            return
        yield frame


@dataclass
class _Timeline:
    """Per processed frame: times and what the flicker measure needs."""

    latency: list[float] = field(default_factory=list)
    segment: list[float] = field(default_factory=list)
    write: list[float] = field(default_factory=list)
    changes: list[float] = field(default_factory=list)
    present: list[bool] = field(default_factory=list)
    first_time: float | None = None
    last_time: float = 0.0


def _process(feed, segmenter, stream, paths, timeline: _Timeline, window) -> None:
    """The loop: segment, draw, encode, write a row; everything closed on the way out."""
    recent: deque[float] = deque(maxlen=30)
    previous: np.ndarray | None = None
    with (
        VideoWriter(paths["overlay.mp4"], stream.fps) as video,
        open(paths["frames.csv"], "w", newline="", encoding="utf-8") as handle,
        feed,
    ):
        rows = csv.writer(handle)
        rows.writerow(CSV_COLUMNS)
        for arrival in feed:
            image = arrival.frame.image
            began = time.monotonic()
            result = segmenter.segment(image)
            segmented = time.monotonic()
            recent.append(segmented)
            rate = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 else 0.0
            overlay = draw_overlay(
                image, {"nerve": result.mask}, [f"nerve {result.presence:.2f}", f"{rate:.1f} fps"]
            )
            video.write(overlay, arrival.frame.time)  # dropped frames leave gaps, not a speed-up
            if window is not None:
                window.show(overlay)
            done = time.monotonic()
            rows.writerow(_row(arrival, result, 1000 * (done - arrival.arrived)))
            handle.flush()
            _record(timeline, arrival, result.mask, previous, began, segmented, done)
            previous = result.mask


def _row(arrival: Arrival, result, latency_ms: float) -> list[Any]:
    mask = result.mask
    area = int(np.count_nonzero(mask))
    if area:
        ys, xs = np.nonzero(mask)
        centroid = (f"{xs.mean():.1f}", f"{ys.mean():.1f}")
    else:
        centroid = ("", "")
    frame = arrival.frame
    return [
        frame.index,
        f"{frame.time:.4f}",
        f"{result.presence:.4f}",
        area,
        *centroid,
        rle_encode(mask),
        f"{latency_ms:.1f}",
    ]


def _record(timeline, arrival, mask, previous, began, segmented, done) -> None:
    timeline.latency.append(done - arrival.arrived)
    timeline.segment.append(segmented - began)
    timeline.write.append(done - segmented)
    if previous is not None:
        timeline.changes.append(mask_change(previous, mask))
    timeline.present.append(bool(mask.any()))
    if timeline.first_time is None:
        timeline.first_time = arrival.frame.time
    timeline.last_time = arrival.frame.time


def _summary(stream, mode, feed, timeline, seconds, queue_size, params, paths) -> LiveResult:
    processed = len(timeline.latency)
    span = timeline.last_time - (timeline.first_time or 0.0) + 1.0 / stream.fps
    minutes = span / 60.0 if processed else float("nan")
    return LiveResult(
        source=stream.name,
        source_fps=stream.fps,
        source_fps_from=stream.fps_from,
        mode=mode,
        frames_read=feed.stats.read,
        frames_processed=processed,
        frames_dropped=feed.stats.dropped,
        max_queue=feed.stats.max_queue,
        queue_size=queue_size,
        seconds=seconds,
        fps=processed / seconds if seconds > 0 else float("nan"),
        latency_ms=_percentiles(timeline.latency),
        decode_ms=_percentiles(feed.stats.decode_seconds),
        segment_ms=_percentiles(timeline.segment),
        write_ms=_percentiles(timeline.write),
        smoothing={
            "ema_alpha": params.ema_alpha,
            "presence_on": params.presence_on,
            "presence_off": params.presence_off,
            "pixel_off": params.pixel_off,
        },
        mask_change=float(np.mean(timeline.changes)) if timeline.changes else float("nan"),
        toggles_per_minute=toggles(timeline.present) / minutes if processed else float("nan"),
        outputs={name: str(path) for name, path in paths.items()},
    )


def _percentiles(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    values = 1000 * np.asarray(seconds)
    return {
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "max": float(values.max()),
    }
