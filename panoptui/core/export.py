"""Export: the project's images with their metadata, tags and cluster labels, as CSV or Parquet
(written by DuckDB's COPY); a vector set's vectors too, to Parquet.

Every property is a column of its own, named as the property (a name that an export column
has already gets " (property)"): typed in Parquet (numbers as doubles, dates as timestamps,
checkboxes as booleans, multi-tags as lists of names), text in CSV (multi-tags joined with
"; " as the ``tags`` column is). The ``tags`` column stays the text it always was. The query
names the property columns p<id> (user text never enters SQL); DuckDB's relation API renames
them. ``--format panoptic`` writes Panoptic's CSV instead (core/csv_io.py).

Every file panoptui writes for a user (exports, map drawings) goes through ``write_beside``: an
existing file is kept unless the user says --force, the bytes go to a fresh temporary file in
the same folder, renamed over the target at the end. So an interrupted write leaves no half file,
and a symbolic link planted at the target is replaced, never written through.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from panoptui.core import properties, store
from panoptui.core.text import shown

FORMATS = {".csv": "FORMAT csv, HEADER", ".parquet": "FORMAT parquet"}

# The text columns of an export: in CSV, a cell starting with one of FORMULA_STARTS is read as a
# formula by spreadsheets (CSV injection). OWASP's advice: prefix such a cell with a single quote.
TEXT_COLUMNS = (
    "path",
    "rel_path",
    "folder",
    "format",
    "mode",
    "content_hash",
    "perceptual_hash",
    "tags",
    "clusters",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SELECTED_VIEW = "export_selected_images"  # the images to export, when not all
EXPORT_VIEW = "export_named_rows"  # the rows with the property columns renamed
# The column names of ROWS, which a property's column must not take.
FIXED_COLUMNS = ("path", "rel_path", "folder", "image_id", "format", "width", "height", "mode",
                 "size", "content_hash", "perceptual_hash", "tags", "clusters",
                 *store.METADATA_COLUMNS, "vector")  # fmt: skip

ROWS = """
SELECT
    f.path, f.rel_path, d.path AS folder, i.id AS image_id, i.format, i.width, i.height,
    i.mode, f.size, i.content_hash, printf('%016x', i.phash) AS perceptual_hash,
    (SELECT string_agg(t.name, '; ' ORDER BY t.name) FROM image_tags it
        JOIN tags t ON t.id = it.tag_id WHERE it.image_id = i.id
        AND t.property_id = {tags_property}) AS tags,
    (SELECT string_agg(c.name || '=' || m.label, '; ' ORDER BY c.name) FROM cluster_members m
        JOIN clusterings c ON c.id = m.clustering_id WHERE m.image_id = i.id) AS clusters,
    {metadata_columns}
    {property_columns}
    {vector_column}
FROM files f JOIN images i ON i.id = f.image_id JOIN folders d ON d.id = f.folder_id
{vector_join}
WHERE f.state = 'ok' {selected}
ORDER BY f.path
"""


def _umask() -> int:
    """The process's umask, read without changing it (os.umask would, for a moment, for every
    thread of the app)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def check_target(target: str, suffixes: tuple[str, ...], force: bool, what: str) -> Path:
    """The absolute path to write ``target`` to, or ProjectError with one line: a wrong
    extension, an existing file (or symbolic link, even a dangling one) without ``force``, or a
    folder that does not exist."""
    path = Path(target).expanduser().absolute()
    name = shown(target)
    if path.suffix.lower() not in suffixes:
        wanted = " or ".join(suffixes)
        got = f" (not {shown(path.suffix)})" if path.suffix else ""
        raise store.ProjectError(f"cannot write {what} to {name}: name a {wanted} file{got}")
    if os.path.lexists(path) and not force:
        raise store.ProjectError(f"{name} exists; give --force to overwrite it")
    if not path.parent.is_dir():
        raise store.ProjectError(
            f"cannot write {what} to {name}: folder {shown(path.parent)} does not exist"
        )
    try:
        str(path.parent).encode("utf-8")
    except UnicodeEncodeError:
        raise store.ProjectError(
            f"cannot write {what} to {name}: the folder's name is not UTF-8 text; "
            "write it elsewhere and move it"
        ) from None
    return path


def write_beside(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write`` with a fresh temporary path in ``path``'s folder, then rename it over
    ``path``. On any failure (Ctrl-C too) the temporary file is removed and ``path`` is left as
    it was."""
    # An ASCII temporary name: DuckDB takes paths as UTF-8 text, so a target named in Latin-1 is
    # written under this name, then renamed by Python, which keeps the name's exact bytes.
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".panoptui-", suffix=".partial")
    os.close(fd)
    temp = Path(name)
    try:
        write(temp)
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp's 0600, widened as a plain open would
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _neutralised(query: str, text_columns: tuple[str, ...] = TEXT_COLUMNS) -> str:
    """``query`` with each text cell that a spreadsheet would run as a formula prefixed with a
    single quote (also after leading blanks, which some spreadsheets skip)."""
    starts = ", ".join(f"chr({ord(c)})" for c in FORMULA_STARTS)
    replaced = ", ".join(
        f"CASE WHEN left(ltrim({c}), 1) IN ({starts}) THEN '''' || {c} ELSE {c} END AS {c}"
        for c in text_columns
    )
    return f"SELECT * REPLACE ({replaced}) FROM ({query})"


def _property_column(prop: properties.Property, listed: bool) -> str:
    """The SQL of a property's value on a row (file ``f`` of image ``i``); its ids are ours.
    ``listed``: a multi-tag as a list (Parquet), else as text joined with "; "."""
    owner = "i.id" if prop.mode == "image" else "f.id"
    if prop.is_tags:
        table, column = ("image_tags", "image_id") if prop.mode == "image" else (
            "file_tags", "file_id")  # fmt: skip
        if prop.type == "tag":
            pick = "min(t.name)"
        elif listed:
            pick = "list(t.name ORDER BY t.name)"
        else:
            pick = "string_agg(t.name, '; ' ORDER BY t.name)"
        return (
            f"(SELECT {pick} FROM {table} x JOIN tags t ON t.id = x.tag_id "
            f"WHERE t.property_id = {prop.id} AND x.{column} = {owner})"
        )
    value = properties.VALUE_COLUMN[prop.type]
    return (
        f"(SELECT any_value(v.{value}) FROM property_values v "
        f"WHERE v.property_id = {prop.id} AND v.target_id = {owner})"
    )


def property_columns(
    con: duckdb.DuckDBPyConnection, listed: bool
) -> tuple[list[str], dict[str, str], tuple[str, ...]]:
    """The SELECT items of every property but ``tags`` (a column already), the export name of
    each generated alias, and the aliases that hold text (for the CSV formula quoting)."""
    items: list[str] = []
    names: dict[str, str] = {}
    text: list[str] = []
    taken = {c.casefold() for c in FIXED_COLUMNS}
    for prop in properties.list_properties(con):
        if prop.id == store.TAGS_PROPERTY_ID:
            continue
        alias = f"p{prop.id}"
        name = prop.name
        while name.casefold() in taken:  # a column of the export, or "Year" beside "year"
            name = f"{name} (property)"
        taken.add(name.casefold())
        items.append(f"{_property_column(prop, listed)} AS {alias}")
        names[alias] = name
        if prop.type in ("text", "url", "tag") or (prop.type == "multi_tag" and not listed):
            text.append(alias)
    return items, names, tuple(text)


def chosen_images(
    con: duckdb.DuckDBPyConnection, image_ids: Collection[int] | None, where: str | None
) -> Collection[int] | None:
    """The images to export: those a filter expression takes (core/filters.py; FilterError
    for a bad one), within ``image_ids`` when given; None for all."""
    if not where:
        return image_ids
    from panoptui.core.filters import matching_ids

    matching = [int(i) for i in matching_ids(con, where)]
    if image_ids is None:
        return matching
    keep = set(image_ids)
    return [i for i in matching if i in keep]


def export(
    con: duckdb.DuckDBPyConnection,
    target: str,
    set_id: int | None = None,
    force: bool = False,
    csv_raw: bool = False,
    image_ids: Collection[int] | None = None,
    where: str | None = None,
    panoptic: bool = False,
) -> int:
    """Write one row per file present on disk (absolute paths, so rows never collide) and
    return the number of rows. With a vector set, each row carries the image's vector.

    CSV cells that a spreadsheet would take for a formula (starting with = + - @, a tab or a
    carriage return) are prefixed with a single quote, unless ``csv_raw``; Parquet keeps the
    exact values. ``image_ids``: only these images' files (the app's selection); ``where``: only
    the images a filter expression takes. ``panoptic``: Panoptic's CSV (core/csv_io.py)."""
    image_ids = chosen_images(con, image_ids, where)
    if panoptic:
        if set_id is not None:
            raise store.ProjectError("Panoptic's CSV has no vectors: leave out --vectors")
        from panoptui.core.csv_io import write_panoptic

        return write_panoptic(con, target, force, csv_raw, image_ids)
    path = check_target(target, tuple(FORMATS), force, "an export")
    options = FORMATS[path.suffix.lower()]
    vector_column = vector_join = ""
    if set_id is not None:
        if path.suffix.lower() != ".parquet":
            raise store.ProjectError("vectors export to Parquet only: name a .parquet file")
        if store.scalar(con, "SELECT count(*) FROM vector_sets WHERE id = ?", [set_id]) == 0:
            raise store.ProjectError(f"no vector set {set_id} in this project")
        vector_column = ", v.vec AS vector"
        vector_join = f"LEFT JOIN {store.vector_table(set_id)} v ON v.image_id = i.id"
    selected = ""
    if image_ids is not None:
        # The ids as a table DuckDB reads in place (COPY takes no parameters): 100,000 selected
        # images cost one array, not 100,000 values in the query's text.
        ids = pa.table({"image_id": pa.array(np.fromiter(image_ids, np.int64, len(image_ids)))})
        con.register(SELECTED_VIEW, ids)
        selected = f"AND i.id IN (SELECT image_id FROM {SELECTED_VIEW})"
    is_csv = path.suffix.lower() == ".csv"
    items, names, text_columns = property_columns(con, listed=not is_csv)
    query = ROWS.format(
        vector_column=vector_column,
        vector_join=vector_join,
        selected=selected,
        tags_property=store.TAGS_PROPERTY_ID,
        metadata_columns=", ".join(f"i.{c}" for c in store.METADATA_COLUMNS),
        property_columns="".join(f", {item}" for item in items),
    )
    if is_csv and not csv_raw:
        query = _neutralised(query, TEXT_COLUMNS + text_columns)
    rows = 0

    def copy(partial: Path) -> None:
        nonlocal rows
        quoted = str(partial).replace("'", "''")
        # The properties' names put on their columns by DuckDB's relation API, not in SQL text.
        relation = con.sql(query)
        named = relation.select(
            *(duckdb.ColumnExpression(c).alias(names.get(c, c)) for c in relation.columns)
        )
        con.register(EXPORT_VIEW, named)  # a view of this connection (a read-only one too)
        # COPY answers with the number of rows it wrote.
        rows = int(
            store.scalar(con, f"COPY (SELECT * FROM {EXPORT_VIEW}) TO '{quoted}' ({options})") or 0
        )

    try:
        write_beside(path, copy)
    except (duckdb.Error, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise store.ProjectError(f"cannot export to {shown(target)}: {message}") from None
    finally:
        with contextlib.suppress(duckdb.Error):  # not registered when the query failed
            con.unregister(EXPORT_VIEW)
        if image_ids is not None:
            con.unregister(SELECTED_VIEW)
    return rows
