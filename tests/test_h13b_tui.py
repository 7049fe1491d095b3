"""Issue 13: ctrl+z and ctrl+shift+z (or ctrl+y) in the app take back the last annotation
change and make it again, as `panoptui undo` does, and say what they did."""

from __future__ import annotations

import tui_helpers
from textual.widgets import DataTable
from tui_helpers import settle

from panoptui.core import journal, store, tags
from panoptui.tui.screens.tags import TagsScreen

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


def tag_names(app) -> list[str]:
    table = app.screen.query_one(DataTable)
    return [str(table.get_row_at(n)[0]).strip() for n in range(table.row_count)]


def test_ctrl_z_undoes_the_last_change_and_ctrl_shift_z_redoes_it(project, drive):
    con = store.open_project(project)
    tags.tag_images(con, "cats", [1, 2])
    tags.rename_tag(con, "cats", "felines")  # the change to take back: made before a restart
    con.close()

    async def scenario(app, pilot):
        await settle(pilot)
        assert isinstance(app.screen, TagsScreen)
        assert tag_names(app) == ["felines"]
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert notes(app)[-1] == "undid: rename the tag 'cats' to 'felines'"
        assert tag_names(app) == ["cats"]  # the screen shown reads the project again
        await pilot.press("ctrl+shift+z")
        await pilot.pause()
        assert notes(app)[-1] == "redid: rename the tag 'cats' to 'felines'"
        assert tag_names(app) == ["felines"]
        await pilot.press("ctrl+z", "ctrl+z")
        await pilot.pause()
        assert notes(app)[-1] == "undid: tag 2 images 'cats'"
        assert tag_names(app) == []
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert notes(app)[-1] == "nothing to undo"
        await pilot.press("ctrl+y")  # redo, where a terminal cannot tell ctrl+shift+z
        await pilot.pause()
        assert notes(app)[-1] == "redid: tag 2 images 'cats'"
        assert tag_names(app) == ["cats"]

    drive(scenario, start="tags")
    con = store.open_project(project, read_only=True)
    assert [e.undone for e in journal.history(con)] == [False, True]
    con.close()


def test_a_read_only_project_is_not_undone(project, drive):
    con = store.open_project(project)
    tags.tag_images(con, "cats", [1, 2])
    con.close()
    (project / store.DB_NAME).chmod(0o444)

    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert "read-only project: cannot undo" in notes(app)[-1]
        assert tag_names(app) == ["cats"]

    try:
        drive(scenario, start="tags", read_only=True)
    finally:
        (project / store.DB_NAME).chmod(0o644)
