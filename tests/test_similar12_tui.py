"""Issue 12, similar and recommendations: scores on every tile, a minimum score set with `[` and
`]`, similar from an outside image file and among the whole project or the filter shown, and
recommendations refused for a tag (R, or `panoptui tag --refuse`) never proposed again, also
after the project is opened again."""

from __future__ import annotations

import asyncio
import json
import shutil

import tui_helpers
from helpers import run_cli
from tui_helpers import fill_form, make_app, screen_text, settle

from panoptui.core import query, settings, store, tags, vector_sets
from panoptui.tui.screens.dialogs import FormDialog
from panoptui.tui.sources import RankedImages
from panoptui.tui.widgets.grid import Cell

# The shared fixtures: a demo project built once, a fresh copy of it per test.
demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive


def shown_ids(results) -> list[int]:
    return [i for i, _ in results.view.source.shown]


async def similar(pilot, values: dict) -> None:
    await pilot.press("s")
    await settle(pilot)
    await fill_form(pilot, values)
    await settle(pilot)


def test_every_tile_shows_its_score_at_every_tile_size(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        await similar(pilot, {"k": 12})
        source = results.view.source
        assert isinstance(source, RankedImages) and source.scored
        for tile in settings.TILE_SIZES:
            results.query_one("#grid").set_tile(tile)
            await settle(pilot)
            cells = [c for c in results.query(Cell) if c.display]
            assert cells, tile
            for cell, item in zip(cells, results.items, strict=False):
                caption = str(cell.query_one(".caption").render())
                # The score comes first: a narrow tile cuts the name, never the score.
                assert caption.startswith(f"{item.score:.3f}"), (tile, caption)
        # The hint comes last on the status line (at 80 columns, it may be cut there).
        assert "[ ]: min score" in str(results.query_one("#results-status").render())

    drive(scenario)


def test_min_score_keys_narrow_the_grid_and_bring_it_back(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        await similar(pilot, {"k": 30})
        source = results.view.source
        everything = list(source.ranked)
        low = min(s for _, s in everything)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        first = source.min_score
        assert first is not None and first > low
        assert results.total == sum(1 for _, s in everything if s >= first) < len(everything)
        assert f"min score {first:.2f}" in screen_text(app)
        for _ in range(3):
            await pilot.press("right_square_bracket")
        await settle(pilot)
        assert source.min_score == round(first + 0.15, 2)
        assert all(s >= source.min_score for _, s in source.shown)
        assert all(item.score >= source.min_score for item in results.items)
        assert results.total == len(source.shown) < len(everything)
        for _ in range(10):  # down past the lowest score: no minimum, every image again
            await pilot.press("left_square_bracket")
        await settle(pilot)
        assert source.min_score is None and results.total == len(everything)
        assert "min score 0" not in screen_text(app)

    drive(scenario)


def test_similar_to_an_outside_image_file(drive, tmp_path):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        original = results.items[3]
        outside = tmp_path / "elsewhere" / "copy.jpg"
        outside.parent.mkdir()
        shutil.copy(original.path, outside)
        await pilot.press("s")
        await settle(pilot)
        await fill_form(pilot, {"k": 5, "file": "/no/such/image.jpg"})
        assert isinstance(app.screen, FormDialog)  # refused in the form, said there
        assert "no file /no/such/image.jpg" in screen_text(app)
        await fill_form(pilot, {"file": str(outside)})
        await settle(pilot)
        source = results.view.source
        assert isinstance(source, RankedImages) and "copy.jpg" in source.title
        # The copy's bytes are the original's: the project's image comes first, scored about 1
        # (the file's thumbnail is made anew).
        assert source.ranked[0][0] == original.image_id
        assert source.ranked[0][1] > 0.999
        assert len(source.ranked) == 5

    drive(scenario)


def test_similar_scope_is_shown_and_switchable(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        chosen = [i.image_id for i in results.items[:6]]
        tags.tag_images(app.db, "few", chosen)
        await pilot.press("f")
        await fill_form(pilot, {"tag": "few"})
        await settle(pilot)
        assert results.total == 6
        await pilot.press("s")
        await settle(pilot)
        assert "the images shown: tag few" in screen_text(app)
        await fill_form(pilot, {"k": 10})  # the default: among the images shown
        await settle(pilot)
        assert set(shown_ids(results)) <= set(chosen) and len(shown_ids(results)) == 5
        assert "among tag few" in results.view.source.title
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        await fill_form(pilot, {"k": 10, "scope": "all"})
        await settle(pilot)
        assert len(shown_ids(results)) == 10 and set(shown_ids(results)) - set(chosen)

    drive(scenario)


def test_similar_without_a_filter_says_the_whole_project(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert "among the whole project" in screen_text(app)

    drive(scenario)


def test_refused_recommendations_stay_refused_after_reopening(project):
    con = store.open_project(project)
    seed = int(con.execute("SELECT min(id) FROM images").fetchone()[0])
    con.close()

    async def first(app, pilot):
        await settle(pilot)
        tags.tag_images(app.db, "mine", [seed])
        await pilot.press("f")
        await fill_form(pilot, {"tag": "mine"})
        await settle(pilot)
        results = app.screen
        await pilot.press("r")
        await fill_form(pilot, {"k": 6})
        await settle(pilot)
        ranked = shown_ids(results)
        assert "R: refuse" in screen_text(app)
        await pilot.press("R")  # the one under the cursor
        await settle(pilot)
        await pilot.press("space", "right", "space", "R")  # two selected ones
        await settle(pilot)
        assert shown_ids(results) == ranked[3:]
        assert app.selection == set()
        assert tags.tag_members(app.db, "mine").tolist() == [seed]  # refused: not tagged
        return ranked[:3]

    async def again(app, pilot):
        await settle(pilot)
        await pilot.press("f")
        await fill_form(pilot, {"tag": "mine"})
        await settle(pilot)
        await pilot.press("r")
        await fill_form(pilot, {"k": 6})
        await settle(pilot)
        return shown_ids(app.screen)

    async def in_app(scenario):
        app = make_app(project)
        async with app.run_test(size=(140, 30)) as pilot:  # the hint fits
            return await scenario(app, pilot)

    refused = asyncio.run(in_app(first))
    proposed = asyncio.run(in_app(again))  # a new app: the project opened again
    assert len(proposed) == 6 and not set(refused) & set(proposed)
    con = store.open_project(project)
    assert query.refused(con, "mine") == set(refused)
    con.close()


def test_core_recommend_leaves_out_refused_images(project):
    con = store.open_project(project)
    set_id = vector_sets.list_sets(con)[0].id
    matrix = query.VectorMatrix.load(con, set_id)
    group = [int(matrix.ids[0])]
    tags.tag_images(con, "t", group)
    before = [h.image_id for h in query.recommend(con, matrix, group, 5, tag="t")]
    assert query.refuse_recommendations(con, "t", before[:2]) == 2
    assert query.refuse_recommendations(con, "t", before[:2]) == 0  # already refused
    after = [h.image_id for h in query.recommend(con, matrix, group, 5, tag="t")]
    assert after[:3] == before[2:] and not set(before[:2]) & set(after)
    # Per tag: another tag, or no tag, still gets them.
    assert [h.image_id for h in query.recommend(con, matrix, group, 5)] == before
    assert [h.image_id for h in query.recommend(con, matrix, group, 5, tag="other")] == before
    con.close()


def test_cli_refuse_then_recommend(project):
    con = store.open_project(project)
    seed = int(con.execute("SELECT min(id) FROM images").fetchone()[0])
    con.close()
    p = str(project)
    assert run_cli("tag", p, "mine", "--ids", str(seed)).returncode == 0
    before = json.loads(run_cli("recommend", p, "--tag", "mine", "-k", "4", "--json").stdout)
    ids = [h["id"] for h in before]
    done = run_cli("tag", p, "mine", "--refuse", f"{ids[0]},{ids[1]}")
    assert done.returncode == 0 and "refused 2 more images for 'mine'" in done.stdout
    assert "made the tag" not in done.stdout  # it existed
    # Refusing for a tag not made yet makes it, empty, and says so.
    done = run_cli("tag", p, "later", "--refuse", str(ids[0]))
    assert done.returncode == 0 and "(made the tag 'later', still empty)" in done.stdout
    after = json.loads(run_cli("recommend", p, "--tag", "mine", "-k", "4", "--json").stdout)
    assert [h["id"] for h in after][:2] == ids[2:] and not {ids[0], ids[1]} & {
        h["id"] for h in after
    }
    bad = run_cli("tag", p, "mine", "--refuse", "999999")
    assert bad.returncode == 1 and "no image 999999" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_a_deleted_tag_takes_its_refusals_along(project):
    # Tag ids are reused (max + 1): a tag made after a deletion must not inherit refusals.
    con = store.open_project(project)
    first = int(con.execute("SELECT min(id) FROM images").fetchone()[0])
    query.refuse_recommendations(con, "old", [first])
    old_id = tags.get_tag(con, "old")
    tags.delete_tag(con, "old")
    tags.create_tag(con, "new")
    assert tags.get_tag(con, "new") == old_id
    assert query.refused(con, "new") == set()
    con.close()


def test_top_k_leaves_out_a_large_exclude_set_like_a_small_one():
    # Over 64 ids, top_k leaves them out in one vectorised pass: same answer as one by one.
    import numpy as np

    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(2000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    matrix = query.VectorMatrix(np.arange(1, 2001, dtype=np.int64), vectors)
    target = vectors[0]
    scores = vectors @ target
    best = [int(i) + 1 for i in np.argsort(-scores, kind="stable")]
    excluded = set(best[:100:2])  # every other one of the best 100
    got = [i for i, _ in matrix.top_k(target, 30, exclude=excluded)]
    assert got == [i for i in best if i not in excluded][:30]
    few = set(best[:10:2])
    assert [i for i, _ in matrix.top_k(target, 30, exclude=few)] == [
        i for i in best if i not in few
    ][:30]
