"""The reader queue stays bounded: a slow model behind a fast source drops (and counts) frames."""

from __future__ import annotations

import time

import numpy as np
import pytest

from nerveseg.data.streams import Frame
from nerveseg.errors import NervesegError
from nerveseg.inference.pacing import FrameFeed

IMAGE = np.zeros((4, 4), dtype=np.uint8)


def source(count: int, fps: float):
    for index in range(count):
        yield Frame(index, index / fps, IMAGE)


def consume(feed: FrameFeed, seconds_per_frame: float) -> list[int]:
    """A fake slow predictor: takes ``seconds_per_frame`` per frame."""
    seen = []
    with feed:
        for arrival in feed:
            time.sleep(seconds_per_frame)
            seen.append(arrival.frame.index)
    return seen


def test_real_time_drops_and_counts_frames_when_the_model_is_behind():
    # 200 frames at 1000 frames/s (0.2 s) into a model needing 10 ms a frame: it can keep ~1 in 10
    feed = FrameFeed(source(200, 1000.0), realtime=True, drop=True, queue_size=2)
    seen = consume(feed, 0.01)
    stats = feed.stats
    assert stats.read == 200
    assert len(seen) + stats.dropped == 200
    assert stats.dropped > 100
    assert stats.max_queue <= 2
    assert seen == sorted(seen) and seen[-1] == 199  # in order; the newest frame is never lost


def test_every_frame_mode_waits_instead_of_queueing_without_bound():
    feed = FrameFeed(source(50, 1000.0), queue_size=3)
    seen = consume(feed, 0.002)
    assert seen == list(range(50))
    assert feed.stats.dropped == 0 and feed.stats.max_queue <= 3


def test_real_time_keeps_every_frame_when_the_model_is_fast_enough():
    feed = FrameFeed(source(20, 200.0), realtime=True, drop=True, queue_size=2)
    started = time.monotonic()
    seen = consume(feed, 0.0)
    assert seen == list(range(20)) and feed.stats.dropped == 0
    assert time.monotonic() - started >= 19 / 200.0  # the simulated clock was followed


def test_a_source_failing_halfway_hands_over_its_frames_first():
    def failing():
        yield from source(3, 30.0)
        raise NervesegError("sweep.mp4: decoding failed after 3 frames")

    seen = []
    with pytest.raises(NervesegError, match="after 3 frames"), FrameFeed(failing()) as feed:
        for arrival in feed:
            seen.append(arrival.frame.index)
    assert seen == [0, 1, 2]


def test_stopping_early_stops_the_reader():
    feed = FrameFeed(source(10_000, 1e6), queue_size=2)
    with feed:
        for arrival in feed:
            if arrival.frame.index == 5:
                break
    assert not feed._thread.is_alive()
    assert feed.stats.read < 100
