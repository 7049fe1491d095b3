"""Progress events shared by every long job (import, vectors, clustering, duplicates, maps,
the model a text query loads).

A job is a plain function that takes a ``progress`` callback and a ``cancel`` event; the CLI turns
the events into a terminal bar, the TUI into throttled messages, tests into lists. Jobs whose
work is kept as it goes (an import, a vector run) return when cancelled; those that save only at
the end (a clustering, a map) raise Cancelled at their next check and save nothing.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    stage: str  # what is being done: "scanning", "importing", ...
    done: int
    total: int  # 0 while unknown (the walk of a folder)
    errors: int = 0
    rate: float = 0.0  # items per second, over the last WINDOW_SECONDS (0 while unknown)
    eta: float | None = None  # seconds left, None while unknown


ProgressCallback = Callable[[Progress], None]

# The span the rate is measured over: long enough that one slow batch (a big image, a commit
# that flushes the log) does not swing the ETA by hours, short enough to follow a real change
# of speed (an import reaching files it has read before).
WINDOW_SECONDS = 20.0


def eta_text(event: Progress) -> str:
    """The time left as H:MM:SS or M:SS ("--:--" while unknown)."""
    if event.eta is None:
        return "--:--"
    hours, rest = divmod(int(event.eta), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def no_progress(event: Progress) -> None:
    """The callback for callers that don't watch."""


class Cancelled(Exception):
    """A job's cancel event was set: it stopped at a check, before saving anything."""


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise Cancelled if ``cancel`` is set. Called between batches, blocks and iterations, each
    kept under about a second, so that a user's cancel is heard within one."""
    if cancel is not None and cancel.is_set():
        raise Cancelled


MIN_SPAN_SECONDS = 0.25  # the shortest time a rate is measured over


class RateMeter:
    """Items per second over a sliding window, so that the ETA follows the current speed.

    The rate is measured from the first progress a job reports, not from its start: the time
    before it (decoding workers starting, the first batch, which pays for warming the model) is
    start-up, not speed, and the count it starts from (work done before a resume) is not this
    run's. Measured from the start, the first events of a 3-minute job gave a rate so low that
    its ETA read 3:30:29. So there is no rate and no ETA until two events have shown progress.
    ``clock`` is injectable for tests.
    """

    def __init__(self, window: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.window = window
        self.clock = clock
        self.start_done: int | None = None  # the count when the job started (resumed jobs: > 0)
        self.samples: deque[tuple[float, int]] = deque()  # (time, done) from the first progress

    def update(self, done: int) -> float:
        now = self.clock()
        if self.start_done is None:
            self.start_done = done
        if done <= self.start_done and not self.samples:
            return 0.0  # still starting up
        self.samples.append((now, done))
        # Keep one sample older than the window, so the rate spans at least the window.
        while len(self.samples) > 2 and now - self.samples[1][0] > self.window:
            self.samples.popleft()
        start_time, start_done = self.samples[0]
        elapsed = now - start_time
        # Results come in bursts (chunks that finished while the last batch was committed):
        # over a few milliseconds a burst reads as 160,000 files/s. No rate until it spans a
        # moment.
        return (done - start_done) / elapsed if elapsed >= MIN_SPAN_SECONDS else 0.0

    def event(self, stage: str, done: int, total: int, errors: int = 0) -> Progress:
        rate = self.update(done)
        eta = (total - done) / rate if rate > 0 and total else None
        return Progress(stage, done, total, errors, rate, eta)


class Stage:
    """The events of one counted stage of a job (``total`` steps), each with its rate and ETA."""

    def __init__(self, progress: ProgressCallback, name: str, total: int) -> None:
        self.progress = progress
        self.name = name
        self.total = total
        self.meter = RateMeter()
        self.done = 0
        self.step(0)  # the stage shows as it begins

    def step(self, done: int) -> None:
        self.done = min(done, self.total)
        self.progress(self.meter.event(self.name, self.done, self.total))

    def finish(self) -> None:
        """The stage ended before its count did (k-means converging early): it is complete."""
        if self.done < self.total:
            self.step(self.total)
