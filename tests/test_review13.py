"""Issue 13's review, as a user tried it: the fixes of what they tripped on."""

from __future__ import annotations

import pytest
import tui_helpers
from helpers import run_cli
from tui_helpers import fill_form, settle, wait_for

from panoptui.core import properties, store
from panoptui.tui.screens.dialogs import FormDialog
from panoptui.tui.screens.explore import ClustersScreen
from panoptui.tui.screens.results import ResultsScreen

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive


def test_a_folder_holding_a_project_says_where_it_is(tmp_path):
    store.open_project(tmp_path / "demo" / "project", create=True).close()
    done = run_cli("status", str(tmp_path / "demo"))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"panoptui: {tmp_path / 'demo'} holds the project {tmp_path / 'demo' / 'project'}: "
        "give that path"
    )


def test_a_built_in_field_is_said_to_be_read_only(project):
    con = store.open_project(project)
    with pytest.raises(store.ProjectError, match="'width' is a built-in field, read from the"):
        properties.get_property(con, "width")
    con.close()
    done = run_cli("set", str(project), "Width", "5", "--ids", "1")
    assert done.returncode == 1 and "'Width' is a built-in field" in done.stderr


def test_a_screen_key_goes_back_to_that_screen_from_a_findings_screen(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="the dialog")
        await fill_form(pilot, {"k": 3})
        await wait_for(pilot, lambda: isinstance(app.screen, ClustersScreen), what="clusters")
        await pilot.press("3")  # Results: its own key leaves the clusters for it
        await pilot.pause()
        assert isinstance(app.screen, ResultsScreen)
        await pilot.press("f")  # a dialog stays when its screen's key is typed in it
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="the filter")
        app.screen.query_one("#field-tag").focus()
        await pilot.press("3")
        await pilot.pause()
        assert isinstance(app.screen, FormDialog)

    drive(scenario)


def test_images_with_a_limit_say_how_many_the_filter_takes(project):
    done = run_cli("images", str(project), "--where", "width > 0", "--limit", "2")
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 3  # header and two
    con = store.open_project(project, read_only=True)
    total = store.scalar(con, "SELECT count(*) FROM images WHERE width > 0")
    con.close()
    assert done.stderr.strip() == f"the first 2 of {total} images (--limit)"


def test_id_is_a_filter_name_and_a_checkbox_takes_the_words_set_takes(project):
    from panoptui.core import filters

    con = store.open_project(project)
    first = [int(i) for (i,) in con.execute("SELECT id FROM images ORDER BY id LIMIT 5").fetchall()]
    assert filters.matching_ids(con, f"id <= {first[-1]}").tolist() == first
    keep = properties.create_property(con, "keep", "checkbox")
    properties.set_values(con, keep, first[:2], properties.parse_value("checkbox", "yes"))
    for word in ("yes", "true", "1", "x"):
        assert filters.matching_ids(con, f"keep = {word}").tolist() == first[:2], word
    with pytest.raises(filters.FilterError, match="keep is a checkbox: give true or false"):
        filters.compile_filter(con, "keep = maybe")
    con.close()
