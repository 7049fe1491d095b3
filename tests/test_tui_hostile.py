"""The terminal app against hostile names and faults (issue 9), driven with Pilot: markup and
control characters in every name it shows, keys faster than dialogs close, a database that fails
under a screen, quitting while a thread is in a query, a read-only project, folders removed or
moved, and warnings raised while it runs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import tui_helpers
from textual import events
from textual.widgets import Input
from tui_helpers import SIZE, fill_form, make_app, screen_text, settle, wait_for

from panoptui.core import cluster, scan, store, tags
from panoptui.core.samples import family_image
from panoptui.tui import app as app_module
from panoptui.tui.app import GuardedCommandPalette
from panoptui.tui.screens.dialogs import ConfirmDialog, FormDialog
from panoptui.tui.screens.explore import ClustersScreen
from panoptui.tui.screens.help import HelpScreen
from panoptui.tui.screens.project import ProjectScreen
from panoptui.tui.screens.results import ResultsScreen
from panoptui.tui.screens.tags import TagsScreen

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive

# Tag names that Textual would read as markup: a closing tag with nothing open (MarkupError), a
# stray closing tag, a style name that would vanish, an action a click would run.
MARKUP_NAMES = ["[/]", "x[/b]", "[draft]", "[@click=app.quit]"]
# File names (no "/" in them): a vanishing name, an action, a MarkupError, a variable.
FILE_NAMES = ["[draft]", "[@click=app.quit]", '[@click=a("]', "[$x]"]
# A name that would set the terminal's title (OSC 2), shown with its control characters escaped.
ESCAPE_NAME = "title\x1b]2;pwned\x07.png"
ESCAPE_SHOWN = "title\\x1b]2;pwned\\x07.png"


def run(coro):
    return asyncio.run(coro)


def notices(app) -> str:
    return "\n".join(n.message for n in app._notifications)


async def keys_at_once(pilot, *keys: str) -> None:
    """Keys typed faster than the app handles them: all queued on the focused widget before the
    first is handled (as a terminal delivers a burst), then handled."""
    app = pilot.app
    target = app.focused or app.screen
    for key in keys:
        character = {"enter": "\r", "escape": "\x1b"}.get(key, key if len(key) == 1 else None)
        target._forward_event(events.Key(key, character))
    await pilot.pause()
    await settle(pilot)


def add_hostile_folder(project: Path, folder: Path) -> None:
    """Images (and a broken file) with hostile names, imported, tagged with hostile tags."""
    folder.mkdir()
    for n, name in enumerate(FILE_NAMES):
        family_image("circles", n).save(folder / f"{name}.png")
    family_image("circles", 9).save(folder / ESCAPE_NAME)
    (folder / "[bad].jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    con = store.open_project(project)
    try:
        scan.import_folders(con, [str(folder)], workers=1)
        ids = dict(
            con.execute(
                "SELECT parse_filename(path), image_id FROM files WHERE path LIKE ?",
                [f"{folder}/%"],
            ).fetchall()
        )
        for tag, name in zip(MARKUP_NAMES, FILE_NAMES, strict=True):
            tags.tag_images(con, tag, [ids[f"{name}.png"]])
    finally:
        con.close()


def test_markup_and_control_characters_are_shown_literally_everywhere(project, drive, tmp_path):
    add_hostile_folder(project, tmp_path / "odd")

    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        # The grid's captions, on the last page (the odd files came last).
        await pilot.press("end")
        await settle(pilot)
        captions = [str(label.render()) for label in results.query(".caption")]
        for name in FILE_NAMES:
            assert any(c.startswith(name[:12]) for c in captions), (name, captions)
        assert any(c.startswith("title\\x1b") for c in captions), captions
        # A click on a caption that reads like an action runs nothing.
        cell = next(
            c for c in results.query(".cell") if "click" in str(c.query_one(".caption").render())
        )
        await pilot.click(cell.query_one(".caption"))
        await pilot.pause()
        assert app.is_running
        # The detail pane: every path and tag as it is.
        for n, item in enumerate(results.items):
            if item.path.endswith("[draft].png"):
                results.view.cursor = n
        results._show_details()
        await settle(pilot)
        meta = str(results.query_one("#details .meta").render())
        assert "[draft].png" in meta and "tags [/]" in meta and "\\x0a" not in meta
        # The list view, with names and folders in cells.
        await pilot.press("g")
        await settle(pilot)
        text = screen_text(app)
        assert '[@click=a("].png' in text and ESCAPE_SHOWN in text and "\x1b" not in text
        # Tagging with a hostile name: the dialog, the notification, the tag.
        await pilot.press("t")
        await fill_form(pilot, {"tag": "[b]bold"})
        await settle(pilot)
        assert "'[b]bold'" in notices(app)
        # Filtered by a tag named [/]: its name in the status line.
        await pilot.press("f")
        await fill_form(pilot, {"tag": "[/]"})
        await settle(pilot)
        assert "tag [/]" in screen_text(app) and results.total == 1
        # Tags: names and parents in the table, a name in a dialog's title.
        await pilot.press("4")
        await settle(pilot)
        text = screen_text(app)
        for name in ("[draft]", "x[/b]", "[@click=app.quit]"):
            assert name in text, name
        tags_screen = app.screen
        row = [r.name for r in tags_screen.rows].index("x[/b]")
        tags_screen.query_one("#tags").move_cursor(row=row)
        await pilot.press("R")
        assert isinstance(app.screen, FormDialog)
        assert "Rename tag x[/b]" in screen_text(app)
        await pilot.press("escape")
        # A clustering with a hostile name.
        found = cluster.cluster_set(app.db, 1, 2, "[@click=app.quit]")
        app.show_found(ClustersScreen(*found))
        await settle(pilot)
        assert "clustering [@click=app.quit]: 2 clusters" in screen_text(app)
        await pilot.press("escape")
        # Settings: a refused value is quoted in the message as typed.
        await pilot.press("5")
        await settle(pilot)
        app.screen.query_one("#device", Input).value = "[red]x[/b]"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "device '[red]x[/b]'" in screen_text(app)
        # Project: the import error of a file with a hostile name, the folders.
        await pilot.press("1")
        await settle(pilot)
        errors = app.screen.query_one("#errors")
        path = str(tmp_path / "odd/[bad].jpg")
        assert app.screen.error_rows[0][1] == path
        shown = str(errors.get_row_at(0)[0])  # its middle left out at 80 columns
        assert shown == path or (shown.endswith("/odd/[bad].jpg") and "…" in shown)
        assert path in screen_text(app).replace("\n", "")  # in full under the table
        assert str(tmp_path / "odd") in app.screen.folders
        assert app.is_running

    drive(scenario, size=(100, 40))


def test_dialogs_and_the_palette_close_once_however_fast_the_keys(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        # A form: Enter twice.
        await pilot.press("t")
        app.screen.query_one("#field-tag", Input).value = "once"
        await keys_at_once(pilot, "enter", "enter")
        assert app.is_running and app.screen is results
        assert notices(app).count("tagged") == 1
        # A form: Escape twice, then a flood of both.
        await pilot.press("s")
        assert isinstance(app.screen, FormDialog)
        await keys_at_once(pilot, "escape", "escape")
        assert app.is_running and app.screen is results
        await pilot.press("s")
        await keys_at_once(pilot, *["enter", "escape"] * 10)
        assert app.is_running and len(app.screen_stack) == 1
        # A yes/no question: Enter twice on its focused button.
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("delete")
        assert isinstance(app.screen, ConfirmDialog)
        await keys_at_once(pilot, "enter", "enter")
        assert app.is_running and isinstance(app.screen, TagsScreen)
        assert [t.name for t in tags.list_tags(app.db)] == ["once"]  # "No" kept it
        # The command palette: Enter twice on a command runs it once.
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, GuardedCommandPalette)
        await pilot.press(*"Help")
        await wait_for(pilot, lambda: app.screen.query_one("CommandList").option_count > 0)
        await keys_at_once(pilot, "enter", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        assert sum(isinstance(s, HelpScreen) for s in app.screen_stack) == 1
        await pilot.press("escape")
        assert app.is_running and isinstance(app.screen, TagsScreen)
        # Quitting while a job runs: q twice, one question.
        release = threading.Event()
        app.start_job("query", "held", lambda cur, job: release.wait(30))
        await pilot.press("q", "q")
        assert sum(isinstance(s, ConfirmDialog) for s in app.screen_stack) == 1
        await pilot.press("n")
        release.set()
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, TagsScreen)

    drive(scenario)


def test_a_database_error_is_said_and_the_app_stays_responsive(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        # (An error in a dialog's callback: test_tui.py, a project error in a key handler.)
        # The vector table gone under the app: the Vectors screen says so, keys still work.
        app.db.execute("DROP TABLE vectors_1")
        await pilot.press("2")
        await settle(pilot)
        assert "vectors_1" in notices(app)
        assert "n New vectors" in screen_text(app)  # the screen is drawn all the same
        await pilot.press("1")
        await settle(pilot)
        assert isinstance(app.screen, ProjectScreen)
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, ResultsScreen) and app.screen.total == 36
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.is_running, what="exit")

    drive(scenario, start="tags")


def test_quitting_while_a_job_is_in_a_query_closes_the_database(project, monkeypatch):
    # The job neither finishes nor checks its cancel event: quitting waits a moment, then
    # interrupts its query, and closes the database after it.
    monkeypatch.setattr(app_module, "JOB_STOP_WAIT", 0.2)
    querying = threading.Event()

    def endless(cur, job):
        querying.set()
        return cur.execute("SELECT max(hash(a)) FROM range(1000000000000) t(a)").fetchall()

    async def scenario():
        app = make_app(project)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            job = app.start_job("query", "endless", endless)
            await wait_for(pilot, querying.is_set, what="the query")
            await asyncio.sleep(0.2)
            root = app._root
            app.exit()
        return root, job

    root, job = run(scenario())
    assert job.finished.is_set() and job.state == "failed"
    with pytest.raises(Exception, match="closed"):
        root.execute("SELECT 1")


def test_a_read_only_project_is_browsed_and_every_write_refused(project, drive, tmp_path):
    before = project / store.DB_NAME
    stamp = before.stat().st_mtime_ns

    async def scenario(app, pilot):
        await settle(pilot)
        assert "read-only" in screen_text(app).splitlines()[0]  # the title bar
        assert app.screen.total == 36  # browsing works
        refused = [
            ("3", "t", "tag images"), ("3", "c", "save a clustering"),
            ("3", "m", "save a map"), ("2", "n", "compute vectors"),
            ("2", "delete", "delete a vector set"), ("1", "a", "import"),
            ("1", "r", "rescan"), ("1", "delete", "remove a folder"),
            ("1", "m", "move a folder"), ("5", "ctrl+s", "save settings"),
        ]  # fmt: skip
        for screen_key, key, what in refused:
            await pilot.press(screen_key)
            await settle(pilot)
            await pilot.press(key)
            await settle(pilot)
            assert f"read-only project: cannot {what}" in notices(app), what
            assert not isinstance(app.screen, (FormDialog, ConfirmDialog)), what
        assert app.is_running and not app.running_jobs()

    drive(scenario, read_only=True)
    assert (project / store.DB_NAME).stat().st_mtime_ns == stamp  # nothing written


def test_a_project_this_user_cannot_write_opens_read_only(project):
    probe = (
        "from panoptui.core.store import open_project_as_permitted; import sys; "
        "con, read_only = open_project_as_permitted(sys.argv[1]); "
        "print(read_only, con.execute('SELECT count(*) FROM images').fetchone()[0])"
    )
    command = [sys.executable, "-c", probe, str(project)]
    if os.geteuid() == 0:
        # root writes any file; drop the capabilities that let it, as for any other user.
        caps = "-dac_override,-dac_read_search,-fowner"
        command = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", *command]
    writable = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert writable.stdout.split() == ["False", "36"], writable.stderr
    os.chmod(project, 0o555)
    try:
        read_only = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        os.chmod(project, 0o755)
    assert read_only.stdout.split() == ["True", "36"], read_only.stderr


def test_folders_are_removed_and_moved_from_the_project_screen(project, drive, tmp_path):
    extra = tmp_path / "extra"
    extra.mkdir()
    for n in range(2):
        family_image("stripes", 50 + n).save(extra / f"e{n}.png")
    con = store.open_project(project)
    scan.import_folders(con, [str(extra)], workers=1)
    con.close()
    images = project.parent / "images"

    async def scenario(app, pilot):
        await settle(pilot)
        screen = app.screen
        assert screen.folders == [str(images), str(extra)]  # by path
        # Remove the extra folder (the second row), after a question.
        await pilot.press("down", "delete")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert screen.folders == [str(images)]
        assert "2 files dropped" in notices(app) and "36 images" in screen_text(app)
        # The images moved on disk: point the folder at them, nothing goes missing.
        moved = tmp_path / "moved"
        images.rename(moved)
        await pilot.press("2", "1")  # back on the Project screen: the folder is looked for
        await settle(pilot)
        lines = screen_text(app).splitlines()
        (row,) = [line for line in lines if " files" in line and "on disk" not in line]
        assert "not found: m to move, del to remove" in row
        await pilot.press("m")
        assert isinstance(app.screen, FormDialog)
        await fill_form(pilot, {"new": moved})
        await settle(pilot)
        assert screen.folders == [str(moved)]
        assert "not found" not in screen_text(app)
        await pilot.press("r")
        await settle(pilot)
        assert "0 missing" in screen_text(app) and "36 images" in screen_text(app)

    drive(scenario, start="project")


def test_import_errors_keep_the_file_name_in_view_however_long_the_path(project, drive, tmp_path):
    from fixtures import write_hostile_files

    deep = tmp_path / "Folder with a rather long name" / "photos from the review" / "batch-2026"
    cases = write_hostile_files(deep)  # some reasons are long too (the bomb's, a link's target)
    con = store.open_project(project)
    scan.import_folders(con, [str(deep)], workers=1)
    con.close()

    async def scenario(app, pilot):
        await settle(pilot)
        screen = app.screen
        table = screen.query_one("#errors")
        for width in (100, 80, 120):
            await pilot.resize_terminal(width, 40)
            await settle(pilot)
            lines = screen_text(app).splitlines()
            for name in cases:  # the file first, its name in view, then the reason
                (row,) = [line for line in lines if f"{name}  " in line]
                assert "…" in row and row.index("…") < row.index(name) < 50, (width, row)
            shown = [[str(cell) for cell in table.get_row_at(r)] for r in range(table.row_count)]
            assert all(reason in screen_text(app) for _, reason in shown)
            # Both fit: the table needs no sideways scrolling.
            assert table.virtual_size.width <= table.size.width, width
            # The highlighted error, shortened in its row, is shown in full under the table.
            for r, (reason, path) in enumerate(screen.error_rows):
                table.move_cursor(row=r)
                await pilot.pause()
                detail = str(screen.query_one("#error-detail").render())
                assert detail == (f"{path}: {reason}" if shown[r] != [path, reason] else "")
        # The folder's row, too, keeps the end of its path and its counts in view.
        (folder,) = [line for line in lines if "batch-2026  " in line]
        assert folder.startswith(" /tmp/") and "0 files" in folder

    drive(scenario, start="project", size=(100, 40))


def test_warnings_in_a_job_become_a_notification_not_terminal_output(drive, capfd):
    import warnings

    def warn(cur, job):
        warnings.warn("careful [b]now", UserWarning, stacklevel=1)
        return 1

    async def scenario(app, pilot):
        await settle(pilot)
        app.start_job("query", "warning", warn)
        await settle(pilot)
        assert "UserWarning: careful [b]now" in notices(app)

    drive(scenario)
    assert "careful" not in capfd.readouterr().err
