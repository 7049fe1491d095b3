"""Issue 13: the properties on the Tags screen (``p`` shows them in place of the tags): each
with its type, what it belongs to and how many hold a value; ``n`` makes one, ``R`` renames,
``T`` changes the type (a refusal says why in one line), ``del`` deletes after a question that
counts the values that go (ctrl+z brings them back), ``enter`` shows the images holding a value.
A read-only project refuses every change."""

from __future__ import annotations

import pytest
import tui_helpers
from tui_helpers import fill_form, screen_text, settle, wait_for

from panoptui.core import properties, store
from panoptui.tui.screens.dialogs import ConfirmDialog, FormDialog
from panoptui.tui.screens.properties_list import PropertiesList
from panoptui.tui.screens.results import ResultsScreen
from panoptui.tui.screens.tags import TagsScreen

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive

ODD = "source [b]x[/b]"  # markup in a name: shown as it is, never read


@pytest.fixture
def annotated(project):
    """The demo project with a text property on three images (one value not a number) and a
    file-mode number property holding none."""
    con = store.open_project(project)
    ids = [int(i) for (i,) in con.execute("SELECT id FROM images ORDER BY id LIMIT 3").fetchall()]
    prop = properties.create_property(con, ODD, "text")
    properties.set_each(con, prop, [(ids[0], "12"), (ids[1], "7.5"), (ids[2], "archive")])
    properties.create_property(con, "year", "number", "file")
    con.close()
    return ids


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


def listed(app) -> dict[str, tuple[str, ...]]:
    """The properties list as shown: name -> (type, belongs to, values)."""
    table = app.screen.query_one(PropertiesList)
    rows = [tuple(str(c) for c in table.get_row_at(n)) for n in range(table.row_count)]
    return {row[0]: row[1:] for row in rows}


def current(app) -> str | None:
    summary = app.screen.query_one(PropertiesList).highlighted
    return None if summary is None else summary.property.name


async def answer(pilot, values: dict, stays: bool = False) -> None:
    """Fill the form a key opened (once it is open: later on a loaded machine), then wait until
    it closes (unless it ``stays``: refused in the form) and the app settles."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="the form")
    await fill_form(pilot, values)
    if not stays:
        await wait_for(pilot, lambda: not isinstance(app.screen, FormDialog), what="closed")
    await settle(pilot)


async def to_properties(app, pilot, name: str | None = None) -> None:
    """Show the properties (from the Tags screen) and put the cursor on ``name``."""
    await settle(pilot)
    assert isinstance(app.screen, TagsScreen)
    await pilot.press("p")
    await pilot.pause()
    if name is not None:
        names = list(listed(app))
        await pilot.press(*["down"] * names.index(name))
        await pilot.pause()
        assert current(app) == name


def test_p_shows_the_properties_literally_and_p_again_the_tags(annotated, drive):
    async def scenario(app, pilot):
        await to_properties(app, pilot)
        assert listed(app) == {
            "tags": ("multi_tag", "image", "0 images"),
            ODD: ("text", "image", "3 images"),
            "year": ("number", "file", "0 files"),
        }
        shown = screen_text(app)
        assert ODD in shown  # the markup as typed, not bold x
        assert "3 properties · n: new · T: change the type · p: the tags" in shown
        assert " tag " not in shown.splitlines()[3]  # the tags' header is gone
        await pilot.press("p")
        await pilot.pause()
        assert not app.screen.query_one(PropertiesList).display
        assert "0 tags" in screen_text(app) and ODD not in screen_text(app)
        # n and T act on properties only: with the tags shown they do nothing.
        await pilot.press("n", "T")
        await pilot.pause()
        assert isinstance(app.screen, TagsScreen)

    drive(scenario, start="tags")


def test_n_makes_a_property_and_a_built_in_name_is_said_in_the_form(annotated, project, drive):
    async def scenario(app, pilot):
        await to_properties(app, pilot)
        await pilot.press("n")
        await answer(pilot, {"name": "width", "type": "number", "mode": "image"}, stays=True)
        assert isinstance(app.screen, FormDialog)  # refused: the form stays open, and says why
        said = str(app.screen.query_one("#form-error").render())
        assert said.startswith("'width' is a built-in field"), said
        await answer(pilot, {"name": "published", "type": "date", "mode": "file"})
        assert isinstance(app.screen, TagsScreen)
        assert listed(app)["published"] == ("date", "file", "0 files")
        assert current(app) == "published"  # the cursor goes to the new one
        assert notes(app)[-1] == "created the date property 'published' (file)"

    drive(scenario, start="tags")
    con = store.open_project(project, read_only=True)
    made = properties.get_property(con, "published")
    assert (made.type, made.mode) == ("date", "file")
    assert properties.find_property(con, "width") is None
    con.close()


def test_r_renames_and_a_taken_name_is_refused(annotated, project, drive):
    async def scenario(app, pilot):
        await to_properties(app, pilot, ODD)
        await pilot.press("R")
        await answer(pilot, {"name": "year"})  # another property's name
        assert notes(app)[-1] == "a property 'year' exists already (case is ignored)"
        assert ODD in listed(app)
        await pilot.press("R")
        await answer(pilot, {"name": "source"})
        assert "source" in listed(app) and ODD not in listed(app)
        assert current(app) == "source"

    drive(scenario, start="tags")
    con = store.open_project(project, read_only=True)
    renamed = properties.get_property(con, "source")
    assert len(properties.all_values(con, renamed)) == 3
    con.close()


def test_t_refuses_a_type_its_values_do_not_fit_and_says_how_many(annotated, project, drive):
    async def scenario(app, pilot):
        await to_properties(app, pilot, ODD)
        await pilot.press("T")
        await answer(pilot, {"type": "number"})
        refusal = notes(app)[-1]
        assert refusal.startswith(f"cannot make '{ODD}' a number: 1 of 3 values do not fit")
        assert "\n" not in refusal
        assert listed(app)[ODD][0] == "text"  # nothing changed
        await pilot.press("T")
        await answer(pilot, {"type": "multi_tag"})  # every value fits as one tag
        assert notes(app)[-1] == f"'{ODD}' is a multi_tag now (3 values converted)"
        assert listed(app)[ODD] == ("multi_tag", "image", "3 images")

    drive(scenario, start="tags")
    con = store.open_project(project, read_only=True)
    prop = properties.get_property(con, ODD)
    assert sorted(v[0] for v in properties.all_values(con, prop).values()) == [
        "12",
        "7.5",
        "archive",
    ]
    con.close()


def test_delete_asks_with_the_count_and_ctrl_z_brings_it_back(annotated, project, drive):
    async def scenario(app, pilot):
        await to_properties(app, pilot, ODD)
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert app.screen.question.startswith(f"Delete property {ODD} and its values on 3 images?")
        await pilot.press("n")  # no: nothing goes
        await pilot.pause()
        assert ODD in listed(app)
        await pilot.press("delete")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert ODD not in listed(app)
        assert notes(app)[-1] == f"deleted the property '{ODD}' and 3 values"
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert notes(app)[-1] == f"undid: delete the property '{ODD}' (3 values)"
        assert listed(app)[ODD] == ("text", "image", "3 images")  # the list read again

    drive(scenario, start="tags")
    con = store.open_project(project, read_only=True)
    prop = properties.get_property(con, ODD)
    assert dict(sorted(properties.all_values(con, prop).items())) == dict(
        zip(annotated, ["12", "7.5", "archive"], strict=True)
    )
    con.close()


def test_enter_shows_the_images_holding_a_value(annotated, drive):
    async def scenario(app, pilot):
        await to_properties(app, pilot, ODD)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ResultsScreen)
        assert app.screen.total == 3
        assert sorted(i.image_id for i in app.screen.items) == annotated
        await pilot.press("4")
        await settle(pilot)
        assert current(app) == ODD  # still the properties, the cursor where it was
        await pilot.press("down", "enter")  # year: held by no file
        await settle(pilot)
        assert isinstance(app.screen, ResultsScreen) and app.screen.total == 0

    drive(scenario, start="tags")


def test_a_read_only_project_refuses_every_change_to_properties(annotated, project, drive):
    stamp = (project / store.DB_NAME).stat().st_mtime_ns

    async def scenario(app, pilot):
        await to_properties(app, pilot, ODD)
        refused = [
            ("n", "create a property"),
            ("R", "rename a property"),
            ("T", "change a property's type"),
            ("delete", "delete a property"),
        ]
        for key, what in refused:
            await pilot.press(key)
            await pilot.pause()
            assert f"read-only project: cannot {what}" in notes(app)[-1], what
            assert not isinstance(app.screen, (FormDialog, ConfirmDialog)), what
        assert listed(app)[ODD] == ("text", "image", "3 images")

    drive(scenario, start="tags", read_only=True)
    assert (project / store.DB_NAME).stat().st_mtime_ns == stamp


def test_the_delete_question_counts_values_tags_and_files():
    from panoptui.tui.screens.properties_list import delete_question

    def summary(type_: str, mode: str, values: int) -> properties.Summary:
        return properties.Summary(properties.Property(7, "p", type_, mode), values)

    assert delete_question(summary("text", "image", 1)).startswith(
        "Delete property p and its values on 1 image?"
    )
    assert delete_question(summary("multi_tag", "file", 2_500)).startswith(
        "Delete property p and its tags on 2,500 files?"
    )
    assert delete_question(summary("date", "image", 0)) == (
        "Delete property p? (it holds no value; images stay)"
    )
