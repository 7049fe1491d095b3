"""Issue 13 in the TUI: importing a CSV of property values on the Project screen (i), with its
preview (csv_import.py), and the export dialog's choice of what (the selection, the view shown,
all) and format (Panoptic's CSV)."""

from __future__ import annotations

import csv

import tui_helpers
from textual.widgets import DataTable, Select
from tui_helpers import fill_form, screen_text, settle, wait_for

from panoptui.core import filters, journal, properties
from panoptui.tui.literal import elide_middle
from panoptui.tui.screens.csv_import import ImportPreview
from panoptui.tui.screens.dialogs import ConfirmDialog, ExportDialog, FormDialog
from panoptui.tui.screens.report import ReportDialog
from panoptui.tui.sources import RankedImages

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive

BIG = (120, 40)  # the preview whole, without scrolling
MARKUP = "[b]bold[/b] [@click=app.quit]x[/]"


async def opened(pilot, screen_class) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen_class), 30, screen_class)
    await pilot.pause()


def notices(app) -> str:
    return "\n".join(n.message for n in app._notifications)


def write_csv(app, target) -> list[str]:
    """A CSV of four rows on the demo project: two good ones (one with a markup value), a bad
    number (line 4) and a path not in the project (line 5); returns the paths of the rows."""
    paths = [p for (p,) in app.db.execute("SELECT path FROM files ORDER BY path").fetchall()]
    rows = [
        ["path", "score[number]", "note"],
        [paths[0], "1.5", MARKUP],
        [paths[1], "2", "plain"],
        [paths[2], "oops", "x"],
        ["/nowhere/x.png", "3", "y"],
    ]
    with open(target, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=";").writerows(rows)
    return paths


async def open_preview(pilot, file) -> ImportPreview:
    await settle(pilot)
    await pilot.press("i")
    await opened(pilot, FormDialog)
    await fill_form(pilot, {"file": str(file)})
    await settle(pilot)
    await opened(pilot, ImportPreview)
    return pilot.app.screen


def image_of(app, path: str) -> int:
    return int(app.db.execute("SELECT image_id FROM files WHERE path = ?", [path]).fetchone()[0])


def test_the_preview_shows_what_an_import_creates_and_import_applies_it(drive, tmp_path):
    file = tmp_path / "values.csv"

    async def scenario(app, pilot):
        paths = write_csv(app, file)
        preview = await open_preview(pilot, file)
        shown = screen_text(app)
        assert "4 rows, delimiter ';', key path, UTF-8" in shown
        assert "creates 'score' (number, image)" in shown
        assert "creates 'note' (text, guessed, image)" in shown
        assert "column 'note' has no type: guessed text from its values" in shown
        assert "2 rows go in (4 values), 2 rows left out" in shown
        assert "2 problems" in shown
        assert "line 4: column 'score':" in shown
        assert "line 5: no file at '/nowhere/x.png' in the project" in shown
        # The first rows as a table, their cells as written: markup is text, never run.
        table = preview.query_one("#preview-rows", DataTable)
        assert table.row_count == 4
        assert [str(c) for c in table.get_row_at(0)] == [
            "2", elide_middle(paths[0], 40), "1.5", MARKUP[:23] + "…"
        ]  # fmt: skip
        assert [str(c) for c in table.get_row_at(3)] == ["5", "/nowhere/x.png", "3", "y"]
        assert properties.find_property(app.db, "score") is None  # nothing changed yet

        await pilot.click("#import")
        await settle(pilot)
        assert "set 4 values on 2 images; 2 rows left out; created 'score', 'note'" in notices(app)
        score = properties.get_property(app.db, "score")
        note = properties.get_property(app.db, "note")
        first, second = image_of(app, paths[0]), image_of(app, paths[1])
        assert properties.all_values(app.db, score) == {first: 1.5, second: 2.0}
        assert properties.all_values(app.db, note) == {first: MARKUP, second: "plain"}
        assert app.is_running  # the markup value ran nothing (no app.quit)
        # One import, one step to undo: its values and the properties it made go.
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert properties.find_property(app.db, "score") is None
        assert properties.find_property(app.db, "note") is None

    drive(scenario, start="project", size=BIG)


def test_cancel_and_a_strict_import_with_problems_change_nothing(drive, tmp_path):
    file = tmp_path / "values.csv"

    async def scenario(app, pilot):
        write_csv(app, file)
        before = journal.history(app.db)
        await open_preview(pilot, file)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ImportPreview)
        assert properties.find_property(app.db, "score") is None
        await open_preview(pilot, file)
        await pilot.press("s")  # strictly: two problems, so nothing
        await settle(pilot)
        assert app.jobs["csv-import"].state == "failed"
        assert "2 problems in" in app.jobs["csv-import"].message
        assert properties.find_property(app.db, "score") is None
        assert properties.find_property(app.db, "note") is None
        assert journal.history(app.db) == before  # nothing journaled: nothing to undo

    drive(scenario, start="project", size=BIG)


def test_a_file_that_cannot_be_imported_is_said_in_one_line(drive, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")
    header = tmp_path / "header.csv"
    header.write_text("name;score[number]\na;1\n")

    async def scenario(app, pilot):
        for file, reason in ((empty, "is empty"), (header, "the first column must be 'path'")):
            await settle(pilot)
            await pilot.press("i")
            await opened(pilot, FormDialog)
            await fill_form(pilot, {"file": str(file)})
            await settle(pilot)
            assert not isinstance(app.screen, ImportPreview)
            assert reason in app.jobs["csv-import"].message
            assert "\n" not in app.jobs["csv-import"].message
            # Said: a long reason (the file's whole path in it) in a report to read whole.
            if isinstance(app.screen, ReportDialog):
                assert reason in screen_text(app)
                await pilot.press("escape")
                await pilot.pause()
            else:
                assert reason in notices(app)
        # A path that is no file: said in the form, which stays open.
        await pilot.press("i")
        await opened(pilot, FormDialog)
        await fill_form(pilot, {"file": str(tmp_path / "nothing.csv")})
        assert isinstance(app.screen, FormDialog) and "is not a file" in screen_text(app)

    drive(scenario, start="project", size=BIG)


def test_a_read_only_project_refuses_the_import(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("i")
        await pilot.pause()
        assert not isinstance(app.screen, FormDialog)
        assert "read-only project: cannot import a CSV" in notices(app)

    drive(scenario, start="project", read_only=True)


def test_the_export_of_the_view_shown_writes_only_its_images(drive, tmp_path):
    target = tmp_path / "view.csv"
    where = "width >= 300"

    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("f")
        await opened(pilot, FormDialog)
        await fill_form(pilot, {"where": where})
        await settle(pilot)
        expected = {int(i) for i in filters.matching_ids(app.db, where)}
        total = int(app.db.execute("SELECT count(*) FROM images").fetchone()[0])
        assert 0 < len(expected) < total  # a view that is not every image
        await pilot.press("e")
        await opened(pilot, ExportDialog)
        # No selection, a filtered view: the view is proposed, and the title says so.
        assert app.screen.query_one("#field-scope", Select).value == "view"
        assert "Export the view shown (where width >= 300)" in screen_text(app)
        await fill_form(pilot, {"file": str(target)})
        await settle(pilot)
        assert app.jobs["export"].state == "done"
        rows = list(csv.DictReader(target.open()))
        assert {int(r["image_id"]) for r in rows} == expected

        # All images, on demand, from the same view.
        await pilot.press("e")
        await opened(pilot, ExportDialog)
        await fill_form(pilot, {"scope": "all"}, submit=False)
        assert "Export all images" in screen_text(app)
        await pilot.click("#ok")
        await opened(pilot, ConfirmDialog)  # the file exists: overwrite it
        await pilot.press("y")
        await settle(pilot)
        rows = list(csv.DictReader(target.open()))
        assert len({int(r["image_id"]) for r in rows}) == total

    drive(scenario)


def test_a_panoptic_csv_export_writes_semicolons_and_typed_headers(drive, tmp_path):
    target = tmp_path / "panoptic.csv"

    async def scenario(app, pilot):
        await settle(pilot)
        score = properties.create_property(app.db, "score", "number")
        first = int(app.db.execute("SELECT min(id) FROM images").fetchone()[0])
        properties.set_values(app.db, score, [first], 7.0)
        await pilot.press("e")
        await opened(pilot, ExportDialog)
        await fill_form(pilot, {"file": str(target), "format": "panoptic"}, submit=False)
        assert "Export all images as Panoptic's CSV" in screen_text(app)
        await pilot.click("#ok")
        await settle(pilot)
        assert app.jobs["export"].state == "done"
        lines = target.read_text().splitlines()
        assert lines[0] == "path;tags[multi_tags];score[number]"
        assert any(line.endswith(";7") or line.endswith(";7.0") for line in lines[1:])
        # A Parquet name for Panoptic's CSV: said in the form.
        await pilot.press("e")
        await opened(pilot, ExportDialog)
        await fill_form(pilot, {"file": str(tmp_path / "p.parquet"), "format": "panoptic"})
        assert isinstance(app.screen, ExportDialog)
        assert "Panoptic's CSV: name a .csv file" in screen_text(app)

    drive(scenario)


def test_a_query_answer_is_offered_and_a_selection_proposed_first(drive, tmp_path):
    target = tmp_path / "answer.csv"

    async def scenario(app, pilot):
        await settle(pilot)
        ids = [int(i) for (i,) in app.db.execute("SELECT id FROM images ORDER BY id").fetchall()]
        chosen = ids[3:7]
        app.open_results(RankedImages("four images", [(i, None) for i in chosen]))
        await settle(pilot)
        await wait_for(pilot, lambda: app.screen.total == len(chosen), what="the answer")
        await pilot.press("e")
        await opened(pilot, ExportDialog)
        scope = app.screen.query_one("#field-scope", Select)
        # A query's answer is offered (not proposed: it used to export every image).
        assert scope.value == "all"
        assert [value for _, value in app.screen.fields[1].options] == ["view", "all"]
        await fill_form(pilot, {"file": str(target), "scope": "view"}, submit=False)
        assert "Export the view shown (four images)" in screen_text(app)
        await pilot.click("#ok")
        await settle(pilot)
        with open(target, newline="") as f:
            assert sorted(int(r["image_id"]) for r in csv.DictReader(f)) == chosen
        # With a selection, the selection comes first and is proposed.
        await pilot.press("space")
        await pilot.press("e")
        await opened(pilot, ExportDialog)
        assert app.screen.query_one("#field-scope", Select).value == "selection"
        options = [value for _, value in app.screen.fields[1].options]
        assert options == ["selection", "view", "all"]
        assert "Export the 1 selected image" in screen_text(app)

    drive(scenario)
