"""What a project holds: counts, folders and import errors, as typed records for the CLI and TUI.

Each record's ``as_dict`` is what ``--json`` prints: its keys and order are part of the CLI's
interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from panoptui.core import store


@dataclass(frozen=True)
class FolderStatus:
    path: str
    files: int  # files present on disk
    last_import: str | None  # "YYYY-MM-DD HH:MM:SS"; None until an import completes


@dataclass(frozen=True)
class ProjectStatus:
    project: str  # the project directory, absolute
    schema_version: int
    images: int  # distinct contents present on disk: identical bytes at two paths count once
    files: int
    missing: int
    stale: int
    errors: int  # import errors
    folders: list[FolderStatus]

    def as_dict(self) -> dict[str, object]:
        """The ``status --json`` object (without ``vector_sets``, which the CLI adds)."""
        return {
            "project": self.project,
            "schema_version": self.schema_version,
            "images": self.images,
            "files": self.files,
            "missing": self.missing,
            "stale": self.stale,
            "errors": self.errors,
            "folders": [f.path for f in self.folders],
        }


@dataclass(frozen=True)
class FailedFile:
    """A file that could not be imported."""

    path: str
    reason: str
    failed_at: str  # "YYYY-MM-DD HH:MM:SS"

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "reason": self.reason, "failed_at": self.failed_at}


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(store.scalar(con, sql) or 0)


def project_status(con: duckdb.DuckDBPyConnection, project: str | Path) -> ProjectStatus:
    folders = [
        FolderStatus(
            path=path,
            files=int(files),
            last_import=last.isoformat(sep=" ", timespec="seconds") if last else None,
        )
        for path, files, last in con.execute(
            """
            SELECT d.path, count(f.id) FILTER (WHERE f.state = 'ok'), d.last_import
            FROM folders d LEFT JOIN files f ON f.folder_id = d.id
            GROUP BY d.id, d.path, d.last_import ORDER BY d.path
            """
        ).fetchall()
    ]
    return ProjectStatus(
        project=str(Path(project).expanduser().absolute()),
        schema_version=store.SCHEMA_VERSION,
        images=_count(con, "SELECT count(*) FROM images WHERE state = 'ok'"),
        files=_count(con, "SELECT count(*) FROM files WHERE state = 'ok'"),
        missing=_count(con, "SELECT count(*) FROM files WHERE state = 'missing'"),
        stale=_count(con, "SELECT count(*) FROM images WHERE state = 'stale'"),
        errors=_count(con, "SELECT count(*) FROM import_errors"),
        folders=folders,
    )


def import_errors(con: duckdb.DuckDBPyConnection, limit: int | None = None) -> list[FailedFile]:
    """The files that could not be imported, by path (the first ``limit`` of them)."""
    return [
        FailedFile(path, reason, at.isoformat(sep=" ", timespec="seconds"))
        for path, reason, at in con.execute(
            "SELECT path, reason, failed_at FROM import_errors ORDER BY path LIMIT ?",
            [limit if limit is not None else 2**62],
        ).fetchall()
    ]
