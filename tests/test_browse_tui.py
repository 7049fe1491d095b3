"""Browsing on the Results screen (issue 11), driven with Pilot on the 36-image demo at 80x24:
bulk selection (all shown, the page, a range with shift and the arrows, invert, clear) and what
acts on it, skimming with a burst of PageDowns, tile sizes kept in the settings, and the search
by file name."""

from __future__ import annotations

import csv

import tui_helpers
from tui_helpers import PER_FAMILY, fill_form, screen_text, settle, wait_for

from panoptui.core import browse, settings, store, tags
from panoptui.tui.screens.dialogs import FormDialog
from panoptui.tui.screens.results import ResultsScreen
from panoptui.tui.widgets.grid import TILE_CELLS, DetailPane, ThumbGrid
from panoptui.tui.widgets.picture import Picture

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive

TOTAL = 6 * PER_FAMILY


def ids_in_order(con) -> list[int]:
    return browse.filter_ids(con, browse.ImageFilter()).tolist()


def status(app) -> str:
    return str(app.screen.query_one("#results-status").render())


def test_bulk_selection_all_pages_page_range_invert_clear_and_tag(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        assert isinstance(results, ResultsScreen)
        everything = ids_in_order(app.db)
        page = results.capacity
        assert len(everything) == TOTAL and page < TOTAL  # several pages
        # Everything shown, on every page, not only the visible one.
        await pilot.press("asterisk")
        await settle(pilot)
        assert app.selection == set(everything)
        assert f"{TOTAL} selected" in screen_text(app)
        # Clear: `X` (`x` is left to cancelling a job).
        await pilot.press("X")
        await settle(pilot)
        assert app.selection == set() and "selected" not in status(app)
        # The page; again: unselected.
        await pilot.press("v")
        assert app.selection == set(everything[:page])
        assert f"{page} selected" in status(app)
        await pilot.press("v")
        assert app.selection == set()
        # Invert among all shown: everything but what was selected.
        await pilot.press("space", "tilde")
        await settle(pilot)
        assert app.selection == set(everything[1:])
        await pilot.press("X")
        # A range: shift with the arrows selects what the cursor passes over, the image it
        # leaves included; on to the next page too.
        await pilot.press("shift+right", "shift+right")
        await settle(pilot)
        assert app.selection == set(everything[:3])
        await pilot.press("X", "home")
        await pilot.press(*["right"] * (page - 1))  # the page's last image
        await pilot.press("shift+right")
        await settle(pilot)
        assert app.selection == {everything[page - 1], everything[page]}
        assert results.view.offset == page
        columns = results.query_one(ThumbGrid).columns
        await pilot.press("X", "shift+down")  # a whole row's worth, the two ends included
        await settle(pilot)
        assert app.selection == set(everything[page : page + columns + 1])
        # Tag acts on the selection, every page of it.
        await pilot.press("X", "asterisk")
        await settle(pilot)
        await pilot.press("t")
        await fill_form(pilot, {"tag": "everything"})
        await settle(pilot)
        assert sorted(tags.tag_members(app.db, "everything").tolist()) == everything
        # Untag too.
        await pilot.press("u")
        await fill_form(pilot, {"tag": "everything"})
        await settle(pilot)
        assert len(tags.tag_members(app.db, "everything")) == 0

    drive(scenario)


def test_select_all_takes_only_the_images_shown(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        await pilot.press("F")
        await fill_form(pilot, {"filter": "checker"})
        await settle(pilot)
        assert results.total == PER_FAMILY
        await pilot.press("asterisk")
        await settle(pilot)
        checker = {i for i, p in browse.page_images(app.db, 0, TOTAL) if "/checker_" in p}
        assert app.selection == checker
        # Invert among the images shown leaves the others alone.
        await pilot.press("escape")  # back to all images
        await settle(pilot)
        await pilot.press("space")  # the first image, a checker: unselected
        await pilot.press("tilde")
        await settle(pilot)
        first = results.items[0].image_id
        assert app.selection == set(ids_in_order(app.db)) - (checker - {first})

    drive(scenario)


def test_a_burst_of_30_pagedowns_settles_on_page_31(project, drive):
    con = store.open_project(project)
    settings.save(con, {"tile_size": "giant"})  # one image a page at 80x24: 36 pages
    con.close()

    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        assert results.capacity == 1 and results.total == TOTAL
        await pilot.press(*["pagedown"] * 30)
        # The status line follows the keys at once, before any page has loaded.
        assert f"page 31/{TOTAL}" in status(app)
        await settle(pilot)
        assert results.view.offset == 30
        assert [i.image_id for i in results.items] == ids_in_order(app.db)[30:31]
        assert f"page 31/{TOTAL}" in status(app)

    drive(scenario)


def test_tile_size_keys_change_the_grid_and_are_kept_in_the_settings(project, drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        grid = results.query_one(ThumbGrid)
        assert grid.tile == "medium"
        medium = results.capacity
        await pilot.press("minus", "minus")
        await settle(pilot)
        assert grid.tile == "tiny" and results.capacity >= 24  # at 80x24
        assert len(results.items) == results.capacity
        cell = grid.query("Cell").first()
        assert (cell.region.width, cell.region.height) == TILE_CELLS["tiny"]
        assert settings.load(app.db).tile_size == "tiny"
        await pilot.press("minus")  # already the smallest: said, nothing changes
        assert "smallest" in "\n".join(n.message for n in app._notifications)
        assert grid.tile == "tiny"
        await pilot.press("plus", "plus", "plus")
        await settle(pilot)
        assert grid.tile == "large" and results.capacity < medium
        assert settings.load(app.db).tile_size == "large"
        # The Settings screen shows it, and a size chosen there is the grid's on return.
        await pilot.press("5")
        await settle(pilot)
        chooser = app.screen.query_one("#tile_size")
        assert chooser.value == "large"
        chooser.value = "small"
        await pilot.press("ctrl+s")
        await pilot.press("3")
        await settle(pilot)
        assert app.screen is results and grid.tile == "small"
        assert len(results.items) == results.capacity > medium
        await pilot.press("plus", "plus")
        await settle(pilot)

    drive(scenario)
    # Opened again: the size the user chose.
    con = store.open_project(project, read_only=True)
    try:
        assert settings.load(con).tile_size == "large"
    finally:
        con.close()


def test_find_by_name_substring_glob_and_bad_glob(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        await pilot.press("F")
        await fill_form(pilot, {"filter": "CIRCLES_"})  # a substring, case ignored
        await settle(pilot)
        assert results.total == PER_FAMILY
        assert all("/circles_" in i.path for i in results.items)
        assert "name CIRCLES_" in status(app)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("F")
        await fill_form(pilot, {"filter": "*_00[12].png"})  # a glob on the file name
        await settle(pilot)
        names = sorted(i.path.rsplit("/", 1)[-1] for i in results.items)
        assert names and all(n.endswith(".png") for n in names)
        assert {n[-7:-4] for n in names} <= {"001", "002"} and results.total == len(names)
        # A glob that cannot match anything as typed: one line, and the form stays open.
        await pilot.press("F")
        await fill_form(pilot, {"filter": "checker_[0"})
        assert isinstance(app.screen, FormDialog)
        assert "a [ without its closing ]" in screen_text(app)

    drive(scenario)


def test_similar_acts_on_the_selection(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        await pilot.press("v")  # the page
        chosen = set(app.selection)
        await pilot.press("s")
        await fill_form(pilot, {"k": 5})
        await settle(pilot)
        await wait_for(pilot, lambda: "similar to the" in status(app), what="the hits")
        assert f"similar to the {len(chosen)} selected images" in status(app)
        shown = {i.image_id for i in results.items}
        assert shown and not shown & chosen  # like the selection, not the selection again

    drive(scenario)


def test_export_acts_on_the_selection(drive, tmp_path):
    target = tmp_path / "page.csv"

    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        await pilot.press("v")  # the page
        chosen = {i.image_id for i in results.items}
        await pilot.press("e")
        await fill_form(pilot, {"file": str(target)})
        await settle(pilot)
        with open(target, newline="") as f:
            assert {int(r["image_id"]) for r in csv.DictReader(f)} == chosen
        assert len(chosen) < TOTAL

    drive(scenario)


def test_the_detail_pane_uses_the_room_it_has_and_says_small_sizes_in_bytes(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        pane = results.query_one(DetailPane)
        preview = pane.query_one(Picture)
        assert pane.display  # wide enough: shown from the start
        assert pane.outer_size.width == 160 // 3 and preview.size.width > 40
        assert preview.size.height == round(preview.size.width * 3 / 8) + 1  # a 4:3 picture
        assert len(preview.strips) > 14  # drawn at that size, not a fixed 14 lines
        small = next(n for n, i in enumerate(results.items) if i.path.endswith("_003.png"))
        await pilot.press(*["right"] * small)
        await settle(pilot)
        size = browse.image_details(app.db, results.current_item.image_id).size
        assert size < 1024 and f"{size} B" in screen_text(app)
        assert "0 KiB" not in screen_text(app)

    drive(scenario, size=(160, 45))


def test_a_query_runs_among_the_images_a_name_search_found(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        await pilot.press("F")
        await fill_form(pilot, {"filter": "checker_"})
        await settle(pilot)
        await pilot.press("s")
        await fill_form(pilot, {"k": 10})
        await settle(pilot)
        await wait_for(pilot, lambda: "similar to" in status(app), what="the hits")
        assert results.total == PER_FAMILY - 1  # the others found by name, not 10
        assert all("/checker_" in i.path for i in results.items)

    drive(scenario)
