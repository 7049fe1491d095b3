"""What a project holds: counts, folders and import errors, as plain data for the CLI and TUI."""

from __future__ import annotations

from pathlib import Path

import duckdb

from panoptui.core import store


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(store.scalar(con, sql) or 0)


def project_status(con: duckdb.DuckDBPyConnection, project: str | Path) -> dict[str, object]:
    folders = [
        {
            "path": path,
            "files": files,
            "last_import": last.isoformat(sep=" ", timespec="seconds") if last else None,
        }
        for path, files, last in con.execute(
            """
            SELECT d.path, count(f.id) FILTER (WHERE f.state = 'ok'), d.last_import
            FROM folders d LEFT JOIN files f ON f.folder_id = d.id
            GROUP BY d.id, d.path, d.last_import ORDER BY d.path
            """
        ).fetchall()
    ]
    return {
        "project": str(Path(project).expanduser().absolute()),
        "schema_version": store.SCHEMA_VERSION,
        # Distinct contents present on disk: identical bytes at two paths count once.
        "images": _count(con, "SELECT count(*) FROM images WHERE state = 'ok'"),
        "files": _count(con, "SELECT count(*) FROM files WHERE state = 'ok'"),
        "missing": _count(con, "SELECT count(*) FROM files WHERE state = 'missing'"),
        "stale": _count(con, "SELECT count(*) FROM images WHERE state = 'stale'"),
        "errors": _count(con, "SELECT count(*) FROM import_errors"),
        "folders": [f["path"] for f in folders],
        "folder_details": folders,
    }


def import_errors(
    con: duckdb.DuckDBPyConnection, limit: int | None = None
) -> list[dict[str, object]]:
    """The files that could not be imported, by path (the first ``limit`` of them)."""
    return [
        {"path": path, "reason": reason, "failed_at": at.isoformat(sep=" ", timespec="seconds")}
        for path, reason, at in con.execute(
            "SELECT path, reason, failed_at FROM import_errors ORDER BY path LIMIT ?",
            [limit if limit is not None else 2**62],
        ).fetchall()
    ]
