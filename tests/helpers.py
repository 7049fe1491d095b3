"""Running panoptui as a user does: a real process, optionally on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

PANOPTUI = [sys.executable, "-m", "panoptui"]
# The `panoptui` command that `pip install` writes (pyproject's [project.scripts]).
CONSOLE_SCRIPT = Path(sys.executable).parent / "panoptui"
PROGRESS = re.compile(rb"importing (\d+)/(\d+)")


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PANOPTUI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def assert_usage_error(
    done: subprocess.CompletedProcess[str], command: str = "", *words: str
) -> None:
    """A wrong argument, as argparse says it: exit 2, the usage of the command that was typed
    (``command``: "tag", "vectors create"; "" for panoptui itself), then one error line."""
    prog = f"panoptui {command}".strip()
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert lines and lines[0].startswith(f"usage: {prog} "), done.stderr
    usage = lines[1:-1]  # a long usage wraps onto indented lines
    assert all(line.startswith(" ") for line in usage), done.stderr
    assert lines[-1].startswith(f"{prog}: error: "), done.stderr
    assert all(word in lines[-1] for word in words), done.stderr


class TerminalRun:
    """panoptui on a pseudo-terminal (so it draws its live progress bar), read as it goes."""

    def __init__(self, *args: str) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [*PANOPTUI, *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            close_fds=True,
            start_new_session=True,  # its own process group, as in a terminal of its own
        )
        os.close(slave)
        self.output = b""

    def read_until(self, done: Callable[[bytes], bool], timeout: float = 120) -> bool:
        """Read output until ``done(output)`` or the process ends; True if ``done`` was met."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done(self.output):
                return True
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the process closed the terminal
                    return done(self.output)
                if not chunk:
                    return done(self.output)
                self.output += chunk
            elif self.proc.poll() is not None:
                return done(self.output)
        raise TimeoutError(f"timed out; output so far: {self.output[-500:]!r}")

    def files_done(self) -> int:
        found = PROGRESS.findall(self.output)
        return int(found[-1][0]) if found else -1

    def finish(self, timeout: float = 300) -> int:
        self.read_until(lambda _: self.proc.poll() is not None, timeout)
        code = self.proc.wait(timeout)
        os.close(self.master)
        return code

    def kill(self) -> int:
        self.proc.kill()  # SIGKILL: no cleanup of any kind runs
        code = self.proc.wait(30)
        os.close(self.master)
        return code


def table_contents(project: Path) -> dict[str, list[tuple]]:
    """Everything the import stores, without the wall-clock timestamps."""
    con = duckdb.connect(str(project / "project.duckdb"), read_only=True)
    try:
        return {
            "folders": con.execute("SELECT id, path FROM folders ORDER BY id").fetchall(),
            "images": con.execute(
                "SELECT * EXCLUDE (imported_at) FROM images ORDER BY id"
            ).fetchall(),
            "files": con.execute("SELECT * EXCLUDE (seen_at) FROM files ORDER BY id").fetchall(),
            "thumbnails": con.execute("SELECT * FROM thumbnails ORDER BY image_id").fetchall(),
            "import_errors": con.execute(
                "SELECT * EXCLUDE (failed_at) FROM import_errors ORDER BY path"
            ).fetchall(),
        }
    finally:
        con.close()


def back_to_schema_7(con: duckdb.DuckDBPyConnection) -> None:
    """Undo migration 8 on a project made now, for the tests of older migrations: its tables
    and columns go, and ``tags`` loses ``property_id``. (The migration itself is tested on a
    project that panoptui's schema-7 version made: tests/data/schema7-project.tar.xz.)"""
    from panoptui.core import store

    con.execute("DROP TABLE tag_parents; DROP TABLE panoptic_values")  # migration 9
    con.execute("DROP TABLE properties; DROP TABLE property_values; DROP TABLE file_tags")
    con.execute("DROP TABLE journal")
    for column in [*store.METADATA_COLUMNS, "metadata_read"]:
        con.execute(f"ALTER TABLE images DROP COLUMN {column}")
    con.execute(
        "CREATE TABLE tags_v7 (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL UNIQUE, "
        "parent_id INTEGER, created_at TIMESTAMP NOT NULL)"
    )
    con.execute("INSERT INTO tags_v7 SELECT id, name, parent_id, created_at FROM tags")
    con.execute("DROP TABLE tags")
    con.execute("ALTER TABLE tags_v7 RENAME TO tags")
    con.execute("UPDATE schema_meta SET version = 7")
