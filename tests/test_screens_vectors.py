"""The Vectors screen (issue 11): the running set's row follows the job from its progress, two sets
of one model are told apart by their weights, a set like one that exists is asked about first, and
a job that fails says why whole (a dialog to read and copy, and a row that stays)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
import tui_helpers
from textual.widgets import DataTable, Static, TextArea
from tui_helpers import fill_form, screen_text, settle, wait_for

from panoptui.core import vector_sets, vectorize
from panoptui.core.models import ModelError
from panoptui.tui.screens import vectors as vectors_screen
from panoptui.tui.screens.dialogs import ConfirmDialog
from panoptui.tui.screens.report import ReportDialog

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive

# What `panoptui vectors create --model clip` says with no network and no cached weights (as
# tried on this machine): 400 characters, which a 10-second toast cuts.
OFFLINE = (
    "cannot load the weights for model clip: the model hub cannot be reached and it is not in "
    "the local cache (Failed to download weights for tag 'openai': Failed to download file "
    "(open_clip_pytorch_model.bin) for timm/vit_base_patch32_clip_224.openai. Last error: An "
    "err). Download it once on a machine with network access and copy the cache "
    "(~/.cache/huggingface) here with HF_HUB_OFFLINE=1, or give a local file or folder with "
    "--weights PATH"
)


@pytest.fixture
def slow_batches(monkeypatch):
    """Vector batches that take a while to commit: time to watch the row move."""
    original = vectorize.commit_batch

    def slow(*args, **kwargs):
        time.sleep(0.15)
        return original(*args, **kwargs)

    monkeypatch.setattr(vectorize, "commit_batch", slow)


def cells(app, key: str) -> list[str]:
    return [str(cell) for cell in app.screen.query_one("#sets", DataTable).get_row(key)]


def test_the_running_row_follows_the_job(drive, slow_batches, monkeypatch):
    monkeypatch.setattr(vectors_screen, "ROW_INTERVAL", 0)  # every progress message

    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("n")
        await fill_form(pilot, {"model": "pixels", "device": "cpu", "batch_size": 2})
        assert isinstance(app.screen, ConfirmDialog)  # the demo has a pixels set: asked first
        await pilot.press("y")
        job = app.jobs["vectors"]
        await wait_for(pilot, lambda: job.set_id is not None, what="the set")
        seen = set()
        while job.running:
            await pilot.pause(0.05)
            if job.running:
                seen.add(cells(app, str(job.set_id))[4])
        # The row moved with the job, in step with the progress line.
        counts = sorted(int(v.split("/")[0]) for v in seen)
        assert len(counts) >= 3 and 0 < counts[1] < 36, seen
        await settle(pilot)
        assert cells(app, str(job.set_id))[4:7] == ["36/36", "0", "complete"]

    drive(scenario, start="vectors")


def test_the_running_row_shows_the_share_done_without_reading_the_sets(
    drive, slow_batches, monkeypatch
):
    monkeypatch.setattr(vectors_screen, "ROW_INTERVAL", 0)
    reads = []
    list_sets = vector_sets.list_sets
    monkeypatch.setattr(vector_sets, "list_sets", lambda con: reads.append(1) or list_sets(con))

    async def scenario(app, pilot):
        await settle(pilot)
        vector_sets.delete_set(app.db, 1)  # no pixels set: nothing to ask
        app.screen.refresh_sets()
        await pilot.press("n")
        await fill_form(pilot, {"model": "pixels", "device": "cpu", "batch_size": 1})
        job = app.jobs["vectors"]
        await wait_for(pilot, lambda: job.progress is not None and job.progress.done >= 3)
        await pilot.pause(0.1)
        before = len(reads)
        await wait_for(pilot, lambda: job.progress.done >= 8, what="more progress")
        await pilot.pause(0.1)
        status = cells(app, str(job.set_id))[6]
        assert status.startswith("running ") and status.endswith("%"), status
        assert len(reads) == before  # the row followed 5 batches without one query
        job.cancel.set()
        await settle(pilot)

    drive(scenario, start="vectors")


@dataclass
class FakeSpec:
    name: str
    family: str = "open_clip"


@dataclass
class FakeEmbedder:
    spec: FakeSpec
    dim: int = 4
    embeds_text: bool = True


def test_two_sets_of_one_model_are_told_apart_by_their_weights(drive):
    folder = "/srv/models/" + "a-long-folder-name/" * 4
    first, second = folder + "run-1/epoch_10.pt", folder + "run-2/epoch_10.pt"
    embedder = FakeEmbedder(FakeSpec("open_clip:ViT-B-32"))

    async def scenario(app, pilot):
        await settle(pilot)
        a = vector_sets.create_set(app.db, embedder, weights=first)
        b = vector_sets.create_set(app.db, embedder, weights=second)
        app.screen.refresh_sets()
        await pilot.pause()
        shown_a, shown_b = cells(app, str(a))[2], cells(app, str(b))[2]
        assert shown_a != shown_b
        assert shown_a.endswith("run-1/epoch_10.pt") and shown_b.endswith("run-2/epoch_10.pt")
        assert "…" in shown_a  # shortened
        assert cells(app, "1")[2] == ""  # pixels: no weights
        assert "run-1/epoch_10.pt" in screen_text(app)  # in view at 80 columns

    drive(scenario, start="vectors")


def test_distinct_ends_leave_out_the_shared_folders():
    ends = vectors_screen.distinct_ends
    assert ends(["/m/a/x/w.pt", None, "/m/a/y/w.pt"]) == ["…/x/w.pt", None, "…/y/w.pt"]
    assert ends(["/m/a/w.pt", "/m/a/w.pt"]) == ["/m/a/w.pt", "/m/a/w.pt"]  # one path: whole
    assert ends(["/m/w.pt", "/n/w.pt"]) == ["/m/w.pt", "/n/w.pt"]  # nothing shared


def test_weights_are_shown_literally():
    cell = vectors_screen.weights_cell("/models/\x1b]0;pwned\x07/w.pt", 40)
    assert "\x1b" not in cell.plain and "\\x1b" in cell.plain


def test_a_set_like_one_that_exists_is_asked_about_first(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        before = [s.id for s in vector_sets.list_sets(app.db)]
        await pilot.press("n")
        await fill_form(pilot, {"model": "pixels", "device": "cpu"})
        assert isinstance(app.screen, ConfirmDialog)
        assert "Vector set 1 already holds pixels vectors" in screen_text(app)
        await pilot.press("n")  # keep the set: nothing computed
        await settle(pilot)
        assert "vectors" not in app.jobs
        assert [s.id for s in vector_sets.list_sets(app.db)] == before
        # Greyscale makes other vectors: no question.
        await pilot.press("n")
        await fill_form(pilot, {"model": "pixels", "greyscale": True, "device": "cpu"})
        assert not isinstance(app.screen, ConfirmDialog)
        await settle(pilot)
        assert len(vector_sets.list_sets(app.db)) == len(before) + 1
        # Asked again, and answered yes: computed again.
        await pilot.press("n")
        await fill_form(pilot, {"model": "pixels", "device": "cpu"})
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        sets = vector_sets.list_sets(app.db)
        assert len(sets) == len(before) + 2 and sets[-1].model == "pixels"

    drive(scenario, start="vectors")


def test_identical_sets_compares_what_makes_the_vectors(tmp_path):
    weights = tmp_path / "w.pt"
    made = vector_sets.VectorSet(
        1, "clip", "open_clip", False, str(weights.resolve()), 512, True, 32, 0, 0, 0, "", ""
    )
    same = vector_sets.identical_sets
    assert same([made], "CLIP", False, str(weights)) == [made]  # the preset's name as typed
    assert same([made], "clip", True, str(weights)) == []
    assert same([made], "clip", False, None) == []
    assert same([made], "siglip", False, str(weights)) == []


def test_an_offline_model_error_is_read_whole_and_leaves_a_failed_row(drive, monkeypatch):
    from panoptui.core import models

    def offline(*args, **kwargs):
        raise ModelError(OFFLINE)

    monkeypatch.setattr(models, "load_embedder", offline)

    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("n")
        await fill_form(pilot, {"model": "clip", "device": "cpu"})
        await settle(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ReportDialog), what="report")
        report = app.screen.query_one("#report", TextArea)
        assert report.text == OFFLINE and report.read_only  # whole, not cut
        assert "--weights PATH" in screen_text(app)  # its end is in view at 80x24
        # It can be selected and copied (a command or a path in it, to paste elsewhere).
        report.select_all()
        await pilot.press("ctrl+c")
        assert app.clipboard == OFFLINE
        await pilot.press("escape")
        await pilot.pause()
        # The screen keeps a row that says it failed and why, and the reason whole under it.
        row = cells(app, vectors_screen.JOB_ROW)
        assert row[1] == "clip" and row[6].startswith("failed: cannot load")
        below = str(app.screen.query_one("#set-detail", Static).render())
        assert "vectors (clip) failed: e shows why" in below
        assert "HF_HUB_OFFLINE=1" in screen_text(app)  # the job's line has it whole
        assert app.screen.query_one("#sets", DataTable).cursor_row == 1  # on the failed row
        await pilot.press("e")  # read it again
        await pilot.pause()
        assert isinstance(app.screen, ReportDialog)
        await pilot.press("escape")
        await pilot.pause()
        # The next job clears it.
        monkeypatch.undo()
        vector_sets.delete_set(app.db, 1)
        app.screen.refresh_sets()
        await pilot.press("n")
        await fill_form(pilot, {"model": "pixels", "device": "cpu"})
        await settle(pilot)
        keys = [key.value for key in app.screen.query_one("#sets", DataTable).rows]
        assert vectors_screen.JOB_ROW not in keys
        assert "failed" not in str(app.screen.query_one("#set-detail", Static).render())

    drive(scenario, start="vectors")


def test_a_job_has_a_row_while_its_model_loads(drive, monkeypatch):
    import threading

    from panoptui.core import models

    loaded, release = models.load_embedder, threading.Event()

    def slow(*args, **kwargs):
        release.wait(30)  # a model that takes its time to load
        return loaded(*args, **kwargs)

    monkeypatch.setattr(models, "load_embedder", slow)

    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("n")
        await fill_form(pilot, {"model": "pixels", "greyscale": True, "device": "cpu"})
        await wait_for(pilot, lambda: "vectors" in app.jobs, what="the job")
        await pilot.pause(0.2)
        row = cells(app, vectors_screen.JOB_ROW)
        assert row[1:4] == ["pixels", "", "yes"] and row[6] == "loading the model…"
        release.set()
        await settle(pilot)
        keys = [key.value for key in app.screen.query_one("#sets", DataTable).rows]
        assert keys == ["1", "2"]  # the set's own row took its place
        assert cells(app, "2")[6] == "complete"

    drive(scenario, start="vectors")


def test_a_short_failure_is_still_a_notification(drive, monkeypatch):
    from panoptui.core import models

    def refused(*args, **kwargs):
        raise ModelError("timm has no model 'nope'")

    monkeypatch.setattr(models, "load_embedder", refused)

    async def scenario(app, pilot):
        await settle(pilot)
        vector_sets.delete_set(app.db, 1)
        app.screen.refresh_sets()
        await pilot.press("n")
        await fill_form(pilot, {"custom": "timm:nope", "device": "cpu"})
        await settle(pilot)
        assert not isinstance(app.screen, ReportDialog)
        assert any("timm has no model" in n.message for n in app._notifications)
        assert cells(app, vectors_screen.JOB_ROW)[1] == "timm:nope"

    drive(scenario, start="vectors")


def test_the_report_shows_control_characters_as_escapes_and_keeps_lines(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        app.push_screen(ReportDialog("failed", "line one \x1b[2J\nline two"))
        await pilot.pause()
        report = app.screen.query_one("#report", TextArea)
        assert report.text == "line one \\x1b[2J\nline two"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ReportDialog)

    drive(scenario, start="vectors")
