"""The CLI's progress line (cli/output.py, issue 11): at 80 columns it is redrawn in place, never
longer than the terminal (a longer line wraps, and each redraw left its first part behind: a stack
of cut lines); without a terminal, a whole line now and then. Counts in the CLI read as words."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
import test_tui_terminal as terminal
from helpers import run_cli

from panoptui.cli import output
from panoptui.cli.output import ProgressPrinter, progress_line
from panoptui.core.progress import Progress
from panoptui.core.samples import write_samples


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def big(done: int = 999_999) -> Progress:
    return Progress("embedding", done, 1_000_000, errors=12_345, rate=1234.5, eta=5025)


@pytest.mark.parametrize("width", [20, 40, 60, 80, 120, 200])
def test_the_line_fits_the_terminal(width):
    for event in (
        big(),
        Progress("importing", 12, 12),
        Progress("scanning", 123_456, 0),
        Progress("scanning", 1, 0),
    ):
        line = progress_line(event, width)
        assert len(line) < width  # the last column stays empty too
        assert line.startswith(("[", event.stage))


def test_what_a_narrow_line_keeps_first():
    assert progress_line(big(), 120).startswith("[")  # room for everything and a bar
    full = progress_line(big(), 80)
    assert "999999/1000000" in full and "ETA 1:23:45" in full and "errors 12345" in full
    narrow = progress_line(big(), 50)
    assert "999999/1000000" in narrow and "ETA 1:23:45" in narrow and "/s" not in narrow
    assert progress_line(big(), 20) == "embedding 999999/10"  # cut, never wrapped


def test_a_terminal_gets_one_line_redrawn_in_place(monkeypatch):
    monkeypatch.setattr(output.shutil, "get_terminal_size", lambda: os.terminal_size((80, 24)))
    stream = FakeTerminal()
    printer = ProgressPrinter(stream=stream)
    for done in range(0, 1_000_001, 100_000):
        printer.last = 0.0  # as if a tenth of a second had passed
        printer(big(done))
    printer.close()
    draws = stream.getvalue().split("\r\x1b[2K")
    assert draws[0] == "" and draws[-1] == "" and len(draws) == 13
    assert all(len(d) < 80 and "\n" not in d for d in draws)
    assert "1000000/1000000 100%" in draws[-2]


def test_without_a_terminal_whole_lines_now_and_then(monkeypatch):
    stream = io.StringIO()
    clock = [1000.0]
    monkeypatch.setattr(output.time, "monotonic", lambda: clock[0])
    printer = ProgressPrinter(stream=stream)
    for done in range(0, 1_000_001, 10_000):
        clock[0] += 0.5  # 50 s in all: a line every LOG_INTERVAL (5 s), and the last
        printer(big(done))
    printer.close()
    lines = stream.getvalue().splitlines()
    assert 10 <= len(lines) <= 12 and "\r" not in stream.getvalue()
    assert all(line.startswith("embedding ") and "errors 12345" in line for line in lines)
    assert lines[-1].startswith("embedding 1000000/1000000 100%")


def test_without_a_terminal_work_done_within_the_interval_prints_nothing(monkeypatch):
    """A script's stderr stays for what went wrong: a job done in under LOG_INTERVAL says
    nothing of its progress."""
    stream = io.StringIO()
    clock = [1000.0]
    monkeypatch.setattr(output.time, "monotonic", lambda: clock[0])
    printer = ProgressPrinter(stream=stream)
    for done in range(0, 1_000_001, 100_000):
        clock[0] += 0.3
        printer(big(done))
    printer.close()
    assert stream.getvalue() == ""


def test_import_in_tmux_at_80_columns_shows_one_progress_line(tmp_path):
    photos = tmp_path / "photos"
    write_samples(photos, per_family=40)  # 240 images: about a second of redraws
    term = terminal.Tmux(tmp_path)
    try:
        term.start(f"{terminal.PANOPTUI} import {tmp_path / 'project'} {photos} --workers 1")
        seen, deadline = [], time.monotonic() + 120
        while time.monotonic() < deadline:
            screen = term.screen()
            seen.append(sum("importing" in line for line in screen.splitlines()))
            if "EXIT-STATUS=" in screen:
                break
            time.sleep(0.05)
        assert "EXIT-STATUS=0" in screen and "240 new" in screen
        # While it ran, one line (not a stack of cut ones); after, none left behind.
        assert max(seen) == 1, seen
        assert seen[-1] == 0, screen
    finally:
        term.close()


def test_cli_counts_read_as_words(tmp_path: Path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_samples(tmp_path / "many", per_family=1)
    one = sorted((tmp_path / "many").rglob("*.*"))[0]
    (photos / one.name).write_bytes(one.read_bytes())
    (photos / "empty.jpg").write_bytes(b"")
    project = str(tmp_path / "project")
    assert run_cli("import", project, str(photos)).returncode == 0
    status = run_cli("status", project).stdout
    assert "(1 file on disk)" in status and "1 files" not in status


def test_the_walk_counts_files_as_words():
    assert progress_line(Progress("scanning", 1, 0), 80) == "scanning 1 file found"
    assert progress_line(Progress("scanning", 12_500, 0)) == "scanning 12,500 files found"


def test_the_cli_says_when_a_set_repeats_one_and_lists_weights(tmp_path: Path):
    write_samples(tmp_path / "photos", per_family=1)
    project = str(tmp_path / "project")
    assert run_cli("import", project, str(tmp_path / "photos")).returncode == 0
    first = run_cli("vectors", "create", project, "--model", "pixels")
    assert first.returncode == 0 and "already" not in first.stderr
    again = run_cli("vectors", "create", project, "--model", "pixels")
    assert again.returncode == 0  # a script goes on, told
    assert "note: vector set 1 already holds these vectors" in again.stderr
    third = run_cli("vectors", "create", project, "--model", "pixels")
    assert "note: vector sets 1, 2 already hold these vectors" in third.stderr
    header = run_cli("vectors", "list", project).stdout.splitlines()[0]
    assert header.split()[-2:] == ["status", "weights"]


def test_the_bar_keeps_its_width_as_the_counts_grow():
    lines = [
        progress_line(Progress("importing", done, 240, 0, 300.0, 1.0), 80) for done in (8, 96, 240)
    ]
    assert len({line.index("]") for line in lines}) == 1
