"""Ranking by representative and unusual, and diverse samples, on generated vectors: the
orderings are right, blocks give what one full matrix gives, progress ends at its total, a
cancel stops the job."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from panoptui.core import ranking
from panoptui.core.progress import Cancelled, Progress
from panoptui.core.query import VectorMatrix


def planted(clusters: int = 5, per: int = 40, dim: int = 32, seed: int = 0) -> np.ndarray:
    """``clusters`` tight groups of ``per`` unit vectors around random centres; the row
    ``n`` belongs to the group ``n // per``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    x = np.repeat(centres, per, axis=0) + 0.05 * rng.normal(size=(clusters * per, dim))
    return ranking.normalised(x.astype(np.float32))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_planted_outlier_comes_first_and_blocks_equal_the_full_matrix(monkeypatch, dtype):
    from panoptui.core import duplicates

    # bfloat16 products pick candidates whose float32 cosines decide: among near ties (these
    # clusters are tight) a candidate may stand in for a neighbour within bfloat16's margin.
    monkeypatch.setattr(duplicates, "MATMUL_DTYPE", dtype)
    x = planted()
    rng = np.random.default_rng(9)
    x[17] = ranking.normalised(rng.normal(size=(1, x.shape[1])).astype(np.float32))[0]
    ids = np.arange(1000, 1000 + len(x))
    monkeypatch.setattr(ranking, "BLOCK_SCORES", len(x) * 7)  # blocks of 7 rows
    ranked = ranking.rank_unusual(VectorMatrix(ids, x), k=5)
    assert ranked[0].image_id == 1017
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
    # The same distances as from the whole matrix at once.
    full = x @ x.T
    np.fill_diagonal(full, -np.inf)
    expected = 1 - np.sort(full, axis=1)[:, -5:].mean(axis=1)
    got = {r.image_id: r.score for r in ranked}
    margin = 1e-5 if dtype == "float32" else duplicates.BFLOAT16_MARGIN
    assert np.allclose([got[i] for i in ids], expected, atol=margin)


def test_unusual_ranks_only_the_images_shown_against_the_whole_set():
    x = planted()
    ids = np.arange(len(x))
    shown = np.array([3, 50, 120])
    ranked = ranking.rank_unusual(VectorMatrix(ids, x), k=3, within=shown)
    assert sorted(r.image_id for r in ranked) == [3, 50, 120]
    # Their neighbours are in the whole set (their own tight clusters): all usual.
    assert all(r.score is not None and r.score < 0.05 for r in ranked)


def test_representative_sorts_by_cosine_to_the_cluster_centre(tmp_path):
    from panoptui.core import cluster, store

    x = planted(clusters=2, per=30)
    x[5] = ranking.normalised((x[5] + 0.4 * x[40])[None])[0]  # pulled off its centre
    ids = np.arange(1, len(x) + 1)
    con = store.open_project(str(tmp_path / "p"), create=True)
    labels = np.array([0] * 30 + [1] * 30)
    clusters = cluster.summarise(ids, x, labels)
    cluster.save_clustering(con, "two", 1, "kmeans", clusters)
    matrix = VectorMatrix(ids, x)
    name, ranked = ranking.rank_representative(con, matrix, 1, within=np.arange(1, 31))
    assert name == "two"
    assert len(ranked) == 30 and ranked[-1].image_id == 6  # the pulled one is least typical
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
    scores = ranking.centre_scores(x, labels)
    assert ranked[0].score == pytest.approx(float(scores[:30].max()))
    with pytest.raises(store.ProjectError, match="another vector set"):
        ranking.rank_representative(con, matrix, 2, "two")
    with pytest.raises(store.ProjectError, match="no clustering yet"):
        ranking.rank_representative(con, matrix, 2)
    # An image outside the clustering: last, without a score.
    more = VectorMatrix(np.append(ids, 999), np.vstack([x, x[:1]]))
    _, ranked = ranking.rank_representative(con, more, 1)
    assert ranked[-1] == ranking.Ranked(999, None)
    con.close()


def test_a_diverse_sample_covers_the_planted_clusters():
    x = planted(clusters=6, per=50)
    rng = np.random.default_rng(3)
    order = rng.permutation(len(x))  # clusters not in row order
    x = x[order]
    group = order // 50
    ranked = ranking.diverse_sample(VectorMatrix(np.arange(len(x)), x), 6)
    assert sorted(group[r.image_id] for r in ranked) == [0, 1, 2, 3, 4, 5]
    radii = [r.score for r in ranked[1:]]
    assert radii == sorted(radii, reverse=True)  # each pick covers less new ground
    # Asked for more than there are distinct images: stops at the last distinct one.
    same = np.tile(x[:3], (4, 1))
    assert len(ranking.diverse_sample(VectorMatrix(np.arange(12), same), 10)) == 3


def test_progress_reaches_its_total_and_cancel_stops(monkeypatch):
    x = planted()
    matrix = VectorMatrix(np.arange(len(x)), x)
    monkeypatch.setattr(ranking, "BLOCK_SCORES", len(x) * 16)
    for run in (
        lambda p, c: ranking.rank_unusual(matrix, 4, progress=p, cancel=c),
        lambda p, c: ranking.diverse_sample(matrix, 12, progress=p, cancel=c),
    ):
        events: list[Progress] = []
        run(events.append, None)
        assert len(events) > 3
        assert events[-1].done == events[-1].total > 0
        assert all(a.done <= b.done for a, b in zip(events, events[1:], strict=False))

        cancel = threading.Event()
        seen: list[Progress] = []

        def stop_after_two(
            event: Progress, seen: list[Progress] = seen, cancel: threading.Event = cancel
        ) -> None:
            seen.append(event)
            if len(seen) == 2:
                cancel.set()

        with pytest.raises(Cancelled):
            run(stop_after_two, cancel)
        assert seen[-1].done < seen[-1].total  # it stopped at the next check, not the end


def test_bad_numbers_are_one_line_errors():
    from panoptui.core.store import ProjectError

    matrix = VectorMatrix(np.arange(3), planted(1, 3))
    with pytest.raises(ProjectError, match="at least 1"):
        ranking.diverse_sample(matrix, 0)
    with pytest.raises(ProjectError, match="at least 2 images"):
        ranking.rank_unusual(VectorMatrix(np.arange(1), planted(1, 1)))
