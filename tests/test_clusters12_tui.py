"""Issue 12, clusters (terminal app): each cluster a row of its most representative pictures;
enter opens it most representative first; a cluster renamed; one cluster named into a tag."""

from __future__ import annotations

import tui_helpers
from tui_helpers import fill_form, screen_text, settle

from panoptui.core import cluster, tags
from panoptui.core.query import VectorMatrix
from panoptui.tui.screens.explore import ClusterList, ClusterRow, ClustersScreen
from panoptui.tui.screens.results import ResultsScreen
from panoptui.tui.widgets.picture import Picture

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive


def shown_pictures(row: ClusterRow) -> list[Picture]:
    return [p for p in row.query(Picture) if p.display]


async def make_clusters(app, pilot) -> ClustersScreen:
    await settle(pilot)
    await pilot.press("c")
    await fill_form(pilot, {"k": 3, "name": "three"})
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, ClustersScreen)
    return screen


def test_rows_show_the_most_representative_pictures_as_many_as_fit(drive):
    async def scenario(app, pilot):
        screen = await make_clusters(app, pilot)
        matrix = VectorMatrix.load(app.db, cluster.clustering_set(app.db, "three"))
        rows = list(screen.query(ClusterRow))
        assert [r.cluster.label for r in rows] == [0, 1, 2]
        narrow = len(shown_pictures(rows[0]))
        assert narrow >= 2
        for row in rows:
            pictures = shown_pictures(row)
            assert len(pictures) == min(narrow, row.cluster.size)
            assert all(p.strips for p in pictures[: row.cluster.size])
            # The first pictures are the images closest to the centre.
            expected = cluster.by_representativeness(matrix, row.cluster.ids)
            assert screen.ranked[row.cluster.label] == expected
        assert "cluster   0" in screen_text(app) and "cohesion" in screen_text(app)

        await pilot.resize_terminal(140, 30)
        await settle(pilot)
        await pilot.pause(0.2)
        await settle(pilot)
        wide = len(shown_pictures(rows[0]))
        assert wide > narrow
        assert all(p.strips for p in shown_pictures(rows[0])[: rows[0].cluster.size])

    drive(scenario)


def test_enter_opens_the_cluster_most_representative_first(drive):
    async def scenario(app, pilot):
        screen = await make_clusters(app, pilot)
        await pilot.press("down")
        assert screen.query_one(ClusterList).highlighted == 1
        chosen = screen.clusters[1]
        await pilot.press("enter")
        await settle(pilot)
        results = app.screen
        assert isinstance(results, ResultsScreen)
        expected = cluster.representative_members(app.db, "three", chosen.label)
        assert results.view.source.ranked == expected
        assert [i.image_id for i in results.items] == [i for i, _ in expected][: len(results.items)]
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ClustersScreen)
        assert app.screen.query_one(ClusterList).highlighted == 1

    drive(scenario)


def test_rename_a_cluster_and_name_one_into_a_tag(drive):
    async def scenario(app, pilot):
        screen = await make_clusters(app, pilot)
        await pilot.press("down", "R")
        await fill_form(pilot, {"name": "[b]stripes"})
        await settle(pilot)
        assert app.screen is screen
        assert cluster.cluster_names(app.db, "three") == {1: "[b]stripes"}
        assert "[b]stripes" in screen_text(app)  # shown literally, not as markup
        # A name taken by another cluster is refused, and nothing changes.
        await pilot.press("up", "R")
        await fill_form(pilot, {"name": "[b]stripes"})
        await settle(pilot)
        assert cluster.cluster_names(app.db, "three") == {1: "[b]stripes"}

        await pilot.press("down", "T")
        await fill_form(pilot, {"tag": "chosen"})
        await settle(pilot)
        members = sorted(tags.tag_members(app.db, "chosen").tolist())
        assert members == sorted(screen.clusters[1].ids)
        assert [c.name for c in cluster.load_clustering(app.db, "three")][1] == "[b]stripes"

    drive(scenario)
