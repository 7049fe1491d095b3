"""Issue 12, the map as a picture: braille dots that fill the canvas on the theme's colours,
coloured by a clustering of the same vector set (or a tag family the user picks) with a legend,
zoom and pan, and a box that selects the images inside."""

from __future__ import annotations

import numpy as np
import tui_helpers
from tui_helpers import fill_form, settle, wait_for

from panoptui.core import cluster, projection, tags
from panoptui.tui.jobs import start_map
from panoptui.tui.screens.dialogs import FormDialog
from panoptui.tui.screens.explore import THUMB_CELLS, THUMBS_AT, MapScreen, Scatter

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive


def drawn(scatter: Scatter) -> list[str]:
    return [scatter.render_line(y).text for y in range(scatter.size.height)]


def dots(lines: list[str]) -> int:
    """Raised braille dots on the lines."""
    return sum(bin(ord(c) - 0x2800).count("1") for line in lines for c in line if "⠀" <= c <= "⣿")


def test_the_map_fills_its_canvas_with_coloured_dots_a_legend_zoom_and_a_box(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        cluster.cluster_set(app.db, 1, 3, "c3")
        start_map(app, 1, "pca")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MapScreen) and screen.set_id == 1
        scatter = screen.query_one(Scatter)
        lines = drawn(scatter)
        # Every image is a dot (two in one dot overlap), spread over the whole canvas.
        assert dots(lines) >= 0.8 * len(screen.ids)
        rows = [y for y, line in enumerate(lines) if line.strip("⠀ +")]
        columns = [x for x in range(scatter.size.width) if any(ln[x] not in " ⠀+" for ln in lines)]
        assert rows[0] <= 1 and rows[-1] >= scatter.size.height - 2
        assert columns[0] <= 1 and columns[-1] >= scatter.size.width - 2
        # Coloured by the newest clustering of the set, named with its counts in the legend.
        legend = str(screen.query_one("#map-legend").render())
        assert "clustering c3" in str(screen.query_one("#explore-title").render())
        sizes = {f"cluster {c.label}": c.size for c in cluster.load_clustering(app.db, "c3")}
        for name, size in sizes.items():
            assert f"{name} {size}" in legend
        coloured = {
            s.style.color.triplet
            for y in range(scatter.size.height)
            for s in scatter.render_line(y)
            if s.text.strip("⠀ ") and s.style and s.style.color and s.style.color.triplet
        }
        assert len(coloured) >= 3
        # The dots are drawn on the widget's own background (the theme's), not a fixed one.
        assert {s.style.bgcolor for s in scatter.render_line(0)} == {scatter.rich_style.bgcolor}

        # Zoom in: fewer images in view, the title says so; zoom out: all again.
        before = int((scatter.cells[:, 0] >= 0).sum())
        await pilot.press("plus", "plus")
        await pilot.pause()
        assert scatter.zoom == 4 and int((scatter.cells[:, 0] >= 0).sum()) < before
        assert "zoom ×4" in str(screen.query_one("#explore-title").render())
        centre = scatter.centre
        await pilot.press("l")
        await pilot.pause()
        assert scatter.centre[0] > centre[0]
        await pilot.press("0")
        await pilot.pause()
        assert scatter.zoom == 1 and int((scatter.cells[:, 0] >= 0).sum()) == len(screen.ids)

        # A box from the top left corner to the middle selects exactly the images inside.
        w, h = scatter.size.width, scatter.size.height
        scatter.cursor = (0, 0)
        await pilot.press("v")
        for _ in range(w // 2):
            await pilot.press("right")
        for _ in range(h // 2):
            await pilot.press("down")
        await pilot.press("v")
        await pilot.pause()
        cells = scatter.cells
        inside = (cells[:, 0] <= w // 2) & (cells[:, 1] <= h // 2) & (cells[:, 0] >= 0)
        assert 0 < inside.sum() < len(screen.ids)
        assert app.selection == {int(i) for i in screen.ids[inside]}

        # Colour by a tag family instead: the legend names its tags.
        tags.create_tag(app.db, "kind")
        tags.create_tag(app.db, "kind/odd", parent="kind")
        tags.tag_images(app.db, "kind/odd", [int(i) for i in screen.ids[::2]])
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog))
        options = [str(p) for p, _ in app.screen.fields[0].options]
        await fill_form(pilot, {"colour": options.index("tag kind")})
        await settle(pilot)
        assert app.screen is screen
        legend = str(screen.query_one("#map-legend").render())
        assert f"kind/odd {len(screen.ids[::2])}" in legend and "none " in legend
        assert "tags under kind" in str(screen.query_one("#explore-title").render())

    drive(scenario, size=(100, 30))


def test_colour_choices_are_the_sets_clusterings_newest_first_then_tag_families(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        cluster.cluster_set(app.db, 1, 2, "two")
        cluster.cluster_set(app.db, 1, 3, "three")
        tags.create_tag(app.db, "fam")
        tags.create_tag(app.db, "fam/a", parent="fam")
        choices = projection.colour_choices(app.db, 1)
        assert choices[:2] == [("clustering", "three"), ("clustering", "two")]
        assert ("tag", "fam") in choices
        ids = np.array(sorted(i for (i,) in app.db.execute("SELECT id FROM images").fetchall()))
        found = projection.colouring(app.db, 1, ids, newest_clustering=True)
        assert found.title == "clustering three" and len(found.names) == 3
        assert sum(n for _, _, n in found.legend()) == len(ids)

    drive(scenario)


def test_zoomed_in_to_a_few_images_the_map_draws_their_thumbnails(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        start_map(app, 1, "pca")
        await settle(pilot)
        screen = app.screen
        scatter = screen.query_one(Scatter)
        assert scatter.thumbs == []  # the whole map: dots only
        while len(scatter.in_view()) > THUMBS_AT:
            x, y = scatter.cells[scatter.in_view()[0]]
            scatter.cursor = (int(x), int(y))  # zoom in at an image, so that it stays in view
            await pilot.press("plus")
            await pilot.pause()
        shown = scatter.in_view()
        assert 0 < len(shown) <= THUMBS_AT and len(scatter.thumbs) == len(shown)
        left, top, rows = scatter.thumbs[0]
        line = scatter.render_line(top + 1)
        assert line.text[left : left + THUMB_CELLS[0]].strip("▀▄ ") == ""  # half blocks there
        colours = {
            (s.style.color, s.style.bgcolor)
            for s in line.crop(left, left + THUMB_CELLS[0])
            if s.style
        }
        assert len(colours) > 1  # the picture's pixels
        await pilot.press("0")  # the whole map again: no thumbnails
        await pilot.pause()
        assert scatter.thumbs == []

    drive(scenario, size=(100, 30))
