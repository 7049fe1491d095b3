"""A job's progress, as every screen that shows one draws it: a line saying what the job does and
how far it is (``Job.describe``), and a bar under it while it runs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import ProgressBar, Static

from panoptui.tui.job import Job
from panoptui.tui.literal import plain


class JobProgress(Widget):
    """The progress of the jobs of one ``kind`` (import, vectors...); the screen passes it each
    job that changes (``show``), and it ignores those of other kinds."""

    DEFAULT_CSS = """
    JobProgress { layout: vertical; height: auto; }
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def compose(self) -> ComposeResult:
        yield Static("", id="job-line")
        yield ProgressBar(id="job-bar", show_eta=False)

    def on_mount(self) -> None:
        self.query_one("#job-bar").display = False

    def show(self, job: Job) -> bool:
        """Draw ``job`` if it is of this kind (True), else leave the line as it is (False)."""
        if job.kind != self.kind:
            return False
        self.query_one("#job-line", Static).update(plain(job.describe()))
        bar = self.query_one("#job-bar", ProgressBar)
        bar.display = job.running
        if job.progress is not None and job.progress.total:
            bar.update(total=job.progress.total, progress=job.progress.done)
        return True

    def note(self, text: str) -> None:
        """A line of the screen's own where the job's would be (none has run yet)."""
        self.query_one("#job-line", Static).update(plain(text))
