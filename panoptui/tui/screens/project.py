"""Project: its folders, counts, last import and every import error with its reason; add a
folder or rescan, with live progress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static

from panoptui.core import scan, settings, status
from panoptui.tui.jobs import Job
from panoptui.tui.screens.dialogs import Field, FormDialog
from panoptui.tui.widgets.navbar import NavBar

ERRORS_SHOWN = 1000  # rows in the error table; `panoptui errors PROJECT` lists them all


def start_import(app: Any, folders: list[str] | None) -> Job | None:
    """Import new folders, or rescan every folder (None), as a job of the App."""
    thumb_size = settings.load(app.db)["thumb_size"]

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> scan.ImportSummary:
        return scan.import_folders(
            cur, folders, thumb_size=thumb_size, progress=app.job_reporter(job), cancel=job.cancel
        )

    def done(job: Job) -> None:
        if job.state in ("done", "cancelled"):
            s = job.result
            app.notify(
                f"import {job.state}: {s.new} new, {s.changed} changed, {s.missing} missing, "
                f"{s.failed} errors",
                timeout=8,
            )

    label = "import" if folders else "rescan"
    return app.start_job("import", label, work, done)


class ProjectScreen(Screen[None]):
    BINDINGS = [
        Binding("a", "add_folder", "Add folder", tooltip="import a folder of images"),
        Binding("r", "rescan", "Rescan", tooltip="look for new, changed and missing files"),
        Binding("x", "cancel", "Cancel", tooltip="stop the import (what is read is kept)"),
    ]

    def compose(self) -> ComposeResult:
        yield NavBar("project")
        with Vertical(id="project-body"):
            yield Static("", id="project-summary")
            yield Static("", id="job-line")
            yield ProgressBar(id="job-bar", show_eta=False)
            yield Static("[b]Import errors[/b]", id="errors-title")
            yield DataTable(id="errors", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        # The reason first: it stays in view at 80 columns, where long paths would push it off.
        self.query_one("#errors", DataTable).add_columns("reason", "file")
        self.query_one("#job-bar").display = False

    def on_screen_resume(self) -> None:
        self.refresh_project()
        job = self.app.jobs.get("import")  # type: ignore[attr-defined]
        if job is not None:
            self.job_changed(job)

    def refresh_project(self) -> None:
        con = self.app.db  # type: ignore[attr-defined]
        s = status.project_status(con, self.app.project)  # type: ignore[attr-defined]
        lines = [
            f"[b]{s['project']}[/b]",
            f"{s['images']} images ({s['files']} files on disk) · {s['missing']} missing · "
            f"{s['stale']} changed since import · {s['errors']} errors",
            "",
            "[b]Folders[/b]" if s["folder_details"] else "No folders yet: press a to add one.",
        ]
        for folder in s["folder_details"]:  # type: ignore[attr-defined]
            last = folder["last_import"] or "never"
            lines.append(f"  {folder['path']}  · {folder['files']} files · imported {last}")
        self.query_one("#project-summary", Static).update("\n".join(lines))
        table = self.query_one("#errors", DataTable)
        table.clear()
        rows = status.import_errors(con, ERRORS_SHOWN)
        for row in rows:
            table.add_row(row["reason"], row["path"])
        more = int(s["errors"]) - len(rows)  # type: ignore[call-overload]
        title = f"[b]Import errors[/b] ({s['errors']})"
        if more > 0:
            title += f" · {more} more: panoptui errors {s['project']}"
        self.query_one("#errors-title", Static).update(title)

    def job_changed(self, job: Job) -> None:
        if job.kind != "import":
            return
        bar = self.query_one("#job-bar", ProgressBar)
        self.query_one("#job-line", Static).update(job.describe())
        bar.display = job.running
        if job.progress is not None and job.progress.total:
            bar.update(total=job.progress.total, progress=job.progress.done)
        if not job.running and self.is_attached:
            self.refresh_project()

    def action_add_folder(self) -> None:
        def answered(values: dict[str, Any] | None) -> None:
            if not values:
                return
            folder = Path(values["folder"]).expanduser()
            if not folder.is_dir():
                self.notify(f"{folder} is not a folder", severity="error")
                return
            start_import(self.app, [str(folder)])

        self.app.push_screen(
            FormDialog("Add a folder of images", [Field("folder", "Folder")], "Import"), answered
        )

    def action_rescan(self) -> None:
        start_import(self.app, None)

    def action_cancel(self) -> None:
        job = self.app.jobs.get("import")  # type: ignore[attr-defined]
        if job is not None and job.running:
            job.cancel.set()
            self.notify("stopping the import after the files being read…")
