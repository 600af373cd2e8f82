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

A model of several structures (nerve, vessel ...) outlines each in its own colour with its
presence score in that colour; its CSV has ``STRUCTURE_presence``, ``STRUCTURE_area``,
``STRUCTURE_centroid_x``, ``STRUCTURE_centroid_y`` and ``STRUCTURE_rle`` columns for each
structure between ``time`` and ``latency_ms``; its summary gives the flicker per structure
(``structures``) and their mean, and the smoothing per structure.

Unlike every other output of nerveseg these are not written to a temporary name: a stream may
never end, and what was written before a failure or Ctrl-C must be there and complete (the CSV
is flushed row by row; the video's container is finished on the way out).
"""

from __future__ import annotations

import csv
import time
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from nerveseg.data.rle import rle_encode
from nerveseg.data.streams import FrameStream, open_stream
from nerveseg.data.streams.writer import VideoWriter
from nerveseg.errors import NervesegError
from nerveseg.files import write_json
from nerveseg.inference.display import Window
from nerveseg.inference.live_summary import LiveResult, Timeline, record_frame, summarise
from nerveseg.inference.overlay import draw_overlay, presence_lines
from nerveseg.inference.pacing import Arrival, FrameFeed
from nerveseg.inference.sources import OpenedPredictor, open_predictor
from nerveseg.inference.stream import StreamSegmenter, without_smoothing

OUTPUTS = ("overlay.mp4", "frames.csv", "live.json")
CSV_COLUMNS = ("index", "time", "presence", "area", "centroid_x", "centroid_y", "rle", "latency_ms")
_PER_STRUCTURE = CSV_COLUMNS[2:-1]


def csv_columns(names: list[str]) -> tuple[str, ...]:
    """``frames.csv``'s header: :data:`CSV_COLUMNS` for one structure, else a set per structure."""
    if len(names) == 1:
        return CSV_COLUMNS
    per = tuple(f"{name}_{column}" for name in names for column in _PER_STRUCTURE)
    return (*CSV_COLUMNS[:2], *per, CSV_COLUMNS[-1])


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
    params = opened.postprocess if smoothing else opened.postprocess.map(without_smoothing)
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
        timeline = Timeline()
        started = time.perf_counter()
        try:
            _process(feed, segmenter, stream, paths, timeline, window)
        finally:
            seconds = time.perf_counter() - started
            feed.close()
            result = summarise(stream, mode, feed, timeline, seconds, queue_size, params, paths)
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


def _process(feed, segmenter, stream, paths, timeline: Timeline, window) -> None:
    """The loop: segment, draw, encode, write a row; everything closed on the way out."""
    recent: deque[float] = deque(maxlen=30)
    previous: np.ndarray | None = None
    names = segmenter.params.names
    with (
        VideoWriter(paths["overlay.mp4"], stream.fps) as video,
        open(paths["frames.csv"], "w", newline="", encoding="utf-8") as handle,
        feed,
    ):
        rows = csv.writer(handle)
        rows.writerow(csv_columns(list(names)))
        for arrival in feed:
            image = arrival.frame.image
            began = time.monotonic()
            result = segmenter.segment(image)
            segmented = time.monotonic()
            recent.append(segmented)
            rate = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 else 0.0
            lines = [*presence_lines(list(names), result.presence), f"{rate:.1f} fps"]
            overlay = draw_overlay(image, dict(zip(names, result.masks, strict=True)), lines)
            video.write(overlay, arrival.frame.time)  # dropped frames leave gaps, not a speed-up
            if window is not None:
                window.show(overlay)
            done = time.monotonic()
            rows.writerow(_row(arrival, result, 1000 * (done - arrival.arrived)))
            handle.flush()
            record_frame(timeline, arrival, names, result.masks, previous, began, segmented, done)
            previous = result.masks


def _row(arrival: Arrival, result, latency_ms: float) -> list[Any]:
    frame = arrival.frame
    cells = []
    for mask, presence in zip(result.masks, result.presence, strict=True):
        area = int(np.count_nonzero(mask))
        if area:
            ys, xs = np.nonzero(mask)
            centroid = (f"{xs.mean():.1f}", f"{ys.mean():.1f}")
        else:
            centroid = ("", "")
        cells += [f"{presence:.4f}", area, *centroid, rle_encode(mask)]
    return [frame.index, f"{frame.time:.4f}", *cells, f"{latency_ms:.1f}"]
