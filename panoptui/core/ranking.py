"""Orderings of the images shown, from any grid and the CLI: by how representative each image is
of its cluster, by how unusual it is, and a small diverse sample that covers them.

- Representative: cosine to the centre of the image's cluster (in a clustering of the vector
  set: the newest, or one the user names), most representative first. The centre is the mean
  of all the cluster's members, so an image keeps its score whatever subset is shown.
- Unusual: mean cosine distance to the image's k nearest neighbours among all the set's
  vectors, outliers first. The neighbours come from faiss where it is installed
  (core/neighbours.py: exact on a small set, an inverted file on a large one), else from
  blocks of rows against every row; either way memory stays at one block of scores
  (``BLOCK_SCORES``) and no N x N matrix ever exists.
- Diverse: greedy farthest-point sampling on the normalised vectors, from the most central
  image; each pick is the image farthest (in cosine) from all those picked so far, so the
  sample reaches every cluster before it takes a second image of any. Its score is that
  distance: how much new ground the pick covers.

Each is a job: progress counts blocks or picks, and ``cancel`` raises Cancelled at the next
check (nothing is saved, so there is nothing to undo).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np

from panoptui.core import store
from panoptui.core.progress import ProgressCallback, Stage, check_cancel, no_progress
from panoptui.core.query import VectorMatrix

DEFAULT_NEIGHBOURS = 10  # k of "unusual": few enough that a small cluster's members are usual
DEFAULT_DIVERSE = 24
BLOCK_SCORES = 1 << 25  # scores per block: 128 MB of float32, whatever the number of images
# With faiss: the search is exact up to this many scores (rows ranked x rows in the set: 20k
# of 100k); above, an inverted file where each row searches this share of the lists (about a
# third of the scores: the exact search of 100k x 100k took about 260 s on the busy 2 cores,
# faiss.knn of 5,000 rows 13 s). Unlike a near-duplicate, a row's k nearest sit at cosines of
# about 0.6-0.7 in a large cluster, spread over many lists: measured at 100k x 512
# (bench_unusual's corpus, 100 lists), the mean distance to 10 neighbours was off by up to
# 0.55 searching 4 lists, 0.21 with 16, 0.0067 with 32 (Spearman 0.999 with the exact ranking).
GRAPH_EXACT_SCORES = 2_000_000_000
GRAPH_LIST_SHARE = 0.33
# In bfloat16 a cosine is off by up to duplicates.BFLOAT16_MARGIN: this many more candidates
# than k are taken, so that the k truly nearest are among them (their float32 cosines decide).
EXTRA_CANDIDATES = 8
BY = ("representative", "unusual")


@dataclass(frozen=True)
class Ranked:
    image_id: int
    score: float | None  # None: not in the clustering (ranked last)

    def as_dict(self) -> dict[str, Any]:
        score = None if self.score is None else round(self.score, 6)
        return {"image_id": self.image_id, "score": score}


def normalised(vectors: np.ndarray) -> np.ndarray:
    """Rows of unit length. Vector sets are stored so already: then this is one pass that
    copies nothing (a copy of 100k x 512 is 200 MB); it guards a set imported from elsewhere."""
    vectors = np.asarray(vectors, np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))[:, None]
    if np.allclose(norms, 1.0, atol=1e-4):
        return vectors
    return vectors / np.maximum(norms, 1e-12)


def shown_rows(matrix: VectorMatrix, within: np.ndarray | None) -> np.ndarray:
    """The rows of the images shown (all when ``within`` is None), in image-id order."""
    if within is None:
        return np.arange(len(matrix))
    return np.flatnonzero(np.isin(matrix.ids, within))


# --- unusual --------------------------------------------------------------------------------


def neighbour_distances(
    vectors: np.ndarray,
    rows: np.ndarray,
    k: int,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """For each of ``rows``: the mean cosine distance (1 - cosine) to its ``k`` nearest other
    rows of ``vectors`` (normalised). Blocks of rows against every row, through torch as
    duplicates.scored_pairs (its product, and its topk: np.partition took as long as the
    product itself). On a large set the product runs in bfloat16 where that is the faster
    (duplicates.use_bfloat16): its ``k + EXTRA_CANDIDATES`` best are candidates, and their
    float32 cosines pick the k and give the score (exact but for near ties, where a candidate
    within bfloat16's margin may stand in for a neighbour). Each block is a progress step and
    a cancel check."""
    import torch  # as core/duplicates.py: imported by the first use only

    from panoptui.core.duplicates import faiss_module, use_bfloat16

    n = len(vectors)
    k = max(1, min(k, n - 1))
    exact = np.ascontiguousarray(vectors, dtype=np.float32)
    faiss = faiss_module()
    if faiss is not None:
        return faiss_distances(faiss, exact, rows, k, progress, cancel)
    fast = use_bfloat16(n, exact.shape[1])
    dtype = torch.bfloat16 if fast else torch.float32
    take = min(n - 1, k + EXTRA_CANDIDATES) if fast else k
    matrix = torch.from_numpy(exact).to(dtype)
    out = np.empty(len(rows), np.float32)
    block = max(1, min(len(rows), BLOCK_SCORES // max(n, 1)))
    buffer = torch.empty(block * n, dtype=dtype)  # reused: no fresh 128 MB per block
    stage = Stage(progress, f"nearest neighbours (k={k})", len(rows))
    with torch.inference_mode():
        for start in range(0, len(rows), block):
            check_cancel(cancel)
            chunk = rows[start : start + block]
            scores = buffer[: len(chunk) * n].view(len(chunk), n)
            torch.matmul(matrix[torch.from_numpy(chunk)], matrix.T, out=scores)
            scores[torch.arange(len(chunk)), torch.from_numpy(chunk)] = -torch.inf  # not itself
            best = torch.topk(scores, take, dim=1, sorted=False)
            if fast:
                candidates = best.indices.numpy()
                cosines = np.einsum("ij,ikj->ik", exact[chunk], exact[candidates])
                nearest = -np.partition(-cosines, k - 1, axis=1)[:, :k]
                out[start : start + len(chunk)] = 1.0 - nearest.mean(axis=1)
            else:
                out[start : start + len(chunk)] = 1.0 - best.values.mean(dim=1).numpy()
            stage.step(start + len(chunk))
    stage.finish()
    return out


def faiss_distances(
    faiss: Any,
    vectors: np.ndarray,
    rows: np.ndarray,
    k: int,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """neighbour_distances through faiss (neighbours.search, k + 1 to leave each row out of
    its own neighbours): exact up to GRAPH_EXACT_SCORES, approximate above (each row searches
    GRAPH_LIST_SHARE of the lists: a neighbour outside them is missed, and the score is
    larger). A row whose searched lists hold fewer than k others is searched again over every
    row: its score is then exact."""
    from panoptui.core import neighbours

    rows = np.asarray(rows, np.int64)
    if len(rows) * len(vectors) <= GRAPH_EXACT_SCORES:
        lists = neighbours.one_list(len(vectors))
    else:
        lists = neighbours.lists_for(faiss, vectors, progress, cancel, GRAPH_LIST_SHARE)
    cosines, found = neighbours.search(
        faiss,
        vectors,
        rows,
        k + 1,
        lists,
        progress,
        cancel,
        stage_name=f"nearest neighbours (k={k})",
        block_scores=BLOCK_SCORES,
    )
    cosines, found = neighbours.without_self(cosines, found, rows)
    short = np.flatnonzero((found < 0).any(axis=1))
    if len(short):
        exact = neighbours.one_list(len(vectors))
        again, again_found = neighbours.search(
            faiss, vectors, rows[short], k + 1, exact, cancel=cancel
        )
        cosines[short], found[short] = neighbours.without_self(again, again_found, rows[short])
    return (1.0 - cosines.mean(axis=1)).astype(np.float32)


def rank_unusual(
    matrix: VectorMatrix,
    k: int = DEFAULT_NEIGHBOURS,
    within: np.ndarray | None = None,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> list[Ranked]:
    """The images shown (``within``; None: all), outliers first: score = mean cosine distance
    to their ``k`` nearest neighbours in the whole set."""
    if len(matrix) < 2:
        raise store.ProjectError("ranking by how unusual needs at least 2 images with vectors")
    rows = shown_rows(matrix, within)
    vectors = normalised(matrix.vectors)
    distances = neighbour_distances(vectors, rows, k, progress, cancel)
    order = np.lexsort((matrix.ids[rows], -distances))  # ties: by image id
    return [Ranked(int(matrix.ids[rows[i]]), float(distances[i])) for i in order]


# --- representative -------------------------------------------------------------------------


def centre_scores(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cosine of each row (normalised) to the normalised mean of its label's rows."""
    scores = np.empty(len(vectors), np.float32)
    for label in np.unique(labels):
        members = labels == label
        centre = vectors[members].mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        scores[members] = vectors[members] @ centre
    return scores


def clusterings(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    """The project's clusterings, newest first, with their vector set: those a ranking by
    representative can use."""
    rows = con.execute("SELECT name, set_id FROM clusterings ORDER BY id DESC").fetchall()
    return [(str(name), int(set_id)) for name, set_id in rows]


def rank_representative(
    con: duckdb.DuckDBPyConnection,
    matrix: VectorMatrix,
    set_id: int,
    clustering: str | None = None,
    within: np.ndarray | None = None,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> tuple[str, list[Ranked]]:
    """The images shown, most representative of their cluster first (cosine to its centre),
    in ``clustering`` (None: the set's newest); images outside the clustering come last,
    without a score. Returns the clustering's name and the ranking."""
    from panoptui.core import cluster  # cluster imports query, as this module does

    if clustering is None:
        clustering = cluster.newest_clustering(con, set_id)
        if clustering is None:
            raise store.ProjectError(
                f"vector set {set_id} has no clustering yet: cluster it first (c, or "
                "'panoptui cluster')"
            )
    elif cluster.clustering_set(con, clustering) != set_id:
        raise store.ProjectError(
            f"clustering {clustering!r} was made from another vector set than {set_id}"
        )
    clusters = cluster.load_clustering(con, clustering)
    check_cancel(cancel)
    stage = Stage(progress, "distances to cluster centres", len(clusters))
    label_of = {i: c.label for c in clusters for i in c.ids}
    labels = np.array([label_of.get(int(i), -1) for i in matrix.ids], np.int64)
    clustered = labels >= 0
    scores = np.full(len(matrix), np.nan, np.float32)
    scores[clustered] = centre_scores(normalised(matrix.vectors[clustered]), labels[clustered])
    stage.finish()
    rows = shown_rows(matrix, within)
    shown = scores[rows]
    # Scored rows by score (highest first), then the unscored; ties by image id.
    order = np.lexsort((matrix.ids[rows], np.where(np.isnan(shown), np.inf, -shown)))
    ranked = [
        Ranked(int(matrix.ids[rows[i]]), None if np.isnan(shown[i]) else float(shown[i]))
        for i in order
    ]
    return clustering, ranked


# --- diverse --------------------------------------------------------------------------------


def farthest_points(
    vectors: np.ndarray,
    n: int,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy farthest-point sampling of ``n`` rows of ``vectors`` (normalised): the row
    nearest the mean first, then each time the row whose nearest pick is farthest. Returns the
    rows picked, in order, and for each its cosine distance to the picks before it (the first:
    its distance to the mean direction). One matrix-vector product over all rows per pick;
    each pick is a progress step and a cancel check. Stops early when every row left
    duplicates a pick (distance 0)."""
    count = len(vectors)
    n = max(0, min(n, count))
    picks = np.empty(n, np.int64)
    radii = np.empty(n, np.float32)
    stage = Stage(progress, "picking diverse images", n)
    if n == 0:
        return picks, radii
    mean = vectors.mean(axis=0)
    mean /= max(float(np.linalg.norm(mean)), 1e-12)
    nearest = np.empty(count, np.float32)  # each row's cosine to its nearest pick so far
    _cosines(vectors, mean, nearest)
    first = int(np.argmax(nearest))
    picks[0], radii[0] = first, 1.0 - nearest[first]
    nearest.fill(-np.inf)
    scratch = np.empty(count, np.float32)
    made = 1
    while True:
        check_cancel(cancel)
        _cosines(vectors, vectors[picks[made - 1]], scratch)
        np.maximum(nearest, scratch, out=nearest)
        stage.step(made)
        if made == n:
            break
        row = int(np.argmin(nearest))
        if nearest[row] >= 1.0 - 1e-6:  # every row is (a copy of) a pick already
            break
        picks[made], radii[made] = row, 1.0 - nearest[row]
        made += 1
    stage.finish()
    return picks[:made], radii[:made]


def _cosines(vectors: np.ndarray, direction: np.ndarray, out: np.ndarray) -> None:
    # One product over all rows, not blocks: its output is only N floats, and blocks of 64k
    # rows were slower (measured at 100k x 512: 50 ms against 38 ms, BLAS on smaller calls).
    np.matmul(vectors, direction, out=out)


def diverse_sample(
    matrix: VectorMatrix,
    n: int = DEFAULT_DIVERSE,
    within: np.ndarray | None = None,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> list[Ranked]:
    """``n`` images among those shown (``within``; None: all) that cover them, in the order
    picked; score: the cosine distance to the nearest image picked before it (None for the
    first, the most central: none was picked before it)."""
    if n < 1:
        raise store.ProjectError(f"the number of diverse images must be at least 1, not {n}")
    rows = shown_rows(matrix, within)
    if len(rows) == 0:
        raise store.ProjectError("no images with vectors to sample from")
    vectors = matrix.vectors if within is None else matrix.vectors[rows]  # all: no copy
    picks, radii = farthest_points(normalised(vectors), n, progress, cancel)
    return [
        Ranked(int(matrix.ids[rows[p]]), None if n == 0 else float(r))
        for n, (p, r) in enumerate(zip(picks, radii, strict=True))
    ]
