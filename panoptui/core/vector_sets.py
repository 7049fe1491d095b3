"""The vector set catalogue: which sets a project holds, their state, and the default one.

A vector set is one model's vectors for the project's images (a table per set, see
``store.vector_table``). This module records, lists, chooses and deletes sets; ``vectorize``
fills them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from panoptui.core import matrix_file, store

if TYPE_CHECKING:
    from panoptui.core.models.base import Embedder

DEFAULT_BATCH_SIZE = 32
# The largest batch a set may ask for. A batch is decoded whole before the model sees it: 4096
# images at 224 px are 2.5 GB of input tensors (more while decoding), already past what helps
# throughput on any GPU; --batch-size 100000000 would decode the whole project into memory.
MAX_BATCH_SIZE = 4096
COMPLETE, INCOMPLETE, RUNNING = "complete", "incomplete", "running"

# Sets being computed by this process: a set stored as 'running' that is not here was left by a
# process that died (another live one would hold the project's lock), so it is incomplete.
_running: set[int] = set()
_running_lock = threading.Lock()


def is_running(set_id: int) -> bool:
    """Whether this process is computing the set now."""
    with _running_lock:
        return set_id in _running


def start_running(set_id: int) -> None:
    """Mark the set as being computed by this process; a one-line error if it already is."""
    with _running_lock:
        if set_id in _running:
            raise store.ProjectError(f"vector set {set_id} is already being computed")
        _running.add(set_id)


def stop_running(set_id: int) -> None:
    """The set is no longer being computed by this process (finished, cancelled or failed)."""
    with _running_lock:
        _running.discard(set_id)


@dataclass
class VectorSet:
    id: int
    model: str
    family: str
    greyscale: bool
    weights: str | None
    dim: int
    embeds_text: bool
    batch_size: int
    count: int  # images with a vector
    total: int  # images of the project (present on disk)
    errors: int  # images that could not be embedded
    status: str  # complete | incomplete | running
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_batch_size(batch_size: int) -> int:
    """``batch_size`` if it is within 1..MAX_BATCH_SIZE; else a one-line ProjectError."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise store.ProjectError(
            f"batch size {batch_size} is out of range: give 1 to {MAX_BATCH_SIZE} images"
        )
    return batch_size


def list_sets(con: duckdb.DuckDBPyConnection) -> list[VectorSet]:
    rows = con.execute(
        "SELECT id, model, family, greyscale, weights, dim, embeds_text, batch_size, state, "
        "created_at FROM vector_sets ORDER BY id"
    ).fetchall()
    total = int(store.scalar(con, "SELECT count(*) FROM images WHERE state = 'ok'") or 0)
    sets = []
    for set_id, model, family, grey, weights, dim, text, batch, state, created in rows:
        table = store.vector_table(set_id)
        count = int(
            store.scalar(
                con,
                f"SELECT count(*) FROM {table} v JOIN images i ON i.id = v.image_id "
                "WHERE i.state = 'ok'",
            )
            or 0
        )
        errors = int(
            store.scalar(
                con,
                "SELECT count(*) FROM vector_errors e JOIN images i ON i.id = e.image_id "
                "WHERE e.set_id = ? AND i.state = 'ok'",
                [set_id],
            )
            or 0
        )
        if is_running(set_id):
            status = RUNNING
        elif count + errors >= total and state != RUNNING:
            status = COMPLETE
        else:
            status = INCOMPLETE
        sets.append(
            VectorSet(
                set_id,
                model,
                family,
                bool(grey),
                weights,
                int(dim),
                bool(text),
                int(batch),
                count,
                total,
                errors,
                status,
                created.isoformat(sep=" ", timespec="seconds"),
            )
        )
    return sets


def identical_sets(
    sets: list[VectorSet], model: str, greyscale: bool, weights: str | None
) -> list[VectorSet]:
    """The sets among ``sets`` that a new set of ``model`` (as typed: a preset or a spec), with
    these weights and greyscale, would repeat: the same vectors, computed again. (The batch size
    and the device change only the float rounding, ~1e-7.)"""
    from panoptui.core.models import parse_spec

    name = parse_spec(model).name
    path = str(Path(weights).expanduser().resolve()) if weights else None
    return [s for s in sets if (s.model, s.greyscale, s.weights or None) == (name, greyscale, path)]


def get_set(con: duckdb.DuckDBPyConnection, set_id: int) -> VectorSet:
    for vector_set in list_sets(con):
        if vector_set.id == set_id:
            return vector_set
    known = ", ".join(str(s.id) for s in list_sets(con)) or "none yet"
    raise store.ProjectError(f"no vector set {set_id} in this project (sets: {known})")


def create_set(
    con: duckdb.DuckDBPyConnection,
    embedder: Embedder,
    greyscale: bool = False,
    weights: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> int:
    """Record a new, empty vector set for a loaded model and return its id."""
    check_batch_size(batch_size)
    now = datetime.now()
    with store.transaction(con):
        set_id = store.next_id(con, "vector_sets")
        con.execute(
            "INSERT INTO vector_sets (id, model, family, greyscale, weights, dim, embeds_text, "
            "batch_size, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                set_id,
                embedder.spec.name,
                embedder.spec.family,
                greyscale,
                weights,
                embedder.dim,
                embedder.embeds_text,
                batch_size,
                INCOMPLETE,
                now,
                now,
            ],
        )
        store.create_vector_table(con, set_id, embedder.dim)
    return set_id


DEFAULT_SET_KEY = "default_vector_set"


def default_set(
    con: duckdb.DuckDBPyConnection,
    requested: int | None = None,
    sets: list[VectorSet] | None = None,
) -> VectorSet:
    """The set a query uses: the one asked for, else the project's default (``vectors default``),
    else the newest complete set, else the newest. ``sets``: list_sets' answer, when the caller
    has it already."""
    if requested is not None:
        return get_set(con, requested)
    sets = list_sets(con) if sets is None else sets
    if not sets:
        raise store.ProjectError(
            "this project has no vector sets yet; create one: panoptui vectors create PROJECT"
        )
    chosen = store.get_setting(con, DEFAULT_SET_KEY)
    for vector_set in sets:
        if chosen is not None and str(vector_set.id) == chosen:
            return vector_set
    complete = [v for v in sets if v.status == COMPLETE]
    return (complete or sets)[-1]


def set_default(con: duckdb.DuckDBPyConnection, set_id: int) -> None:
    get_set(con, set_id)
    store.set_setting(con, DEFAULT_SET_KEY, str(set_id))


def clear_default(con: duckdb.DuckDBPyConnection) -> None:
    """Queries go back to the newest complete set."""
    con.execute("DELETE FROM settings WHERE key = ?", [DEFAULT_SET_KEY])


def delete_set(con: duckdb.DuckDBPyConnection, set_id: int) -> None:
    get_set(con, set_id)  # a clear error if there is no such set
    with store.transaction(con):
        store.drop_vector_table(con, set_id)
        con.execute("DELETE FROM vector_errors WHERE set_id = ?", [set_id])
        con.execute("DELETE FROM vector_sets WHERE id = ?", [set_id])
    matrix_file.remove(con, set_id)  # its derived vector file (a new set may take the id)


@dataclass(frozen=True)
class VectorError:
    """An image of a set that could not be embedded."""

    image_id: int
    path: str  # one of its files (the first by path)
    reason: str
    failed_at: str  # "YYYY-MM-DD HH:MM:SS"

    def as_dict(self) -> dict[str, object]:
        return {
            "image_id": self.image_id,
            "path": self.path,
            "reason": self.reason,
            "failed_at": self.failed_at,
        }


def vector_errors(con: duckdb.DuckDBPyConnection, set_id: int) -> list[VectorError]:
    """The images of a set that could not be embedded, with a path each and the reason."""
    get_set(con, set_id)
    return [
        VectorError(int(i), p, r, t.isoformat(sep=" ")[:19])
        for i, p, r, t in con.execute(
            """
            SELECT e.image_id, min(f.path), e.reason, e.failed_at
            FROM vector_errors e JOIN files f ON f.image_id = e.image_id
            JOIN images i ON i.id = e.image_id AND i.state = 'ok'
            WHERE e.set_id = ? GROUP BY e.image_id, e.reason, e.failed_at ORDER BY e.image_id
            """,
            [set_id],
        ).fetchall()
    ]
