"""faiss for k-means, duplicates and the nearest-neighbour graph of "unusual" (issue 15), on
planted vectors: faiss's k-means finds the clusters sklearn's does, faiss's pairs are exactly
those of the exact scan (at cosines either side of the threshold; exact search and inverted
file), its neighbours those of brute force, and with faiss hidden the code without it runs.

faiss-cpu is in the ``test`` extra: these tests run the faiss path in CI, never skip it."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from panoptui.core import cluster, duplicates, neighbours, ranking
from panoptui.core.query import VectorMatrix

THRESHOLD = 0.95
# Cosines of the planted pairs: either side of the threshold, some within 2e-4 of it, none on
# a threshold of the histogram (where float32 rounding alone would decide).
PLANTED = (0.905, 0.94, 0.9498, 0.9502, 0.951, 0.965, 0.985, 0.999)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(clusters: int = 6, per: int = 50, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Tight, well-separated groups: row n belongs to group n // per."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    return unit(np.repeat(centres, per, axis=0) + 0.05 * rng.normal(size=(clusters * per, dim)))


def planted_pairs(n: int = 3000, dim: int = 64, seed: int = 0) -> tuple[np.ndarray, set]:
    """``n`` random unit vectors (their cosines stay far below 0.9 in 64-d) in 30 loose
    groups, plus for some of them a partner at each cosine of PLANTED: returns the vectors
    and the pairs (i < j) at or above THRESHOLD."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(30, dim))
    base = centres[rng.integers(0, 30, n)] + 1.5 * rng.normal(size=(n, dim))
    x = unit(base).astype(np.float64)
    expected = set()
    for m, cosine in enumerate(PLANTED * 40):
        i, j = 2 * m, 2 * m + 1  # j becomes a partner of i at exactly this cosine
        other = x[j] - (x[j] @ x[i]) * x[i]
        other /= np.linalg.norm(other)
        x[j] = cosine * x[i] + np.sqrt(1 - cosine**2) * other
        if cosine >= THRESHOLD:
            expected.add((i, j))
    return x.astype(np.float32), expected


@pytest.fixture
def inverted_file(monkeypatch):
    """The inverted file on a small set: lists of about 100 rows, each row searched in 4."""
    monkeypatch.setattr(neighbours, "IVF_FROM", 100)
    monkeypatch.setattr(neighbours, "LIST_SIZE", 100)
    monkeypatch.setattr(neighbours, "NPROBE", 4)


def as_set(pairs: duplicates.Pairs) -> set:
    return set(zip(pairs.left.tolist(), pairs.right.tolist(), strict=True))


def test_faiss_is_installed_and_chosen():
    # The test extra installs faiss-cpu: the faiss path is what these tests run.
    assert neighbours.load_faiss() is not None
    assert duplicates.faiss_module() is not None


def test_faiss_kmeans_finds_the_planted_clusters_as_sklearn_does(monkeypatch):
    x = clustered()
    ids = np.arange(100, 100 + len(x))
    labels = cluster.kmeans(x, 6)
    assert labels.dtype == np.int64 and labels.shape == (len(x),)
    groups = {frozenset(np.flatnonzero(labels == c).tolist()) for c in set(labels.tolist())}
    planted = {frozenset(range(c * 50, (c + 1) * 50)) for c in range(6)}
    assert groups == planted
    assert np.array_equal(cluster.kmeans(x, 6), labels)  # deterministic
    with_faiss = cluster.summarise(ids, x, labels)
    monkeypatch.setattr(neighbours, "USE_FAISS", False)
    without = cluster.summarise(ids, x, cluster.kmeans(x, 6))
    assert [c.ids for c in with_faiss] == [c.ids for c in without]  # sorted by cohesion
    assert np.allclose([c.score for c in with_faiss], [c.score for c in without], atol=1e-5)


def test_faiss_kmeans_on_a_sample_labels_every_row(monkeypatch):
    # More rows than TRAIN_PER_CLUSTER per cluster: the centres come from a sample, and every
    # row still gets the label of its planted group.
    monkeypatch.setattr(cluster, "TRAIN_PER_CLUSTER", 10)
    x = clustered(clusters=5, per=200)
    labels = cluster.kmeans(x, 5)
    for c in range(5):
        assert len(set(labels[c * 200 : (c + 1) * 200].tolist())) == 1
    assert len(set(labels.tolist())) == 5


@pytest.mark.parametrize("search", ["exact", "inverted file"])
def test_faiss_pairs_are_the_exact_scan_pairs(request, search):
    if search == "inverted file":
        request.getfixturevalue("inverted_file")
    x, expected = planted_pairs()
    faiss = neighbours.load_faiss()
    # Below IVF_FROM rows scored_pairs runs the exact torch scan: faiss's exact search is
    # called directly.
    pairs = duplicates.faiss_pairs(faiss, x, THRESHOLD)
    assert neighbours.lists_for(faiss, x).exact == (search == "exact")
    if search == "inverted file":
        assert as_set(duplicates.scored_pairs(x, THRESHOLD)) == expected
    assert as_set(pairs) == expected
    assert np.all(pairs.left < pairs.right)
    assert np.allclose(pairs.scores, np.einsum("ij,ij->i", x[pairs.left], x[pairs.right]))
    # The same pairs and cosines as the exact torch scan (float32), and nearest cosines.
    scan = duplicates.scan_pairs(x, THRESHOLD)
    assert as_set(scan) == expected
    assert np.allclose(np.sort(scan.scores), np.sort(pairs.scores), atol=1e-6)
    if search == "exact":
        assert np.allclose(pairs.nearest, scan.nearest, atol=1e-5)
    else:  # the nearest found, no nearer than the true one; the true one where it is close
        assert np.all(pairs.nearest <= scan.nearest + 1e-5)
        close = scan.nearest >= THRESHOLD
        assert close.sum() >= 200
        assert np.allclose(pairs.nearest[close], scan.nearest[close], atol=1e-5)


def test_a_large_group_is_found_whole(inverted_file):
    # 60 copies of one image: more neighbours above the threshold than PAIR_NEIGHBOURS, so
    # the range search must bring every pair of them.
    x, _ = planted_pairs(n=1000)
    rng = np.random.default_rng(3)
    x[500:560] = unit(x[500] + 0.02 * rng.normal(size=(60, x.shape[1])))
    exact = x @ x.T
    expected = {(i, j) for i, j in zip(*np.nonzero(exact >= THRESHOLD), strict=True) if i < j}
    assert len([p for p in expected if p[0] >= 500 and p[1] < 560]) == 60 * 59 // 2
    assert as_set(duplicates.scored_pairs(x, THRESHOLD)) == expected
    assert not neighbours.lists_for(neighbours.load_faiss(), x).exact


def test_groups_and_exclusions_are_the_same_with_and_without_faiss(monkeypatch, inverted_file):
    x, _ = planted_pairs(n=1000)
    x[600:630] = unit(x[600] + 0.03 * np.random.default_rng(4).normal(size=(30, x.shape[1])))
    matrix = VectorMatrix(np.arange(5000, 6000, dtype=np.int64), x)
    excluded = {(5600, 5601), (5602, 5610), (5000, 5001)}
    with_faiss = duplicates.near_groups(matrix, THRESHOLD, excluded=excluded)
    histogram = duplicates.histogram(matrix, excluded=excluded)
    monkeypatch.setattr(neighbours, "USE_FAISS", False)
    assert duplicates.faiss_module() is None
    without = duplicates.near_groups(matrix, THRESHOLD, excluded=excluded)
    assert [g.ids for g in with_faiss] == [g.ids for g in without]
    assert np.allclose(
        [s for g in with_faiss for s in g.scores], [s for g in without for s in g.scores]
    )
    assert not any({5600, 5601} <= set(g.ids) for g in with_faiss)
    assert histogram.groups == duplicates.histogram(matrix, excluded=excluded).groups


def brute_distances(x: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    scores = x[rows] @ x.T
    scores[np.arange(len(rows)), rows] = -np.inf
    return 1.0 - np.sort(scores, axis=1)[:, -k:].mean(axis=1)


@pytest.mark.parametrize("search", ["exact", "inverted file"])
def test_the_neighbour_graph_equals_brute_force(request, monkeypatch, search):
    if search == "inverted file":
        request.getfixturevalue("inverted_file")
        monkeypatch.setattr(ranking, "GRAPH_EXACT_SCORES", 0)
    x = clustered(clusters=8, per=60)
    rows = np.arange(0, len(x), 3)
    got = ranking.neighbour_distances(x, rows, 5)
    assert np.allclose(got, brute_distances(x, rows, 5), atol=1e-5)


def test_copies_of_a_row_are_its_neighbours_not_itself():
    # Identical copies tie with the row itself: exactly one entry (the row's own) is left out.
    x = clustered(clusters=3, per=20)
    x[1:4] = x[0]
    got = ranking.neighbour_distances(x, np.arange(len(x)), 3)
    assert got[0] == pytest.approx(0.0, abs=1e-6)
    assert np.allclose(got, brute_distances(x, np.arange(len(x)), 3), atol=1e-5)


def test_without_faiss_the_old_code_runs(monkeypatch):
    # faiss hidden as if not installed: an import of it fails, every caller falls back.
    monkeypatch.setitem(sys.modules, "faiss", None)
    assert neighbours.load_faiss() is None
    assert duplicates.faiss_module() is None
    x, expected = planted_pairs(n=800)
    assert as_set(duplicates.scored_pairs(x, THRESHOLD)) == expected
    y = clustered()
    labels = cluster.kmeans(y, 6)
    planted = {frozenset(range(c * 50, (c + 1) * 50)) for c in range(6)}
    assert {frozenset(np.flatnonzero(labels == c).tolist()) for c in range(6)} == planted
    rows = np.arange(len(y))
    assert np.allclose(
        ranking.neighbour_distances(y, rows, 4), brute_distances(y, rows, 4), atol=1e-5
    )
