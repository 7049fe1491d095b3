"""Issue 13 in the TUI: the filter bar (f) with completion, sort, grouping rows with their
counts, a group opened as a filter, and named views kept in the project and switched with
< and > (also after a restart)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
import tui_helpers
from textual.widgets import Input
from tui_helpers import make_app, screen_text, settle, wait_for

from panoptui.core import browse, filters, properties, store, views
from panoptui.tui.screens.dialogs import FormDialog
from panoptui.tui.screens.groups import GroupRow, GroupsScreen
from panoptui.tui.sources import AllImages

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive


@pytest.fixture
def annotated(project):
    con = store.open_project(project)
    images = [int(i) for (i,) in con.execute("SELECT id FROM images ORDER BY id").fetchall()]
    published = properties.create_property(con, "published", "date")
    for n, image in enumerate(images):
        properties.set_values(con, published, [image], datetime(1985 + n % 10, 1, 1))
    topics = properties.create_property(con, "topics", "multi_tag")
    properties.set_values(con, topics, images[:5], ["protest"])
    properties.set_values(con, topics, images[5:8], ["protest", "police"])
    con.close()
    return project


async def open_filter(pilot) -> FormDialog:
    await settle(pilot)
    await pilot.press("f")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, FormDialog), what="the dialog")
    return pilot.app.screen


async def show_filtered(pilot, where: str):
    """Filter the Results screen through the bar, and wait until it shows the view (a loaded
    machine closes the form later); returns the Results screen."""
    dialog = await open_filter(pilot)
    dialog.query_one("#field-where", Input).value = where
    await pilot.press("enter")
    results = pilot.app.screen_stack[0]

    def filtered() -> bool:
        source = getattr(results, "view", None) and results.view.source
        return isinstance(source, AllImages) and source.flt.where == where

    await wait_for(pilot, filtered, what="the view filtered")
    await settle(pilot)
    return results


def test_the_filter_bar_completes_filters_and_sorts(drive, annotated):
    async def scenario(app, pilot):
        dialog = await open_filter(pilot)
        where = dialog.query_one("#field-where", Input)
        assert where.has_focus  # typed at once, as a bar
        for key in "topi":
            await pilot.press(key)
        await pilot.press("tab")  # completes the name
        assert where.value == "topics"
        for key in " h":
            await pilot.press(key)
        await pilot.press("tab")
        assert where.value == "topics has any ("
        for key in "pol":
            await pilot.press(key)
        await pilot.press("tab")
        assert where.value == "topics has any (police"
        await pilot.press(")")
        dialog.query_one("#field-sort", Input).value = "-published"
        await pilot.press("enter")
        await settle(pilot)
        results = app.screen
        flt = results.view.source.flt
        assert (flt.where, flt.sort) == ("topics has any (police)", "-published")
        expected = filters.select_ids(app.db, flt.where, flt.sort)
        assert results.total == 3 and [item.image_id for item in results.items] == expected
        assert "where topics has any (police), sorted by -published" in screen_text(app)

    drive(scenario)


def test_a_bad_filter_is_said_in_the_bar_with_its_column(drive, annotated):
    async def scenario(app, pilot):
        dialog = await open_filter(pilot)
        dialog.query_one("#field-where", Input).value = "publshed > 1990"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog  # stays open
        said = " ".join(screen_text(app).replace("█", " ").split())
        assert "filter error at column 1: no property named 'publshed'; did you" in said
        assert "mean published?" in said

    drive(scenario)


def test_grouping_shows_a_row_per_group_and_opens_one(drive, annotated):
    async def scenario(app, pilot):
        dialog = await open_filter(pilot)
        dialog.query_one("#field-where", Input).value = "topics is set"
        dialog.query_one("#field-group", Input).value = "published:year"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupsScreen), what="groups")
        await settle(pilot)
        groups = app.screen
        rows = list(groups.query(GroupRow))
        expected = filters.group_counts(app.db, "published:year", "topics is set")
        assert [(r.value, r.count) for r in rows] == expected
        assert sum(r.count for r in rows) == 8
        text = screen_text(app)
        assert "grouped by published:year: 8 groups" in text and "1 image" in text
        await pilot.press("down", "enter")
        await settle(pilot)
        results = app.screen
        assert isinstance(results.view.source, AllImages)
        assert results.total == expected[1][1]
        flt = results.view.source.flt
        assert "published >= 1986-01-01 and published < 1987-01-01" in (flt.where or "")
        await pilot.press("escape")  # back to the groups, on the same row
        await wait_for(pilot, lambda: isinstance(app.screen, GroupsScreen), what="back")

    drive(scenario)


def test_views_are_kept_switched_with_keys_and_survive_a_restart(annotated):
    async def first(app, pilot):
        dialog = await open_filter(pilot)
        dialog.query_one("#field-where", Input).value = "published >= 1990-01-01"
        dialog.query_one("#field-view", Input).value = "recent"
        await pilot.press("enter")
        await settle(pilot)
        dialog = await open_filter(pilot)
        dialog.query_one("#field-where", Input).value = "topics has any (protest)"
        dialog.query_one("#field-sort", Input).value = "-published"
        dialog.query_one("#field-view", Input).value = "protests"
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.view.source.flt.where == "topics has any (protest)"

    async def second(app, pilot):
        await settle(pilot)
        assert [v.name for v in views.list_views(app.db)] == ["recent", "protests"]
        await pilot.press("greater_than_sign")
        await settle(pilot)
        results = app.screen
        assert results.view.source.flt.where == "published >= 1990-01-01"
        recent = browse.count_images(app.db, browse.ImageFilter(where="published >= 1990-01-01"))
        assert results.total == recent
        await pilot.press("greater_than_sign")
        await settle(pilot)
        assert results.view.source.flt.sort == "-published" and results.total == 8
        await pilot.press("greater_than_sign")  # round again
        await settle(pilot)
        assert results.view.source.flt.where == "published >= 1990-01-01"
        await pilot.press("less_than_sign")
        await settle(pilot)
        assert results.view.source.flt.where == "topics has any (protest)"

    async def run(scenario) -> None:
        app = make_app(annotated)
        async with app.run_test(size=(100, 30)) as pilot:
            await scenario(app, pilot)

    asyncio.run(run(first))
    asyncio.run(run(second))


def test_a_property_is_set_on_the_selection_in_one_step_and_shown(drive, annotated):
    from panoptui.tui.widgets.grid import DetailPane

    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        await pilot.press("space", "right", "space")  # two images selected
        chosen = sorted(app.selection)
        assert len(chosen) == 2
        await pilot.press("P")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="the dialog")
        await tui_helpers.fill_form(
            pilot, {"property": "", "name": "source", "type": "text", "value": "[b]press[/b]"}
        )
        await settle(pilot)
        prop = properties.get_property(app.db, "source")
        assert properties.values_of(app.db, prop, chosen) == {i: "[b]press[/b]" for i in chosen}
        # Tags added to a multi-tag property keep those it holds.
        await pilot.press("P")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="the dialog")
        await tui_helpers.fill_form(pilot, {"property": "topics", "value": "riot", "add": True})
        await settle(pilot)
        topics = properties.get_property(app.db, "topics")
        assert properties.values_of(app.db, topics, chosen[:1]) == {chosen[0]: ["protest", "riot"]}
        # A value that does not fit the type is said, and nothing changes.
        await pilot.press("P")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="the dialog")
        await tui_helpers.fill_form(pilot, {"property": "published", "value": "soon"})
        await settle(pilot)
        assert "'soon' is not a date" in "\n".join(n.message for n in app._notifications)
        published = properties.get_property(app.db, "published")
        assert all(
            isinstance(v, datetime)
            for v in properties.values_of(app.db, published, chosen).values()
        )
        # A new property's name given while another is chosen (the list's default): the new
        # one is made and set, the one chosen is left as it was.
        before = properties.values_of(app.db, published, chosen)
        await pilot.press("P")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="the dialog")
        assert app.screen.query_one("#field-property").value == "published"
        await tui_helpers.fill_form(pilot, {"name": "rating", "type": "number", "value": "4"})
        await settle(pilot)
        rating = properties.get_property(app.db, "rating")
        assert properties.values_of(app.db, rating, chosen) == {i: 4.0 for i in chosen}
        assert properties.values_of(app.db, published, chosen) == before
        # A blank value clears nothing: clearing is asked for.
        await pilot.press("P")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="the dialog")
        await tui_helpers.fill_form(pilot, {"property": "published"})
        await settle(pilot)
        assert "give a value" in "\n".join(n.message for n in app._notifications)
        assert properties.values_of(app.db, published, chosen) == before
        await pilot.press("P")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="the dialog")
        await tui_helpers.fill_form(pilot, {"property": "rating", "clear": True})
        await settle(pilot)
        assert properties.values_of(app.db, rating, chosen) == {}
        # The detail pane shows the values, literally.
        pane = results.query_one(DetailPane)
        if not pane.display:  # shown at once on a wide terminal
            await pilot.press("i")
        await settle(pilot)
        await wait_for(pilot, lambda: "[b]press[/b]" in screen_text(app), what="the pane")
        assert pane.display

    drive(scenario, size=(120, 40))


def test_duplicates_and_the_map_run_among_the_images_of_the_view(drive):
    from panoptui.tui.screens.explore import DuplicatesScreen, MapScreen

    async def scenario(app, pilot):
        await show_filtered(pilot, "format = PNG")
        png = set(filters.matching_ids(app.db, "format = PNG").tolist())
        assert 0 < len(png) < store.scalar(app.db, "SELECT count(*) FROM images")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="the dialog")
        await tui_helpers.fill_form(pilot, {"threshold": 0.5})
        await wait_for(pilot, lambda: isinstance(app.screen, DuplicatesScreen), what="groups")
        groups = app.screen.groups
        assert groups and all(set(g) <= png for g in groups)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="the dialog")
        await tui_helpers.fill_form(pilot, {"method": "pca"})
        await wait_for(pilot, lambda: isinstance(app.screen, MapScreen), what="the map")
        assert set(app.screen.ids.tolist()) == png
        # The saved map is the whole set's: a later map of all images has every point.
        saved = store.scalar(app.db, "SELECT count(*) FROM map_points WHERE method = 'pca'")
        assert saved == store.scalar(app.db, "SELECT count(*) FROM images")

    drive(scenario)


def test_recommendations_come_from_the_images_of_the_view(drive):
    from panoptui.tui.sources import RankedImages

    async def scenario(app, pilot):
        results = await show_filtered(pilot, "format = PNG")
        png = set(filters.matching_ids(app.db, "format = PNG").tolist())
        await pilot.press("space")  # the first PNG, selected
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="the dialog")
        await tui_helpers.fill_form(pilot, {"k": 8})

        def recommended() -> bool:
            source = results.view.source
            return isinstance(source, RankedImages) and "recommended" in source.title

        await wait_for(pilot, recommended, what="the recommendations")
        found = [i for i, _ in results.view.source.ranked]
        assert found and set(found) <= png
        assert "among where format = PNG" in results.view.source.title

    drive(scenario)
