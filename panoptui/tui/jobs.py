"""Long work (import, vectors, clustering, maps, queries) as jobs: each runs in a thread worker
started from the App, so that switching screens never cancels it. A job carries a cancel event
(threads cannot be killed: core loops check it) and its latest progress; the App hears of it
through throttled messages."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

from panoptui.core.progress import Progress, eta_text

# Progress messages reach the event loop at most this often (about ten a second).
PROGRESS_INTERVAL = 0.1


@dataclass
class Job:
    kind: str  # import | vectors | cluster | map | duplicates | query | export
    label: str
    cancel: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    state: str = "running"  # running | done | cancelled | failed
    progress: Progress | None = None
    message: str = ""
    set_id: int | None = None
    result: Any = None
    started: float = field(default_factory=time.monotonic)
    _last_post: float = 0.0

    @property
    def running(self) -> bool:
        return self.state == "running"

    def describe(self) -> str:
        """One line: what the job does and how far it is."""
        p = self.progress
        if not self.running:
            return f"{self.label}: {self.state}" + (f" ({self.message})" if self.message else "")
        if p is None or not p.total:
            return f"{self.label}: {p.stage if p else 'starting'}…"
        return (
            f"{self.label}: {p.done}/{p.total} {p.done / p.total:4.0%}  {p.rate:.1f}/s  "
            f"ETA {eta_text(p)}  errors {p.errors}"
        )


class JobChanged(Message):
    """A job made progress, finished, failed or was cancelled."""

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job


def throttled(job: Job, post: Any) -> Any:
    """A core progress callback that records every event on the job and posts JobChanged at most
    every PROGRESS_INTERVAL seconds (and always for the last event)."""

    def report(event: Progress) -> None:
        job.progress = event
        now = time.monotonic()
        if now - job._last_post >= PROGRESS_INTERVAL or (event.total and event.done >= event.total):
            job._last_post = now
            post(JobChanged(job))

    return report
