"""Defects a reviewer found trying issue 11's Results screen as a user: a filter dialog over a
tag that is gone, Enter on a list field with nothing chosen, the image under the cursor kept
when the page size changes, keys typed while a page loads, and the words of the palette and
the export dialog."""

from __future__ import annotations

import time

import tui_helpers
from textual.widgets import Select
from tui_helpers import screen_text, settle, wait_for

from panoptui.core import tags
from panoptui.tui.screens.dialogs import FormDialog
from panoptui.tui.screens.results import ResultsScreen
from panoptui.tui.sources import AllImages

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive


def test_filter_over_a_tag_deleted_meanwhile_opens_blank_and_enter_opens_the_list(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        assert isinstance(results, ResultsScreen)
        first = results.items[0].image_id
        tags.tag_images(app.db, "gone", [first])
        results.show(AllImages(tags_filter("gone")))
        await settle(pilot)
        tags.delete_tag(app.db, "gone")  # as from the Tags screen, while Results shows it
        await pilot.press("f")  # crashed: the select's default is no longer an option
        await settle(pilot)
        assert isinstance(app.screen, FormDialog)
        field = app.screen.query_one("#field-tag", Select)
        assert field.is_blank()
        field.focus()  # the filter expression comes first now (issue 13); the tag is below it
        await pilot.pause()
        assert app.focused is field
        await pilot.press("enter")  # nothing chosen: the list opens, no blank submit
        await settle(pilot)
        assert isinstance(app.screen, FormDialog) and field.expanded

    drive(scenario)


def tags_filter(name: str):
    from panoptui.core.browse import ImageFilter

    return ImageFilter(tag=name)


def test_the_image_under_the_cursor_stays_when_tiles_and_the_pane_change(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        await pilot.press("pagedown", "right", "down")
        await settle(pilot)
        before = results.current_item.image_id
        for key in ("plus", "minus", "minus", "i", "i"):
            await pilot.press(key)
            await settle(pilot)
            assert results.current_item.image_id == before, key

    drive(scenario, size=(120, 36))


def test_tag_pressed_right_after_pagedown_tags_the_image_of_the_new_page(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        page = results.capacity
        read_page = results._read_page

        def slow_read(*args):  # a page that takes a moment, as over a slow disk
            time.sleep(0.3)
            return read_page(*args)

        results._read_page = slow_read
        await pilot.press("pagedown", "t")  # `t` comes while the next page loads
        assert not results.items  # it did
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="tag dialog")
        await pilot.press(*"later", "enter")
        await settle(pilot)
        assert results.view.offset == page
        tagged = tags.tag_members(app.db, "later").tolist()
        assert tagged == [results.items[0].image_id]

    drive(scenario)


def test_the_palette_names_keys_as_typed_and_export_says_it_takes_the_selection(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert commands["Bigger tiles"] == "key +"
        assert "tile(" not in " ".join(commands.values())
        await pilot.press("space", "right", "space", "e")
        await settle(pilot)
        assert isinstance(app.screen, FormDialog)
        assert "Export the 2 selected images" in screen_text(app)

    drive(scenario)


def test_a_held_pagedown_over_slow_pages_draws_pages_on_the_way(project, drive):
    """Where a page takes longer to make than keys take to come (sixel pictures: milliseconds
    each), the grid still follows a held key: pages passed by are drawn on the way, and it
    settles on the page the keys stopped on."""
    from panoptui.core import browse, settings, store
    from panoptui.tui.images import Drawing

    con = store.open_project(project)
    settings.save(con, {"tile_size": "giant"})  # one image a page at 80x24: 36 pages
    con.close()

    class SlowDrawing(Drawing):
        def picture(self, jpeg, width, height):
            time.sleep(0.15)
            return super().picture(jpeg, width, height)

    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        app.drawing = SlowDrawing("halfcell")
        passed = []
        show_passing = results._show_passing
        results._show_passing = lambda page: (passed.append(page.offset), show_passing(page))
        for _ in range(30):  # a held key: one every 40 ms, faster than a page is made
            await pilot.press("pagedown")
            await pilot.pause(0.04)
        await settle(pilot)
        assert passed and all(0 < offset < 30 for offset in passed)
        assert results.view.offset == 30
        ids = browse.filter_ids(app.db, browse.ImageFilter()).tolist()
        assert [i.image_id for i in results.items] == ids[30:31]

    drive(scenario)
