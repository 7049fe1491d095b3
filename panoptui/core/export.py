"""Export: the project's images with their metadata, tags and cluster labels, as CSV or Parquet
(written by DuckDB's COPY); a vector set's vectors too, to Parquet."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from panoptui.core import store

FORMATS = {".csv": "FORMAT csv, HEADER", ".parquet": "FORMAT parquet"}

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
WHERE f.state = 'ok'
ORDER BY f.path
"""


def export(
    con: duckdb.DuckDBPyConnection, target: str, set_id: int | None = None, force: bool = False
) -> int:
    """Write one row per file present on disk (absolute paths, so rows never collide) and
    return the number of rows. With a vector set, each row carries the image's vector."""
    path = Path(target).expanduser().absolute()
    options = FORMATS.get(path.suffix.lower())
    if options is None:
        raise store.ProjectError(f"cannot export to {target}: name a .csv or .parquet file")
    if path.exists() and not force:
        raise store.ProjectError(f"{target} exists; give --force to overwrite it")
    if not path.parent.is_dir():
        raise store.ProjectError(f"cannot export to {target}: folder {path.parent} does not exist")
    vector_column = vector_join = ""
    if set_id is not None:
        if path.suffix.lower() != ".parquet":
            raise store.ProjectError("vectors export to Parquet only: name a .parquet file")
        if store.scalar(con, "SELECT count(*) FROM vector_sets WHERE id = ?", [set_id]) == 0:
            raise store.ProjectError(f"no vector set {set_id} in this project")
        vector_column = ", v.vec AS vector"
        vector_join = f"LEFT JOIN {store.vector_table(set_id)} v ON v.image_id = i.id"
    query = ROWS.format(vector_column=vector_column, vector_join=vector_join)
    # Written beside the target, then renamed: an interrupted export leaves no half file.
    partial = path.with_name(f".{path.name}.partial")
    quoted = str(partial).replace("'", "''")
    try:
        # COPY answers with the number of rows it wrote.
        rows = int(store.scalar(con, f"COPY ({query}) TO '{quoted}' ({options})") or 0)
        os.replace(partial, path)
    except (duckdb.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise store.ProjectError(f"cannot export to {target}: {str(exc).splitlines()[0]}") from None
    return rows
