"""The journal of annotation changes, and undo / redo (issue 13).

Every change a user makes to annotations (set or clear a property's values, tag or untag
images, refuse recommendations, rename or delete a tag or a property, create a property) runs
inside ``change``: before touching rows, the change ``watch``es them (a table and the column
values that pick the rows it may touch); the rows are copied then (the "before"), and again when
the change is over (the "after"). Both copies go into ``journal`` in the change's own
transaction, so the journal and the data never disagree, and the journal is in the project:
undo works after a restart.

- undo restores the "before" copies of the last changes not undone, newest first; redo
  restores the "after" copies of the oldest undone ones. Within one change, the watched scopes
  are restored in reverse order on undo: a later scope's "before" may hold an earlier step's
  result, the earliest scope's copy is the true original.
- A new change drops the undone ones (as editors do): history stays one line, so that the rows
  an entry restores are the rows its change left.
- A change that changed nothing (tagging images already tagged) is not journaled.
- Changes nest: a change made inside another (set_each inside a CSV import) joins the outer
  one, which is then one step to undo.

What a change restores is only what it watched: the journal is explicit, not a trigger. Table
and column names in the journal are checked against the tables it may restore before they reach
SQL (a project file is outside input).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from panoptui.core import store

# The tables a change may restore (what annotations are made of).
JOURNALED = frozenset(
    [
        "properties",
        "property_values",
        "tags",
        "tag_parents",
        "image_tags",
        "file_tags",
        "refused_recommendations",
    ]
)
# The journal keeps this many changes: the last ones are what undo is for, and an entry holds
# copies of rows (tagging 100,000 images: about 2 MB of JSON).
MAX_ENTRIES = 100

# Where = column -> the values that pick rows (AND between columns, IN within one).
Where = dict[str, list[Any]]


@dataclass
class Scope:
    table: str
    where: Where
    before: dict[str, list[Any]]
    after: dict[str, list[Any]] | None = None


@dataclass
class Change:
    """One change being made: its words and the scopes it watched."""

    con: duckdb.DuckDBPyConnection
    said: str
    scopes: list[Scope] = field(default_factory=list)

    def watch(self, table: str, **where: list[Any]) -> None:
        """Copy the rows of ``table`` that the change may touch, before it touches them: the
        rows whose columns hold the given values (an empty list: no rows)."""
        clean = {column: list(values) for column, values in where.items()}
        self.scopes.append(Scope(table, clean, _rows(self.con, table, clean)))


# The change open on each connection (a cursor is a connection of its own): a change made
# inside it joins it. Keyed by id(): DuckDB connections take no weak references; the entry
# goes when the change ends.
_open: dict[int, Change] = {}


@contextlib.contextmanager
def change(con: duckdb.DuckDBPyConnection, said: str) -> Iterator[Change]:
    """A journaled change: watch rows, change them, and it is recorded with what takes it
    back, all in one transaction (the caller's, when one is open). ``said`` may be rewritten
    inside the block, once the change knows its counts."""
    outer = _open.get(id(con))
    if outer is not None:
        yield outer
        return
    current = Change(con, said)
    _open[id(con)] = current
    try:
        with _transaction(con):
            yield current
            _record(current)
    finally:
        del _open[id(con)]


def open_change(con: duckdb.DuckDBPyConnection) -> Change | None:
    """The change being made on this connection, if one is: a step that makes rows a change
    did not plan (create_tag making a parent tag) watches them through it."""
    return _open.get(id(con))


def _in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a transaction is open on the connection (BEGIN inside one fails and aborts it,
    so it cannot be tried): outside one each statement is its own transaction, with a new id."""
    first = store.scalar(con, "SELECT txid_current()")
    return bool(first == store.scalar(con, "SELECT txid_current()"))


@contextlib.contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    if _in_transaction(con):
        yield  # the caller's transaction: it commits, or rolls back the change and its entry
    else:
        with store.transaction(con):
            yield


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """A journaled table's columns and their SQL types, in order."""
    if table not in JOURNALED:
        raise store.ProjectError(f"the journal names a table it cannot restore: {table!r}")
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return {str(name): str(type_) for name, type_ in rows}


def _condition(con: duckdb.DuckDBPyConnection, table: str, where: Where) -> str:
    """The WHERE text of a scope: its column names checked against the table, values as
    parameters (in the order of ``where``)."""
    columns = _columns(con, table)
    for column in where:
        if column not in columns:
            raise store.ProjectError(f"the journal names an unknown column {column!r}")
    return " AND ".join(f"{column} IN (SELECT unnest(?))" for column in where)


def _rows(con: duckdb.DuckDBPyConnection, table: str, where: Where) -> dict[str, list[Any]]:
    """The scope's rows, column by column (through numpy: a copy of 100,000 rows took 0.5 s
    row by row, most of the time to journal a value set on them). Times as text."""
    types = _columns(con, table)
    if any(not values for values in where.values()):
        return {column: [] for column in types}
    selected = ", ".join(
        f"CAST({name} AS VARCHAR) AS {name}" if type_.startswith(("TIMESTAMP", "DATE")) else name
        for name, type_ in types.items()
    )
    found = con.execute(
        f"SELECT {selected} FROM {table} WHERE {_condition(con, table, where)}",
        list(where.values()),
    )
    # tolist: Python values, None where masked (NULL).
    return {str(k): v.tolist() for k, v in found.fetchnumpy().items()}


def _restore(con: duckdb.DuckDBPyConnection, table: str, where: Where, rows: dict) -> None:
    """Make the scope's rows what the copy holds: delete them, insert the copy (one statement
    each, whatever the number of rows)."""
    if any(not values for values in where.values()):
        return
    con.execute(f"DELETE FROM {table} WHERE {_condition(con, table, where)}", list(where.values()))
    types = _columns(con, table)
    names = [name for name in rows if name in types]
    if len(names) != len(rows):
        raise store.ProjectError(f"the journal names an unknown column of {table!r}")
    if not names or not rows[names[0]]:
        return
    values = ", ".join(f"unnest(?::{types[name]}[])" for name in names)
    con.execute(
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {values}", [rows[n] for n in names]
    )


def _record(current: Change) -> None:
    con = current.con
    for scope in current.scopes:
        scope.after = _rows(con, scope.table, scope.where)
    if all(scope.after == scope.before for scope in current.scopes):
        return  # nothing changed: nothing to undo
    undo = [{"table": s.table, "where": s.where, "rows": s.before} for s in current.scopes]
    redo = [{"table": s.table, "where": s.where, "rows": s.after} for s in current.scopes]
    con.execute("DELETE FROM journal WHERE undone")
    entry = store.next_id(con, "journal")
    con.execute(
        "INSERT INTO journal VALUES (?, ?, ?, ?, false, ?)",
        [entry, current.said, json.dumps(undo), json.dumps(redo), datetime.now()],
    )
    con.execute("DELETE FROM journal WHERE id <= ?", [entry - MAX_ENTRIES])


@dataclass(frozen=True)
class Entry:
    id: int
    said: str
    undone: bool
    changed_at: datetime

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "said": self.said,
            "undone": self.undone,
            "changed_at": self.changed_at.isoformat(timespec="seconds"),
        }


def history(con: duckdb.DuckDBPyConnection) -> list[Entry]:
    """The journal, oldest first."""
    rows = con.execute("SELECT id, said, undone, changed_at FROM journal ORDER BY id").fetchall()
    return [Entry(int(i), str(s), bool(u), t) for i, s, u, t in rows]


def _apply(con: duckdb.DuckDBPyConnection, text: str, newest_first: bool) -> None:
    scopes = json.loads(text)
    for scope in reversed(scopes) if newest_first else scopes:
        _restore(con, str(scope["table"]), dict(scope["where"]), dict(scope["rows"]))


def undo(con: duckdb.DuckDBPyConnection, n: int = 1) -> list[str]:
    """Take back the last ``n`` changes not undone, newest first, in one transaction; returns
    what each was, in the order undone (none: an empty list)."""
    rows = con.execute(
        "SELECT id, said, undo FROM journal WHERE NOT undone ORDER BY id DESC LIMIT ?", [n]
    ).fetchall()
    with store.transaction(con):
        for entry, _, text in rows:
            _apply(con, str(text), newest_first=True)
            con.execute("UPDATE journal SET undone = true WHERE id = ?", [entry])
    return [str(said) for _, said, _ in rows]


def redo(con: duckdb.DuckDBPyConnection, n: int = 1) -> list[str]:
    """Make again the ``n`` oldest undone changes, oldest first; returns what each was."""
    rows = con.execute(
        "SELECT id, said, redo FROM journal WHERE undone ORDER BY id LIMIT ?", [n]
    ).fetchall()
    with store.transaction(con):
        for entry, _, text in rows:
            _apply(con, str(text), newest_first=False)
            con.execute("UPDATE journal SET undone = false WHERE id = ?", [entry])
    return [str(said) for _, said, _ in rows]
