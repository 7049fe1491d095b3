"""Importing property values from a CSV on the Project screen (issue 13): the file is asked for,
read by core's ``csv_io.plan_import`` in a job (a 100,000-row file takes seconds), and its plan
shown in a preview before anything changes: how the file was read, the properties it creates
(guessed types marked) or sets, how many rows and values go in, the first rows as a table, and
the problems by line. Import applies it with ``csv_io.apply_import`` in a job (one transaction,
one step to undo); Import strictly applies nothing if there is any problem. The CLI's
``panoptui properties import`` (cli/csv.py) calls the same functions.

Everything from the file (names, cells, paths, problems) is shown literally (literal.py): a
cell may hold markup or terminal escapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Label, Static

from panoptui.core import csv_io
from panoptui.core.text import count_text, shown
from panoptui.tui.job import Job
from panoptui.tui.literal import elide_end, elide_middle, lines, marked, plain, text
from panoptui.tui.screens.dialogs import Dialog, Field, FormDialog

if TYPE_CHECKING:
    from panoptui.tui.app import PanoptuiApp

JOB = "csv-import"  # one reading or import of a CSV at a time; the Project screen shows it
CELL = 24  # the most cells a preview cell takes (its end cut off); the table scrolls sideways
KEY_CELLS = 40  # the most cells of a row's path (or id)


def csv_file(value: str) -> str:
    """The file field's check: an existing file, its path absolute."""
    path = Path(value).expanduser().absolute()
    if not path.is_file():
        raise ValueError(f"{shown(value)} is not a file")
    return str(path)


def ask_import(app: PanoptuiApp) -> None:
    """Ask for a CSV file (Tab completes its path) and the mode of the properties it creates,
    then read it in a job and show the preview."""
    if app.refuse_write("import a CSV"):
        return

    def answered(values: dict[str, Any] | None) -> None:
        if values:
            start_plan(app, values["file"], values["mode"])

    fields = [
        Field("file", "CSV file (tab completes)", kind="path", check=csv_file,
              placeholder="Panoptic's format: path or id, then name[type] columns"),
        Field("mode", "New properties belong to", kind="select", default="image",
              options=[("the image (all its copies)", "image"), ("the file (one path)", "file")]),
    ]  # fmt: skip
    app.push_screen(FormDialog("Import property values from a CSV", fields, "Read"), answered)


def start_plan(app: PanoptuiApp, file: str, mode: str) -> Job | None:
    """Read the CSV in a job (nothing changes), then show its preview. A file that cannot be
    imported at all (empty, a bad header) fails the job with core's one-line reason."""

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> csv_io.ImportPlan:
        return csv_io.plan_import(cur, file, mode)

    def done(job: Job) -> None:
        if job.state == "done":
            app.push_screen(ImportPreview(job.result), lambda how: _answered(app, job.result, how))

    return app.start_job(JOB, f"reading {file}", work, done)


def _answered(app: PanoptuiApp, plan: csv_io.ImportPlan, how: str | None) -> None:
    if how in ("import", "strict"):
        start_apply(app, plan, strict=how == "strict")


def start_apply(app: PanoptuiApp, plan: csv_io.ImportPlan, strict: bool) -> Job | None:
    """Apply the plan in a job; say what it set."""
    if app.refuse_write("import a CSV"):
        return None

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> csv_io.ImportResult:
        return csv_io.apply_import(cur, plan, strict=strict)

    def done(job: Job) -> None:
        if job.state != "done":
            return
        result: csv_io.ImportResult = job.result
        images = len({t for row in plan.rows for t in row.targets})
        said = (
            f"set {count_text(result.values, 'value')} on {count_text(images, 'image')}; "
            f"{count_text(result.left_out, 'row')} left out"
        )
        if result.created:
            said += "; created " + ", ".join(repr(name) for name in result.created)
        app.notify(said)

    return app.start_job(JOB, f"importing {plan.file}", work, done)


def values_set(plan: csv_io.ImportPlan) -> int:
    """The non-empty cells of the rows that go in (an empty cell sets nothing)."""
    return sum(value is not None for row in plan.rows for value in row.values)


class ImportPreview(Dialog[str | None]):
    """The plan of a CSV import, before anything changes. Dismissed with "import", "strict"
    or None (cancel)."""

    DEFAULT_CSS = """
    ImportPreview { align: center middle; }
    ImportPreview #preview-body { height: auto; max-height: 16; }
    ImportPreview #preview-rows { height: auto; max-height: 8; margin-top: 1; }
    """
    WIDTH = 100  # wider than a form (the app's .dialog): the rows' table needs the room
    BINDINGS = [
        Binding("escape", "answer(None)", "Cancel"),
        Binding("i", "answer('import')", "Import"),
        Binding("s", "answer('strict')", "Import strictly"),
    ]

    def __init__(self, plan: csv_io.ImportPlan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        plan = self.plan
        with Vertical(classes="dialog"):
            yield Label(plain(f"Import {Path(plan.file).name}"), classes="title")
            with VerticalScroll(id="preview-body"):
                yield Static(lines(*self.read_lines()), id="preview-read")
                yield Static(lines(*self.change_lines()), id="preview-changes")
                yield Static(lines(*self.problem_lines()), id="preview-problems")
                yield DataTable(id="preview-rows", show_cursor=False, zebra_stripes=True)
            with Horizontal(classes="buttons"):
                yield Button(plain("Import (i)"), variant="primary", id="import")
                yield Button(plain("Import strictly (s)"), id="strict")
                yield Button(plain("Cancel (esc)"), id="cancel")

    def read_lines(self) -> list[Any]:
        """How the file was read: its size, delimiter, key and encoding, and each note."""
        plan = self.plan
        first = (
            f"{count_text(plan.read, 'row')}, delimiter {plan.delimiter!r}, key {plan.key}, "
            f"{plan.encoding}"
        )
        return [plain(first), *(plain(f"· {note}") for note in plan.notes)]

    def change_lines(self) -> list[Any]:
        """What it creates and sets."""
        plan = self.plan
        said = []
        for column in plan.columns:
            guessed = ", guessed" if column.guessed else ""
            if column.existing is None:
                said.append(
                    marked(
                        "[b]creates[/b] $name ($type$guessed, $mode)",
                        name=repr(column.name),
                        type=column.type,
                        guessed=guessed,
                        mode=plan.mode,
                    )
                )
            else:
                said.append(
                    marked(
                        "sets $name ($type, $mode)",
                        name=repr(column.name),
                        type=column.type,
                        mode=column.existing.mode,
                    )
                )
        left = plan.read - len(plan.rows)
        said.append(
            plain(
                f"{count_text(len(plan.rows), 'row')} "
                f"{'goes' if len(plan.rows) == 1 else 'go'} in "
                f"({count_text(values_set(plan), 'value')}), {count_text(left, 'row')} left out"
            )
        )
        return said

    def problem_lines(self) -> list[Any]:
        problems = self.plan.problems
        if not problems:
            return [plain("no problems")]
        title = marked("[b]$count[/b]", count=count_text(len(problems), "problem"))
        return [title, *(plain(line) for line in csv_io.listed_problems(problems))]

    def on_mount(self) -> None:
        plan = self.plan
        # Inline: the app's stylesheet (a form's width) outranks this class's DEFAULT_CSS.
        self.query_one(".dialog").styles.width = self.WIDTH
        table = self.query_one("#preview-rows", DataTable)
        table.add_column(text("line"))
        for name in (plan.header[0], *(c.name for c in plan.columns)):
            table.add_column(text(elide_end(name, CELL)))
        for line, cells in plan.preview:
            picked = [
                cells[0] if cells else "",
                *(cells[c.index] if c.index < len(cells) else "" for c in plan.columns),
            ]
            # A path gives up its middle (its file's name stays in view), other cells their end.
            key = text(elide_middle(picked[0], KEY_CELLS))
            table.add_row(text(line), key, *(text(elide_end(c, CELL)) for c in picked[1:]))
        self.query_one("#import", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id if event.button.id != "cancel" else None)

    def action_answer(self, how: str | None) -> None:
        self.dismiss(how)
