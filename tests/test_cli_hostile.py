"""The command line against hostile names, files and moments (issue 9): no overwritten file, no
terminal escape run, no spreadsheet formula, no half-made tags or demo, one line for Ctrl-C at
any moment and for a full disk."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fixtures import photo
from helpers import CONSOLE_SCRIPT, assert_usage_error, run_cli
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from panoptui.core.samples import family_image, write_samples

# A file name that would set the terminal's title and ring its bell, and one that would clear
# the screen, if printed raw.
TITLE = "evil\x1b]0;pwned\x07.png"
CLEAR = "bad\x1b[2J.jpg"
FORMULAS = ("=cmd.png", "+sum.png", "-minus.png", "@at.png", "\ttab.png")


# Lines a command writes to stderr as it goes (stdout is not a terminal): not messages.
PROGRESS = re.compile(r"^(scanning|importing|embedding|loading model) ")


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [s for s in done.stderr.splitlines() if s.strip() and not PROGRESS.match(s)]
    assert len(lines) == 1 and lines[0].startswith("panoptui"), done.stderr
    assert all(word in done.stderr for word in words), done.stderr


@pytest.fixture(scope="module")
def base_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project of 12 samples plus files with hostile names (20 files, one unreadable; 18
    images), with pixels vectors (set 1)."""
    root = tmp_path_factory.mktemp("hostile-cli")
    photos = root / "photos"
    write_samples(photos, per_family=2)
    family_image("circles", 90).save(photos / TITLE)
    (photos / "again").mkdir()
    shutil.copy(photos / TITLE, photos / "again" / TITLE)  # an exact duplicate
    (photos / CLEAR).write_bytes(b"not a jpeg at all")
    for n, name in enumerate(FORMULAS):
        family_image("stripes", 100 + n).save(photos / name)
    project = root / "base" / "project"
    for args in (
        ("import", str(project), str(photos)),
        ("vectors", "create", str(project), "--model", "pixels"),
    ):
        done = run_cli(*args)
        assert done.returncode == 0, done.stderr
    return project


@pytest.fixture
def project(base_project: Path, tmp_path: Path) -> str:
    """A copy of the base project that a test may change."""
    copy = tmp_path / "copy" / "project"
    shutil.copytree(base_project, copy)
    return str(copy)


def tag_names(project: str) -> dict[str, int]:
    done = run_cli("tags", project, "--json")
    assert done.returncode == 0, done.stderr
    return {t["name"]: t["images"] for t in json.loads(done.stdout)}


# --- map --png: never over a file, never through a link ---------------------------------------


def test_map_png_keeps_existing_files_and_links(project, tmp_path):
    kept = tmp_path / "map.png"
    kept.write_bytes(b"my own drawing")
    assert_one_line_error(run_cli("map", project, "--png", str(kept)), 1, "exists", "--force")
    assert kept.read_bytes() == b"my own drawing"

    secret = tmp_path / "secret.txt"
    secret.write_text("precious")
    link = tmp_path / "link.png"
    link.symlink_to(secret)
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(tmp_path / "nowhere.png")
    for target in (link, dangling):
        assert_one_line_error(run_cli("map", project, "--png", str(target)), 1, "--force")
    assert secret.read_text() == "precious" and not (tmp_path / "nowhere.png").exists()

    # --force replaces the link itself with the drawing: the file it pointed at is untouched.
    done = run_cli("map", project, "--png", str(link), "--force")
    assert done.returncode == 0, done.stderr
    assert not link.is_symlink() and Image.open(link).format == "PNG"
    assert secret.read_text() == "precious"

    assert_one_line_error(run_cli("map", project, "--png", str(tmp_path / "m.jpg")), 1, ".png")
    assert not (tmp_path / "m.jpg").exists()
    fresh = tmp_path / "fresh.PNG"
    assert run_cli("map", project, "--png", str(fresh)).returncode == 0
    assert Image.open(fresh).size == (1024, 1024)
    assert not [p.name for p in tmp_path.iterdir() if ".partial" in p.name]


# --- tag names: stripped, never blank -----------------------------------------------------------


def test_tag_names_are_stripped_and_blank_ones_refused(project):
    from panoptui.core import cluster, duplicates, store, tags

    assert run_cli("tag", project, "a", "--ids", "1").returncode == 0
    assert run_cli("tag", project, " b ", "--ids", "2").returncode == 0
    assert_one_line_error(run_cli("tags", project, "--rename", "a", " b"), 1, "exists already")
    assert_one_line_error(run_cli("tags", project, "--rename", "a", "   "), 1, "blank")
    assert_one_line_error(run_cli("tag", project, "  ", "--from-duplicates"), 1, "blank")
    assert tag_names(project) == {"a": 1, "b": 1}
    con = store.open_project(project)
    try:
        cluster.save_clustering(
            con,
            "two",
            1,
            "kmeans",
            cluster.summarise(
                np.array([1, 2, 3]), np.eye(3, dtype=np.float32), np.array([0, 0, 1])
            ),
        )
        for blank in ("", " ", "\t\n"):
            for naming, args in (
                (tags.tag_images, (blank, [1])),
                (tags.rename_tag, ("a", blank)),
                (cluster.tags_from_clustering, ("two", blank)),
                (duplicates.tag_groups, (blank, [[1, 2]])),
            ):
                with pytest.raises(store.ProjectError, match="blank"):
                    naming(con, *args)
        tags.rename_tag(con, " a ", "c ")
        cluster.tags_from_clustering(con, "two", " g ")
        duplicates.tag_groups(con, " d", [[1, 2]])
        names = {t.name for t in tags.list_tags(con)}
    finally:
        con.close()
    assert names == {"b", "c", "g", "g/0", "g/1", "d", "d/1"}


# --- tags from a clustering or duplicates: all or nothing ---------------------------------------

KILL_ON_THIRD_TAG = """
import os, signal, sys
from panoptui.core import cluster, duplicates, store, tags

con = store.open_project(sys.argv[1])
real, calls = tags.tag_images, []

def dying(*args, **kwargs):
    calls.append(1)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup of any kind runs
    return real(*args, **kwargs)

tags.tag_images = dying
if sys.argv[2] == "clustering":
    cluster.tags_from_clustering(con, "five", "groups")
else:
    duplicates.tag_groups(con, "dups", [[1, 2], [3, 4], [5, 6], [7, 8]])
"""


@pytest.mark.parametrize("source", ["clustering", "duplicates"])
def test_tags_from_a_group_survive_a_sigkill_whole_or_not_at_all(project, source):
    assert run_cli("cluster", project, "--k", "5", "--name", "five").returncode == 0
    killed = subprocess.run(
        [sys.executable, "-c", KILL_ON_THIRD_TAG, project, source], capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL
    assert tag_names(project) == {}  # the two tags made before the kill were rolled back
    if source == "clustering":  # and the same command then makes them all
        done = run_cli("tag", project, "groups", "--from-clustering", "five")
        assert done.returncode == 0, done.stderr
        assert len(tag_names(project)) == 6


# --- read-only folders: one project per full path -----------------------------------------------


def test_read_only_folders_with_one_name_get_two_projects(tmp_path, monkeypatch):
    from panoptui.cli import app as cli
    from panoptui.core import store

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setattr(cli.os, "access", lambda path, mode: False)  # as if read-only
    a, b = tmp_path / "a" / "photos", tmp_path / "b" / "photos"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    project_a, project_b = cli.default_project_for(a), cli.default_project_for(b)
    assert project_a != project_b
    assert project_a.parent == project_b.parent == tmp_path / "data" / "panoptui" / "projects"
    assert project_a.name.startswith("photos-") and project_b.name.startswith("photos-")
    assert cli.default_project_for(a) == project_a  # stable

    # A project an earlier version made for /a/photos (named by the folder only) stays a's.
    legacy = project_a.parent / "photos"
    con = store.open_project(legacy, create=True)
    con.execute("INSERT INTO folders (id, path) VALUES (1, ?)", [str(a)])
    con.close()
    assert cli.default_project_for(a) == legacy
    assert cli.default_project_for(b) == project_b

    odd = tmp_path / os.fsdecode(b"ph\xffotos")
    odd.mkdir()
    store.open_project(cli.default_project_for(odd), create=True).close()  # valid UTF-8


# --- demo: a killed demo is finished, not taken for finished ------------------------------------

KILL_DURING_SAMPLES = """
import os, signal, sys
from panoptui.core import demo, samples

real, calls = os.replace, []

def dying(src, dst):
    calls.append(1)
    if len(calls) == 5:  # the fifth sample is written but not renamed into place
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst)

samples.os.replace = dying
demo.build_demo(sys.argv[1], per_family=2)
"""


def samples_in(root: Path) -> list[Path]:
    return [p for p in (root / "images").rglob("*") if p.is_file() and p.name[0] != "."]


def test_a_demo_killed_while_writing_samples_is_finished_whole(tmp_path):
    from panoptui.core import store, vector_sets
    from panoptui.core.demo import build_demo

    root = tmp_path / "demo"
    killed = subprocess.run(
        [sys.executable, "-c", KILL_DURING_SAMPLES, str(root)], capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL
    assert len(samples_in(root)) == 4  # 4 of 12 in place, the fifth written but hidden
    project = build_demo(root, per_family=2)
    con = store.open_project(project, read_only=True)
    try:
        assert store.scalar(con, "SELECT count(*) FROM files WHERE state = 'ok'") == 12
        assert store.scalar(con, "SELECT count(*) FROM import_errors") == 0
        (pixels,) = vector_sets.list_sets(con)
        assert pixels.status == vector_sets.COMPLETE and pixels.count == 12
    finally:
        con.close()
    assert len([p for p in (root / "images").rglob("*") if p.is_file()]) == 12  # no leftover

    # A sample deleted since: the next run notices and puts it back.
    next((root / "images" / "circles").iterdir()).unlink()
    build_demo(root, per_family=2)
    assert len(samples_in(root)) == 12


# --- what the CLI prints: escaped names, quoted commands, its own words ------------------------


def test_terminal_escapes_in_names_are_shown_not_run(project, tmp_path):
    for args in (
        ("errors", project),
        ("similar", project, "--id", "1", "-k", "30"),
        ("duplicates", project),
        ("export", project, str(tmp_path / f"x{CLEAR}.txt")),
    ):
        done = run_cli(*args)
        assert "\x1b" not in done.stdout + done.stderr, args
        assert "\\x1b" in done.stdout + done.stderr, args
    assert run_cli("tag", project, "red\x1b[31m", "--ids", "1").returncode == 0
    listed = run_cli("tags", project)
    assert "\x1b" not in listed.stdout and "red\\x1b[31m" in listed.stdout
    # JSON keeps the exact names.
    errors = json.loads(run_cli("errors", project, "--json").stdout)
    assert any(e["path"].endswith(CLEAR) for e in errors)
    assert "red\x1b[31m" in tag_names(project)


def test_suggested_commands_are_shell_quoted(project, tmp_path):
    name = "my set; rm -rf ~"
    done = run_cli("cluster", project, "--k", "2", "--name", name)
    assert done.returncode == 0, done.stderr
    suggested = done.stdout.split("save as tags with: ", 1)[1].splitlines()[0]
    assert shlex.split(suggested) == ["panoptui", "tag", project, name, "--from-clustering", name]

    spaced = tmp_path / "my project $(x)"
    shutil.copytree(project, spaced)
    again = run_cli("import", str(spaced))
    assert again.returncode == 0, again.stderr
    suggested = again.stdout.split("see why with: ", 1)[1].splitlines()[0]
    assert shlex.split(suggested) == ["panoptui", "errors", str(spaced)]
    status = run_cli("status", str(spaced)).stdout
    suggested = status.split("see them with: ", 1)[1].splitlines()[0].removesuffix(")")
    assert shlex.split(suggested) == ["panoptui", "errors", str(spaced)]


def test_fewer_clusters_than_asked_are_said_plainly(tmp_path):
    folder = tmp_path / "same"
    folder.mkdir()
    pixels = family_image("checker", 1)
    for n in range(4):  # other bytes (a text chunk), the same pixels: identical vectors
        info = PngInfo()
        info.add_text("copy", str(n))
        pixels.save(folder / f"same{n}.png", pnginfo=info)
    project = str(tmp_path / "project")
    assert run_cli("import", project, str(folder)).returncode == 0
    assert run_cli("vectors", "create", project, "--model", "pixels").returncode == 0
    done = run_cli("cluster", project, "--k", "3")
    assert done.returncode == 0, done.stderr
    assert "found only 1 distinct cluster where 3 were asked" in done.stderr
    assert "Warning" not in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1


NOISY_COMMAND = """
import os, sys, warnings
from panoptui import cli
from panoptui.cli import imports

real = imports.cmd_status

def noisy(args):
    warnings.warn("numpy has something to say", RuntimeWarning)
    warnings.warn("so has sklearn", FutureWarning)
    return real(args)

imports.cmd_status = noisy  # the parser, built in main, takes the handler from here
code = cli.main(["status", sys.argv[1]])
# Worker processes inherit the choice.
assert os.environ.get("PYTHONWARNINGS") == "ignore", os.environ.get("PYTHONWARNINGS")
sys.exit(code)
"""


def test_library_warnings_do_not_reach_stderr(project):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    done = subprocess.run(
        [sys.executable, "-c", NOISY_COMMAND, project], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


# --- CSV injection ------------------------------------------------------------------------------


def test_csv_cells_that_spreadsheets_run_are_neutralised(project, tmp_path):
    import pyarrow.parquet as pq

    assert run_cli("tag", project, '=HYPERLINK("http://x")', "--ids", "1,2").returncode == 0
    assert run_cli("cluster", project, "--k", "2", "--name", "@evil").returncode == 0
    safe, raw, parquet = tmp_path / "safe.csv", tmp_path / "raw.csv", tmp_path / "exact.parquet"
    assert run_cli("export", project, str(safe)).returncode == 0
    assert run_cli("export", project, str(raw), "--csv-raw").returncode == 0
    assert run_cli("export", project, str(parquet)).returncode == 0

    def cells(path: Path) -> list[str]:
        with open(path, newline="") as handle:
            return [cell for row in csv.reader(handle) for cell in row]

    dangerous = ("=", "+", "-", "@", "\t", "\r")
    assert not [c for c in cells(safe) if c.startswith(dangerous)]
    quoted = {c for c in cells(safe) if c.startswith("'")}
    assert {f"'{name}" for name in FORMULAS} <= quoted
    assert any(c.startswith("'=HYPERLINK") for c in quoted)
    assert any(c.startswith("'@evil=") for c in quoted)
    assert set(FORMULAS) <= set(cells(raw))  # --csv-raw: exactly as stored
    table = pq.read_table(parquet).to_pylist()
    assert set(FORMULAS) <= {row["rel_path"] for row in table}
    assert any(row["tags"].startswith("=HYPERLINK") for row in table if row["tags"])


# --- Ctrl-C at any moment -----------------------------------------------------------------------

# Runs panoptui (`-m`, or the console script's file) and sends it a Ctrl-C as a module starts
# being imported: "_duckdb>enum" is enum imported from inside DuckDB's extension module.
INTERRUPT_DURING = """
import builtins, os, runpy, signal, sys

real = builtins.__import__
WHERE, MODULE = sys.argv[1:3]
OUTER, _, TARGET = MODULE.rpartition(">")
loading = []

def hook(name, *args, **kwargs):
    if name == TARGET and not hook.fired and (not OUTER or OUTER in loading):
        hook.fired = True
        os.kill(os.getpid(), signal.SIGINT)
    loading.append(name)
    try:
        return real(name, *args, **kwargs)
    finally:
        loading.pop()

hook.fired = False
builtins.__import__ = hook
sys.argv = ["panoptui", *sys.argv[3:]]
if WHERE == "-m":
    runpy.run_module("panoptui", run_name="__main__", alter_sys=True)
else:
    runpy.run_path(WHERE, run_name="__main__")
"""


def assert_interrupted(code: int, stderr: str) -> None:
    assert code == 130, (code, stderr)
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    said = [line for line in stderr.splitlines() if "interrupted" in line]
    assert len(said) == 1 and said[0].startswith("panoptui: "), stderr


@pytest.mark.parametrize(
    "where, module",
    [
        ("-m", "argparse"),
        ("-m", "duckdb"),
        # Inside DuckDB's extension module: a KeyboardInterrupt there aborted the process
        # ("Critical nanobind error"), or failed its import.
        ("-m", "_duckdb>enum"),
        ("-m", "_duckdb>typing"),
        ("-m", "pyarrow"),
        ("-m", "numpy"),
        # The installed command, as its script starts importing the CLI.
        ("script", "panoptui.cli"),
    ],
)
def test_ctrl_c_while_modules_load(project, where, module):
    assert CONSOLE_SCRIPT.exists(), "not installed: pip install -e ."
    where = str(CONSOLE_SCRIPT) if where == "script" else where
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPT_DURING, where, module, "status", project],
        capture_output=True,
        text=True,
    )
    assert_interrupted(done.returncode, done.stderr)


def before_panoptui_ran(code: int, stderr: str) -> bool:
    """Whether a Ctrl-C came before panoptui's own handling could begin: while Python itself
    starts (site, the editable install's finder), or while the console script imports the
    panoptui package (run() installs the handler first thing). Python then ends as on SIGINT,
    silently or with a KeyboardInterrupt traceback (exit 1 when it failed in site), and no
    frame of the traceback is in run(), the CLI or core."""
    if code == -signal.SIGINT and stderr == "":
        return True
    frames = re.findall(r'File "([^"]+)", line \d+, in (\S+)', stderr)
    return (
        code in (-signal.SIGINT, 1)
        and stderr.rstrip().endswith("KeyboardInterrupt")
        and not any(
            function == "run" or "/panoptui/cli/" in path or "/panoptui/core/" in path
            for path, function in frames
        )
    )


@pytest.mark.parametrize("after", [0.03, 0.05, 0.08, 0.1, 0.2, 0.35, 0.6])
def test_ctrl_c_in_the_first_moments_of_a_command(base_project, tmp_path, after):
    """The installed command, interrupted as it starts: from the moment run() begins, one
    line, exit 130 (a traceback, or the abort DuckDB's extension gave, fails)."""
    photos = Path(json.loads(run_cli("status", str(base_project), "--json").stdout)["folders"][0])
    proc = subprocess.Popen(
        [str(CONSOLE_SCRIPT), "import", str(tmp_path / "project"), str(photos)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(after)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    stdout, stderr = proc.communicate(timeout=60)
    if proc.returncode == 0:  # done before the signal came (a fast machine)
        assert "imported" in stdout and "Traceback" not in stderr
        return
    if before_panoptui_ran(proc.returncode, stderr):
        return
    assert_interrupted(proc.returncode, stderr)


CTRL_C_AS_A_WORKER_STARTS = """
import os, signal, sys
from multiprocessing import util
from panoptui.core import scan

real = util.spawnv_passfds

def spawn_then_ctrl_c(path, args, passfds):
    pid = real(path, args, passfds)
    if any(b"spawn_main" in os.fsencode(arg) for arg in args):  # a worker, not the tracker
        os.kill(os.getpid(), signal.SIGINT)  # it runs, its start-up data not yet sent
    return pid

util.spawnv_passfds = spawn_then_ctrl_c
try:
    for chunk in scan.read_files([sys.argv[1]], 1, 10_000_000, 64):
        print("read", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def test_ctrl_c_as_a_worker_process_starts_is_raised_after_it_started(tmp_path):
    """A Ctrl-C half-way through starting a worker (it seen by another thread of the parent)
    waits until the worker has what it needs: before, the parent stopped and the worker printed
    an EOFError traceback over the terminal (seen in CI, at one moment in a hundred)."""
    image = tmp_path / "one.png"
    Image.new("RGB", (8, 8), "red").save(image)
    done = subprocess.run(
        [sys.executable, "-c", CTRL_C_AS_A_WORKER_STARTS, str(image)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout == "interrupted\n", (done.stdout, done.stderr)
    assert done.stderr == "", done.stderr


FAILING_ROLLBACK = """
import sys
import duckdb
from panoptui import cli
from panoptui.core import store

def opening(*args, **kwargs):
    try:
        raise KeyboardInterrupt  # Ctrl-C during a transaction...
    except KeyboardInterrupt:
        if sys.argv[1] == "rollback":  # ...whose rollback then fails
            raise duckdb.TransactionException("cannot rollback - no transaction is active")
        raise duckdb.InterruptException("INTERRUPT Error: Interrupted!") from None

store.open_project = opening
sys.exit(cli.main(["status", "anything"]))
"""


@pytest.mark.parametrize("how", ["rollback", "duckdb"])
def test_an_error_raised_by_a_ctrl_c_is_an_interruption(how):
    done = subprocess.run(
        [sys.executable, "-c", FAILING_ROLLBACK, how], capture_output=True, text=True
    )
    assert_interrupted(done.returncode, done.stderr)


SLOW_IMPORT = """
import atexit, sys, time
from panoptui import cli
from panoptui.cli.output import ProgressPrinter

real = ProgressPrinter.__call__

def slowly(self, event):
    if event.stage == "importing" and event.done:
        print("READY", file=sys.stderr, flush=True)
        time.sleep(0.2)  # a slow disk: the import is surely still running
    return real(self, event)

def lingering():  # the interpreter's shutdown, made long enough to be interrupted
    print("EXITING", file=sys.stderr, flush=True)
    time.sleep(5)

ProgressPrinter.__call__ = slowly
mode, *args = sys.argv[1:]
code = cli.main(["import", *args, "--workers", "1"])
if mode == "while exiting":
    atexit.register(lingering)
sys.exit(code)
"""


def read_until(stream, word: str, proc: subprocess.Popen) -> str:
    seen = ""
    while word not in seen:
        line = stream.readline()
        assert line or proc.poll() is None, f"ended before {word}: {seen}"
        seen += line
    return seen


@pytest.mark.parametrize("moment", ["once", "twice at once", "while exiting"])
def test_ctrl_c_during_an_import_once_or_again(tmp_path, moment):
    photos = tmp_path / "photos"
    photos.mkdir()
    for n in range(40):
        photo(400, 300, n).save(photos / f"p{n:02d}.jpg")
    project = tmp_path / "project"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_IMPORT, moment, str(project), str(photos)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    seen = read_until(proc.stderr, "READY", proc)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    if moment == "twice at once":  # the second one lands during the first one's cleanup
        os.killpg(proc.pid, signal.SIGINT)
    elif moment == "while exiting":  # once the command is over, as the interpreter shuts down
        seen += read_until(proc.stderr, "EXITING", proc)
        os.killpg(proc.pid, signal.SIGINT)
    stderr = seen + proc.communicate(timeout=60)[1]
    stderr = "".join(s for s in stderr.splitlines(True) if s not in ("READY\n", "EXITING\n"))
    assert_interrupted(proc.returncode, stderr)
    # The project opens and the same command finishes the import.
    done = run_cli("import", str(project), str(photos))
    assert done.returncode == 0, done.stderr
    assert json.loads(run_cli("status", str(project), "--json").stdout)["images"] == 40


# --- a full disk --------------------------------------------------------------------------------


def mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    return done.returncode == 0


def fill(where: Path, leave: int) -> Path:
    """A file taking all the free space of ``where`` but ``leave`` bytes."""
    stats = os.statvfs(where)
    filler = where / "filler"
    filler.write_bytes(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))
    return filler


DISK_FULL_INJECTED = """
import sys
import duckdb
from panoptui import cli
from panoptui.core import scan, vector_sets, vectorize

def full(*args, **kwargs):
    raise duckdb.IOException(
        'IO Error: Could not write file "project.duckdb.wal": No space left on device'
    )

scan.import_folders = full
vectorize.compute_vectors = full
sys.exit(cli.main(sys.argv[1:]))
"""


def assert_full_disk_injected(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", DISK_FULL_INJECTED, *args], capture_output=True, text=True
    )
    assert_one_line_error(done, 1, "disk full", "No space left on device")


def test_a_full_disk_is_one_line_injected(project):
    assert_full_disk_injected(["import", project])
    # Greyscale: the project holds a pixels set already (a set like it gets a note first).
    assert_full_disk_injected(["vectors", "create", project, "--model", "pixels", "--greyscale"])


def test_a_full_disk_during_import_and_vectors(tmp_path):
    """On a real full file system (a small tmpfs: needs root, as in CI). Where mounting is not
    allowed, the same through an injected error."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for n in range(40):
        photo(480, 360, n).save(photos / f"p{n:02d}.jpg", quality=85)
    small = tmp_path / "small"
    if not mount_tmpfs(small, "300k"):
        assert_full_disk_injected(["import", str(tmp_path / "project"), str(photos)])
        return
    try:
        project = small / "project"
        assert_one_line_error(
            run_cli("import", str(project), str(photos)), 1, "disk full", "No space left"
        )
        assert run_cli("status", str(project)).returncode == 0  # it opens
        subprocess.run(["mount", "-o", "remount,size=16m", str(small)], check=True)
        done = run_cli("import", str(project), str(photos))
        assert done.returncode == 0, done.stderr
        status = json.loads(run_cli("status", str(project), "--json").stdout)
        assert status["images"] == 40 and status["errors"] == 0

        filler = fill(small, 16 * 1024)
        assert_one_line_error(
            run_cli("vectors", "create", str(project), "--model", "pixels"), 1, "disk full"
        )
        filler.unlink()
        listed = json.loads(run_cli("vectors", "list", str(project), "--json").stdout)
        if listed:  # the set was recorded before the disk filled: resume it
            done = run_cli("vectors", "resume", str(project), str(listed[0]["id"]))
        else:
            done = run_cli("vectors", "create", str(project), "--model", "pixels")
        assert done.returncode == 0, done.stderr
        (vectors,) = json.loads(run_cli("vectors", "list", str(project), "--json").stdout)
        assert vectors["count"] == 40 and vectors["status"] == "complete"
    finally:
        subprocess.run(["umount", "-l", str(small)], capture_output=True)


# --- new options: folders, --follow-links and skipped files, --batch-size ----------------------


def test_folders_lists_removes_and_moves(tmp_path):
    a, b, odd = tmp_path / "a", tmp_path / "b", tmp_path / "odd\x1b[2J"
    for n, folder in enumerate((a, b, odd)):
        folder.mkdir()
        family_image("checker", 10 + n).save(folder / "one.png")
        family_image("circles", 10 + n).save(folder / "two.png")
    project = str(tmp_path / "elsewhere" / "project")
    assert run_cli("import", project, str(a), str(b), str(odd)).returncode == 0
    listed = json.loads(run_cli("folders", project, "--json").stdout)
    assert [f["path"] for f in listed] == sorted(str(f.resolve()) for f in (a, b, odd))
    text = run_cli("folders", project)
    assert text.returncode == 0 and str(a.resolve()) in text.stdout
    assert "\x1b" not in text.stdout and "odd\\x1b[2J" in text.stdout

    a.rename(tmp_path / "a2")
    assert "not found" in run_cli("folders", project).stdout
    moved = run_cli("folders", project, "--move", str(a), str(tmp_path / "a2"))
    assert moved.returncode == 0, moved.stderr
    assert run_cli("folders", project, "--remove", str(b)).returncode == 0
    listed = json.loads(run_cli("folders", project, "--json").stdout)
    assert [f["path"] for f in listed] == sorted(str((tmp_path / n).resolve()) for n in ("a2", odd))
    rescan = json.loads(run_cli("import", project, "--json").stdout)
    assert rescan["unchanged"] == 4 and rescan["missing"] == 0 and rescan["new"] == 0
    assert_one_line_error(
        run_cli("folders", project, "--remove", str(tmp_path / "zzz")), 1, "not a folder"
    )


def test_import_says_what_it_skipped_and_the_links_it_did_not_follow(tmp_path):
    photos, outside = tmp_path / "photos", tmp_path / "private"
    photos.mkdir()
    outside.mkdir()
    family_image("checker", 1).save(photos / "kept.png")
    family_image("checker", 2).save(outside / "secret.png")
    for name in ("raw1.DNG", "raw2.dng", "clip.mp4"):
        (photos / name).write_bytes(b"\0" * 64)
    (photos / "pics").symlink_to(outside)  # leads out of the imported folder
    done = run_cli("import", str(tmp_path / "p1"), str(photos))
    assert done.returncode == 0, done.stderr
    assert "skipped 3 files panoptui does not read: 2 .dng, 1 .mp4" in done.stdout
    assert "did not follow 1 link" in done.stdout and "--follow-links" in done.stdout
    assert json.loads(run_cli("status", str(tmp_path / "p1"), "--json").stdout)["images"] == 1
    followed = run_cli("import", str(tmp_path / "p2"), str(photos), "--follow-links")
    assert followed.returncode == 0, followed.stderr
    assert "did not follow" not in followed.stdout
    assert json.loads(run_cli("status", str(tmp_path / "p2"), "--json").stdout)["images"] == 2


def test_batch_size_is_bounded(project):
    from panoptui.core.vector_sets import MAX_BATCH_SIZE

    for command in (["create", project], ["resume", project, "1"]):
        done = run_cli("vectors", *command, "--batch-size", "100000000")
        assert done.returncode == 2 and f"at most {MAX_BATCH_SIZE}" in done.stderr
        assert "Traceback" not in done.stderr


def test_numbers_beyond_a_database_integer_are_refused(project):
    """An id or number above DuckDB's BIGINT is argparse's error, not a failed query."""
    huge = str(2**63)
    for command, args in (
        ("tag", [project, "z", "--ids", f"1,{huge}"]),
        ("tag", [project, "z", "--ids", "99999999999999999999", "--remove"]),
        ("recommend", [project, "--ids", huge]),
        ("similar", [project, "--id", huge]),
        ("vectors delete", [project, huge]),
    ):
        assert_usage_error(run_cli(*command.split(), *args), command, "at most")
    assert tag_names(project) == {}


# --- text that is not UTF-8 ---------------------------------------------------------------------

NOT_UTF8_INJECTED = """
import sys
import duckdb
from panoptui import cli
from panoptui.core import store

def opening(*args, **kwargs):  # a query meets an argument that no check found not UTF-8
    duckdb.connect().execute("SELECT ?", [sys.argv[1]])

store.open_project = opening
sys.exit(cli.main(["status", "anything"]))
"""


def test_text_that_is_not_utf8_is_one_line(project):
    latin1 = os.fsdecode(b"caf\xe9")  # as a Latin-1 terminal types it
    done = subprocess.run(
        [sys.executable, "-c", NOT_UTF8_INJECTED, latin1], capture_output=True, text=True
    )
    assert_one_line_error(done, 1, "not valid UTF-8")
    assert_one_line_error(run_cli("tags", project, "--delete", latin1), 1, "UTF-8")


# --- counts and suggested commands as printed ---------------------------------------------------


def test_counts_of_one_are_singular(project):
    clustered = run_cli("cluster", project, "--k", "1", "--name", "all")
    assert clustered.returncode == 0, clustered.stderr
    assert "1 cluster of vector set" in clustered.stdout
    tagged = run_cli("tag", project, "one", "--ids", "1")
    assert "tagged 1 more image 'one'" in tagged.stdout, tagged.stderr
    assert "one  (1 image)" in run_cli("tags", project).stdout
    duplicates = run_cli("duplicates", project, "--threshold", "1").stdout
    assert "1 image with identical copies" in duplicates  # TITLE and again/TITLE
    assert "1 images" not in clustered.stdout + tagged.stdout + duplicates
