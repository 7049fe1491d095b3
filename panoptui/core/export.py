"""Export: the project's images with their metadata, tags and cluster labels, as CSV or Parquet
(written by DuckDB's COPY); a vector set's vectors too, to Parquet.

Every file panoptui writes for a user (exports, map drawings) goes through ``write_beside``: an
existing file is kept unless the user says --force, the bytes go to a fresh temporary file in
the same folder, renamed over the target at the end. So an interrupted write leaves no half file,
and a symbolic link planted at the target is replaced, never written through.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from panoptui.core import store
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

ROWS = """
SELECT
    f.path, f.rel_path, d.path AS folder, i.id AS image_id, i.format, i.width, i.height,
    i.mode, f.size, i.content_hash, printf('%016x', i.phash) AS perceptual_hash,
    (SELECT string_agg(t.name, '; ' ORDER BY t.name) FROM image_tags it
        JOIN tags t ON t.id = it.tag_id WHERE it.image_id = i.id) AS tags,
    (SELECT string_agg(c.name || '=' || m.label, '; ' ORDER BY c.name) FROM cluster_members m
        JOIN clusterings c ON c.id = m.clustering_id WHERE m.image_id = i.id) AS clusters
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


def _neutralised(query: str) -> str:
    """``query`` with each text cell that a spreadsheet would run as a formula prefixed with a
    single quote (also after leading blanks, which some spreadsheets skip)."""
    starts = ", ".join(f"chr({ord(c)})" for c in FORMULA_STARTS)
    replaced = ", ".join(
        f"CASE WHEN left(ltrim({c}), 1) IN ({starts}) THEN '''' || {c} ELSE {c} END AS {c}"
        for c in TEXT_COLUMNS
    )
    return f"SELECT * REPLACE ({replaced}) FROM ({query})"


def export(
    con: duckdb.DuckDBPyConnection,
    target: str,
    set_id: int | None = None,
    force: bool = False,
    csv_raw: bool = False,
    image_ids: Collection[int] | None = None,
) -> int:
    """Write one row per file present on disk (absolute paths, so rows never collide) and
    return the number of rows. With a vector set, each row carries the image's vector.

    CSV cells that a spreadsheet would take for a formula (starting with = + - @, a tab or a
    carriage return) are prefixed with a single quote, unless ``csv_raw``; Parquet keeps the
    exact values. ``image_ids``: only these images' files (the app's selection)."""
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
    query = ROWS.format(vector_column=vector_column, vector_join=vector_join, selected=selected)
    if path.suffix.lower() == ".csv" and not csv_raw:
        query = _neutralised(query)
    rows = 0

    def copy(partial: Path) -> None:
        nonlocal rows
        quoted = str(partial).replace("'", "''")
        # COPY answers with the number of rows it wrote.
        rows = int(store.scalar(con, f"COPY ({query}) TO '{quoted}' ({options})") or 0)

    try:
        write_beside(path, copy)
    except (duckdb.Error, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise store.ProjectError(f"cannot export to {shown(target)}: {message}") from None
    finally:
        if image_ids is not None:
            con.unregister(SELECTED_VIEW)
    return rows
