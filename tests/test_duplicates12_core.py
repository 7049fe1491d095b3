"""Near-duplicate groups never chain (issue 12): each member is within the threshold of its
representative, no image is in two groups, planted copies are found, and pairs the user said
are not duplicates stay apart, even after the project is reopened."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from panoptui.core import duplicates, store, tags
from panoptui.core.query import VectorMatrix

THRESHOLD = 0.95


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def dense_corpus(seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """1,000 scattered vectors, 400 in a dense region whose pairwise cosines straddle the
    threshold (a connected component would chain them all), and a near-copy of each of the
    first 200 scattered ones; returns the vectors and the planted (original, copy) rows."""
    rng = np.random.default_rng(seed)
    dim = 64
    scattered = unit(rng.normal(size=(1000, dim)))
    centre = unit(rng.normal(size=(1, dim)))
    spread = rng.uniform(0.1, 0.35, size=(400, 1))
    dense = unit(centre + spread * unit(rng.normal(size=(400, dim))))
    copies = unit(scattered[:200] + 0.05 * unit(rng.normal(size=(200, dim))))
    x = np.concatenate([scattered, dense, copies])
    planted = [(n, 1400 + n) for n in range(200)]
    return x, planted


def test_groups_never_chain_and_find_the_planted_copies():
    x, planted = dense_corpus()
    ids = np.arange(1, len(x) + 1) * 10  # ids unlike rows, so a mix-up shows
    matrix = VectorMatrix(ids, x)
    groups = duplicates.near_groups(matrix, THRESHOLD)
    row_of = {int(i): r for r, i in enumerate(ids)}
    # The old grouping chained the dense region: one component holding pairs far below the
    # threshold (the case this test is about).
    i, j = duplicates.near_duplicate_pairs(x, THRESHOLD)
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(len(x), len(x)))
    _, labels = connected_components(graph, directed=False)
    biggest = np.flatnonzero(labels == np.bincount(labels).argmax())
    assert len(biggest) > 100 and (x[biggest] @ x[biggest].T).min() < 0.9
    seen: set[int] = set()
    for group in groups:
        assert len(group.ids) >= 2 and len(group.ids) == len(group.scores)
        assert not seen & set(group.ids)  # no image in two groups
        seen |= set(group.ids)
        rows = [row_of[g] for g in group.ids]
        cosines = x[rows] @ x[rows[0]]
        assert (cosines >= THRESHOLD - 1e-5).all()  # every member near its representative
        assert np.allclose(cosines, group.scores, atol=1e-5)
        assert group.scores == sorted(group.scores, reverse=True)  # representative, closest...
    group_of = {g: n for n, group in enumerate(groups) for g in group.ids}
    together = sum(
        1
        for a, b in planted
        if int(ids[a]) in group_of and group_of.get(int(ids[a])) == group_of.get(int(ids[b]))
    )
    assert together / len(planted) >= 0.95
    # The largest groups come first: the representatives with the most close neighbours.
    assert len(groups[0].ids) == max(len(g.ids) for g in groups) > 2
    assert duplicates.near_duplicate_groups(matrix, THRESHOLD) == [g.ids for g in groups]


def test_the_representative_is_the_image_with_most_free_neighbours():
    # 0 is near 1, 2 and 3; 3 is also near 4. 0 leads (three neighbours), so 3 goes with it
    # and 4, whose only neighbour is taken, stays alone: never chained through 3.
    left, right = np.array([0, 0, 0, 3]), np.array([1, 2, 3, 4])
    scores = np.array([0.99, 0.98, 0.97, 0.99], np.float32)
    groups = duplicates.greedy_groups(5, left, right, scores)
    assert [rows for rows, _ in groups] == [[0, 1, 2, 3]]
    # Counts fall as images are taken: 0 leads with four neighbours and takes 1 and 2 from
    # 10, which is left with 8 alone; so 11 (5, 6 and 8) leads next, not 10 (its count of
    # three, before 0 took its neighbours, would have put it first among equals).
    left = np.array([0, 0, 0, 0, 10, 10, 10, 11, 11, 11])
    right = np.array([1, 2, 3, 4, 1, 2, 8, 5, 6, 8])
    groups = duplicates.greedy_groups(12, left, right, np.full(10, 0.99, np.float32))
    assert [rows for rows, _ in groups] == [[0, 1, 2, 3, 4], [11, 5, 6, 8]]


def test_a_member_in_conflict_waits_for_a_later_group():
    # 0 is near 1 (closer) and 2, which the user said are not duplicates; 2 is also near 3.
    left, right = np.array([0, 0, 2]), np.array([1, 2, 3])
    scores = np.array([0.99, 0.98, 0.97], np.float32)
    groups = duplicates.greedy_groups(4, left, right, scores, {1: {2}, 2: {1}})
    assert [rows for rows, _ in groups] == [[0, 1], [2, 3]]


def test_excluded_pairs_never_join_a_group():
    x, planted = dense_corpus(1)
    matrix = VectorMatrix(np.arange(len(x)), x)
    a, b = planted[0]
    before = duplicates.near_duplicate_groups(matrix, THRESHOLD)
    assert any({a, b} <= set(g) for g in before)
    after = duplicates.near_duplicate_groups(matrix, THRESHOLD, excluded={(a, b)})
    assert not any({a, b} <= set(g) for g in after)
    # A whole group said not duplicates: no two of it together again, whoever leads.
    group = max(before, key=len)
    pairs = {(p, q) for p in group for q in group if p < q}
    again = duplicates.near_duplicate_groups(matrix, THRESHOLD, excluded=pairs)
    assert all(len(set(g) & set(group)) <= 1 for g in again)
    assert len(group) > 5 and len(again) >= len(before) - 1


def test_histogram_counts_every_image_and_the_groups_of_each_threshold():
    x, _ = dense_corpus(2)
    matrix = VectorMatrix(np.arange(len(x)), x)
    result = duplicates.histogram(matrix, (0.9, THRESHOLD, 0.99), bins=10)
    assert len(result.edges) == 11 and sum(result.counts) == len(x)
    full = x @ x.T
    np.fill_diagonal(full, -1)
    assert result.counts[-1] == int((full.max(axis=1) >= 0.9).sum())  # the last bin: >= 0.9
    assert result.groups[THRESHOLD][0] == len(duplicates.near_groups(matrix, THRESHOLD))
    counts = [result.groups[t][1] for t in (0.9, THRESHOLD, 0.99)]
    assert counts == sorted(counts, reverse=True) and counts[-1] > 0


def test_not_duplicates_are_remembered_after_reopening(tmp_path):
    path = tmp_path / "project"
    con = store.open_project(path, create=True)
    assert duplicates.mark_not_duplicates(con, [7, 3, 5]) == 3
    assert duplicates.mark_not_duplicates(con, [3, 5]) == 0  # already known
    con.close()
    con = store.open_project(path)
    assert duplicates.not_duplicate_pairs(con) == {(3, 5), (3, 7), (5, 7)}
    con.close()


def test_the_others_are_tagged_as_duplicates_of_the_keeper(tmp_path):
    con = store.open_project(tmp_path / "project", create=True)
    con.execute(
        "INSERT INTO images (id, content_hash, size, format, width, height, mode, orientation, "
        "frames, phash, state, imported_at) "
        "SELECT i, 'h' || i, 1, 'JPEG', 1, 1, 'RGB', 1, 1, 0, 'ok', now() "
        "FROM range(1, 4) t(i)"
    )
    tag = duplicates.tag_duplicates_of(con, 2, [1, 2, 3])
    assert tag == "duplicate-of/2"
    listed = {t.name: t for t in tags.list_tags(con)}
    assert "duplicate-of" in listed and tag in listed
    con.close()


def test_bfloat16_candidates_give_the_same_pairs_as_float32(monkeypatch):
    # The fast path of large sets, forced on a small one: its candidates (within the margin)
    # are verified in float32, so the pairs and their cosines are float32's.
    x, _ = dense_corpus(3)
    monkeypatch.setattr(duplicates, "MATMUL_DTYPE", "float32")
    exact = duplicates.scored_pairs(x, THRESHOLD)
    monkeypatch.setattr(duplicates, "MATMUL_DTYPE", "bfloat16")
    monkeypatch.setattr(duplicates, "BLOCK_SCORES", len(x) * 97)  # several blocks
    fast = duplicates.scored_pairs(x, THRESHOLD)
    pairs = set(zip(exact.left.tolist(), exact.right.tolist(), strict=True))
    assert len(pairs) > 1000
    assert set(zip(fast.left.tolist(), fast.right.tolist(), strict=True)) == pairs
    assert np.allclose(np.sort(fast.scores), np.sort(exact.scores), atol=1e-6)
    assert np.abs(fast.nearest - exact.nearest).max() < duplicates.BFLOAT16_MARGIN
