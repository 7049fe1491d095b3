"""Issue 12, the gaps of the duplicates screen and the map's box, driven with Pilot: each card
shows its image's path (shortened from the left, literally), the histogram is a job with progress
and cancel whose end reaches the screen even when it was made again, the title's count follows
"not duplicates", a keeper survives opening a group and coming back, and the box being drawn on
the map is outlined where there are no dots."""

from __future__ import annotations

import threading

import tui_helpers
from rich.cells import cell_len
from tui_helpers import fill_form, screen_text, settle, wait_for

from panoptui.core import duplicates, store
from panoptui.tui.jobs import start_map
from panoptui.tui.screens.explore import (
    CARD_WIDTH,
    DuplicateList,
    DuplicatesScreen,
    MapScreen,
    Scatter,
    path_lines,
)
from panoptui.tui.widgets.job_progress import JobProgress

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive

# A second path of the first image (identical bytes): deep, with markup and a control character.
ODD_COPY = "/deep/folders/that/do/not/fit/[b]x\x1by/2019/march/IMG_0042.jpg"


def add_copy_at(project, path: str) -> int:
    """A second path for the first image: its id."""
    con = store.open_project(project)
    con.execute(
        "INSERT INTO files SELECT * REPLACE (id + 100000 AS id, ? AS path, ? AS rel_path) "
        "FROM files WHERE id = (SELECT min(id) FROM files)",
        [path, path.lstrip("/")],
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


def test_a_path_is_cut_from_the_left_in_two_lines_of_a_card():
    assert path_lines("/a/b.jpg") == ["/a/b.jpg"]
    assert path_lines("/a/" + "x" * 20) == ["/a/xx", "x" * 18]
    long = "/home/me/photos/archive/2019/march/IMG_0042.jpg"
    cut = path_lines(long)
    assert len(cut) == 2 and all(cell_len(line) <= CARD_WIDTH for line in cut)
    assert cut[0].startswith("…") and "".join(cut).endswith("/2019/march/IMG_0042.jpg")
    assert long.endswith("".join(cut)[1:])
    # Wide characters count two cells; control characters are escapes, never raw.
    wide = path_lines("/x/" + "写真" * 12 + "/😀.jpg")
    assert all(cell_len(line) <= CARD_WIDTH for line in wide) and wide[-1].endswith("😀.jpg")
    assert "\x1b" not in "".join(path_lines("/a\x1b[31m/b.jpg"))


def test_cards_show_each_path_literally_and_identical_copies_their_own(project, drive):
    copied = add_copy_at(project, ODD_COPY)

    async def scenario(app, pilot):
        screen = await open_duplicates(app, pilot, threshold=0.9999)
        rows = screen.query_one(DuplicateList)
        exact = [r for r in rows.rows if r.kind == "exact"]
        assert [r.ids for r in exact] == [[copied, copied]]
        rows.highlighted = rows.rows.index(exact[0])
        await pilot.pause()
        cards = exact[0].cards
        assert sorted(c.path == ODD_COPY for c in cards) == [False, True]
        second = next(c for c in cards if c.path == ODD_COPY)
        first = next(c for c in cards if c is not second)
        text = screen_text(app)
        # The copy's path: its end on the card, cut from the left, markup and escape shown.
        assert "[b]x\\x1by/2019/" in text and "march/IMG_0042.jpg" in text
        shown = "".join(str(line) for line in path_lines(ODD_COPY))
        assert shown.startswith("…") and "[b]x\\x1by" in shown
        card_text = str(second.query_one(".card-text").render())
        assert "…" in card_text and "IMG_0042.jpg" in card_text
        # The other card shows its own path's end, not the copy's.
        own = str(first.query_one(".card-text").render())
        assert first.path.rsplit("/", 1)[-1] in own and "IMG_0042" not in own
        assert str(second.tooltip).endswith("IMG_0042.jpg")

    drive(scenario, size=(120, 40))


def test_histogram_job_shows_progress_cancels_and_reaches_a_screen_made_again(drive, monkeypatch):
    real = duplicates.histogram
    release = threading.Event()
    calls = []

    def held(matrix, thresholds, progress, cancel, excluded=None, **kwargs):
        calls.append(1)
        # Held until the test lets it go or cancels it; then the real one (which stops at its
        # first check of a cancel already asked for).
        while not release.is_set() and not cancel.is_set():
            release.wait(0.02)
        return real(
            matrix, thresholds, progress=progress, cancel=cancel, excluded=excluded, **kwargs
        )

    monkeypatch.setattr(duplicates, "histogram", held)

    async def scenario(app, pilot):
        screen = await open_duplicates(app, pilot)
        line = screen.query_one("#explore-job", JobProgress)
        await pilot.press("h")
        await wait_for(pilot, lambda: line.display, what="the job line")
        assert "histogram of set 1" in screen_text(app)
        assert "computing" in screen_text(app)
        await pilot.press("x")
        await settle(pilot)
        assert not line.display and "histogram cancelled" in screen_text(app)
        assert "nearest-neighbour cosine 0" not in screen_text(app)

        # Again, and it ends while the user looks at a group's images: the screen made again
        # on the way back shows it.
        await pilot.press("h")
        await wait_for(pilot, lambda: len(calls) == 2, what="the second run")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, DuplicatesScreen))
        release.set()
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        again = app.screen
        assert isinstance(again, DuplicatesScreen) and again is not screen
        text = screen_text(app)
        assert "nearest-neighbour cosine 0 " in text and "▸0.5:" in text and "groups" in text

    drive(scenario)


def test_title_count_follows_not_duplicates_and_the_keeper_survives_coming_back(project, drive):
    add_copy_at(project, "/elsewhere/copy.png")

    async def scenario(app, pilot):
        screen = await open_duplicates(app, pilot)
        count = len(screen.groups)
        assert count >= 2
        title = str(screen.query_one("#explore-title").render())
        assert f"{count} groups of near-duplicates" in title
        # The identical copies come after the near groups: the title says where, and end
        # reaches them.
        assert "1 image with identical copies (listed last: end)" in title
        await pilot.press("end")
        rows = screen.query_one(DuplicateList)
        assert rows.current() is rows.rows[-1] and rows.rows[-1].kind == "exact"
        await pilot.press("home")
        await pilot.press("h")
        await settle(pilot)
        assert screen.state.histogram is not None
        await pilot.press("n")
        await pilot.pause()
        title = str(screen.query_one("#explore-title").render())
        assert f"{count - 1} groups of near-duplicates" in title
        # The histogram counted the pairs before: it goes, and says how to have it again.
        assert screen.state.histogram is None
        assert "h: the histogram again" in str(screen.query_one("#duplicates-histogram").render())
        # The keeper of the (new) first group, then its images, then back: still the keeper.
        await pilot.press("right", "k")
        kept = screen.query_one(DuplicateList).rows[0].cards[1]
        assert kept.has_class("-keeper")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        again = app.screen
        assert isinstance(again, DuplicatesScreen) and again is not screen
        cards = again.query_one(DuplicateList).rows[0].cards
        assert [c.has_class("-keeper") for c in cards[:2]] == [False, True]
        assert "★ keep" in screen_text(app)

    drive(scenario)


def test_the_box_being_drawn_is_outlined_and_escape_drops_it(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        start_map(app, 1, "pca")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MapScreen)
        scatter = screen.query_one(Scatter)

        def drawn() -> list[str]:
            return [scatter.render_line(y).text for y in range(scatter.size.height)]

        assert not any(c in "".join(drawn()) for c in "┌┐└┘─│")
        scatter.cursor = (2, 2)
        await pilot.press("v")
        for _ in range(10):
            await pilot.press("right")
        for _ in range(6):
            await pilot.press("down")
        await pilot.pause()
        lines = drawn()
        # Corners and sides where no dot is (a dot on the outline is reversed instead).
        top, bottom = lines[2], lines[8]
        assert top[2] in "┌⠀" or "⠀" <= top[2] <= "⣿"
        assert bottom[12] == "+"  # the cursor, at the far corner
        outline = [top[x] for x in range(3, 12)] + [bottom[x] for x in range(3, 12)]
        assert sum(c == "─" for c in outline) + sum("⠁" <= c <= "⣿" for c in outline) == 18
        assert "─" in "".join(outline) or "│" in "".join(ln[2] for ln in lines[3:8])
        inside = scatter.render_line(5)
        tinted = {s.style.bgcolor for s in inside.crop(3, 12)}
        accent = scatter.get_component_rich_style("scatter--box").color
        assert len(tinted) == 1 and not tinted & {scatter.rich_style.bgcolor, accent}
        box = str(screen.query_one("#map-box").render())
        assert "arrows grow the box" in box and "esc drops it" in box
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and scatter.corner is None
        assert not any(c in "".join(drawn()) for c in "┌┐└┘─│")
        assert not screen.query_one("#map-box").display

    drive(scenario, size=(120, 40))
