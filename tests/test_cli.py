"""The command line as a user meets it: outputs, JSON shapes, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
from fixtures import write_hostile_files
from helpers import CONSOLE_SCRIPT, TerminalRun, assert_usage_error, run_cli

from panoptui.core import store
from panoptui.core.samples import write_samples


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code
    assert "Traceback" not in done.stderr
    message = [line for line in done.stderr.splitlines() if line.strip()]
    assert message, "no message"
    assert all(word in done.stderr for word in words), done.stderr
    assert message[-1].startswith("panoptui") or message[-1].startswith("usage")


def test_import_status_errors_json(tmp_path):
    photos = tmp_path / "photos"
    write_samples(photos, per_family=2)
    write_hostile_files(photos / "broken")
    project = tmp_path / "project"
    done = run_cli("import", str(project), str(photos))
    assert done.returncode == 0, done.stderr
    assert "12 new" in done.stdout and "9 failed" in done.stdout
    assert "\x1b" not in done.stdout and "\r" not in done.stdout  # not a terminal: no escapes

    status = json.loads(run_cli("status", str(project), "--json").stdout)
    assert status["images"] == 12 and status["files"] == 12
    assert status["missing"] == 0 and status["errors"] == 9
    assert status["folders"] == [str(photos.resolve())]

    errors = json.loads(run_cli("errors", str(project), "--json").stdout)
    assert len(errors) == 9
    assert all(error["path"] and error["reason"] for error in errors)
    readable = run_cli("errors", str(project)).stdout
    assert "empty file (0 bytes)" in readable

    text = run_cli("status", str(project)).stdout
    assert "images   12" in text and str(photos.resolve()) in text

    summary = json.loads(run_cli("import", str(project), "--json").stdout)
    assert summary["unchanged"] == 12 and summary["new"] == 0


def test_python_dash_m_and_console_script_agree(tmp_path):
    assert CONSOLE_SCRIPT.exists(), "not installed: pip install -e ."
    versions = [
        subprocess.run([*command, "--version"], capture_output=True, text=True)
        for command in ([sys.executable, "-m", "panoptui"], [str(CONSOLE_SCRIPT)])
    ]
    assert all(done.returncode == 0 for done in versions)
    assert versions[0].stdout.startswith("panoptui ")
    assert versions[0].stdout == versions[1].stdout


def test_progress_bar_on_a_terminal(tmp_path):
    photos = tmp_path / "photos"
    write_samples(photos, per_family=4)
    run = TerminalRun("import", str(tmp_path / "project"), str(photos))
    assert run.finish() == 0
    assert b"\r" in run.output and b"files/s" in run.output and b"ETA" in run.output
    assert b"24 new" in run.output


def test_wrong_arguments_print_usage_not_a_traceback(tmp_path):
    """The usage of the command typed, then one error line; an unknown argument of a command
    too (argparse leaves those to the top-level parser, with the top-level usage)."""
    p = str(tmp_path / "p")
    assert_usage_error(run_cli(), "", "COMMAND")
    assert_usage_error(run_cli("frobnicate"), "", "invalid choice")
    assert_usage_error(run_cli("status"), "status", "PROJECT")
    assert_usage_error(
        run_cli("import", p, str(tmp_path), "--max-pixels", "lots"), "import", "whole number"
    )
    assert_usage_error(run_cli("tag", p, "x", "--ids", "1", "--bogus"), "tag", "--bogus")
    assert_usage_error(run_cli("vectors", "create", p, "--bogus"), "vectors create", "--bogus")
    assert not (tmp_path / "p").exists()


def test_missing_folder_creates_nothing(tmp_path):
    project = tmp_path / "project"
    done = run_cli("import", str(project), str(tmp_path / "nope"))
    assert_one_line_error(done, 1, "does not exist", "nope")
    assert not project.exists()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert_one_line_error(run_cli("import", str(project), str(a_file)), 1, "not a folder")


def test_not_a_project(tmp_path):
    assert_one_line_error(run_cli("status", str(tmp_path)), 1, "not a panoptui project")
    assert_one_line_error(run_cli("errors", str(tmp_path / "nope")), 1, "does not exist")
    assert_one_line_error(run_cli("import", str(tmp_path)), 1, "not a panoptui project")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "project.duckdb").write_text("not a database")
    assert_one_line_error(run_cli("status", str(tmp_path / "broken")), 1, "cannot open project")


def test_rescan_with_no_folder_needs_one(tmp_path):
    store.open_project(tmp_path / "empty", create=True).close()
    assert_one_line_error(run_cli("import", str(tmp_path / "empty")), 1, "no folders yet")


def test_schema_is_versioned_and_newer_projects_are_refused(tmp_path):
    project = tmp_path / "project"
    con = store.open_project(project, create=True)
    assert store.scalar(con, "SELECT version FROM schema_meta") == store.SCHEMA_VERSION
    con.close()
    raw = duckdb.connect(str(project / "project.duckdb"))
    raw.execute("UPDATE schema_meta SET version = 99")
    raw.close()
    assert_one_line_error(run_cli("status", str(project)), 1, "newer panoptui")


def test_core_never_imports_textual():
    code = (
        "import sys, panoptui.cli, panoptui.core.scan, panoptui.core.status, "
        "panoptui.core.samples, panoptui.core.store\n"
        "assert not any(m.split('.')[0] == 'textual' for m in sys.modules), 'textual imported'\n"
        "assert 'torch' not in sys.modules, 'torch imported by the import path'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_names_that_are_not_utf8_or_not_projects(tmp_path):
    import os

    # A folder whose name is not UTF-8 imports (issue 9: older archives hold such names), and
    # is shown escaped. A project path must be UTF-8 still.
    bad = os.fsdecode(b"photos\xff")
    (tmp_path / bad).mkdir()
    project = tmp_path / "project"
    assert run_cli("import", str(project), str(tmp_path / bad)).returncode == 0
    assert "photos\\xff" in run_cli("status", str(project)).stdout
    bad_project = tmp_path / os.fsdecode(b"proj\xff")
    (tmp_path / "ok").mkdir()
    assert_one_line_error(run_cli("import", str(bad_project), str(tmp_path / "ok")), 1, "UTF-8")
    other = tmp_path / "other"
    other.mkdir()
    foreign = duckdb.connect(str(other / "project.duckdb"))
    foreign.execute("CREATE TABLE folders (x INTEGER)")
    foreign.close()
    assert_one_line_error(run_cli("status", str(other)), 1, "another program")
    blocks = tmp_path / "blocks"
    blocks.mkdir()
    (blocks / "project.duckdb").write_text("junk")
    assert_one_line_error(run_cli("status", str(blocks)), 1, "cannot open project")


def test_project_settings_are_the_commands_defaults(tmp_path):
    from PIL import Image

    from panoptui.core import scan, settings, store, vector_sets

    assert settings.SETTINGS["batch_size"][0] == vector_sets.DEFAULT_BATCH_SIZE
    assert settings.SETTINGS["thumb_size"][0] == scan.DEFAULT_THUMB_SIZE
    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(folder / "red.png")
    project = tmp_path / "project"
    con = store.open_project(project, create=True)
    settings.save(con, {"thumb_size": 128, "batch_size": 7})
    con.close()
    assert run_cli("import", str(project), str(folder)).returncode == 0
    assert run_cli("vectors", "create", str(project), "--model", "pixels").returncode == 0
    con = store.open_project(project, read_only=True)
    try:
        width, height = con.execute("SELECT width, height FROM thumbnails").fetchall()[0]
        assert max(width, height) == 128
        assert vector_sets.list_sets(con)[0].batch_size == 7
    finally:
        con.close()
    wrong = run_cli("vectors", "create", str(project), "--model", "pixels", "--device", "gpu9")
    assert wrong.returncode == 1 and "gpu9" in wrong.stderr
