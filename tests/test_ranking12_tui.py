"""The orderings from the Results grid: D (diverse images) and o (most representative or most
unusual first) run as jobs and show their images ranked, each with its score."""

from __future__ import annotations

import tui_helpers
from tui_helpers import PER_FAMILY, fill_form, settle, wait_for

from panoptui.core import cluster, query, ranking, store
from panoptui.tui.sources import RankedImages

TOTAL = 6 * PER_FAMILY
demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive


def test_diverse_and_orders_from_the_results_grid(drive, project):
    con = store.open_project(project)
    matrix = query.VectorMatrix.load(con, 1)
    con.close()

    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen

        def source_titled(words: str) -> bool:
            source = results.view.source
            return isinstance(source, RankedImages) and words in source.title

        await pilot.press("D")
        await fill_form(pilot, {"n": 6})
        await settle(pilot)
        await wait_for(pilot, lambda: source_titled("diverse"), what="the diverse images")
        expected = ranking.diverse_sample(matrix, 6)
        assert results.view.source.ranked == [(r.image_id, r.score) for r in expected]
        assert [i.image_id for i in results.items] == [r.image_id for r in expected]
        # Shown with their scores; the first, the most central, has none (nothing before it).
        assert results.items[0].score is None
        assert all(i.score is not None for i in results.items[1:])

        # Unusual, among the six shown: the same order as the core's, outliers first.
        await pilot.press("o")
        await fill_form(pilot, {"by": "unusual", "k": 4})
        await settle(pilot)
        await wait_for(pilot, lambda: source_titled("unusual"), what="the unusual order")
        six = [r.image_id for r in expected]
        core = ranking.rank_unusual(matrix, 4, within=six)
        assert results.view.source.ranked == [(r.image_id, r.score) for r in core]

        # Representative needs a clustering: the job fails with what to do, nothing changes.
        await pilot.press("escape", "escape")
        await settle(pilot)
        await pilot.press("o")
        await fill_form(pilot, {"by": "representative"})
        await settle(pilot)
        assert not isinstance(results.view.source, RankedImages)
        said = "\n".join(n.message for n in app._notifications)
        assert "no clustering yet" in said

    drive(scenario)

    con = store.open_project(project)
    cluster.cluster_set(con, 1, 3, "three")
    cluster.cluster_set(con, 1, 2, "two")  # the newest: "three" is chosen in the form
    _, expected = ranking.rank_representative(con, matrix, 1, "three")
    con.close()

    async def representative(app, pilot):
        await settle(pilot)
        results = app.screen
        await pilot.press("o")
        await fill_form(pilot, {"by": "representative", "clustering": "three"})
        await settle(pilot)
        await wait_for(
            pilot,
            lambda: isinstance(results.view.source, RankedImages),
            what="the representative order",
        )
        assert "three" in results.view.source.title
        assert results.view.source.ranked == [(r.image_id, r.score) for r in expected]
        assert len(expected) == TOTAL

    drive(representative)
