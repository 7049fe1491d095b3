"""A job: long work running in a thread worker of the App (``PanoptuiApp.start_job``), with a
cancel event (threads cannot be killed: core loops check it), its state and latest progress, and
the message that tells screens it changed (JobChanged, throttled). The jobs themselves are in
jobs.py; this module knows no App, so that widgets can draw a job."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
from textual.message import Message

from panoptui.core.progress import Progress, eta_text

# Progress messages reach the event loop at most this often (about ten a second).
PROGRESS_INTERVAL = 0.1

# Jobs whose progress counts files or images, some of which can fail: their line says how many
# a second and how many errors.
COUNTED_IN_FILES = ("import", "vectors")

# The jobs that explore a set (their findings open a screen, or replace the results): what
# ``x`` cancels on Results and on the screens of findings.
EXPLORING = ("cluster", "duplicates", "map", "query")


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
    _last_stage: str = ""

    @property
    def running(self) -> bool:
        return self.state == "running"

    def describe(self) -> str:
        """One line: what the job does and how far it is."""
        p = self.progress
        if not self.running:
            return f"{self.label}: {self.state}" + (f" ({self.message})" if self.message else "")
        if self.cancel.is_set():  # until the work reaches its next check (a model load: its end)
            return f"{self.label}: cancelling…"
        if p is None or not p.total:
            return f"{self.label}: {p.stage if p else 'starting'}…"
        if self.kind in COUNTED_IN_FILES:
            return (
                f"{self.label}: {p.done}/{p.total} {p.done / p.total:4.0%}  {p.rate:.1f}/s  "
                f"ETA {eta_text(p)}  errors {p.errors}"
            )
        # The others count iterations, blocks or scores: the share done says more than they do.
        return f"{self.label}: {p.stage} {p.done / p.total:.0%}  ETA {eta_text(p)}"


class JobChanged(Message, bubble=False):
    """A job made progress, finished, failed or was cancelled. The App hears it first, and
    posts one to each screen of its stack (``on_job_changed``); it does not bubble, so that a
    screen's copy does not come back to the App."""

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job


Work = Callable[[duckdb.DuckDBPyConnection, Job], Any]
Done = Callable[[Job], None]

# The job each job thread runs (``running_in``): what the App's shared loaders (a set's matrix,
# a text model) report their progress to, and whose cancel they check, when a job's work calls
# them without passing the job along (a query's ``run``).
_thread_job = threading.local()


@contextmanager
def running_in(job: Job) -> Iterator[None]:
    """Mark the calling thread as running ``job`` while the block runs."""
    _thread_job.job = job
    try:
        yield
    finally:
        _thread_job.job = None


def current_job() -> Job | None:
    """The job the calling thread runs (None: not a job's thread)."""
    return getattr(_thread_job, "job", None)


def throttled(job: Job, post: Callable[[Message], object]) -> Callable[[Progress], None]:
    """A core progress callback that records every event on the job and posts JobChanged at most
    every PROGRESS_INTERVAL seconds (and always for the last event)."""

    def report(event: Progress) -> None:
        job.progress = event
        now = time.monotonic()
        new_stage = job._last_stage != event.stage
        job._last_stage = event.stage
        if (
            new_stage
            or now - job._last_post >= PROGRESS_INTERVAL
            or (event.total and event.done >= event.total)
        ):
            job._last_post = now
            post(JobChanged(job))

    return report
