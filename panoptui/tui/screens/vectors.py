"""Vectors: the project's vector sets; create one (model, greyscale, local weights), watch it
run (images/s, ETA, errors), cancel it, resume a set left incomplete. The job belongs to the App,
so it goes on while the user browses."""

from __future__ import annotations

import time
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Static

from panoptui.core import settings, vector_sets
from panoptui.core.models import DEFAULT_MODEL, PRESETS, parse_spec
from panoptui.core.models.base import check_device_name, weights_path
from panoptui.tui.job import Job, JobChanged
from panoptui.tui.jobs import start_vectors
from panoptui.tui.literal import lines, marked, plain, text
from panoptui.tui.screens.base import AppScreen
from panoptui.tui.screens.dialogs import ConfirmDialog, Field, FormDialog
from panoptui.tui.widgets.job_progress import JobProgress
from panoptui.tui.widgets.navbar import NavBar

# The running set's row follows the job's progress at most this often (each refresh counts the
# vectors of every set in the database).
ROW_INTERVAL = 1.0

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


class VectorsScreen(AppScreen):
    BINDINGS = [
        Binding("n", "create", "New vectors", tooltip="create a vector set"),
        Binding("r", "resume", "Resume", tooltip="finish the highlighted set"),
        Binding("x", "cancel", "Cancel", tooltip="stop the running job (work is kept)"),
        Binding("d", "make_default", "Default", tooltip="queries use this set by default"),
        Binding("e", "errors", "Errors", show=False, tooltip="images the set could not embed"),
        Binding("delete", "delete", "Delete", show=False, tooltip="delete the highlighted set"),
    ]

    _counted = 0.0  # when the rows' counts were last read

    def compose(self) -> ComposeResult:
        yield NavBar("vectors")
        with Vertical(id="vectors-body"):
            yield DataTable(id="sets", cursor_type="row")
            yield JobProgress("vectors")
            yield Static("", id="set-errors")
        yield Footer()

    def on_mount(self) -> None:
        self.column_keys = self.query_one("#sets", DataTable).add_columns(
            "id", "model", "grey", "dim", "vectors", "errors", "status", "default"
        )
        self.sets: list[vector_sets.VectorSet] = []
        self.query_one("#sets", DataTable).focus()

    def resumed(self) -> None:
        self.refresh_sets()
        job = self.panoptui.jobs.get("vectors")
        if job is not None:
            self.show_job(job)

    def refresh_sets(self) -> None:
        con = self.panoptui.db
        table = self.query_one("#sets", DataTable)
        row = table.cursor_row
        table.clear()
        self.sets = vector_sets.list_sets(con)
        self._counted = time.monotonic()
        default = vector_sets.default_set(con, sets=self.sets).id if self.sets else None
        for s in self.sets:
            table.add_row(
                str(s.id),
                text(s.model),
                "yes" if s.greyscale else "no",
                str(s.dim),
                *self.counts(s),
                "✓" if s.id == default else "",
                key=str(s.id),
            )
        if not self.sets:
            self.query_one(JobProgress).note(
                "No vector sets yet. Press n to create one (pixels is instant; clip enables "
                "text search)."
            )
            return
        job = self.panoptui.jobs.get("vectors")
        ids = [s.id for s in self.sets]
        if job is not None and job.running and job.set_id in ids:
            table.move_cursor(row=ids.index(job.set_id))  # the set being computed
        elif row is not None and row < len(self.sets):
            table.move_cursor(row=row)

    @staticmethod
    def counts(s: vector_sets.VectorSet) -> tuple[str, str, str]:
        """The cells of a set that change as it is computed: vectors, errors, status."""
        status = s.status + (" (resume: r)" if s.status == "incomplete" else "")
        return f"{s.count}/{s.total}", str(s.errors), status

    def refresh_counts(self) -> None:
        """Bring the rows' counts in step with the database while a job fills a set, without
        redrawing the table (the cursor stays where the user put it)."""
        sets = vector_sets.list_sets(self.panoptui.db)
        if [s.id for s in sets] != [s.id for s in self.sets]:
            self.refresh_sets()  # a set came or went meanwhile
            return
        self.sets, self._counted = sets, time.monotonic()
        table = self.query_one("#sets", DataTable)
        for s in sets:
            for column, value in zip(self.column_keys[4:7], self.counts(s), strict=True):
                table.update_cell(str(s.id), column, value)

    def on_job_changed(self, message: JobChanged) -> None:
        self.show_job(message.job)

    def show_job(self, job: Job) -> None:
        if not self.query_one(JobProgress).show(job):
            return
        if not job.running or (job.progress and job.progress.done == 0):
            self.refresh_sets()
        elif time.monotonic() - self._counted >= ROW_INTERVAL:
            self.refresh_counts()

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

        def answered(values: dict[str, Any] | None) -> None:
            if values:
                model = values["custom"] or values["model"]
                start_vectors(
                    self.panoptui, model, values["greyscale"], values["weights"], values["device"],
                    values["batch_size"],
                )  # fmt: skip

        self.panoptui.push_screen(FormDialog("Create new vectors", fields, "Create"), answered)

    def action_resume(self) -> None:
        chosen = self.highlighted
        if chosen is None:
            return
        if chosen.status == "complete":
            self.notify(f"vector set {chosen.id} is complete", severity="information")
            return
        prefs = settings.load(self.panoptui.db)
        start_vectors(
            self.panoptui, chosen.model, chosen.greyscale, chosen.weights, prefs.device,
            chosen.batch_size, resume_id=chosen.id,
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
