"""Clustering a vector set, saved by name.

k-means on the L2-normalised vectors (Euclidean k-means on the unit sphere ranks like cosine).
The automatic mode picks k itself: k-means for a range of k on a sample of at most 3,000
vectors, scored by the cosine silhouette, the best k then fitted on everything. HDBSCAN was the
other candidate; on hundreds of thousands of 512-d vectors it is quadratic in time and leaves
much of a corpus as "noise", where a user exploring a collection wants every image placed.

Clustering is a job: each stage (reading the vectors, choosing k, k-means) reports its progress
and checks the cancel event about every second at most; a cancelled clustering saves nothing.
sklearn's KMeans has no callback, so it runs a few iterations at a time (``STEP_WORK``), each
run starting from the centres the last one ended on: the same Lloyd iterations, with a pause
between them to report and to hear a cancel. The k-means++ seeds are drawn from a sample
(``SEED_PER_CLUSTER``), the one call that cannot be interrupted.

Where faiss is installed (core/neighbours.py chooses), the Lloyd iterations are faiss's
spherical k-means (faiss.Kmeans, from the same k-means++ seeds, a few iterations per call as
above) on a sample of at most ``TRAIN_PER_CLUSTER`` rows per cluster, and every row then takes
the label of its nearest centre (faiss.knn): k=100 on 1M x 512 in 9-27 s (target: 2 minutes,
issue 15; benchmarks/query_bench.py, bench_faiss). Without faiss, sklearn's KMeans runs on every
row.

A cluster may be given a name by the user (``rename_cluster``). The names of a clustering are
kept as one JSON object in the project's settings table (key ``cluster_names/ID``), next to the
clustering rather than in a new column: no schema migration for a few words per clustering.
A cluster's members are also ranked by how representative they are (``by_representativeness``:
cosine to the cluster's centre, closest first), for its thumbnails and its grid.
"""

from __future__ import annotations

import json
import threading
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from panoptui.core import journal, store, tags
from panoptui.core.progress import ProgressCallback, Stage, check_cancel, no_progress
from panoptui.core.query import VectorMatrix

AUTO_SAMPLE = 3000
AUTO_CANDIDATES = (2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 25, 30, 40)
SEED = 0
MAX_ITER = 100  # Lloyd iterations per restart, at most
# Work between two reports (and cancel checks), in rows x clusters x dimensions x iterations:
# a quarter of a second on two idle cores (measured: 5 iterations on 100k x 512 at k=20 took
# 0.33 s), under a second on busy ones (0.28 s an iteration there; benchmarks/jobs_bench.py).
STEP_WORK = 4_000_000_000
# k-means++ seeds from a sample of this many rows per cluster (Lloyd's iterations then run on
# every row): seeding is one call that cannot be interrupted, and on all rows it was most of
# the time (measured: 3.3 s of sklearn's KMeans on 100k x 512 at k=20; 1.2-1.9 s on a sample
# of 10k, 0.07 s on one of 2k).
SEED_PER_CLUSTER = 100
TOLERANCE = 1e-4  # sklearn's default, relative to the mean variance of the vectors
# With faiss, the centres are fitted on a sample of this many rows per cluster (faiss's own
# default is 256), then every row is labelled: a centre moves little after the first thousand
# of its members.
TRAIN_PER_CLUSTER = 1024


@dataclass
class Cluster:
    label: int
    size: int
    score: float  # cohesion: mean cosine of the members to their centroid
    ids: list[int]
    name: str | None = None  # given by the user (rename_cluster); None: known by its label

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "label": self.label,
            "size": self.size,
            "score": round(self.score, 6),
            "ids": self.ids,
        }
        if self.name is not None:
            found["name"] = self.name
        return found

    @property
    def title(self) -> str:
        """What the user calls it: its name, else ``cluster LABEL``."""
        return self.name if self.name is not None else f"cluster {self.label}"


def kmeans(
    vectors: np.ndarray,
    k: int,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """Labels 0..k-1; fewer distinct labels when the vectors hold fewer than k distinct points
    (callers compare and say so: sklearn's ConvergenceWarning about it is silenced). Progress
    counts iterations (MAX_ITER per restart; a restart that converges early completes its
    share); Cancelled between steps."""
    from panoptui.core import neighbours

    faiss = neighbours.load_faiss()
    if faiss is not None:
        return faiss_kmeans(faiss, vectors, k, progress, cancel)
    from sklearn.cluster import KMeans, kmeans_plusplus
    from sklearn.exceptions import ConvergenceWarning

    k = max(1, min(k, len(vectors)))
    # Three restarts where they are cheap; one (k-means++ seeded) on large sets.
    restarts = 3 if len(vectors) <= 20_000 else 1
    step = max(1, min(MAX_ITER, STEP_WORK // (len(vectors) * k * max(1, vectors.shape[1]))))
    # sklearn's own test of convergence between iterations (the centres move less than this),
    # applied between steps too: a step that ends where it started is converged.
    tolerance = float(np.mean(np.var(vectors, axis=0))) * TOLERANCE
    stage = Stage(progress, f"k-means (k={k})", restarts * MAX_ITER)
    best: Any = None
    for restart in range(restarts):
        check_cancel(cancel)
        rng = np.random.default_rng(SEED + restart)
        sample = vectors
        if len(vectors) > SEED_PER_CLUSTER * k:
            rows = rng.choice(len(vectors), SEED_PER_CLUSTER * k, replace=False)
            sample = vectors[np.sort(rows)]
        centres, _ = kmeans_plusplus(sample, k, random_state=SEED + restart)
        for start in range(0, MAX_ITER, step):
            check_cancel(cancel)
            model = KMeans(
                k, init=centres, n_init=1, max_iter=min(step, MAX_ITER - start), tol=TOLERANCE
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(vectors)
            moved = float(((model.cluster_centers_ - centres) ** 2).sum())
            centres = model.cluster_centers_
            stage.step(restart * MAX_ITER + start + model.n_iter_)
            # Converged within the step (it stopped early) or over it (the centres stayed).
            if model.n_iter_ < model.max_iter or moved <= tolerance:
                break
        stage.step((restart + 1) * MAX_ITER)
        if best is None or model.inertia_ < best.inertia_:
            best = model
    return np.asarray(best.labels_)


def faiss_kmeans(
    faiss: Any,
    vectors: np.ndarray,
    k: int,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """kmeans through faiss: the same restarts, k-means++ seeds, steps, tolerance and progress,
    faiss's spherical Lloyd iterations on a sample (TRAIN_PER_CLUSTER rows per cluster), the
    restart of the best total cosine kept, then every row labelled by its nearest centre.
    Deterministic for a given SEED: the sample and seeds come from it, and faiss's splitting of
    an empty cluster from the seed of the restart."""
    from sklearn.cluster import kmeans_plusplus

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    k = max(1, min(k, n))
    restarts = 3 if n <= 20_000 else 1
    train = vectors
    if n > TRAIN_PER_CLUSTER * k:
        rows = np.random.default_rng(SEED).choice(n, TRAIN_PER_CLUSTER * k, replace=False)
        train = vectors[np.sort(rows)]
    step = max(1, min(MAX_ITER, STEP_WORK // (len(train) * k * max(1, dim))))
    tolerance = float(np.mean(np.var(train, axis=0))) * TOLERANCE
    stage = Stage(progress, f"k-means (k={k})", restarts * MAX_ITER)
    best_centres, best_total = None, -np.inf
    for restart in range(restarts):
        check_cancel(cancel)
        rng = np.random.default_rng(SEED + restart)
        sample = train
        if len(train) > SEED_PER_CLUSTER * k:
            rows = rng.choice(len(train), SEED_PER_CLUSTER * k, replace=False)
            sample = train[np.sort(rows)]
        centres, _ = kmeans_plusplus(sample, k, random_state=SEED + restart)
        centres = np.ascontiguousarray(centres, np.float32)
        done = 0
        while done < MAX_ITER:
            check_cancel(cancel)
            iterations = min(step, MAX_ITER - done)
            model = faiss.Kmeans(
                dim,
                k,
                niter=iterations,
                seed=SEED + restart,
                spherical=True,
                max_points_per_centroid=len(train) // k + 1,  # sampled above: all of it
                min_points_per_centroid=1,  # no warning about a small set
            )
            model.train(train, init_centroids=centres)
            moved = float(((model.centroids - centres) ** 2).sum())
            centres = np.ascontiguousarray(model.centroids, np.float32)
            # faiss stops early once its objective no longer changes (obj: one per iteration).
            ran = len(model.obj) if len(model.obj) else iterations
            done += ran
            stage.step(restart * MAX_ITER + done)
            # Converged within the step (it stopped early) or over it (the centres stayed).
            if ran < iterations or moved <= tolerance:
                break
        stage.step((restart + 1) * MAX_ITER)
        total = float(faiss.knn(train, centres, 1, metric=faiss.METRIC_INNER_PRODUCT)[0].sum())
        if total > best_total:
            best_centres, best_total = centres, total
    check_cancel(cancel)
    _, labels = faiss.knn(vectors, best_centres, 1, metric=faiss.METRIC_INNER_PRODUCT)
    return np.asarray(labels[:, 0], np.int64)


def choose_k(
    vectors: np.ndarray,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> int:
    """The k of best cosine silhouette on a sample; progress counts the candidates tried."""
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(SEED)
    sample = vectors
    if len(vectors) > AUTO_SAMPLE:
        sample = vectors[rng.choice(len(vectors), AUTO_SAMPLE, replace=False)]
    candidates = [k for k in AUTO_CANDIDATES if k < len(sample)]
    stage = Stage(progress, "choosing k", len(candidates))
    best_k, best_score = 1, -1.0
    for n, k in enumerate(candidates, 1):
        labels = kmeans(sample, k, cancel=cancel)
        stage.step(n)
        if len(set(labels.tolist())) < 2:
            continue
        score = float(silhouette_score(sample, labels, metric="cosine"))
        if score > best_score:
            best_k, best_score = k, score
    return best_k


def summarise(ids: np.ndarray, vectors: np.ndarray, labels: np.ndarray) -> list[Cluster]:
    """Clusters with size and cohesion, relabelled best first (label 0 is the most cohesive)."""
    found = []
    for label in np.unique(labels):
        rows = labels == label
        members = vectors[rows]
        centroid = members.mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        found.append((float((members @ centroid).mean()), sorted(int(i) for i in ids[rows])))
    found.sort(key=lambda item: (-item[0], item[1][0]))
    return [Cluster(n, len(members), score, members) for n, (score, members) in enumerate(found)]


def cluster_set(
    con: duckdb.DuckDBPyConnection,
    set_id: int,
    k: int | None,
    name: str | None = None,
    within: np.ndarray | None = None,
    *,
    unique: bool = False,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> tuple[str, list[Cluster]]:
    """Cluster a set's images (or those of ``within``) into k groups (None: choose k), save the
    clustering under ``name`` (default: made up; with ``unique``, numbered if taken) and return
    it. ``cancel`` set: Cancelled at the next check, and nothing saved."""
    if name is not None:
        name = tags.clean_name(name, "clustering")
        if unique:
            name = unique_name(con, name)
    matrix = VectorMatrix.load(con, set_id, progress, cancel)
    ids, vectors = matrix.ids, matrix.vectors
    if within is not None:
        rows = np.isin(ids, within)
        ids, vectors = ids[rows], vectors[rows]
    if len(ids) < 2:
        raise store.ProjectError("clustering needs at least 2 images with vectors")
    if k is not None and k > len(ids):
        raise store.ProjectError(f"cannot make {k} clusters of {len(ids)} images")
    chosen = k if k is not None else choose_k(vectors, progress, cancel)
    clusters = summarise(ids, vectors, kmeans(vectors, chosen, progress, cancel))
    check_cancel(cancel)  # the last chance: saving is one transaction, whole or not at all
    name = name or f"clusters-{set_id}-{'auto' if k is None else k}-" + datetime.now().strftime(
        "%Y%m%d-%H%M%S"
    )
    save_clustering(con, name, set_id, "kmeans" if k is not None else "auto", clusters)
    return name, clusters


def save_clustering(
    con: duckdb.DuckDBPyConnection, name: str, set_id: int, method: str, clusters: list[Cluster]
) -> int:
    if store.scalar(con, "SELECT count(*) FROM clusterings WHERE name = ?", [name]):
        raise store.ProjectError(
            f"a clustering named {name!r} exists already; choose another --name"
        )
    with store.transaction(con):
        clustering_id = store.next_id(con, "clusterings")
        con.execute(
            "INSERT INTO clusterings VALUES (?, ?, ?, ?, ?)",
            [clustering_id, name, set_id, method, datetime.now()],
        )
        store.insert_arrow(
            con,
            "INSERT INTO clusters SELECT * FROM batch",
            pa.table(
                {
                    "clustering_id": pa.array([clustering_id] * len(clusters), pa.int32()),
                    "label": pa.array([c.label for c in clusters], pa.int32()),
                    "size": pa.array([c.size for c in clusters], pa.int32()),
                    "score": pa.array([c.score for c in clusters], pa.float64()),
                }
            ),
        )
        members = [(i, c.label) for c in clusters for i in c.ids]
        store.insert_arrow(
            con,
            "INSERT INTO cluster_members SELECT * FROM batch",
            pa.table(
                {
                    "clustering_id": pa.array([clustering_id] * len(members), pa.int32()),
                    "image_id": pa.array([i for i, _ in members], pa.int64()),
                    "label": pa.array([label for _, label in members], pa.int32()),
                }
            ),
        )
    return clustering_id


def clustering_set(con: duckdb.DuckDBPyConnection, name: str) -> int:
    """The vector set a clustering was made from."""
    name = tags.clean_name(name, "clustering")
    set_id = store.scalar(con, "SELECT set_id FROM clusterings WHERE name = ?", [name])
    if set_id is None:
        raise store.ProjectError(f"no clustering named {name!r} in this project")
    return int(set_id)


def newest_clustering(con: duckdb.DuckDBPyConnection, set_id: int) -> str | None:
    """The name of the set's newest clustering of the most images, if it has one: what maps
    are coloured by and images ranked against by default. A re-clustering inside one cluster
    (or of a filtered view) is newer but covers a part only: it would leave most images out."""
    row = con.execute(
        "SELECT c.name FROM clusterings c JOIN clusters k ON k.clustering_id = c.id "
        "WHERE c.set_id = ? GROUP BY c.id, c.name ORDER BY sum(k.size) DESC, c.id DESC LIMIT 1",
        [set_id],
    ).fetchall()
    return str(row[0][0]) if row else None


def unique_name(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """``name``, or ``name-2``, ``name-3``... if a clustering is already called that."""
    taken = {r[0] for r in con.execute("SELECT name FROM clusterings").fetchall()}
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def _clustering_id(con: duckdb.DuckDBPyConnection, name: str) -> int:
    name = tags.clean_name(name, "clustering")
    clustering_id = store.scalar(con, "SELECT id FROM clusterings WHERE name = ?", [name])
    if clustering_id is None:
        raise store.ProjectError(f"no clustering named {name!r} in this project")
    return int(clustering_id)


def _names_key(clustering_id: int) -> str:
    return f"cluster_names/{clustering_id}"


def cluster_names(con: duckdb.DuckDBPyConnection, name: str) -> dict[int, str]:
    """The names the user gave to clusters of a clustering, by label."""
    stored = store.get_setting(con, _names_key(_clustering_id(con, name)))
    if not stored:
        return {}
    try:
        names = json.loads(stored)
    except ValueError:
        return {}  # written by hand: unnamed rather than unreadable
    if not isinstance(names, dict):
        return {}
    return {int(k): str(v) for k, v in names.items() if str(k).isdigit()}


def rename_cluster(
    con: duckdb.DuckDBPyConnection, name: str, label: int, new_name: str | None
) -> str | None:
    """Name one cluster of a clustering (blank or None: back to its label) and return the name
    kept. Two clusters of one clustering never share a name: their tags would merge."""
    clustering_id = _clustering_id(con, name)
    if not any(c.label == label for c in load_clustering(con, name)):
        raise store.ProjectError(f"clustering {name!r} has no cluster {label}")
    names = cluster_names(con, name)
    cleaned = None if new_name is None or not new_name.strip() else new_name.strip()
    if cleaned is not None:
        cleaned = tags.clean_name(cleaned, "cluster")
        if "/" in cleaned:
            raise store.ProjectError(f"a cluster name cannot hold a '/': {cleaned!r}")
        if cleaned.isdigit() and int(cleaned) != label:
            raise store.ProjectError(f"{cleaned!r} is the label of another cluster")
        for other, taken in names.items():
            if taken == cleaned and other != label:
                raise store.ProjectError(f"cluster {other} is already called {cleaned!r}")
        names[label] = cleaned
    else:
        names.pop(label, None)
    store.set_setting(
        con, _names_key(clustering_id), json.dumps({str(k): v for k, v in sorted(names.items())})
    )
    return cleaned


def load_clustering(con: duckdb.DuckDBPyConnection, name: str) -> list[Cluster]:
    clustering_id = _clustering_id(con, name)
    names = cluster_names(con, name)
    members: dict[int, list[int]] = {}
    for image_id, label in con.execute(
        "SELECT image_id, label FROM cluster_members WHERE clustering_id = ? ORDER BY image_id",
        [clustering_id],
    ).fetchall():
        members.setdefault(int(label), []).append(int(image_id))
    return [
        Cluster(
            int(label), int(size), float(score), members.get(int(label), []), names.get(int(label))
        )
        for label, size, score in con.execute(
            "SELECT label, size, score FROM clusters WHERE clustering_id = ? ORDER BY label",
            [clustering_id],
        ).fetchall()
    ]


def tags_from_clustering(
    con: duckdb.DuckDBPyConnection, name: str, parent: str | None = None
) -> list[str]:
    """One tag per cluster, ``PARENT/LABEL``, under a parent tag (default: the clustering's
    name), in one transaction."""
    parent = tags.clean_name(name if parent is None else parent)
    clusters = load_clustering(con, name)
    made = []
    # All tags or none: a run killed half-way must not leave some clusters tagged; and one
    # change for undo.
    with journal.change(con, f"save the clustering {name!r} as tags under {parent!r}"):
        for cluster in clusters:
            tag = f"{parent}/{cluster.name if cluster.name is not None else cluster.label}"
            tags.create_tag(con, tag, parent=parent)
            tags.tag_images(con, tag, cluster.ids)
            made.append(tag)
    return made


def cluster_to_tag(con: duckdb.DuckDBPyConnection, name: str, label: int, tag: str) -> int:
    """Tag the images of one cluster with ``tag`` (made if new); the number newly tagged."""
    tag = tags.clean_name(tag)
    for cluster in load_clustering(con, name):
        if cluster.label == label:
            with journal.change(con, f"tag cluster {label} of {name!r} {tag!r}"):
                return tags.tag_images(con, tag, cluster.ids)
    raise store.ProjectError(f"clustering {name!r} has no cluster {label}")


def by_representativeness(matrix: VectorMatrix, ids: list[int]) -> list[tuple[int, float | None]]:
    """A group's images from the most to the least representative: by cosine to the group's
    centre (the mean of its normalised vectors, normalised), ties by image id. Images without a
    vector in ``matrix`` come last, without a score."""
    # The matrix's rows are in image-id order: a binary search finds every member at once.
    # Measured (benchmarks/query_bench.py, 100k x 512 in 20 clusters, busy 2 cores): 0.98 s
    # with a dict lookup and a tuple made per image, 0.57-0.70 s so.
    wanted = np.asarray(ids, np.int64)
    rows = np.minimum(np.searchsorted(matrix.ids, wanted), max(len(matrix.ids) - 1, 0))
    hit = matrix.ids[rows] == wanted if len(matrix.ids) else np.zeros(len(wanted), bool)
    missing = sorted(int(i) for i in wanted[~hit])
    if not hit.any():
        return [(i, None) for i in missing]
    found = wanted[hit]
    # Fancy indexing copies: normalising in place leaves the matrix as it is.
    vectors = matrix.vectors[rows[hit]].astype(np.float32, copy=False)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    centre = vectors.mean(axis=0)
    centre /= max(float(np.linalg.norm(centre)), 1e-12)
    scores = vectors @ centre
    order = np.lexsort((found, -scores))
    ranked: list[tuple[int, float | None]] = list(
        zip(found[order].tolist(), scores[order].tolist(), strict=True)
    )
    return ranked + [(i, None) for i in missing]


def representative_members(
    con: duckdb.DuckDBPyConnection, name: str, label: int, matrix: VectorMatrix | None = None
) -> list[tuple[int, float | None]]:
    """One cluster's members, the most representative first (see ``by_representativeness``);
    ``matrix``: the clustering's vector set, when the caller holds it already."""
    if matrix is None:
        matrix = VectorMatrix.load(con, clustering_set(con, name))
    for cluster in load_clustering(con, name):
        if cluster.label == label:
            return by_representativeness(matrix, cluster.ids)
    raise store.ProjectError(f"clustering {name!r} has no cluster {label}")


def group_members(con: duckdb.DuckDBPyConnection, group: str) -> np.ndarray:
    """Image ids of a group named by the user: a tag, or one cluster as ``CLUSTERING:LABEL``
    or ``CLUSTERING:NAME`` (a name given with ``rename_cluster``)."""
    group = tags.clean_name(group, "group")
    name, sep, label = group.rpartition(":")
    if sep and store.scalar(con, "SELECT count(*) FROM clusterings WHERE name = ?", [name]):
        for cluster in load_clustering(con, name):
            if (label.isdigit() and cluster.label == int(label)) or cluster.name == label:
                return np.array(cluster.ids, np.int64)
        if label.isdigit():
            raise store.ProjectError(f"clustering {name!r} has no cluster {label}")
    return tags.tag_members(con, group)
