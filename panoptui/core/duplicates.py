"""Duplicates: exact ones (identical bytes at several paths) and near-duplicate groups.

Near-duplicate groups never chain: a group is a representative and the images whose cosine to
it reaches the threshold, and an image is in at most one group. (A connected component of the
"cosine >= threshold" graph chains resized copies of copies into one group of thousands in a
dense region.) The pairs are found in one pass of blocks of rows against the rows after them
(the upper triangle), so memory stays at one block of scores and no N x N matrix ever exists;
each block is a progress step and a cancel check (Cancelled). Then groups are taken greedily
on that sparse graph: the image with the most neighbours not yet in a group is the next
representative, and those neighbours its members. Pairs the user said are not duplicates
(table not_duplicates) are left out of the graph.

Where faiss is installed (core/neighbours.py chooses), the pairs come from its search instead of
the scan of the whole triangle: each row's PAIR_NEIGHBOURS nearest, from an inverted file above
neighbours.IVF_FROM rows (exact below), a range search for the rows whose neighbours all reach
the threshold, and every candidate's float32 cosine deciding, as on the bfloat16 path.
"""

from __future__ import annotations

import heapq
import threading
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np

from panoptui.core import neighbours
from panoptui.core.progress import ProgressCallback, Stage, check_cancel, no_progress
from panoptui.core.query import VectorMatrix, paths_of

DEFAULT_THRESHOLD = 0.95
BLOCK_SCORES = 1 << 26  # scores per block: 256 MB of float32, whatever the number of images
# Thresholds whose group counts the histogram shows (the user's own is added).
HISTOGRAM_THRESHOLDS = (0.85, 0.9, 0.93, 0.95, 0.97, 0.99)
HISTOGRAM_BINS = 20
# bfloat16 keeps 8 bits of mantissa: a cosine of unit vectors computed from bfloat16 inputs
# (accumulated in float32, rounded once more on output) is off by at most about 0.006.
BFLOAT16_MARGIN = 0.01
BFLOAT16_FROM = 20_000  # below this many images, float32 is quick enough
# The torch scan's dtype: "auto", or "float32" / "bfloat16" (tests and benchmarks force one,
# and forcing one runs that scan, with or without faiss).
MATMUL_DTYPE = "auto"
_BFLOAT16_FASTER: bool | None = None  # measured once, on first use
# With faiss: the neighbours searched per row; a row whose PAIR_NEIGHBOURS all reach the
# threshold (one of a large group) is searched again by range, for all of them.
PAIR_NEIGHBOURS = 16
# faiss's cosines and numpy's float32 ones differ in the last bits: candidates within this of
# the threshold are kept, and their float32 cosine (as the torch scan's) decides.
FAISS_MARGIN = 1e-4


@dataclass
class Pairs:
    """Row pairs (i < j) at or above a threshold with their cosines, and each row's
    nearest-neighbour cosine (-1 for a lone row)."""

    left: np.ndarray
    right: np.ndarray
    scores: np.ndarray
    nearest: np.ndarray


@dataclass
class Group:
    """A near-duplicate group: image ids, the representative first, and each one's cosine to
    the representative (1.0 for itself), members from the closest."""

    ids: list[int]
    scores: list[float]


@dataclass
class Histogram:
    """Nearest-neighbour cosines in bins (edges has one more entry than counts) and the
    number of groups (and of images in them) each threshold gives."""

    edges: list[float]
    counts: list[int]
    groups: dict[float, tuple[int, int]] = field(default_factory=dict)


def use_bfloat16(n: int, dim: int) -> bool:
    """Whether to compare in bfloat16 (then verify the candidates in float32): only where it
    pays, on a large set and a processor whose bfloat16 product is clearly the faster (on
    this project's 2-core machine about twice float32's speed; on others, without bfloat16
    instructions, many times slower: so it is measured, once, on a small product)."""
    global _BFLOAT16_FASTER
    if MATMUL_DTYPE != "auto":
        return MATMUL_DTYPE == "bfloat16"
    if n < BFLOAT16_FROM:
        return False
    if _BFLOAT16_FASTER is None:
        import time

        import torch

        def seconds(dtype: torch.dtype) -> float:
            a = torch.randn(256, dim).to(dtype)
            b = torch.randn(8192, dim).to(dtype)
            torch.matmul(a, b.T)  # warm-up
            started = time.perf_counter()
            for _ in range(3):
                torch.matmul(a, b.T)
            return time.perf_counter() - started

        _BFLOAT16_FASTER = seconds(torch.bfloat16) * 1.3 < seconds(torch.float32)
    return _BFLOAT16_FASTER


def _exact_scores(vectors: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float32 cosines of the row pairs, in chunks (memory stays at one chunk of rows)."""
    out = np.empty(len(rows), np.float32)
    for at in range(0, len(rows), 65536):
        r, c = rows[at : at + 65536], cols[at : at + 65536]
        out[at : at + 65536] = np.einsum("ij,ij->i", vectors[r], vectors[c])
    return out


def faiss_module() -> Any:
    """faiss for the comparisons of this module and of ranking.py, or None: then the torch
    scan runs (also where a test or benchmark forces its dtype)."""
    return neighbours.load_faiss() if MATMUL_DTYPE == "auto" else None


def scored_pairs(
    vectors: np.ndarray,
    threshold: float,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> Pairs:
    """Row pairs (i < j) whose cosine is at least ``threshold``, with their cosines, and the
    nearest-neighbour cosine of every row: through faiss where it is installed and the set
    is large enough for its inverted file (see faiss_pairs), else by the torch scan of the
    whole triangle (scan_pairs). Below neighbours.IVF_FROM rows the scan is exact and the
    quicker: faiss's exact search computes the whole square, the scan half of it."""
    faiss = faiss_module()
    if faiss is not None and len(vectors) >= neighbours.IVF_FROM:
        return faiss_pairs(faiss, vectors, threshold, progress, cancel)
    return scan_pairs(vectors, threshold, progress, cancel)


def faiss_pairs(
    faiss: Any,
    vectors: np.ndarray,
    threshold: float,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> Pairs:
    """scored_pairs through faiss: each row's PAIR_NEIGHBOURS nearest (neighbours.search: an
    inverted file on a large set, exact on a small one), a range search for the rows all of
    whose neighbours reach the threshold, and the float32 cosine of every candidate deciding.
    On an inverted file a pair is missed only when neither row searches the other's list (the
    recall is measured in benchmarks/query_bench.py), and ``nearest`` is the nearest found."""
    exact = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(exact)
    empty = np.zeros(0, np.int64)
    if n < 2:
        return Pairs(empty, empty, np.zeros(0, np.float32), np.full(n, -1.0, np.float32))
    lists = neighbours.lists_for(faiss, exact, progress, cancel)
    rows = np.arange(n)
    k = min(n - 1, PAIR_NEIGHBOURS)
    cosines, found = neighbours.search(
        faiss, exact, rows, k + 1, lists, progress, cancel, block_scores=BLOCK_SCORES
    )
    cosines, found = neighbours.without_self(cosines, found, rows)
    nearest = np.where(found[:, 0] >= 0, cosines[:, 0], -1.0).astype(np.float32)
    floor = threshold - FAISS_MARGIN
    hit = (cosines >= floor) & (found >= 0)
    left, right = np.repeat(rows, k)[hit.ravel()], found[hit]
    saturated = rows[hit[:, -1]] if k < n - 1 else empty
    if len(saturated):
        more_left, more_right, _ = neighbours.range_pairs(
            faiss, exact, saturated, floor, lists, cancel
        )
        left, right = np.concatenate([left, more_left]), np.concatenate([right, more_right])
    check_cancel(cancel)
    # Each pair once, smaller row first (found from either end, or both), in row order.
    low, high = np.minimum(left, right), np.maximum(left, right)
    code = np.unique(low[low != high].astype(np.int64) * n + high[low != high])
    low, high = code // n, code % n
    scores = _exact_scores(exact, low, high)
    keep = scores >= threshold
    low, high, scores = low[keep], high[keep], scores[keep]
    # A pair found from one end only (the other row did not search this row's list): it is
    # the nearest of both ends all the same, where it is nearer than what their search found.
    np.maximum.at(nearest, low, scores)
    np.maximum.at(nearest, high, scores)
    return Pairs(low, high, scores, nearest)


def scan_pairs(
    vectors: np.ndarray,
    threshold: float,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> Pairs:
    """scored_pairs by a scan of the whole triangle, without faiss. Progress counts the scores
    computed: the blocks cost less and less along the triangle, so counting rows would give an
    ETA far too long at the start.

    Through torch: its matrix product and threshold scan are the fastest at hand on the CPU
    (and the same code runs on a GPU's tensors). Blocks are as tall as the score budget allows,
    since a tall block multiplies far more efficiently than a thin one. On a large set the
    product may run in bfloat16 (see use_bfloat16): its cosines are within BFLOAT16_MARGIN of
    the exact ones, so every pair above ``threshold - BFLOAT16_MARGIN`` is a candidate, and its
    float32 cosine decides; the pairs are the same as float32's, and only the nearest-neighbour
    cosines (for the histogram) keep bfloat16's precision.
    """
    import torch

    n = len(vectors)
    block = max(1, min(n, BLOCK_SCORES // max(n, 1)))
    exact = np.ascontiguousarray(vectors, dtype=np.float32)
    fast = use_bfloat16(n, exact.shape[1] if exact.ndim == 2 else 0)
    dtype = torch.bfloat16 if fast else torch.float32
    margin = BFLOAT16_MARGIN if fast else 0.0
    matrix = torch.from_numpy(exact).to(dtype)
    nearest = torch.full((n,), -1.0)
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    found_scores: list[np.ndarray] = []
    # Reused: no fresh 256 MB (and its page faults) per block.
    buffer = torch.empty(block * n, dtype=dtype)
    stage = Stage(progress, "comparing", n * (n + 1) // 2)
    with torch.inference_mode():
        for start in range(0, n, block):
            check_cancel(cancel)
            stop = min(start + block, n)
            # This block against itself and the rows after it: the upper triangle only.
            scores = buffer[: (stop - start) * (n - start)].view(stop - start, n - start)
            torch.matmul(matrix[start:stop], matrix[start:].T, out=scores)
            # Each row meets itself at the start of its block: not a pair (and, left at 1.0,
            # it would send every row through the full scan below).
            scores[:, : stop - start].fill_diagonal_(-1.0)
            row_max = scores.amax(dim=1)
            # The nearest neighbour of a row is among the rows after it (this row's maximum)
            # or among the rows before it (a column maximum of an earlier block).
            torch.maximum(nearest[start:stop], row_max.float(), out=nearest[start:stop])
            torch.maximum(nearest[start:], scores.amax(dim=0).float(), out=nearest[start:])
            # Most rows have no pair: the row maximum finds the few that do, cheaper than a
            # full comparison of the block.
            hit_rows = torch.nonzero(row_max >= threshold - margin).flatten()
            stage.step(stop * n - stop * (stop - 1) // 2)  # the scores of the rows up to stop
            if len(hit_rows) == 0:
                continue
            hits = scores[hit_rows]
            found = torch.nonzero(hits >= threshold - margin)
            values = hits[found[:, 0], found[:, 1]].float().numpy()
            found_np = found.numpy()
            rows = hit_rows.numpy()[found_np[:, 0]] + start
            cols = found_np[:, 1] + start
            upper = cols > rows
            rows, cols, values = rows[upper], cols[upper], values[upper]
            if fast:  # candidates: their float32 cosines decide
                values = _exact_scores(exact, rows, cols)
                keep = values >= threshold
                rows, cols, values = rows[keep], cols[keep], values[keep]
            left.append(rows)
            right.append(cols)
            found_scores.append(values)
    stage.finish()
    if not left:
        empty = np.zeros(0, np.int64)
        return Pairs(empty, empty, np.zeros(0, np.float32), nearest.numpy())
    return Pairs(
        np.concatenate(left),
        np.concatenate(right),
        np.concatenate(found_scores),
        nearest.numpy(),
    )


def near_duplicate_pairs(
    vectors: np.ndarray,
    threshold: float,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs (i < j) whose cosine is at least ``threshold``."""
    pairs = scored_pairs(vectors, threshold, progress, cancel)
    return pairs.left, pairs.right


def _conflicts(ids: np.ndarray, excluded: set[tuple[int, int]] | None) -> dict[int, set[int]]:
    """The excluded image-id pairs as rows: row -> rows it must never share a group with."""
    found: dict[int, set[int]] = {}
    if not excluded:
        return found
    wanted = np.array(sorted({i for pair in excluded for i in pair}), np.int64)
    rows = np.flatnonzero(np.isin(ids, wanted))
    row_of = {int(ids[r]): int(r) for r in rows}
    for a, b in excluded:
        if a in row_of and b in row_of:
            found.setdefault(row_of[a], set()).add(row_of[b])
            found.setdefault(row_of[b], set()).add(row_of[a])
    return found


def _without_excluded(
    pairs: Pairs, ids: np.ndarray, excluded: set[tuple[int, int]] | None
) -> Pairs:
    """The pairs less those of ``excluded`` (image-id pairs, smaller id first)."""
    if not excluded or len(pairs.left) == 0:
        return pairs
    a, b = ids[pairs.left], ids[pairs.right]
    low, high = np.minimum(a, b), np.maximum(a, b)
    banned = np.array(sorted(excluded), np.int64).reshape(-1, 2)
    # One code per pair (ids fit well below 2**31 in any project), matched in bulk.
    code = low * (1 << 31) + high
    keep = ~np.isin(code, banned[:, 0] * (1 << 31) + banned[:, 1])
    return Pairs(pairs.left[keep], pairs.right[keep], pairs.scores[keep], pairs.nearest)


def greedy_groups(
    n: int,
    left: np.ndarray,
    right: np.ndarray,
    scores: np.ndarray,
    conflicts: dict[int, set[int]] | None = None,
) -> list[tuple[list[int], list[float]]]:
    """Groups of rows from the pairs (row, row, cosine): repeatedly the row with the most
    neighbours not yet grouped becomes a representative and takes them all as members. A
    heap holds each row's last known count; counts only fall, so a row popped with a stale
    count is recounted and pushed back, and one whose count holds is the true maximum.
    Ties go to the lower row, so the result does not depend on the order of the pairs.
    ``conflicts`` (row: rows it must never share a group with) keeps out of a group a member
    in conflict with one taken before it (the closer); it stays free for a later group."""
    from scipy.sparse import coo_matrix

    if len(left) == 0:
        return []
    both = np.concatenate([left, right]), np.concatenate([right, left])
    graph = coo_matrix((np.concatenate([scores, scores]), both), shape=(n, n)).tocsr()
    indptr, indices, data = graph.indptr, graph.indices, graph.data
    degree = np.diff(indptr)
    grouped = np.zeros(n, bool)
    heap = [(-int(d), int(r)) for r in np.flatnonzero(degree) for d in [degree[r]]]
    heapq.heapify(heap)
    groups: list[tuple[list[int], list[float]]] = []
    while heap:
        stale, row = heapq.heappop(heap)
        if grouped[row]:
            continue
        neighbours = indices[indptr[row] : indptr[row + 1]]
        free = ~grouped[neighbours]
        count = int(free.sum())
        if count == 0:
            continue  # counts never rise again: this row stays alone
        if count < -stale:
            heapq.heappush(heap, (-count, row))
            continue
        members = neighbours[free]
        cosines = data[indptr[row] : indptr[row + 1]][free]
        order = np.lexsort((members, -cosines))  # the closest first, then by row
        if conflicts:
            taken = {row}
            for at in order.tolist():
                if conflicts.get(int(members[at]), set()) & taken:
                    continue
                taken.add(int(members[at]))
            order = np.array([at for at in order.tolist() if int(members[at]) in taken], int)
        grouped[row] = True
        grouped[members[order]] = True  # a member left out for a conflict stays free
        groups.append(
            ([row, *members[order].tolist()], [1.0, *cosines[order].astype(float).tolist()])
        )
    return groups


def near_groups(
    matrix: VectorMatrix,
    threshold: float,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
    excluded: set[tuple[int, int]] | None = None,
) -> list[Group]:
    """Near-duplicate groups at ``threshold``, the largest first, none chaining; pairs in
    ``excluded`` (image ids, smaller first: see not_duplicate_pairs) never join a group."""
    if len(matrix) < 2:
        return []
    pairs = _without_excluded(
        scored_pairs(matrix.vectors, threshold, progress, cancel), matrix.ids, excluded
    )
    ids = matrix.ids
    conflicts = _conflicts(ids, excluded)
    found = greedy_groups(len(matrix), pairs.left, pairs.right, pairs.scores, conflicts)
    return [Group([int(ids[r]) for r in rows], cosines) for rows, cosines in found]


def near_duplicate_groups(
    matrix: VectorMatrix,
    threshold: float,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
    excluded: set[tuple[int, int]] | None = None,
) -> list[list[int]]:
    """The image ids of each group of near_groups, the representative first."""
    return [g.ids for g in near_groups(matrix, threshold, progress, cancel, excluded)]


def histogram(
    matrix: VectorMatrix,
    thresholds: tuple[float, ...] = HISTOGRAM_THRESHOLDS,
    bins: int = HISTOGRAM_BINS,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
    excluded: set[tuple[int, int]] | None = None,
) -> Histogram:
    """To choose a threshold: how each image's nearest-neighbour cosine spreads (bins over
    [0, 1]; lower cosines fall in the first bin), and how many groups each threshold gives.
    One pass of comparisons at the lowest threshold serves every threshold."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    if len(matrix) < 2:
        return Histogram(edges.tolist(), [0] * bins, {t: (0, 0) for t in thresholds})
    pairs = _without_excluded(
        scored_pairs(matrix.vectors, min(thresholds), progress, cancel), matrix.ids, excluded
    )
    counts, _ = np.histogram(np.clip(pairs.nearest, 0.0, 1.0), edges)
    conflicts = _conflicts(matrix.ids, excluded)
    result = Histogram(edges.tolist(), counts.tolist())
    for t in sorted(thresholds):
        keep = pairs.scores >= t
        groups = greedy_groups(
            len(matrix), pairs.left[keep], pairs.right[keep], pairs.scores[keep], conflicts
        )
        result.groups[t] = (len(groups), sum(len(rows) for rows, _ in groups))
    return result


def scores_to_first(
    con: duckdb.DuckDBPyConnection, set_id: int, image_ids: list[int]
) -> list[float | None]:
    """The cosine of each image to the first (its group's representative), from the set's
    stored vectors; None for an image without a vector."""
    from panoptui.core import store

    if not image_ids:
        return []
    rows = con.execute(
        f"SELECT image_id, vec FROM {store.vector_table(set_id)} "
        "WHERE image_id IN (SELECT unnest(?::BIGINT[]))",
        [image_ids],
    ).fetchall()
    vectors = {int(i): np.asarray(v, np.float32) for i, v in rows}
    first = vectors.get(int(image_ids[0]))
    if first is None:
        return [None] * len(image_ids)
    return [
        round(float(vectors[i] @ first), 6) if i in vectors else None for i in map(int, image_ids)
    ]


def not_duplicate_pairs(con: duckdb.DuckDBPyConnection) -> set[tuple[int, int]]:
    """The pairs the user said are not duplicates (smaller id first)."""
    rows = con.execute("SELECT image_id, other_id FROM not_duplicates").fetchall()
    return {(int(a), int(b)) for a, b in rows}


def mark_not_duplicates(con: duckdb.DuckDBPyConnection, image_ids: list[int]) -> int:
    """Remember that these images are not duplicates of one another: every pair of them
    stays out of all later groups. Returns the number of pairs newly stored."""
    ids = sorted(set(int(i) for i in image_ids))
    pairs = [(a, b) for n, a in enumerate(ids) for b in ids[n + 1 :]]
    if not pairs:
        return 0
    from panoptui.core import store

    before = int(store.scalar(con, "SELECT count(*) FROM not_duplicates") or 0)
    con.executemany("INSERT OR IGNORE INTO not_duplicates VALUES (?, ?)", pairs)
    return int(store.scalar(con, "SELECT count(*) FROM not_duplicates") or 0) - before


def tag_duplicates_of(con: duckdb.DuckDBPyConnection, keeper: int, others: list[int]) -> str:
    """Tag ``others`` as duplicates of the keeper: ``duplicate-of/<keeper id>`` under a parent
    ``duplicate-of``. Returns the tag."""
    from panoptui.core import journal, tags

    tag = f"duplicate-of/{int(keeper)}"
    with journal.change(con, f"tag {len(others)} images {tag!r}"):
        tags.create_tag(con, tag, parent="duplicate-of")
        tags.tag_images(con, tag, [int(i) for i in others if int(i) != int(keeper)])
    return tag


def exact_duplicates(con: duckdb.DuckDBPyConnection) -> list[list[dict[str, Any]]]:
    """Images whose identical bytes sit at several paths: one group of paths per image (each
    entry's score is 1.0: the very same bytes)."""
    groups: dict[int, list[dict[str, Any]]] = {}
    for image_id, path in con.execute(
        """
        SELECT image_id, path FROM files WHERE state = 'ok' AND image_id IN (
            SELECT image_id FROM files WHERE state = 'ok' GROUP BY image_id HAVING count(*) > 1
        ) ORDER BY image_id, path
        """
    ).fetchall():
        groups.setdefault(int(image_id), []).append(
            {"id": int(image_id), "path": path, "score": 1.0}
        )
    return list(groups.values())


def with_paths(con: duckdb.DuckDBPyConnection, groups: list[Group]) -> list[list[dict]]:
    """Each group's members as ``{"id", "path", "score"}``, the representative first."""
    paths = paths_of(con, [i for g in groups for i in g.ids])
    return [
        [
            {"id": i, "path": paths.get(i, ""), "score": round(float(s), 6)}
            for i, s in zip(g.ids, g.scores, strict=True)
        ]
        for g in groups
    ]


def tag_groups(con: duckdb.DuckDBPyConnection, name: str, groups: list[list[int]]) -> list[str]:
    """One tag per group, ``NAME/N``, under a parent tag ``NAME``, in one transaction (a run
    killed half-way tags nothing); returns the tags made."""
    from panoptui.core import journal, tags

    name = tags.clean_name(name)
    made = []
    with journal.change(con, f"save {len(groups)} duplicate groups as tags under {name!r}"):
        for n, group in enumerate(groups, 1):
            tag = f"{name}/{n}"
            tags.create_tag(con, tag, parent=name)
            tags.tag_images(con, tag, group)
            made.append(tag)
    return made
