"""The import against hostile files and faults (issue 9): no file sinks a batch, decoding stays
within a memory budget, files left unread are counted, non-UTF-8 names import, links leading
outside are not followed, workers stop at once and stay quiet, foreign or damaged projects are
refused in one line."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fixtures import (
    apng_claiming_frames,
    family_image,
    jpeg_bytes,
    jpeg_with_bad_exif,
    photo,
    png_of_zeros,
    read_chunk_hanging_on_marked_files,
)
from helpers import TerminalRun, back_to_schema_7, run_cli
from PIL import Image

from panoptui.core import scan, store
from panoptui.core.decode import DEFAULT_MAX_PIXELS, HEIF_AVAILABLE
from panoptui.core.import_commit import commit_results
from panoptui.core.query import image_at
from panoptui.core.read_worker import read_image_file
from panoptui.core.scan import import_folders, read_files
from panoptui.core.vectorize import pending_images
from panoptui.core.walk import Found


def open_new(tmp_path: Path, name: str = "project"):
    return store.open_project(tmp_path / name, create=True)


def rows(con, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


# --- item 1: no single file sinks a batch -------------------------------------------------------


def test_an_apng_claiming_two_billion_frames_imports_with_its_batch(tmp_path):
    folder = tmp_path / "anim"
    folder.mkdir()
    (folder / "b_frames.png").write_bytes(apng_claiming_frames(0x80000000))
    for i in range(5):
        family_image("noise", i, (40, 30)).save(folder / f"n{i}.png")
    con = open_new(tmp_path)
    summary = import_folders(con, [str(folder)], workers=1)
    assert (summary.new, summary.failed) == (6, 0)
    assert rows(
        con,
        "SELECT i.frames FROM images i JOIN files f ON f.image_id = i.id WHERE f.path = ?",
        [str(folder / "b_frames.png")],
    ) == [(2**31 - 1,)]


def test_a_result_that_cannot_be_stored_becomes_an_error_row_and_the_run_goes_on(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    paths = []
    for i in range(3):
        family_image("circles", i, (40, 30)).save(folder / f"c{i}.png")
        paths.append(str(folder / f"c{i}.png"))
    con = open_new(tmp_path)
    found = {p: Found(p, 1, os.path.basename(p), os_path=p) for p in paths}
    results = [read_image_file(p, 10**8, 64) for p in paths]
    results[1].frames = 2**40  # a value no INTEGER column holds: the batch insert fails
    commit_results(con, found, results)
    assert rows(con, "SELECT path, state FROM files ORDER BY id") == [
        (paths[0], "ok"),
        (paths[1], "error"),
        (paths[2], "ok"),
    ]
    ((reason,),) = rows(con, "SELECT reason FROM import_errors")
    assert reason.startswith("cannot store what was read from this file:")
    # The next batch is stored as usual.
    family_image("circles", 9, (40, 30)).save(folder / "later.png")
    later = str(folder / "later.png")
    found[later] = Found(later, 1, "later.png", os_path=later)
    commit_results(con, found, [read_image_file(later, 10**8, 64)])
    assert rows(con, "SELECT state FROM files WHERE path = ?", [later]) == [("ok",)]


# --- item 2: decode memory ----------------------------------------------------------------------


# The peak memory the decode adds to the process, beyond what the imports took.
MEASURE = """
import resource, sys
from panoptui.core.read_worker import read_image_file
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = read_image_file(sys.argv[1], 10**9, 256)
assert result.error is None, result.error
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def test_a_big_rgba_png_decodes_in_about_one_copy_of_its_pixels(tmp_path):
    path = tmp_path / "zeros.png"
    png_of_zeros(path, 8000, 8000)  # about 1 MB on disk, 256 MB decoded
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    added = int(done.stdout)
    # One decoded copy (256 MB) and a strip at a time; converting, compositing and rotating it
    # at full size, as before, took 1.5 GB.
    assert added < 400 * 2**20, f"the decode added {added / 2**20:.0f} MB"


def test_an_image_over_the_memory_budget_gets_a_true_reason(tmp_path):
    path = tmp_path / "zeros.png"
    png_of_zeros(path, 8000, 8000)
    result = read_image_file(str(path), 10**9, 256, memory_budget=100 * 2**20)
    assert "needs about 244 MB of memory, more than the 100 MB" in result.error
    assert result.content_hash is not None  # hashed, but never decoded


def test_workers_are_as_many_as_memory_holds(monkeypatch):
    budget = DEFAULT_MAX_PIXELS * 4
    monkeypatch.setattr(scan, "available_memory", lambda: 4 * (budget + scan.WORKER_OVERHEAD))
    assert scan.plan_workers(16, DEFAULT_MAX_PIXELS) == (3, budget)
    monkeypatch.setattr(scan, "available_memory", lambda: 800 * 2**20)
    workers, small = scan.plan_workers(16, DEFAULT_MAX_PIXELS)
    assert workers == 1 and small == 600 * 2**20 - scan.WORKER_OVERHEAD


# --- item 3: HEIC, and the files the import does not read ----------------------------------------


def test_heic_is_imported_and_unread_files_are_counted_by_extension(tmp_path):
    assert HEIF_AVAILABLE
    folder = tmp_path / "phone"
    folder.mkdir()
    photo(64, 48, 1).save(folder / "IMG_0001.HEIC")
    family_image("noise", 1).save(folder / "ok.png")
    for name in ("a.dng", "b.DNG", "c.cr2", "d.psd", "e.mp4", "f.xmp", "README"):
        (folder / name).write_bytes(b"not read")
    (folder / ".hidden.dng").write_bytes(b"hidden: not counted")
    con = open_new(tmp_path)
    summary = import_folders(con, [str(folder)], workers=1)
    assert (summary.new, summary.failed) == (2, 0)
    assert summary.skipped == {
        ".dng": 2,
        "(none)": 1,
        ".cr2": 1,
        ".mp4": 1,
        ".psd": 1,
        ".xmp": 1,
    }
    assert list(summary.skipped)[0] == ".dng"  # the most frequent first
    assert rows(con, "SELECT format, width, height FROM images ORDER BY id")[0] == ("HEIF", 64, 48)


# --- item 4: names that are not UTF-8 ------------------------------------------------------------


def test_latin1_file_and_folder_names_import_and_are_found_again(tmp_path):
    root = tmp_path / "archive"
    latin_folder = root / os.fsdecode(b"r\xe9sum\xe9s")
    latin_folder.mkdir(parents=True)
    latin_file = latin_folder / os.fsdecode(b"caf\xe9.jpg")
    latin_file.write_bytes(jpeg_bytes(photo(64, 64, 12)))
    family_image("noise", 2).save(root / "plain.png")
    con = open_new(tmp_path)
    summary = import_folders(con, [str(root)], workers=1)
    assert (summary.new, summary.failed) == (2, 0)
    ((path, rel_path, raw, image_id),) = rows(
        con, "SELECT path, rel_path, raw_path, image_id FROM files WHERE raw_path IS NOT NULL"
    )
    assert path == str(root) + "/r\\xe9sum\\xe9s/caf\\xe9.jpg"  # shown escaped
    assert rel_path == "r\\xe9sum\\xe9s/caf\\xe9.jpg"
    assert store.os_path(path, raw) == str(latin_file)  # the exact path, back
    assert rows(con, "SELECT raw_path FROM files WHERE path = ?", [str(root / "plain.png")]) == [
        (None,)
    ]
    # A rescan finds it unchanged; vectors and queries find the file.
    again = import_folders(con, None, workers=1)
    assert (again.unchanged, again.new, again.missing) == (2, 0, 0)
    pending = {i: p for i, p, _, _ in pending_images_of_a_set(con)}
    assert pending[image_id] == str(latin_file) and os.path.exists(pending[image_id])
    assert image_at(con, str(latin_file)) == image_id
    assert image_at(con, path) is None  # the escaped text names no file


def test_a_latin1_name_and_a_name_holding_its_escape_are_two_files(tmp_path):
    """A Latin-1 "caf\xe9.jpg" and a UTF-8 name made of the characters c a f \\ x e 9: two
    files, two images, found again by a rescan (one stored text would make one replace the
    other)."""
    root = tmp_path / "archive"
    root.mkdir()
    literal = root / "caf\\xe9.jpg"
    literal.write_bytes(jpeg_bytes(photo(64, 64, 1)))
    latin = root / os.fsdecode(b"caf\xe9.jpg")
    latin.write_bytes(jpeg_bytes(photo(64, 64, 2)))
    con = open_new(tmp_path)
    summary = import_folders(con, [str(root)], workers=1)
    assert (summary.new, summary.failed) == (2, 0)
    stored = rows(con, "SELECT path, raw_path, image_id FROM files ORDER BY path")
    assert [p for p, _, _ in stored] == [f"{root}/caf\\\\xe9.jpg", f"{root}/caf\\xe9.jpg"]
    assert {store.os_path(p, raw) for p, raw, _ in stored} == {str(literal), str(latin)}
    assert len({i for _, _, i in stored}) == 2
    assert import_folders(con, None, workers=1).unchanged == 2
    assert image_at(con, str(literal)) != image_at(con, str(latin))


def test_a_latin1_folder_is_imported_itself(tmp_path):
    folder = tmp_path / os.fsdecode(b"\xe9t\xe9")
    (folder / "sub").mkdir(parents=True)
    family_image("stripes", 1).save(folder / "sub" / "a.png")
    con = open_new(tmp_path)
    summary = import_folders(con, [str(folder)], workers=1)
    assert summary.new == 1 and summary.folders == [f"{tmp_path}/\\xe9t\\xe9"]
    ((path, raw),) = rows(con, "SELECT path, raw_path FROM folders")
    assert store.os_path(path, raw) == str(folder)
    ((path, raw),) = rows(con, "SELECT path, raw_path FROM files")
    assert store.os_path(path, raw) == str(folder / "sub" / "a.png")
    assert import_folders(con, None, workers=1).unchanged == 1
    # Its subfolder is covered by it; its parent takes it over.
    assert import_folders(con, [str(folder / "sub")], workers=1).unchanged == 1
    family_image("stripes", 2).save(tmp_path / "b.png")
    summary = import_folders(con, [str(tmp_path)], workers=1)
    assert (summary.new, summary.unchanged, summary.missing) == (1, 1, 0)
    assert rows(con, "SELECT path, raw_path FROM folders") == [(str(tmp_path), None)]


def pending_images_of_a_set(con) -> list[tuple[int, str, int, int]]:
    store.create_vector_table(con, 1, 4)
    return pending_images(con, 1)


# --- item 5: links leading outside ---------------------------------------------------------------


def test_links_to_files_outside_are_not_followed_unless_asked(tmp_path):
    folder = tmp_path / "pics"
    (folder / "sub").mkdir(parents=True)
    private = tmp_path / "home"
    private.mkdir()
    family_image("circles", 1).save(private / "secret.png")
    family_image("circles", 2).save(folder / "sub" / "mine.png")
    os.symlink(private / "secret.png", folder / "secret.png")
    os.symlink(private, folder / "home")
    os.symlink("sub/mine.png", folder / "alias.png")  # inside: followed
    con = open_new(tmp_path)
    summary = import_folders(con, [str(folder)], workers=1)
    assert (summary.new, summary.links_not_followed) == (2, 2)
    assert sorted(p for (p,) in rows(con, "SELECT rel_path FROM files")) == [
        "alias.png",
        "sub/mine.png",
    ]
    summary = import_folders(con, None, workers=1, follow_links=True)
    assert (summary.new, summary.links_not_followed) == (2, 0)


# --- item 7: Ctrl-C stops the workers at once -----------------------------------------------------


def test_closing_the_reader_terminates_workers_stuck_on_a_file(tmp_path):
    paths = []
    for i in range(12):
        name = f"img{i:02d}_HANG.png" if i == 9 else f"img{i:02d}.png"
        family_image("gradient", i, (32, 24)).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    reader = read_files(paths, 1, 10**8, 64, read_chunk_hanging_on_marked_files)
    first = next(reader)
    assert [r.path for r in first] == paths[:8]
    reader.close()  # what Ctrl-C or a cancel does, while the worker is stuck
    assert multiprocessing.active_children() == []


# --- item 8: quiet workers ------------------------------------------------------------------------


def test_worker_warnings_do_not_reach_the_terminal(tmp_path, capfd, monkeypatch):
    monkeypatch.delenv("PYTHONWARNINGS", raising=False)  # workers are quiet on their own
    (tmp_path / "bad_exif.jpg").write_bytes(jpeg_with_bad_exif())
    with pytest.warns(UserWarning, match="Tag data larger than file"):  # it does warn...
        read_image_file(str(tmp_path / "bad_exif.jpg"), 10**8, 64)
    paths = [str(tmp_path / "bad_exif.jpg")]
    results = [r for chunk in read_files(paths, 1, 10**8, 64) for r in chunk]
    assert results[0].error is None
    captured = capfd.readouterr()  # ...but not from a worker, on the terminal
    assert "Tag data" not in captured.err and "Warning" not in captured.err, captured.err


KILLED_READER = """
import sys
sys.path.insert(0, sys.argv[2])
from fixtures import read_chunk_hanging_on_marked_files
from panoptui.core.scan import read_files
reader = read_files(sys.argv[3:], 1, 10**8, 64, read_chunk_hanging_on_marked_files)
next(reader)
print("reading", flush=True)
next(reader)  # hangs until killed
"""


def test_a_killed_import_leaves_no_resource_tracker_warning(tmp_path):
    paths = []
    for i in range(12):
        name = f"img{i:02d}_HANG.png" if i == 9 else f"img{i:02d}.png"
        family_image("gradient", i, (32, 24)).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    tests = str(Path(__file__).parent)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_READER, "-", tests, *paths],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"reading\n"
    proc.kill()
    # Read stderr to its end: until the workers and the resource tracker have closed it too.
    _, err = proc.communicate(timeout=60)
    assert b"leaked" not in err and b"Warning" not in err, err[-500:]


# --- item 9: foreign and damaged projects ---------------------------------------------------------


def test_an_sqlite_file_is_not_a_project(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    db = sqlite3.connect(project / store.DB_NAME)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(store.ProjectError, match="SQLite database, not a panoptui project"):
        store.open_project(project)
    done = run_cli("status", str(project))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "not a panoptui project" in done.stderr


def test_a_project_missing_tables_is_called_damaged(tmp_path):
    con = open_new(tmp_path)
    con.execute("DROP TABLE thumbnails")
    con.execute("DROP TABLE tags")
    con.close()
    with pytest.raises(store.ProjectError, match="damaged: tables tags, thumbnails missing"):
        store.open_project(tmp_path / "project")
    done = run_cli("status", str(tmp_path / "project"))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "damaged" in done.stderr, done.stderr


def test_a_project_from_before_raw_paths_is_migrated(tmp_path):
    folder = tmp_path / "back\\slash"
    folder.mkdir()
    photo(64, 48, 3).save(folder / "a\\b.jpg")
    con = open_new(tmp_path)
    import_folders(con, [str(folder)], workers=1)
    # As schema 5 kept it: the path as it is, with its backslashes, and no raw_path.
    con.execute("UPDATE files SET path = ?, rel_path = 'a\\b.jpg'", [str(folder / "a\\b.jpg")])
    con.execute("UPDATE folders SET path = ?", [str(folder)])
    back_to_schema_7(con)
    con.execute("ALTER TABLE files DROP COLUMN raw_path")
    con.execute("ALTER TABLE folders DROP COLUMN raw_path")
    con.execute("DROP TABLE not_duplicates; DROP TABLE refused_recommendations")  # from v7
    con.execute("UPDATE schema_meta SET version = 5")
    con.close()
    con = store.open_project(tmp_path / "project")
    assert rows(con, "SELECT version FROM schema_meta") == [(store.SCHEMA_VERSION,)]
    for table in ("files", "folders"):
        columns = [c for (c,) in rows(con, f"SELECT column_name FROM (DESCRIBE {table})")]
        assert columns[-1] == "raw_path", table
    # The backslash path took the escaped form, and a rescan finds the file where it was.
    ((path, raw),) = rows(con, "SELECT path, raw_path FROM files")
    assert store.os_path(path, raw) == str(folder / "a\\b.jpg")
    summary = import_folders(con, None, workers=1)
    assert (summary.unchanged, summary.new, summary.missing) == (1, 0, 0)


# --- item 7 (CLI): Ctrl-C twice ---------------------------------------------------------------


def test_ctrl_c_twice_stops_the_import_without_a_traceback(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(80):
        photo(600, 400, i).save(folder / f"p{i:02d}.jpg")
    project = tmp_path / "project"
    run = TerminalRun("import", str(project), str(folder), "--workers", "1")
    run.read_until(lambda _: run.files_done() >= 8)
    os.killpg(run.proc.pid, signal.SIGINT)  # the terminal sends it to the whole group
    os.killpg(run.proc.pid, signal.SIGINT)
    code = run.finish()
    assert code == 130
    assert b"Traceback" not in run.output, run.output[-800:]
    done = run_cli("import", str(project), "--workers", "1")
    assert done.returncode == 0, done.stderr
    con = store.open_project(project, read_only=True)
    assert rows(con, "SELECT count(*) FROM files WHERE state = 'ok'") == [(80,)]


def test_the_import_module_reads_heic_in_workers():
    # Worker processes import core.read_worker (through core.decode), which registers the opener.
    code = textwrap.dedent(
        """
        import panoptui.core.read_worker
        from PIL import Image
        print('HEIF' in Image.OPEN)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "True", done.stderr


def test_a_short_jpeg_body_is_a_truncation_not_a_grey_image(tmp_path):
    from fixtures import jpeg_with_size

    path = tmp_path / "short.jpg"
    path.write_bytes(jpeg_with_size(jpeg_bytes(photo(16, 16, 1)), 13000, 13000))
    assert "truncated image data" in str(read_image_file(str(path), 10**9, 256).error)
    # A real JPEG of one colour, as small as JPEGs get, is not taken for a truncated one.
    flat = tmp_path / "flat.jpg"
    Image.new("L", (4000, 3000), 128).save(flat, quality=10, optimize=True)
    assert read_image_file(str(flat), 10**9, 256).error is None
