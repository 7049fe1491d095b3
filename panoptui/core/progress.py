"""Progress events shared by every long job (import, vectors, clustering).

A job is a plain function that takes a ``progress`` callback and a ``cancel`` event; the CLI turns
the events into a terminal bar, the TUI into throttled messages, tests into lists.
"""

from __future__ import annotations

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
    rate: float = 0.0  # items per second, over the last few seconds
    eta: float | None = None  # seconds left, None while unknown


ProgressCallback = Callable[[Progress], None]


def eta_text(event: Progress) -> str:
    """The time left as H:MM:SS or M:SS ("--:--" while unknown)."""
    if event.eta is None:
        return "--:--"
    hours, rest = divmod(int(event.eta), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def no_progress(event: Progress) -> None:
    """The callback for callers that don't watch."""


class RateMeter:
    """Items per second over a sliding window, so that the ETA follows the current speed."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self.samples: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])

    def update(self, done: int) -> float:
        now = time.monotonic()
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[1][0] > self.window:
            self.samples.popleft()
        start_time, start_done = self.samples[0]
        elapsed = now - start_time
        return (done - start_done) / elapsed if elapsed > 0 else 0.0

    def event(self, stage: str, done: int, total: int, errors: int = 0) -> Progress:
        rate = self.update(done)
        eta = (total - done) / rate if rate > 0 and total else None
        return Progress(stage, done, total, errors, rate, eta)
