"""A job's progress, as every screen that shows one draws it: a line saying what the job does and
how far it is (``Job.describe``), and a bar under it while it runs."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import ProgressBar, Static

from panoptui.tui.job import Job
from panoptui.tui.literal import plain


class JobProgress(Widget):
    """The progress of the jobs of one ``kind`` (import, vectors...) or of several (a tuple);
    the screen passes it each job that changes (``show``), and it ignores those of other
    kinds."""

    DEFAULT_CSS = """
    JobProgress { layout: vertical; height: auto; }
    """

    def __init__(self, kind: str | tuple[str, ...], hint: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kinds = (kind,) if isinstance(kind, str) else kind
        self.hint = hint  # said after the line while a job runs (the key that cancels it)

    def compose(self) -> ComposeResult:
        yield Static("", id="job-line")
        yield ProgressBar(id="job-bar", show_eta=False)

    def on_mount(self) -> None:
        self.query_one("#job-bar").display = False

    def show(self, job: Job) -> bool:
        """Draw ``job`` if it is of this kind (True), else leave the line as it is (False)."""
        if job.kind not in self.kinds:
            return False
        line = job.describe()
        if self.hint and job.running and not job.cancel.is_set():
            line += f"  ·  {self.hint}"
        self.query_one("#job-line", Static).update(plain(line))

        bar = self.query_one("#job-bar", ProgressBar)
        bar.display = job.running
        if job.progress is not None and job.progress.total:
            bar.update(total=job.progress.total, progress=job.progress.done)
        return True

    def note(self, text: str) -> None:
        """A line of the screen's own where the job's would be (none has run yet)."""
        self.query_one("#job-line", Static).update(plain(text))
