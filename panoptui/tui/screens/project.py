"""Project: its folders, counts, last import and every import error with its reason; add a
folder, rescan (with live progress), remove a folder or point it at the place it moved to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, ProgressBar, Static

from panoptui.core import scan, settings, status
from panoptui.tui.jobs import Job
from panoptui.tui.literal import lines, marked, plain, text
from panoptui.tui.screens.base import AppScreen
from panoptui.tui.screens.dialogs import ConfirmDialog, Field, FormDialog
from panoptui.tui.widgets.navbar import NavBar

ERRORS_SHOWN = 1000  # rows in the error table; `panoptui errors PROJECT` lists them all


def start_import(app: Any, folders: list[str] | None) -> Job | None:
    """Import new folders, or rescan every folder (None), as a job of the App."""
    if app.refuse_write("import" if folders else "rescan"):
        return None
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


class ProjectScreen(AppScreen):
    BINDINGS = [
        Binding("a", "add_folder", "Add", tooltip="add a folder of images and import it"),
        Binding("r", "rescan", "Rescan", tooltip="look for new, changed and missing files"),
        Binding("x", "cancel", "Cancel", tooltip="stop the import (what is read is kept)"),
        Binding("m", "move_folder", "Move", tooltip="point the highlighted folder where it moved"),
        Binding("delete", "remove_folder", "Remove", tooltip="forget the highlighted folder"),
    ]

    def compose(self) -> ComposeResult:
        yield NavBar("project")
        with Vertical(id="project-body"):
            yield Static("", id="project-summary")
            yield DataTable(id="folders", cursor_type="row", show_header=False)
            yield Static("", id="job-line")
            yield ProgressBar(id="job-bar", show_eta=False)
            yield Static(marked("[b]Import errors[/b]"), id="errors-title")
            yield DataTable(id="errors", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        # The reason first: it stays in view at 80 columns, where long paths would push it off.
        self.query_one("#errors", DataTable).add_columns("reason", "file")
        self.query_one("#folders", DataTable).add_columns("folder", "files", "imported")
        self.folders: list[str] = []
        self.query_one("#job-bar").display = False
        self.query_one("#folders", DataTable).focus()

    def resumed(self) -> None:
        self.refresh_project()
        job = self.app.jobs.get("import")  # type: ignore[attr-defined]
        if job is not None:
            self.job_changed(job)

    def refresh_project(self) -> None:
        con = self.app.db  # type: ignore[attr-defined]
        s = status.project_status(con, self.app.project)  # type: ignore[attr-defined]
        self.folders = [str(f["path"]) for f in s["folder_details"]]  # type: ignore[attr-defined]
        counts = (
            f"{s['images']} images ({s['files']} files on disk) · {s['missing']} missing · "
            f"{s['stale']} changed since import · {s['errors']} errors"
        )
        folders_title = marked("[b]Folders[/b] (m: moved, del: remove)")
        if not self.folders:
            folders_title = plain("No folders yet: press a to add one.")
        summary = [marked("[b]$project[/b]", project=s["project"]), plain(counts), folders_title]
        self.query_one("#project-summary", Static).update(lines(*summary))
        folders = self.query_one("#folders", DataTable)
        row = folders.cursor_row
        folders.clear()
        for folder in s["folder_details"]:  # type: ignore[attr-defined]
            last = folder["last_import"] or "never"
            folders.add_row(text(folder["path"]), f"{folder['files']} files", f"imported {last}")
        # A DataTable's height does not follow its rows (height: auto): set it, up to 5 rows.
        folders.styles.height = min(len(self.folders), 5)
        folders.display = bool(self.folders)
        if row is not None and row < len(self.folders):
            folders.move_cursor(row=row)
        table = self.query_one("#errors", DataTable)
        table.clear()
        rows = status.import_errors(con, ERRORS_SHOWN)
        for error in rows:
            table.add_row(text(error["reason"]), text(error["path"]))
        more = int(s["errors"]) - len(rows)  # type: ignore[call-overload]
        title = marked("[b]Import errors[/b] ($count)", count=s["errors"])
        if more > 0:
            title += plain(f" · {more} more: panoptui errors {s['project']}")
        self.query_one("#errors-title", Static).update(title)

    def job_changed(self, job: Job) -> None:
        if job.kind != "import":
            return
        bar = self.query_one("#job-bar", ProgressBar)
        self.query_one("#job-line", Static).update(plain(job.describe()))
        bar.display = job.running
        if job.progress is not None and job.progress.total:
            bar.update(total=job.progress.total, progress=job.progress.done)
        if not job.running and self.is_attached:
            self.refresh_project()

    @property
    def highlighted(self) -> str | None:
        """The folder under the cursor."""
        row = self.query_one("#folders", DataTable).cursor_row
        if not self.folders or row is None or row >= len(self.folders):
            return None
        return self.folders[row]

    def action_add_folder(self) -> None:
        if self.app.refuse_write("import"):  # type: ignore[attr-defined]
            return

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

    def _folder_to_change(self, what: str) -> str | None:
        """The highlighted folder, when it may change now (else None, and the reason said)."""
        folder = self.highlighted
        if folder is None or self.app.refuse_write(what):  # type: ignore[attr-defined]
            return None
        job = self.app.jobs.get("import")  # type: ignore[attr-defined]
        if job is not None and job.running:
            self.notify(f"cannot {what} while the import runs (x stops it)", severity="warning")
            return None
        return folder

    def action_remove_folder(self) -> None:
        folder = self._folder_to_change("remove a folder")
        if folder is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                from panoptui.core.folders import remove_folder

                dropped = remove_folder(self.app.db, folder)  # type: ignore[attr-defined]
                self.notify(f"removed {folder}: {dropped} files dropped from the project")
                self.refresh_project()

        question = (
            f"Remove {folder} from the project? Its images, with their vectors and tags, leave "
            "the project; the files on disk stay."
        )
        self.app.push_screen(ConfirmDialog(question, yes="Remove", no="Keep"), answered)

    def action_move_folder(self) -> None:
        folder = self._folder_to_change("move a folder")
        if folder is None:
            return

        def answered(values: dict[str, Any] | None) -> None:
            if values:
                from panoptui.core.folders import move_folder

                new = str(Path(values["new"]).expanduser().absolute())
                moved = move_folder(self.app.db, folder, new)  # type: ignore[attr-defined]
                self.notify(f"{folder} is now {new}: {moved} files point there")
                self.refresh_project()

        fields = [Field("new", "Where the folder is now", default=folder)]
        self.app.push_screen(FormDialog(f"Move folder {folder}", fields, "Move"), answered)
