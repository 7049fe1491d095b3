"""Nearest neighbours through faiss: the one place that chooses faiss or the code without it.

faiss-cpu is an optional extra (``pip install panoptui[scale]``). Where it is installed,
duplicates (core/duplicates.py), the nearest-neighbour graph of "unusual" (core/ranking.py) and
k-means (core/cluster.py) run their heavy part through it; where it is not, or ``USE_FAISS`` is
False (tests of the fallback), they run their own torch/sklearn code as before.

The search is an inverted file, IVF, whose scan is faiss's BLAS product: the rows are cut into
``nlist`` lists by a spherical faiss k-means (trained on a sample), each row is searched in the
``NPROBE`` lists whose centres are nearest to it, and each list is one ``faiss.knn`` of the
queries that probe it against its members (a matrix product), merged into each query's top k by
faiss's ResultHeap. That is faiss's own "big batch" search (faiss.contrib.big_batch_search) with
a progress step and a cancel check per list. Measured on 100k x 512 (busy 2 cores): faiss's
IndexIVFFlat scans its lists at about 4.6 GFLOP/s, a BLAS product at about 40; the exact flat
search of every row (faiss.knn of all against all) took 260 s, 3 to 7 times today's torch scan.
Below ``IVF_FROM`` rows there is one list: the search is exact.

The inverted file suits near-duplicates: two rows at cosine >= 0.95 almost always share a
list, or one searches the other's (recall measured against the exact scan in NPROBE's comment
and benchmarks/query_bench.py, bench_faiss). It suits the k nearest of "unusual" much less
(ranking.py searches a third of the lists, or every row, there).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from panoptui.core.progress import ProgressCallback, Stage, check_cancel, no_progress

USE_FAISS = True  # False: the code without faiss, as where it is not installed (tests)
IVF_FROM = 20_000  # fewer rows: one list, the exact search
# Lists searched per row for near-duplicates. Measured at 100k x 512 (lists of 1,000): on
# benchmarks/query_bench.py's corpus, recall 1.0 of the 231,181 pairs at cosine >= 0.95 with
# 2 lists (13 s) and with 4 (24 s); with 5,000 partners planted at cosines 0.95-0.96 in random
# directions, recall 0.9994 with 2 lists (12.6 s), 0.9996 with 3 (16.8 s), 0.9998 with 4
# (27.6 s). At 1M x 512 with 4 lists, duplicates took 310 s on the busy machine.
NPROBE = 2
# Rows per list, on average. Fewer, larger lists cost more scores but each faiss.knn call
# runs near BLAS speed: measured on the busy 2-core machine, a product of 8m x m x 512 reached
# 0.4 GFLOP/s at m = 50 (sqrt(N x NPROBE) lists at 100k), 12 at 500, 25-30 at 1,000-2,000.
LIST_SIZE = 1000
TRAIN_PER_LIST = 32  # rows per list in the sample the list centres are trained on
TRAIN_ITER = 10
SEED = 0
QUERY_SCORES = 1 << 26  # scores per faiss.knn call: 256 MB of float32 at most


def load_faiss() -> ModuleType | None:
    """faiss, when it is installed and ``USE_FAISS``; else None (the caller's own code runs)."""
    if not USE_FAISS:
        return None
    try:
        import faiss  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return None
    return faiss  # type: ignore[no-any-return,unused-ignore]


@dataclass
class Lists:
    """An inverted file over the rows: ``members[l]`` the rows of list l (each row is in one
    list), ``probes[r]`` the lists row r is searched in (its own first)."""

    members: list[np.ndarray]
    probes: np.ndarray  # (N, nprobe) int64

    @property
    def exact(self) -> bool:
        return len(self.members) == 1


def one_list(n: int) -> Lists:
    """Every row in one list: the exact search."""
    return Lists([np.arange(n)], np.zeros((n, 1), np.int64))


def lists_for(
    faiss: ModuleType,
    vectors: np.ndarray,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
    share: float = 0.0,
) -> Lists:
    """Cut the rows (normalised, float32) into lists, each row searched in NPROBE of them, or
    in this ``share`` of them where that is more; one list below IVF_FROM rows."""
    n = len(vectors)
    if n < IVF_FROM:
        return one_list(n)
    nlist = max(2, round(n / LIST_SIZE))
    nprobe = min(max(NPROBE, round(share * nlist)), nlist)
    stage = Stage(progress, "indexing", n)
    rng = np.random.default_rng(SEED)
    sample = vectors[np.sort(rng.choice(n, min(n, TRAIN_PER_LIST * nlist), replace=False))]
    kmeans = faiss.Kmeans(
        vectors.shape[1],
        nlist,
        niter=TRAIN_ITER,
        seed=SEED,
        spherical=True,
        max_points_per_centroid=TRAIN_PER_LIST + 1,  # the sample is taken here: all of it
        min_points_per_centroid=1,  # no warning about a small sample: it is by design
    )
    kmeans.train(sample)
    check_cancel(cancel)
    centres = np.ascontiguousarray(kmeans.centroids, np.float32)
    probes = np.empty((n, nprobe), np.int64)
    block = max(1, QUERY_SCORES // nlist)
    for start in range(0, n, block):
        check_cancel(cancel)
        _, probes[start : start + block] = faiss.knn(
            vectors[start : start + block], centres, nprobe, metric=faiss.METRIC_INNER_PRODUCT
        )
        stage.step(min(n, start + block))
    own = probes[:, 0]
    order = np.argsort(own, kind="stable")
    bounds = np.searchsorted(own[order], np.arange(nlist + 1))
    members = [order[bounds[i] : bounds[i + 1]] for i in range(nlist)]
    return Lists(members, probes)


def _queries_by_list(lists: Lists, rows: np.ndarray) -> list[np.ndarray]:
    """For each list, the positions in ``rows`` of the queries that probe it."""
    nlist = len(lists.members)
    probes = lists.probes[rows]
    flat = probes.ravel()
    position = np.repeat(np.arange(len(rows)), probes.shape[1])
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(nlist + 1))
    return [position[order[bounds[i] : bounds[i + 1]]] for i in range(nlist)]


def search(
    faiss: ModuleType,
    vectors: np.ndarray,
    rows: np.ndarray,
    k: int,
    lists: Lists,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
    stage_name: str = "comparing",
    block_scores: int = QUERY_SCORES,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of best cosine to each of ``rows`` (itself among them, as a rule), best
    first: (cosines, rows), each (len(rows), k); -1 (and a cosine of -inf) where the lists
    searched hold fewer than k rows. Progress counts the scores computed, a step (and a cancel
    check) per ``block_scores`` of them at most."""
    heap = faiss.ResultHeap(len(rows), k, keep_max=True)
    by_list = _queries_by_list(lists, rows)
    total = sum(len(q) * len(m) for q, m in zip(by_list, lists.members, strict=True))
    stage = Stage(progress, stage_name, total)
    done = 0
    for queries, members in zip(by_list, lists.members, strict=True):
        if len(queries) == 0 or len(members) == 0:
            continue
        base = np.ascontiguousarray(vectors[members] if not lists.exact else vectors)
        take = min(k, len(members))
        block = max(1, block_scores // len(members))
        for start in range(0, len(queries), block):
            check_cancel(cancel)
            chunk = queries[start : start + block]
            scores, found = faiss.knn(
                vectors[rows[chunk]], base, take, metric=faiss.METRIC_INNER_PRODUCT
            )
            heap.add_result_subset(chunk, scores, members[found] if not lists.exact else found)
            done += len(chunk) * len(members)
            stage.step(done)
    heap.finalize()
    stage.finish()
    found_rows = heap.I
    cosines = np.where(found_rows >= 0, heap.D, -np.inf).astype(np.float32)
    return cosines, found_rows


def without_self(
    cosines: np.ndarray, found: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Results of ``search`` for k + 1 less each query's own row: k per query. Where a row is
    not among its own results (identical copies tied with it), the last result goes."""
    own = found == rows[:, None]
    absent = ~own.any(axis=1)
    own[absent, -1] = True
    # Only the first occurrence of the row itself is dropped (it occurs once in any case).
    keep = ~own
    k = found.shape[1] - 1
    return cosines[keep].reshape(-1, k), found[keep].reshape(-1, k)


def range_pairs(
    faiss: ModuleType,
    vectors: np.ndarray,
    rows: np.ndarray,
    radius: float,
    lists: Lists,
    cancel: threading.Event | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (row of ``rows``, other row, cosine) with a cosine of at least ``radius``, among
    the lists each row is searched in (faiss's range search of a flat index per list)."""
    left: list[np.ndarray] = [np.zeros(0, np.int64)]
    right: list[np.ndarray] = [np.zeros(0, np.int64)]
    cosines: list[np.ndarray] = [np.zeros(0, np.float32)]
    for queries, members in zip(_queries_by_list(lists, rows), lists.members, strict=True):
        if len(queries) == 0 or len(members) == 0:
            continue
        check_cancel(cancel)
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(np.ascontiguousarray(vectors[members]))
        limits, scores, found = index.range_search(
            np.ascontiguousarray(vectors[rows[queries]]), radius
        )
        left.append(np.repeat(rows[queries], np.diff(limits).astype(np.int64)))
        right.append(members[found])
        cosines.append(scores.astype(np.float32))
    return np.concatenate(left), np.concatenate(right), np.concatenate(cosines)
