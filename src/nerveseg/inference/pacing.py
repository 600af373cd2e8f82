"""Feeding frames to a model that may be slower than the source, with a bounded queue.

A background thread reads (decodes) frames into a queue of at most ``queue_size`` frames while
the caller segments them. Three ways to feed:

- **as fast as possible** (a file, the default): the reader waits when the queue is full, so
  every frame is segmented and nothing piles up;
- **real time** (a file with ``realtime``): the reader releases each frame at its own
  timestamp on a simulated source clock, as a probe would; when the model is behind and the
  queue is full, the oldest waiting frame is dropped (and counted) for the new one, so the
  screen shows the newest picture and the delay stays bounded;
- **live** (a capture device): the device's own clock paces the reader; drops as above.

The queue never holds more than ``queue_size`` frames in any mode.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from nerveseg.data.streams import Frame

_END = object()


@dataclass(frozen=True)
class Arrival:
    """A frame and the moment (``time.monotonic`` seconds) it became available."""

    frame: Frame
    arrived: float


@dataclass
class FeedStats:
    """What the reader saw: frames read and dropped, the longest queue, decode times (s)."""

    read: int = 0
    dropped: int = 0
    max_queue: int = 0
    decode_seconds: list[float] = field(default_factory=list)


class FrameFeed:
    """Iterate :class:`Arrival` objects from ``frames``, read in a background thread.

    Args:
        frames: the stream (any iterable of :class:`Frame`).
        realtime: release frames at their timestamps on a simulated clock (files only).
        drop: when the queue is full, drop the oldest frame instead of waiting (real time and
            live sources; waiting would let the delay grow without bound).
        queue_size: the most frames waiting at once (at least 1).
        clock, sleep: injectable for tests.
    """

    def __init__(
        self,
        frames: Iterable[Frame],
        *,
        realtime: bool = False,
        drop: bool = False,
        queue_size: int = 2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.frames, self.realtime, self.drop = frames, realtime, drop
        self.clock, self.sleep = clock, sleep
        self.stats = FeedStats()
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._read, name="nerveseg-frame-reader", daemon=True
        )

    def __iter__(self) -> Iterator[Arrival]:
        self._thread.start()
        while True:
            item = self._queue.get()
            if item is _END:
                break
            yield item
        self._thread.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop the reader (the caller stopped early or failed); safe to call twice."""
        self._stop.set()
        while True:  # unblock a reader waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def __enter__(self) -> FrameFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> None:
        try:
            started = self.clock()
            iterator = iter(self.frames)
            while not self._stop.is_set():
                before = self.clock()
                frame = next(iterator, None)
                if frame is None:
                    break
                self.stats.decode_seconds.append(self.clock() - before)
                self.stats.read += 1
                arrived = self._wait_for(started + frame.time) if self.realtime else self.clock()
                self._put(Arrival(frame, arrived))
        except BaseException as exc:  # handed to the consumer, which raises it after its writes
            self._error = exc
        finally:
            self._finish()

    def _wait_for(self, due: float) -> float:
        """Sleep until the simulated source shows the frame; late frames go at once."""
        now = self.clock()
        if due > now:
            self.sleep(due - now)
            return due
        return now

    def _put(self, item: Arrival) -> None:
        if not self.drop:
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
        else:
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                try:  # the oldest waiting frame makes room: the newest is what matters live
                    self._queue.get_nowait()
                    self.stats.dropped += 1
                except queue.Empty:
                    pass
                self._queue.put_nowait(item)  # one reader: the room just made is still free
        self.stats.max_queue = max(self.stats.max_queue, self._queue.qsize())

    def _finish(self) -> None:
        while True:
            try:
                self._queue.put(_END, timeout=0.1)
                return
            except queue.Full:
                if self._stop.is_set():
                    return
