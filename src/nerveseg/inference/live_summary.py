"""What a ``nerveseg live`` run measured: its timeline and the summary in ``live.json``.

Its own module because measuring is not capturing: :mod:`~nerveseg.inference.live` runs the
loop and hands each processed frame's times and masks to :func:`record_frame`; this module keeps
the timeline and turns it into a :class:`LiveResult`: frames read, processed and dropped,
frames/s, latency, decode, segment and write percentiles, and flicker per structure (the mean
change of the mask between processed frames and presence toggles per minute of source time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nerveseg.flicker import mask_change, toggles
from nerveseg.temporal import stream_settings


@dataclass
class LiveResult:
    """What :func:`~nerveseg.inference.live.run_live` did (also written as ``live.json``)."""

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
    smoothing: dict[str, Any]
    mask_change: float
    toggles_per_minute: float
    outputs: dict[str, str] = field(default_factory=dict)
    structures: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Timeline:
    """Per processed frame: times and, per structure, what the flicker measure needs."""

    latency: list[float] = field(default_factory=list)
    segment: list[float] = field(default_factory=list)
    write: list[float] = field(default_factory=list)
    changes: dict[str, list[float]] = field(default_factory=dict)
    present: dict[str, list[bool]] = field(default_factory=dict)
    first_time: float | None = None
    last_time: float = 0.0


def record_frame(timeline, arrival, names, masks, previous, began, segmented, done) -> None:
    """Add one processed frame: its latency, segment and write times and its masks' flicker."""
    timeline.latency.append(done - arrival.arrived)
    timeline.segment.append(segmented - began)
    timeline.write.append(done - segmented)
    for k, name in enumerate(names):
        if previous is not None:
            timeline.changes.setdefault(name, []).append(mask_change(previous[k], masks[k]))
        timeline.present.setdefault(name, []).append(bool(masks[k].any()))
    if timeline.first_time is None:
        timeline.first_time = arrival.frame.time
    timeline.last_time = arrival.frame.time


def summarise(stream, mode, feed, timeline, seconds, queue_size, params, paths) -> LiveResult:
    """The run's :class:`LiveResult` from its timeline and the feed's read/drop counts."""
    processed = len(timeline.latency)
    span = timeline.last_time - (timeline.first_time or 0.0) + 1.0 / stream.fps
    minutes = span / 60.0 if processed else float("nan")
    flicker = {
        name: {
            "mask_change": _mean(timeline.changes.get(name, [])),
            "toggles_per_minute": (
                toggles(timeline.present[name]) / minutes if processed else float("nan")
            ),
        }
        for name in params.names
    }
    smoothing = {name: stream_settings(p) for name, p in params.items()}
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
        smoothing=smoothing[params.names[0]] if len(params) == 1 else smoothing,
        mask_change=_mean([f["mask_change"] for f in flicker.values()]),
        toggles_per_minute=_mean([f["toggles_per_minute"] for f in flicker.values()]),
        outputs={name: str(path) for name, path in paths.items()},
        structures=flicker if len(params) > 1 else {},
    )


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def _percentiles(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    values = 1000 * np.asarray(seconds)
    return {
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "max": float(values.max()),
    }
