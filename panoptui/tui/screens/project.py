"""Project: its folders, counts, last import and every import error with its reason; add a
folder, rescan (with live progress), remove a folder or point it at the place it moved to;
import property values from a CSV, with a preview first (csv_import.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Static
from textual.widgets.data_table import ColumnKey

from panoptui.core import status
from panoptui.core.folders import list_folders
from panoptui.core.text import count_text, shown
from panoptui.tui.job import Job, JobChanged
from panoptui.tui.jobs import start_import
from panoptui.tui.literal import elide_end, elide_middle, lines, marked, plain, text
from panoptui.tui.screens.base import AppScreen
from panoptui.tui.screens.csv_import import JOB as CSV_JOB
from panoptui.tui.screens.csv_import import ask_import
from panoptui.tui.screens.dialogs import ConfirmDialog, Field, FormDialog
from panoptui.tui.widgets.job_progress import JobProgress
from panoptui.tui.widgets.navbar import NavBar

ERRORS_SHOWN = 1000  # rows in the error table; `panoptui errors PROJECT` lists them all
# The fewest cells a path keeps however long the other cells of its row (the table then scrolls).
MIN_PATH = 24
NOT_FOUND = "not found: m to move, del to remove"


def fill(
    table: DataTable,
    labels: list[str],
    rows: list[tuple[Any, ...]],
    keys: list[str] | None = None,
) -> list[ColumnKey]:
    """Put ``rows`` in ``table`` (with their ``keys``), its columns as wide as their widest cell,
    and return the columns' keys. Columns are made anew each time with their width given: a
    column measured by the table keeps the width of the widest cell it ever had, and is drawn
    before it is measured again."""
    table.clear(columns=True)
    columns = []
    for index, label in enumerate(labels):
        width = max([cell_len(label)] + [cell_len(str(r[index])) for r in rows])
        columns.append(table.add_column(label, width=width))
    for index, row in enumerate(rows):
        table.add_row(*row, key=keys[index] if keys is not None else None)
    return columns


class ProjectScreen(AppScreen):
    BINDINGS = [
        Binding("a", "add_folder", "Add", tooltip="add a folder of images and import it"),
        Binding("r", "rescan", "Rescan", tooltip="look for new, changed and missing files"),
        Binding("x", "cancel", "Cancel", tooltip="stop the import (what is read is kept)"),
        Binding("m", "move_folder", "Move", tooltip="point the highlighted folder where it moved"),
        Binding("delete", "remove_folder", "Remove", tooltip="forget the highlighted folder"),
        Binding("i", "import_csv", "Import CSV", tooltip="set property values from a CSV"),
    ]

    def compose(self) -> ComposeResult:
        yield NavBar("project")
        with Vertical(id="project-body"):
            yield Static("", id="project-summary")
            yield DataTable(id="folders", cursor_type="row", show_header=False)
            yield JobProgress(("import", CSV_JOB))  # a folder's import, a CSV's
            yield Static(marked("[b]Import errors[/b]"), id="errors-title")
            yield DataTable(id="errors", cursor_type="row", zebra_stripes=True)
            yield Static("", id="error-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.folders: list[str] = []
        self.folder_rows: list[tuple[str, str, str, bool]] = []  # path, files, imported, exists
        self.error_rows: list[tuple[str, str]] = []  # reason, path (shown)
        self.query_one("#folders", DataTable).focus()

    def resumed(self) -> None:
        self.refresh_project()
        jobs = [j for j in map(self.panoptui.jobs.get, ("import", CSV_JOB)) if j is not None]
        for job in sorted(jobs, key=lambda j: j.running):  # one that runs has the last word
            self.show_job(job)

    def refresh_project(self) -> None:
        con = self.panoptui.db
        s = status.project_status(con, self.panoptui.project)
        self.folders = [f.path for f in s.folders]
        counts = (
            f"{count_text(s.images, 'image')} ({count_text(s.files, 'file')} on disk) · "
            f"{s.missing:,} missing · {s.stale:,} changed since import · "
            f"{count_text(s.errors, 'error')}"
        )
        folders_title = marked("[b]Folders[/b] (m: moved, del: remove)")
        if not self.folders:
            folders_title = plain("No folders yet: press a to add one.")
        summary = [marked("[b]$project[/b]", project=s.project), plain(counts), folders_title]
        self.query_one("#project-summary", Static).update(lines(*summary))
        exists = {f.path: f.exists for f in list_folders(con)}
        self.folder_rows = [
            (
                shown(f.path),
                count_text(f.files, "file"),
                f"imported {f.last_import or 'never'}",
                exists.get(f.path, True),
            )
            for f in s.folders
        ]
        rows = status.import_errors(con, ERRORS_SHOWN)
        self.error_rows = [(shown(e.reason), shown(e.path)) for e in rows]
        self.fill_tables()
        more = s.errors - len(rows)
        title = marked("[b]Import errors[/b] ($count)", count=s.errors)
        if more > 0:
            title += plain(f" · {more} more: panoptui errors {s.project}")
        self.query_one("#errors-title", Static).update(title)

    def fill_tables(self) -> None:
        """The folders and the import errors, fitted to the width (again on every resize): a path
        gives up its middle, so that its file's name and the other cells stay in view."""
        width = self.panoptui.size.width - 2  # the body's padding
        folders = self.query_one("#folders", DataTable)
        row = folders.cursor_row
        cells = [
            (path, files, imported if found else Text(NOT_FOUND, style="bold red"))
            for path, files, imported, found in self.folder_rows
        ]
        # The other columns, with every column's padding of two cells.
        others = max((cell_len(f) + cell_len(str(i)) for _, f, i in cells), default=0) + 6
        room = max(MIN_PATH, width - others)
        fill(
            folders,
            ["folder", "files", "imported"],
            [(text(elide_middle(path, room)), files, last) for path, files, last in cells],
        )
        # A DataTable's height does not follow its rows (height: auto): set it, up to 5 rows.
        folders.styles.height = min(len(self.folder_rows), 5)
        folders.display = bool(self.folder_rows)
        if row is not None and row < len(self.folder_rows):
            folders.move_cursor(row=row)
        table = self.query_one("#errors", DataTable)
        row = table.cursor_row
        reason_room, path_room = self.error_widths(width - 2 - 4)  # the scrollbar, the padding
        rows = [
            (text(elide_middle(path, path_room)), text(elide_end(reason, reason_room)))
            for reason, path in self.error_rows
        ]
        # The file first, its name in view (its folder gives up its middle); the reason after it,
        # cut at its end where it must be (the highlighted one is whole under the table).
        fill(table, ["file", "reason"], rows)
        if row is not None and row < len(self.error_rows):
            table.move_cursor(row=row)
        self.show_error_detail()

    def error_widths(self, room: int) -> tuple[int, int]:
        """How many cells the reason and the path get of ``room``: what they need when both
        fit; else the path at least two fifths (MIN_PATH or more), the reason the rest, or the
        path all the reason leaves."""
        reasons = max((cell_len(r) for r, _ in self.error_rows), default=0)
        paths = max((cell_len(p) for _, p in self.error_rows), default=0)
        reasons, paths = max(reasons, len("reason")), max(paths, len("file"))
        if reasons + paths <= room:
            return reasons, paths
        path_room = min(paths, max(MIN_PATH, room * 2 // 5))
        if reasons <= room - path_room:
            return reasons, room - reasons
        return max(room - path_room, len("reason")), path_room

    def show_error_detail(self) -> None:
        """The highlighted error in full, under the table, when its row had to be shortened."""
        table = self.query_one("#errors", DataTable)
        row = table.cursor_row
        detail = self.query_one("#error-detail", Static)
        if not self.error_rows or row is None or row >= len(self.error_rows):
            detail.update("")
            return
        reason, path = self.error_rows[row]
        cells = table.get_row_at(row)
        shortened = str(cells[0]) != path or str(cells[1]) != reason
        detail.update(plain(f"{path}: {reason}") if shortened else "")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "errors":
            self.show_error_detail()

    def on_resize(self, event: events.Resize) -> None:
        if self.folder_rows or self.error_rows:
            self.fill_tables()

    def on_job_changed(self, message: JobChanged) -> None:
        self.show_job(message.job)

    def show_job(self, job: Job) -> None:
        if self.query_one(JobProgress).show(job) and not job.running and self.is_attached:
            self.refresh_project()

    @property
    def highlighted(self) -> str | None:
        """The folder under the cursor."""
        row = self.query_one("#folders", DataTable).cursor_row
        if not self.folders or row is None or row >= len(self.folders):
            return None
        return self.folders[row]

    def action_add_folder(self) -> None:
        if self.panoptui.refuse_write("import"):
            return

        def answered(values: dict[str, Any] | None) -> None:
            if not values:
                return
            folder = Path(values["folder"]).expanduser()
            if not folder.is_dir():
                self.notify(f"{folder} is not a folder", severity="error")
                return
            start_import(self.panoptui, [str(folder)])

        self.panoptui.push_screen(
            FormDialog(
                "Add a folder of images",
                [Field("folder", "Folder (tab completes)", kind="path", folders_only=True)],
                "Import",
            ),
            answered,
        )

    def action_import_csv(self) -> None:
        ask_import(self.panoptui)

    def action_rescan(self) -> None:
        start_import(self.panoptui, None)

    def action_cancel(self) -> None:
        job = self.panoptui.jobs.get("import")
        if job is not None and job.running:
            job.cancel.set()
            self.notify("stopping the import after the files being read…")
        else:
            self.notify("no import to cancel here", severity="warning")

    def _folder_to_change(self, what: str) -> str | None:
        """The highlighted folder, when it may change now (else None, and the reason said)."""
        folder = self.highlighted
        if folder is None or self.panoptui.refuse_write(what):
            return None
        job = self.panoptui.jobs.get("import")
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

                dropped = remove_folder(self.panoptui.db, folder)
                dropped_files = count_text(dropped, "file")
                self.notify(f"removed {folder}: {dropped_files} dropped from the project")
                self.refresh_project()

        question = (
            f"Remove {folder} from the project? Its images, with their vectors and tags, leave "
            "the project; the files on disk stay."
        )
        self.panoptui.push_screen(ConfirmDialog(question, yes="Remove", no="Keep"), answered)

    def action_move_folder(self) -> None:
        folder = self._folder_to_change("move a folder")
        if folder is None:
            return

        def answered(values: dict[str, Any] | None) -> None:
            if values:
                from panoptui.core.folders import move_folder

                new = str(Path(values["new"]).expanduser().absolute())
                moved = move_folder(self.panoptui.db, folder, new)
                self.notify(f"{folder} is now {new} ({count_text(moved, 'file')} moved)")
                self.refresh_project()

        fields = [Field("new", "Where the folder is now", default=folder)]
        self.panoptui.push_screen(FormDialog(f"Move folder {folder}", fields, "Move"), answered)
