"""Similarity queries over a vector set: cosine top-k on L2-normalised vectors.

A set's vectors come from its vector file (core/matrix_file.py), memory-mapped: a cold query
reads no more than the file's pages, at the speed of memory, instead of a 10+ s load from
DuckDB at 1M. Where no file can be had (a read-only project without a valid one) they are read
from DuckDB, batch by batch into one preallocated float32 matrix, as before. A query is one
matrix-vector product, computed in blocks, plus ``argpartition``: bounded by memory bandwidth.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

from panoptui.core import matrix_file, store
from panoptui.core.progress import ProgressCallback, Stage, check_cancel, no_progress
from panoptui.core.text import shown

if TYPE_CHECKING:
    from panoptui.core.models.base import Embedder
    from panoptui.core.vector_sets import VectorSet

READ_BATCH = 65_536  # vectors per record batch read from DuckDB
SCORE_BLOCK = 262_144  # rows per block of the matrix-vector product


# On a GPU the matrix is kept in half precision and scored there; a half-precision cosine of unit
# vectors is within about 2^-10 of the exact one, so every row within twice that of the k-th is
# scored again exactly, on the CPU, and the answer is the exact one. Only where torch is loaded
# already (the app, a vector run): importing it costs a cold CLI query seconds.
GPU_MIN_ROWS = 100_000
HALF_ERROR = 2.0**-7  # a margin over 2^-10, for a device that sums in half precision


def _torch_device() -> str | None:
    """ "cuda" when torch is loaded and sees a GPU, else None."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    return "cuda"


def _scan(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``vectors @ query``, block by block (a mapped file is read once, in order)."""
    out = np.empty(len(vectors), np.float32)
    for start in range(0, len(vectors), SCORE_BLOCK):
        np.dot(vectors[start : start + SCORE_BLOCK], query, out=out[start:][:SCORE_BLOCK])
    return out


@dataclass(frozen=True)
class Hit:
    image_id: int
    path: str
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.image_id, "path": self.path, "score": round(self.score, 6)}


class VectorMatrix:
    """The vectors of one set for the images present on disk: ``ids`` (N,) and ``vectors``
    (N, dim) float32, rows in image-id order.

    The array given may hold more rows than ours (a mapped vector file holds every row of the
    set, those of images missing on disk too): ``rows`` says which of its rows are ours (None:
    all). ``vectors`` is then gathered on first use only (clusters, maps, duplicates...); the
    queries here read the array given itself, so a cold query copies nothing."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray, rows: np.ndarray | None = None):
        self.ids = ids
        self._base = vectors
        self._rows = rows
        self._vectors: np.ndarray | None = vectors if rows is None else None
        self._row_of: dict[int, int] | None = None
        self._device: str | None = None  # where half-precision scoring runs, when it does
        self._on_device: Any = None  # the matrix there (a torch tensor), made on first use
        self._sorted: bool | None = None  # whether ids ascend (found on the first row())

    @property
    def vectors(self) -> np.ndarray:
        if self._vectors is None:
            self._vectors = np.asarray(self._base[self._rows], np.float32)
        return self._vectors

    def vector(self, row: int) -> np.ndarray:
        """Row ``row``'s vector (a copy), without gathering ``vectors``."""
        return np.array(self._base[row if self._rows is None else self._rows[row]], np.float32)

    def mean_of(self, rows: list[int]) -> np.ndarray:
        """The mean of these rows' vectors, without gathering ``vectors``."""
        picked = np.asarray(rows, np.int64)
        return self._base[picked if self._rows is None else self._rows[picked]].mean(axis=0)

    def among(self, image_ids: np.ndarray) -> VectorMatrix:
        """The rows of these images only (a filter's: a query among the images shown)."""
        keep = np.isin(self.ids, image_ids)
        rows = np.flatnonzero(keep) if self._rows is None else self._rows[keep]
        return VectorMatrix(self.ids[keep], self._base, rows)

    @classmethod
    def load(
        cls,
        con: duckdb.DuckDBPyConnection,
        set_id: int,
        progress: ProgressCallback = no_progress,
        cancel: threading.Event | None = None,
    ) -> VectorMatrix:
        """The set's vectors from its vector file (built first when missing, stale or damaged:
        a progress stage), else read from DuckDB (each batch a progress step and a cancel
        check: Cancelled)."""
        dim = store.scalar(con, "SELECT dim FROM vector_sets WHERE id = ?", [set_id])
        if dim is None:
            raise store.ProjectError(f"no vector set {set_id} in this project")
        stored = matrix_file.load(con, set_id, int(dim), progress, cancel, READ_BATCH)
        if stored is None:
            return cls.from_duckdb(con, set_id, int(dim), progress, cancel)
        # The rows of images missing on disk stay in the file and are left out here: the ids of
        # the images not 'ok' (few, usually none: 5 ms at 1M, where a join of the set with the
        # images takes 250 ms). A vector's image is never deleted without it (drop_images).
        absent = con.execute("SELECT id FROM images WHERE state <> 'ok'").fetchnumpy()["id"]
        keep = ~np.isin(stored.ids, np.asarray(absent, np.int64)) if len(absent) else None
        if keep is None or keep.all():
            return cls(stored.ids, stored.vectors)
        rows = np.flatnonzero(keep)
        return cls(stored.ids[rows], stored.vectors, rows)

    @classmethod
    def from_duckdb(
        cls,
        con: duckdb.DuckDBPyConnection,
        set_id: int,
        dim: int,
        progress: ProgressCallback = no_progress,
        cancel: threading.Event | None = None,
    ) -> VectorMatrix:
        """Read the set from DuckDB, batch by batch (each a progress step and a cancel check)."""
        table = store.vector_table(set_id)
        where = f"FROM {table} v JOIN images i ON i.id = v.image_id AND i.state = 'ok'"
        count = int(store.scalar(con, f"SELECT count(*) {where}") or 0)
        ids = np.empty(count, np.int64)
        vectors = np.empty((count, dim), np.float32)
        reader = store.arrow_batches(
            con, f"SELECT v.image_id, v.vec {where} ORDER BY v.image_id", READ_BATCH
        )
        filled = 0
        stage = Stage(progress, "reading vectors", count)
        for batch in reader:
            check_cancel(cancel)
            n = batch.num_rows
            ids[filled : filled + n] = batch.column(0).to_numpy()
            flat = batch.column(1).flatten().to_numpy(zero_copy_only=False)
            vectors[filled : filled + n] = flat.reshape(n, dim)
            filled += n
            stage.step(filled)
        stage.finish()
        return cls(ids[:filled], vectors[:filled])

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, image_id: int) -> int | None:
        if self._row_of is None:
            if self._sorted is None:
                self._sorted = bool(np.all(self.ids[1:] > self.ids[:-1]))
            if self._sorted:  # as loaded: a binary search (a dict of 1M ids takes 0.5 s)
                at = int(np.searchsorted(self.ids, image_id))
                return at if at < len(self.ids) and self.ids[at] == image_id else None
            self._row_of = {int(i): r for r, i in enumerate(self.ids)}
        return self._row_of.get(int(image_id))

    def score_on(self, device: str | None) -> None:
        """Score in half precision on ``device`` (a torch device: "cuda"; "cpu" in tests), or
        None: in float32 with numpy. top_k's answers are the same either way."""
        self._device, self._on_device = device, None

    def _half_scores(self, query: np.ndarray) -> np.ndarray | None:
        """Approximate scores (within HALF_ERROR) from the device, or None when not there."""
        device = self._device
        if device is None and len(self) >= GPU_MIN_ROWS:
            device = _torch_device()
        if device is None:
            return None
        import torch

        if self._on_device is None:
            self._on_device = torch.from_numpy(np.ascontiguousarray(self.vectors)).to(
                device, torch.float16
            )
        q = torch.from_numpy(query).to(device, torch.float16)
        with torch.no_grad():
            approx = (self._on_device @ q).float()
        return np.asarray(approx.cpu().numpy(), np.float32)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine similarity of every row to ``query`` (normalised here)."""
        query = np.asarray(query, np.float32).ravel()
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        if self._vectors is not None:
            return _scan(self._vectors, query)
        rows = self._rows if self._rows is not None else np.arange(len(self))
        if len(rows) * 4 < len(self._base):  # a few of the file's rows: only theirs are read
            return np.asarray(self._base[rows] @ query, np.float32)
        return _scan(self._base, query)[rows]

    def top_k(
        self,
        query: np.ndarray,
        k: int,
        *,
        min_score: float | None = None,
        exclude: set[int] | None = None,
        within: np.ndarray | None = None,
    ) -> list[tuple[int, float]]:
        """The k rows most similar to ``query`` as (image id, score), best first; ties broken
        by image id. ``within``: image ids to search among; ``exclude``: ids to leave out."""
        few_excluded = within is None and len(exclude or ()) <= 64
        scores = self._exact_near_top(query, k + len(exclude or ())) if few_excluded else None
        if scores is None:
            scores = self.scores(query)
        if within is not None:
            allowed = np.isin(self.ids, within)
            scores[~allowed] = -np.inf
        if exclude and len(exclude) > 64:  # a tag's refused images: thousands, in one pass
            scores[np.isin(self.ids, np.fromiter(exclude, np.int64, len(exclude)))] = -np.inf
        elif exclude:
            for image_id in exclude:
                row = self.row(image_id)
                if row is not None:
                    scores[row] = -np.inf
        k = min(k, len(scores))
        if k <= 0:
            return []
        candidates = np.argpartition(-scores, k - 1)[:k]
        # Rows tied with the k-th score may sit outside the partition: take them all in, so the
        # tie-break by id is exact.
        kth = scores[candidates].min()
        if np.isfinite(kth):
            candidates = np.union1d(candidates, np.flatnonzero(scores == kth))
        order = np.lexsort((self.ids[candidates], -scores[candidates]))
        best = candidates[order][:k]
        hits = [(int(self.ids[r]), float(scores[r])) for r in best if np.isfinite(scores[r])]
        if min_score is not None:
            hits = [(i, s) for i, s in hits if s >= min_score]
        return hits

    def _exact_near_top(self, query: np.ndarray, k: int) -> np.ndarray | None:
        """Scores from the device: every row that could be among the k best scored exactly, the
        others -inf; None when not on a device (or k < 1)."""
        unit = np.asarray(query, np.float32).ravel()
        unit = unit / max(float(np.linalg.norm(unit)), 1e-12)
        approx = self._half_scores(unit) if k > 0 else None
        if approx is None:
            return None
        # Enough candidates that excluding some still leaves k: the k-th of the approximate
        # scores, lowered by twice the error, keeps every row whose exact score can pass it.
        keep = min(len(approx), 4 * k + 64)
        kth = np.partition(-approx, keep - 1)[keep - 1] * -1 if keep < len(approx) else -np.inf
        rows = np.flatnonzero(approx >= kth - 2 * HALF_ERROR)
        exact = np.full(len(approx), -np.inf, np.float32)
        base_rows = rows if self._rows is None else self._rows[rows]
        exact[rows] = np.asarray(self._base[base_rows] @ unit, np.float32)
        return exact


def paths_of(con: duckdb.DuckDBPyConnection, image_ids: list[int]) -> dict[int, str]:
    """One path per image (its first present file)."""
    return {
        int(i): p
        for i, p in con.execute(
            "SELECT image_id, min_by(path, id) FROM files WHERE state = 'ok' "
            "AND image_id IN (SELECT unnest(?::BIGINT[])) GROUP BY image_id",
            [image_ids],
        ).fetchall()
    }


def to_hits(con: duckdb.DuckDBPyConnection, ranked: list[tuple[int, float]]) -> list[Hit]:
    paths = paths_of(con, [i for i, _ in ranked])
    return [Hit(i, paths.get(i, ""), s) for i, s in ranked]


def similar_to_image(
    con: duckdb.DuckDBPyConnection,
    matrix: VectorMatrix,
    image_id: int,
    k: int = 20,
    min_score: float | None = None,
    within: np.ndarray | None = None,
) -> list[Hit]:
    """The k images most like an image of the project, itself excluded."""
    row = matrix.row(image_id)
    if row is None:
        raise store.ProjectError(
            f"image {image_id} has no vector in this set (not imported, missing, or not "
            "embedded yet: run panoptui vectors resume)"
        )
    ranked = matrix.top_k(
        matrix.vector(row), k, min_score=min_score, exclude={image_id}, within=within
    )
    return to_hits(con, ranked)


def recommend(
    con: duckdb.DuckDBPyConnection,
    matrix: VectorMatrix,
    group: list[int],
    k: int = 20,
    within: np.ndarray | None = None,
    tag: str | None = None,
) -> list[Hit]:
    """Images close to a group and not in it: ranked by cosine to the group's centroid (the mean
    of its normalised vectors), the usual choice; the group's members are left out, and so are
    the images refused for ``tag`` (recommendations for a tag: never proposed again)."""
    rows = [r for r in (matrix.row(i) for i in group) if r is not None]
    if not rows:
        raise store.ProjectError("none of the group's images has a vector in this set")
    centroid = matrix.mean_of(rows)
    exclude = set(group) | (refused(con, tag) if tag else set())
    return to_hits(con, matrix.top_k(centroid, k, exclude=exclude, within=within))


def _tag_id(con: duckdb.DuckDBPyConnection, tag: str) -> int | None:
    value = store.scalar(
        con,
        "SELECT id FROM tags WHERE name = ? AND property_id = ?",
        [tag, store.TAGS_PROPERTY_ID],
    )
    return None if value is None else int(value)


def refused(con: duckdb.DuckDBPyConnection, tag: str) -> set[int]:
    """The images refused as recommendations for a tag (none for a name that is not a tag: a
    cluster as CLUSTERING:LABEL)."""
    tag_id = _tag_id(con, tag)
    if tag_id is None:
        return set()
    rows = con.execute(
        "SELECT image_id FROM refused_recommendations WHERE tag_id = ?", [tag_id]
    ).fetchnumpy()["image_id"]
    return set(np.asarray(rows, np.int64).tolist())


def refuse_recommendations(con: duckdb.DuckDBPyConnection, tag: str, image_ids: list[int]) -> int:
    """Remember that these images do not belong in a tag (made if needed: recommendations can be
    for a tag not saved yet), so that recommend never proposes them for it again. Returns how
    many were newly refused."""
    from panoptui.core import journal, tags

    known = {
        int(i)
        for (i,) in con.execute(
            "SELECT id FROM images WHERE id IN (SELECT unnest(?::BIGINT[]))", [image_ids]
        ).fetchall()
    }
    unknown = sorted(set(image_ids) - known)
    if unknown:
        raise store.ProjectError(f"no image {unknown[0]} in this project")
    said = f"refuse {len(known)} images for {tags.clean_name(tag)!r}"
    with journal.change(con, said) as change:  # undo takes it back (and the tag it made)
        tag_id = tags.create_tag(con, tag)
        change.watch("refused_recommendations", tag_id=[tag_id], image_id=sorted(known))
        before = len(refused(con, tags.clean_name(tag)))
        con.execute(
            "INSERT INTO refused_recommendations SELECT ?, unnest(?::BIGINT[]) "
            "ON CONFLICT DO NOTHING",
            [tag_id, sorted(known)],
        )
        return len(refused(con, tags.clean_name(tag))) - before


def similar_to_vector(
    con: duckdb.DuckDBPyConnection,
    matrix: VectorMatrix,
    vector: np.ndarray,
    k: int = 20,
    min_score: float | None = None,
    within: np.ndarray | None = None,
) -> list[Hit]:
    """The k images closest to a vector (an outside image's, or a text's)."""
    return to_hits(con, matrix.top_k(vector, k, min_score=min_score, within=within))


def folder_images(con: duckdb.DuckDBPyConnection, folder: str) -> np.ndarray:
    """Ids of the images with a present file below ``folder`` (a project folder or any folder
    inside one)."""
    prefix = store.stored_path(folder.rstrip("/") + "/")[0]  # a folder that is not UTF-8 too
    rows = con.execute(
        "SELECT DISTINCT image_id FROM files WHERE state = 'ok' AND starts_with(path, ?)",
        [prefix],
    ).fetchall()
    if not rows:
        raise store.ProjectError(f"no images of this project below {shown(folder)}")
    return np.array([r[0] for r in rows], np.int64)


def image_at(con: duckdb.DuckDBPyConnection, path: str) -> int | None:
    """The image a path of the project holds, if any (to leave it out of its own results).
    ``path`` is the operating system's path (a name that is not UTF-8 as Python gives it)."""
    text, raw = store.stored_path(path)
    rows = con.execute(
        "SELECT image_id FROM files WHERE path = ? AND raw_path IS NOT DISTINCT FROM ? "
        "AND state = 'ok'",
        [text, raw],
    ).fetchall()
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


# --- the queries a user asks (the CLI and the app call these) ---------------------------------


def scope(
    con: duckdb.DuckDBPyConnection,
    folder: str | None,
    group: str | None,
    where: str | None = None,
) -> np.ndarray | None:
    """The images a query runs among: those below ``folder``, in ``group`` (a tag, or a
    cluster as ``CLUSTERING:LABEL``) and taken by the filter ``where`` (core/filters.py), any
    of them together; None (all) when none is given."""
    from panoptui.core import cluster, filters  # cluster imports this module

    within = folder_images(con, str(Path(folder).resolve())) if folder else None
    if group:
        members = cluster.group_members(con, group)
        within = members if within is None else np.intersect1d(within, members)
    if where:
        taken = filters.matching_ids(con, where)
        if not taken.size:
            raise store.ProjectError(f"no images match the filter {shown(repr(where))}")
        within = taken if within is None else np.intersect1d(within, taken)
    return within


def require_text(con: duckdb.DuckDBPyConnection, vector_set: VectorSet) -> None:
    """Refuse a text search of a set whose model embeds images only, naming the sets that can
    (or how to make one)."""
    from panoptui.core import vector_sets
    from panoptui.core.models import TEXT_PRESETS

    if vector_set.embeds_text:
        return
    able = [f"{v.id} ({v.model})" for v in vector_sets.list_sets(con) if v.embeds_text]
    raise store.ProjectError(
        f"vector set {vector_set.id} ({vector_set.model}) embeds images only; "
        + (
            f"sets that embed text: {', '.join(able)}"
            if able
            else f"create one that does: panoptui vectors create PROJECT --model "
            f"{' or '.join(TEXT_PRESETS)}"
        )
    )


def search_text(
    con: duckdb.DuckDBPyConnection,
    matrix: VectorMatrix,
    embedder: Callable[[VectorSet], Embedder],
    vector_set: VectorSet,
    text: str,
    k: int = 20,
    within: np.ndarray | None = None,
) -> list[Hit]:
    """The k images closest to a text. ``embedder`` gives the set's model (loaded, or kept by
    the caller), asked only once the set is known to embed text."""
    require_text(con, vector_set)
    vector = embedder(vector_set).embed_texts([text])[0]
    return similar_to_vector(con, matrix, vector, k, None, within)


def similar_to_file(
    con: duckdb.DuckDBPyConnection,
    matrix: VectorMatrix,
    embedder: Embedder,
    vector_set: VectorSet,
    path: str,
    k: int = 20,
    min_score: float | None = None,
    within: np.ndarray | None = None,
) -> list[Hit]:
    """The k images most like an image file (anywhere), itself left out if the project holds
    it."""
    from panoptui.core.vectorize import embed_file

    image = str(Path(path).expanduser())
    vector = embed_file(embedder, image, vector_set.greyscale)
    known = image_at(con, str(Path(image).resolve()))
    ranked = matrix.top_k(
        vector,
        k,
        min_score=min_score,
        within=within,
        exclude={known} if known is not None else None,
    )
    return to_hits(con, ranked)
