"""Vectors: the project's vector sets; create one (model, greyscale, local weights; asked first
when a set like it exists), watch it run (its row follows the job's progress; images/s, ETA,
errors), cancel it, resume a set left incomplete. The job belongs to the App, so it goes on while
the user browses. A job that failed keeps a row saying so (e: its reason whole, to copy) until the
next one starts. Sets of one model are told apart by their weights paths, shortened literally."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Static
from textual.widgets.data_table import ColumnKey

from panoptui.core import settings, vector_sets
from panoptui.core.models import DEFAULT_MODEL, PRESETS, parse_spec
from panoptui.core.models.base import check_device_name, weights_path
from panoptui.core.progress import Progress
from panoptui.core.text import shown
from panoptui.tui.job import Job, JobChanged
from panoptui.tui.jobs import start_vectors
from panoptui.tui.literal import elide_end, elide_middle, lines, marked, plain, text
from panoptui.tui.screens.base import AppScreen
from panoptui.tui.screens.dialogs import ConfirmDialog, Field, FormDialog
from panoptui.tui.screens.project import fill
from panoptui.tui.screens.report import ReportDialog
from panoptui.tui.widgets.job_progress import JobProgress
from panoptui.tui.widgets.navbar import NavBar

# The running set's row follows the job's progress at most this often. It is drawn from the
# job's progress (no query), so this only spares redraws of the table.
ROW_INTERVAL = 0.5
# The most cells a model spec takes in the table, and the fewest a weights path gets however wide
# the other cells (a long one loses its middle: two sets of one model are told apart by the ends
# of their weights paths; the highlighted set's is shown whole under the table).
MODEL_CELLS = 24
MIN_WEIGHTS = 20
COLUMNS = ("id", "model", "weights", "grey", "vectors", "errors", "status", "default")
FAILED_CELLS = 20  # of the status "failed: ..." (e on the row shows the reason whole)
# The key of the row of a job whose set is not made yet (its model loads) or never was (it failed).
JOB_ROW = "job"

PRESET_HELP = {
    "clip": "CLIP ViT-B/32 (text search)",
    "siglip": "SigLIP (text search)",
    "dinov2": "DINOv2 ViT-S/14",
    "mobilenet": "MobileNetV3",
    "pixels": "pixels (no model, instant)",
}


# The checks of the "Create new vectors" form: core's own, run before the form closes, so that a
# value the job would refuse is said in the form (which keeps what was typed).


def model_spec(name: str) -> str:
    """A custom model spec that parses (the model itself is found when the job loads it)."""
    parse_spec(name)
    return name


def local_weights(weights: str) -> str:
    """A weights path that exists, resolved (the job runs with it whatever the cwd)."""
    return str(weights_path(weights))


def usable_device(device: str) -> str:
    """A device name core accepts and, unless the CPU or automatic, this machine has. Torch is
    imported only for a named GPU (the form started importing it in the background)."""
    device = check_device_name(device)
    if device not in ("auto", "cpu"):
        from panoptui.core.models import runtime

        runtime.pick_device(device)
    return device


def model_cell(model: str) -> Text:
    return text(elide_middle(model, MODEL_CELLS))


def weights_cell(weights: str | None, width: int) -> Text:
    """A set's weights path in ``width`` cells, literally ("" for the model's own, from the
    hub)."""
    return text(elide_middle(weights, width) if weights else "")


def distinct_ends(paths: list[str | None]) -> list[str | None]:
    """Weights paths without the folders they all share (``…/run-1/w.pt``, ``…/run-2/w.pt``),
    so that a narrow column still tells them apart; one path alone stays whole."""
    given = {p for p in paths if p}
    if len(given) < 2:
        return paths
    shared = os.path.commonpath([os.path.dirname(p) for p in given])
    if shared in ("", os.sep):
        return paths
    return [("…" + p[len(shared) :]) if p else p for p in paths]


def failed_cell(reason: str) -> Text:
    return text(elide_end(f"failed: {reason}", FAILED_CELLS))


def running_cells(total: int, progress: Progress) -> tuple[str, str, str]:
    """The vectors, errors and status cells of the set a job fills, from its progress. The
    images the run embeds (``progress.total``) are those that had no vector when it began."""
    count = max(total - progress.total, 0) + progress.done - progress.errors
    share = f" {progress.done / progress.total:.0%}" if progress.total else ""
    return f"{count:,}/{total:,}", f"{progress.errors:,}", f"running{share}"


@dataclass(frozen=True)
class Request:
    """What the user asked a vector job for: its failed row says it."""

    job: Job
    model: str
    weights: str | None
    greyscale: bool


class VectorsScreen(AppScreen):
    BINDINGS = [
        Binding("n", "create", "New vectors", tooltip="create a vector set"),
        Binding("r", "resume", "Resume", tooltip="finish the highlighted set"),
        Binding("x", "cancel", "Cancel", tooltip="stop the running job (work is kept)"),
        Binding("d", "make_default", "Default", tooltip="queries use this set by default"),
        Binding(
            "e",
            "errors",
            "Errors",
            show=False,
            tooltip="images the set could not embed, or why its job failed",
        ),
        Binding("delete", "delete", "Delete", show=False, tooltip="delete the highlighted set"),
    ]

    _row_drawn = 0.0  # when the running set's row last followed the job

    def compose(self) -> ComposeResult:
        yield NavBar("vectors")
        with Vertical(id="vectors-body"):
            yield DataTable(id="sets", cursor_type="row")
            yield Static("", id="set-detail")
            yield JobProgress("vectors")
            yield Static("", id="set-errors")
        yield Footer()

    def on_mount(self) -> None:
        self.column_keys: list[ColumnKey] = []
        self.sets: list[vector_sets.VectorSet] = []
        self.default: int | None = None
        self.request: Request | None = None  # what the newest job this screen started was for
        self.query_one("#sets", DataTable).focus()

    def resumed(self) -> None:
        self.refresh_sets()
        job = self.panoptui.jobs.get("vectors")
        if job is not None:
            self.show_job(job)

    @property
    def failed_job(self) -> Job | None:
        """The newest vector job, if it failed (its row says so until the next job starts)."""
        job = self.panoptui.jobs.get("vectors")
        return job if job is not None and job.state == "failed" else None

    def refresh_sets(self) -> None:
        """Read the sets (a query that counts every set's vectors) and draw them."""
        con = self.panoptui.db
        self.sets = vector_sets.list_sets(con)
        self.default = vector_sets.default_set(con, sets=self.sets).id if self.sets else None
        self.fill_table()

    def fill_table(self) -> None:
        """The sets (as last read) and a row for a job without a set yet, fitted to the width
        (again on every resize): the weights get the room the other cells leave, their path its
        middle cut."""
        table = self.query_one("#sets", DataTable)
        row = table.cursor_row
        failed = self.failed_job
        rows: list[tuple[Any, ...]] = []
        weights: list[str | None] = []
        for s in self.sets:
            failure = failed.message if failed is not None and failed.set_id == s.id else None
            weights.append(s.weights)
            grey = "yes" if s.greyscale else "no"
            default = "✓" if s.id == self.default else ""
            rows.append((str(s.id), model_cell(s.model), grey, *self.counts(s, failure), default))
        ids = [s.id for s in self.sets]
        job = self.panoptui.jobs.get("vectors")
        if job is not None and job.state in ("running", "failed") and job.set_id not in ids:
            # Its model loads (a minute, the first time), or did not load: a row of its own.
            model, job_weights, greyscale = self.request_of(job)
            weights.append(job_weights)
            grey = "yes" if greyscale else "no"
            status = "loading the model…" if job.running else failed_cell(job.message)
            rows.append(("–", model_cell(model), grey, "", "", status, ""))
        # The columns' padding (two cells each), the body's padding and the scrollbar.
        others = sum(
            max([cell_len(label)] + [cell_len(str(r[i])) for r in rows])
            for i, label in enumerate(COLUMNS[:2] + COLUMNS[3:])
        )
        room = self.panoptui.size.width - others - 2 * len(COLUMNS) - 4
        weights = distinct_ends(weights)
        needed = max((cell_len(shown(w)) for w in weights if w), default=0)
        room = min(max(room, MIN_WEIGHTS), max(needed, len("weights")))
        keys = [str(s.id) for s in self.sets] + [JOB_ROW] * (len(rows) - len(self.sets))
        self.column_keys = fill(
            table,
            list(COLUMNS),
            [(*r[:2], weights_cell(w, room), *r[2:]) for r, w in zip(rows, weights, strict=True)],
            keys,
        )
        if not rows:
            self.query_one(JobProgress).note(
                "No vector sets yet. Press n to create one (pixels is instant; clip enables "
                "text search)."
            )
            return
        if job is not None and job.running and job.set_id in ids:
            table.move_cursor(row=ids.index(job.set_id))  # the set being computed
        elif len(rows) > len(ids):
            table.move_cursor(row=len(ids))  # the job's own row
        elif row is not None and row < table.row_count:
            table.move_cursor(row=row)
        self.show_detail()

    def on_resize(self, event: events.Resize) -> None:
        self.fill_table()

    def request_of(self, job: Job) -> tuple[str, str | None, bool]:
        """The model, weights and greyscale a job was started with (by this screen)."""
        if self.request is not None and self.request.job is job:
            return self.request.model, self.request.weights, self.request.greyscale
        return job.label, None, False

    @staticmethod
    def counts(s: vector_sets.VectorSet, failure: str | None = None) -> tuple[str, str, Any]:
        """The cells of a set that change as it is computed: vectors, errors, status."""
        status = s.status if failure is None else failed_cell(failure)
        return f"{s.count:,}/{s.total:,}", f"{s.errors:,}", status

    def show_detail(self) -> None:
        """The highlighted set whole, under the table: its weights path uncut, what r does."""
        chosen = self.highlighted
        detail = self.query_one("#set-detail", Static)
        failed = self.failed_job
        if failed is not None and self.on_row_of(failed):
            # The reason is on the job's line below; the dialog shows it whole, to copy.
            detail.update(marked("[b]$label failed[/b]: e shows why, to copy", label=failed.label))
            return
        if chosen is None:
            detail.update("")
            return
        resume = " (incomplete, resume: r)" if chosen.status == vector_sets.INCOMPLETE else ""
        parts = [f"set {chosen.id}{resume}: {chosen.model}"]
        if chosen.weights:
            parts.append(f"weights {chosen.weights}")
        parts += [f"{chosen.dim} dims", f"batch {chosen.batch_size}"]
        detail.update(plain(" · ".join(parts)))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def follow_job(self, job: Job, progress: Progress) -> None:
        """The running set's row, from the job's progress: no query. (Reading the sets again
        counts every set's vectors: measured 77-229 ms for three sets of a million images, on
        the UI thread each second; benchmarks/vectors_row_bench.py.)"""
        running = next(s for s in self.sets if s.id == job.set_id)
        cells = running_cells(running.total, progress)
        table = self.query_one("#sets", DataTable)
        for column, value in zip(self.column_keys[4:7], cells, strict=True):
            table.update_cell(str(job.set_id), column, value)

    def on_job_changed(self, message: JobChanged) -> None:
        self.show_job(message.job)

    def show_job(self, job: Job) -> None:
        if not self.query_one(JobProgress).show(job):
            return
        progress = job.progress
        if not job.running or progress is None or job.set_id not in [s.id for s in self.sets]:
            # Started (an old failure's row goes), its set just made, or ended: read the sets.
            self.refresh_sets()
            return
        now = time.monotonic()
        if now - self._row_drawn >= ROW_INTERVAL or progress.done >= progress.total:
            self._row_drawn = now
            self.follow_job(job, progress)

    def on_row_of(self, job: Job) -> bool:
        """Whether the cursor is on the row of ``job``: its set's, or the row it failed in."""
        row = self.query_one("#sets", DataTable).cursor_row
        chosen = self.highlighted
        return chosen.id == job.set_id if chosen is not None else row == len(self.sets)

    @property
    def highlighted(self) -> vector_sets.VectorSet | None:
        row = self.query_one("#sets", DataTable).cursor_row
        return self.sets[row] if self.sets and row is not None and row < len(self.sets) else None

    def action_create(self) -> None:
        if self.panoptui.refuse_write("compute vectors"):
            return
        self.panoptui.warm_up_models()
        prefs = settings.load(self.panoptui.db)
        models = [(PRESET_HELP.get(name, name), name) for name in PRESETS]
        fields = [
            Field("model", "Model", kind="select", default=DEFAULT_MODEL, options=models),
            Field("custom", "…or a custom spec (open_clip:ARCH/TAG, timm:NAME, hf:NAME)",
                  optional=True, check=model_spec),
            Field("greyscale", "Greyscale (colour-blind similarity)", kind="check", default=False),
            Field("weights", "Local weights file or folder (optional)", optional=True,
                  check=local_weights),
            Field("device", "Device", default=prefs.device, check=usable_device),
            Field("batch_size", "Batch size", kind="int", default=prefs.batch_size,
                  check=vector_sets.check_batch_size),
        ]  # fmt: skip

        self.panoptui.push_screen(
            FormDialog("Create new vectors", fields, "Create"), self.create_answered
        )

    def create_answered(self, values: dict[str, Any] | None) -> None:
        """The form's values: a new set, after asking if one like it exists."""
        if not values:
            return
        model = values["custom"] or values["model"]
        greyscale, weights = values["greyscale"], values["weights"] or None

        def start() -> None:
            self.start(model, greyscale, weights, values["device"], values["batch_size"])

        same = vector_sets.identical_sets(self.sets, model, greyscale, weights)
        if not same:
            start()
            return
        ids = ", ".join(str(s.id) for s in same)
        grey = "greyscale " if greyscale else ""
        question = (
            (
                f"Vector set {ids} already holds"
                if len(same) == 1
                else f"Vector sets {ids} already hold"
            )
            + f" {grey}{model} vectors"
            + (f" from {weights}" if weights else "")
            + ". Compute the same vectors again?"
        )

        def confirmed(yes: bool | None) -> None:
            if yes:
                start()

        self.panoptui.push_screen(
            ConfirmDialog(question, yes="Compute again", no="Keep the set"), confirmed
        )

    def start(
        self,
        model: str,
        greyscale: bool,
        weights: str | None,
        device: str,
        batch_size: int,
        resume_id: int | None = None,
    ) -> None:
        job = start_vectors(
            self.panoptui, model, greyscale, weights, device, batch_size, resume_id=resume_id
        )
        if job is not None:
            self.request = Request(job, model, weights, greyscale)

    def action_resume(self) -> None:
        chosen = self.highlighted
        if chosen is None:
            return
        if chosen.status == "complete":
            self.notify(f"vector set {chosen.id} is complete", severity="information")
            return
        prefs = settings.load(self.panoptui.db)
        self.start(
            chosen.model, chosen.greyscale, chosen.weights, prefs.device, chosen.batch_size,
            resume_id=chosen.id,
        )  # fmt: skip

    def action_cancel(self) -> None:
        job = self.panoptui.jobs.get("vectors")
        if job is not None and job.running:
            job.cancel.set()
            self.notify("stopping after the current batch; resume later with r")

    def action_make_default(self) -> None:
        chosen = self.highlighted
        if chosen is not None and not self.panoptui.refuse_write("change the default set"):
            vector_sets.set_default(self.panoptui.db, chosen.id)
            self.refresh_sets()

    def action_errors(self) -> None:
        failed = self.failed_job
        if failed is not None and self.on_row_of(failed):
            # The failure whole, to read and copy (a path, a command to run).
            self.panoptui.push_screen(ReportDialog(f"{failed.label} failed", failed.message))
            return
        chosen = self.highlighted
        if chosen is None:
            return
        rows = vector_sets.vector_errors(self.panoptui.db, chosen.id)
        shown = [plain(f"{r.path}: {r.reason}") for r in rows[:50]] or [plain("no errors")]
        title = marked("[b]Errors of set $id[/b]", id=chosen.id)
        self.query_one("#set-errors", Static).update(lines(title, *shown))

    def action_delete(self) -> None:
        chosen = self.highlighted
        if chosen is None or self.panoptui.refuse_write("delete a vector set"):
            return
        if chosen.status == "running":
            self.notify("cancel the job first (x)", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                vector_sets.delete_set(self.panoptui.db, chosen.id)
                self.refresh_sets()

        self.panoptui.push_screen(
            ConfirmDialog(f"Delete vector set {chosen.id} ({chosen.model})?"), answered
        )
