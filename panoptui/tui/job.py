"""A job: long work running in a thread worker of the App (``PanoptuiApp.start_job``), with a
cancel event (threads cannot be killed: core loops check it), its state and latest progress, and
the message that tells screens it changed (JobChanged, throttled). The jobs themselves are in
jobs.py; this module knows no App, so that widgets can draw a job."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
from textual.message import Message

from panoptui.core.progress import Progress, eta_text

# Progress messages reach the event loop at most this often (about ten a second).
PROGRESS_INTERVAL = 0.1


@dataclass
class Job:
    kind: str  # import | vectors | cluster | map | duplicates | query | export | tags
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


class JobChanged(Message, bubble=False):
    """A job made progress, finished, failed or was cancelled. The App hears it first, and
    posts one to each screen of its stack (``on_job_changed``); it does not bubble, so that a
    screen's copy does not come back to the App."""

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job


Work = Callable[[duckdb.DuckDBPyConnection, Job], Any]
Done = Callable[[Job], None]


def throttled(job: Job, post: Callable[[Message], object]) -> Callable[[Progress], None]:
    """A core progress callback that records every event on the job and posts JobChanged at most
    every PROGRESS_INTERVAL seconds (and always for the last event)."""

    def report(event: Progress) -> None:
        job.progress = event
        now = time.monotonic()
        if now - job._last_post >= PROGRESS_INTERVAL or (event.total and event.done >= event.total):
            job._last_post = now
            post(JobChanged(job))

    return report
