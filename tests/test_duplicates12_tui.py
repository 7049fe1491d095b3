"""The duplicates screen (issue 12), driven with Pilot: each group as its pictures with their
numbers, a keeper and the others tagged, a group marked "not duplicates" that no later run
proposes again (the project reopened), identical copies listed, and the histogram."""

from __future__ import annotations

import tui_helpers
from tui_helpers import fill_form, make_app, screen_text, settle, wait_for

from panoptui.core import duplicates, store, tags
from panoptui.tui.screens.explore import DuplicateCard, DuplicateList, DuplicatesScreen
from panoptui.tui.widgets.picture import Picture

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive


def add_exact_copy(project) -> int:
    """A second path for the first image (identical bytes): its id."""
    con = store.open_project(project)
    con.execute(
        "INSERT INTO files SELECT * REPLACE (id + 100000 AS id, path || '-copy.png' AS path, "
        "rel_path || '-copy.png' AS rel_path) FROM files WHERE id = (SELECT min(id) FROM files)"
    )
    image_id = int(store.scalar(con, "SELECT image_id FROM files WHERE id > 100000"))
    con.close()
    return image_id


async def open_duplicates(app, pilot, threshold: float = 0.5) -> DuplicatesScreen:
    await settle(pilot)
    await pilot.press("d")
    await fill_form(pilot, {"threshold": threshold})
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, DuplicatesScreen)
    return screen


def test_groups_as_pictures_keeper_tag_not_duplicates_and_histogram(project, drive):
    copied = add_exact_copy(project)
    marked: list[int] = []

    async def scenario(app, pilot):
        screen = await open_duplicates(app, pilot)
        rows = screen.query_one(DuplicateList).rows
        near = [r for r in rows if r.kind == "near"]
        exact = [r for r in rows if r.kind == "exact"]
        assert near and len(near) == len(screen.groups)
        assert [r.ids for r in exact] == [[copied, copied]]
        first = near[0]
        shown_scores = lambda: first.scores[: len(first.cards)]  # noqa: E731
        await wait_for(pilot, lambda: None not in shown_scores(), what="scores")
        assert shown_scores()[0] == 1.0 and all(s >= 0.5 for s in shown_scores())
        assert all(p.strips or p.styles.background for p in first.query(Picture))
        text = screen_text(app)
        assert "×" in text and "1.000" in text and "identical" in text
        # The second image is the keeper; the others are tagged duplicate-of/<keeper>.
        await pilot.press("right", "k")
        assert first.cards[1].has_class("-keeper")
        await pilot.press("D")
        keeper = first.ids[1]
        members = tags.tag_members(app.db, f"duplicate-of/{keeper}").tolist()
        assert sorted(members) == sorted(i for i in first.ids if i != keeper)
        # Not duplicates: the group leaves the list, and is remembered.
        marked.extend(first.ids)
        await pilot.press("n")
        await pilot.pause()
        assert first not in screen.query_one(DuplicateList).rows
        assert first.ids not in screen.groups
        # The histogram of nearest-neighbour cosines and the groups per threshold.
        await pilot.press("h")
        await settle(pilot)
        shown = screen_text(app)
        assert "nearest-neighbour cosine" in shown and "▸0.5:" in shown

    drive(scenario)
    pairs = {(a, b) for a in marked for b in marked if a < b}
    con = store.open_project(project)
    assert pairs and pairs <= duplicates.not_duplicate_pairs(con)
    con.close()

    async def reopened(app, pilot):
        screen = await open_duplicates(app, pilot)
        for group in screen.groups:  # never two of the marked group together again
            assert len(set(group) & set(marked)) <= 1

    drive(reopened)


def test_an_identical_copy_has_nothing_to_keep(project, drive):
    add_exact_copy(project)

    async def scenario(app, pilot):
        screen = await open_duplicates(app, pilot, threshold=0.9999)
        rows = screen.query_one(DuplicateList)
        rows.highlighted = len(rows.rows) - 1  # the identical copies come last
        await pilot.press("k")
        assert not any(c.has_class("-keeper") for c in rows.rows[-1].query(DuplicateCard))

    drive(scenario)


assert make_app  # the app is made by the drive fixture
