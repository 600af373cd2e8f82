"""The benchmark's video case: what one frame of ``nerveseg live`` costs, end to end.

Per frame: decode it from an H.264 mp4 (as a scanner's recording or capture would come),
segment it through the stream path (:class:`~nerveseg.inference.stream.StreamSegmenter`),
draw the overlay and encode it (H.264), as :func:`nerveseg.inference.live.run_live` does,
without the reader thread: latencies here are the work per frame, not the time a frame waits.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from nerveseg.data.streams import open_stream
from nerveseg.data.streams.writer import VideoWriter
from nerveseg.inference.overlay import draw_overlay, presence_lines
from nerveseg.inference.sources import OpenedPredictor
from nerveseg.inference.stream import StreamSegmenter

FPS = 30.0


def write_source_video(path: Path, frames: np.ndarray, count: int) -> Path:
    """``count`` frames cycling through ``frames``, as a 30 frames/s H.264 mp4."""
    with VideoWriter(path, FPS, "overlay") as video:
        for index in range(count):
            video.write(frames[index % len(frames)])
    return path


def video_latencies(
    opened: OpenedPredictor, source: Path, out: Path, warmup: int, iterations: int
) -> np.ndarray:
    """Seconds per frame for decode + segment + overlay + encode, after ``warmup`` frames."""
    segmenter = StreamSegmenter(opened)
    seconds = []
    with open_stream(source) as stream, VideoWriter(out, stream.fps, "overlay") as video:
        frames = iter(stream)
        for index in range(warmup + iterations):
            started = time.perf_counter()
            frame = next(frames, None)
            if frame is None:
                break
            result = segmenter.segment(frame.image)
            outlines = dict(zip(opened.structures, result.masks, strict=True))
            lines = presence_lines(opened.structures, result.presence)
            video.write(draw_overlay(frame.image, outlines, lines))
            if index >= warmup:
                seconds.append(time.perf_counter() - started)
    return np.array(seconds)
