"""The installed `panoptui` in a real terminal (tmux): what a newcomer types, what they see.
And the command line's answers to a wrong path or option before any screen opens."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import run_cli

PANOPTUI = str(Path(sys.executable).parent / "panoptui")  # the console script pip installed


class Tmux:
    """One tmux server of our own (its own socket), one 80x24 window."""

    def __init__(self, tmp_path: Path) -> None:
        if shutil.which("tmux") is None:
            pytest.fail("tmux is needed for this test (.ci/run installs it)")
        self.socket = f"panoptui-test-{os.getpid()}-{time.monotonic_ns()}"
        self.env = {**os.environ, "HOME": str(tmp_path), "TERM": "xterm-256color"}
        self.env.pop("TMUX", None)

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=self.env
        )
        return result.stdout

    def start(self, command: str) -> None:
        # The shell stays after the app, so that its exit status can be read on screen.
        self.tmux(
            "new-session", "-d", "-s", "main", "-x", "80", "-y", "24",
            f"{command}; echo EXIT-STATUS=$?; sleep 600",
        )  # fmt: skip

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "main")

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", "main", key)
            time.sleep(0.2)

    def wait_for(self, text: str, timeout: float = 120) -> str:
        """The screen, once it shows ``text`` and has stopped changing."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen and screen == last:
                return screen
            last = screen
            time.sleep(0.5)
        raise AssertionError(f"{text!r} never showed; the screen:\n{self.screen()}")

    def close(self) -> None:
        self.tmux("kill-server")


def test_demo_in_tmux_shows_the_corpus_finds_similar_images_and_quits(tmp_path):
    term = Tmux(tmp_path)
    try:
        term.start(f"{PANOPTUI} demo {tmp_path / 'demo'}")
        screen = term.wait_for("300 images")
        assert "1 Project" in screen and "3 Results" in screen  # the screens and their keys
        assert "checker_000.jpg" in screen and "page 1/" in screen
        assert "s Similar" in screen  # the footer lists the actions
        term.keys("s")
        screen = term.wait_for("Vector set")
        assert "pixels" in screen
        term.keys("Enter")
        screen = term.wait_for("similar to checker_000.jpg")
        assert "60 images" in screen and "esc: back" in screen
        term.keys("Escape")
        term.wait_for("all images")
        term.keys("2")
        screen = term.wait_for("complete")
        assert "pixels" in screen and "300/300" in screen
        term.keys("?")
        assert "Everywhere" in term.wait_for("Everywhere")
        term.keys("Escape", "q")
        screen = term.wait_for("EXIT-STATUS=0")
        assert "Traceback" not in screen and "leaked" not in screen  # a clean exit
    finally:
        term.close()
    # Opened again: straight to the images. A rescan from the app starts import worker
    # processes from inside a real terminal (which Textual has taken over).
    term = Tmux(tmp_path)
    try:
        term.start(f"{PANOPTUI} {tmp_path / 'demo' / 'project'}")
        term.wait_for("300 images")
        term.keys("1", "r")
        screen = term.wait_for("rescan: done")
        assert "300 images" in screen and "failed" not in screen
        term.keys("q")
        screen = term.wait_for("EXIT-STATUS=0")
        assert "Traceback" not in screen and "leaked" not in screen
    finally:
        term.close()


def test_opening_a_wrong_path_says_why_in_one_line(tmp_path):
    missing = run_cli(str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"panoptui: {tmp_path / 'nowhere'} does not exist"
    a_file = tmp_path / "notes.txt"
    a_file.write_text("hello")
    result = run_cli(str(a_file))
    assert result.returncode == 1 and "is a file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    option_first = run_cli("--image-protocol", "none", str(tmp_path / "nowhere"))
    assert option_first.returncode == 1 and "does not exist" in option_first.stderr
    wrong = run_cli("demo", str(tmp_path / "d"), "--image-protocol", "braille")
    assert wrong.returncode == 2 and "invalid choice: 'braille'" in wrong.stderr
    assert "Traceback" not in wrong.stderr and "usage:" in wrong.stderr


def test_hostile_names_in_tmux_are_shown_as_they_are_and_enter_twice_answers_once(tmp_path):
    from panoptui.core.samples import family_image

    folder = tmp_path / "odd"
    folder.mkdir()
    # A name that would vanish as markup, one that would crash the app (MarkupError), one that
    # would set the terminal's title (OSC 2) if its control characters reached it.
    for n, name in enumerate(["[draft]", '[@click=a("]', "title\x1b]2;pwned\x07"]):
        family_image("circles", n).save(folder / f"{name}.png")
    project = tmp_path / "project"
    assert run_cli("import", str(project), str(folder)).returncode == 0
    term = Tmux(tmp_path)
    try:
        term.start(f"{PANOPTUI} {project}")
        screen = term.wait_for("3 images")
        assert "[draft].png" in screen and '[@click=a("].png' in screen
        assert "title\\x1b]2;pwne" in screen  # shown escaped
        # Tag with a name that is markup, answering the dialog with Enter twice at once.
        term.keys("t")
        term.wait_for("Tag name")
        term.tmux("send-keys", "-t", "main", "-l", "x[/b]")
        term.tmux("send-keys", "-t", "main", "Enter", "Enter")
        screen = term.wait_for("tagged 1 image 'x[/b]'")
        assert "Tag name" not in screen and "3 images" in screen  # the dialog closed, once
        title = term.tmux("display-message", "-p", "-t", "main", "#{pane_title}")
        assert "pwned" not in title
        term.keys("q")
        screen = term.wait_for("EXIT-STATUS=0")
        assert "Traceback" not in screen
    finally:
        term.close()


def test_a_project_file_damaged_under_the_app_is_said_and_quitting_works(tmp_path):
    from panoptui.core.demo import build_demo

    project = build_demo(tmp_path / "demo", per_family=2)
    term = Tmux(tmp_path)
    try:
        term.start(f"{PANOPTUI} {project}")
        term.wait_for("12 images")
        # The file cut short under the running app: what it has not read yet is gone.
        os.truncate(Path(project) / "project.duckdb", 12288)
        term.keys("1")
        screen = term.wait_for("IO Error")
        assert "Add" in screen and "Rescan" in screen  # the Project screen, drawn
        term.keys("3")
        term.wait_for("s Similar")
        term.keys("q")
        screen = term.wait_for("EXIT-STATUS=0")
        assert "Traceback" not in screen
    finally:
        term.close()


def test_a_project_this_user_cannot_write_opens_read_only_in_tmux(tmp_path):
    from panoptui.core.demo import build_demo

    project = Path(build_demo(tmp_path / "demo", per_family=2))
    command = f"{PANOPTUI} {project}"
    if os.geteuid() == 0:
        # root writes any file; drop the capabilities that let it, as for any other user.
        caps = "-dac_override,-dac_read_search,-fowner"
        command = f"setpriv --inh-caps={caps} --bounding-set={caps} {command}"
    stamp = (project / "project.duckdb").stat().st_mtime_ns
    os.chmod(project, 0o555)
    term = Tmux(tmp_path)
    try:
        term.start(command)
        screen = term.wait_for("12 images")
        assert "read-only" in screen.splitlines()[0]
        term.keys("t")  # tag the image under the cursor: a write
        screen = term.wait_for("read-only project")
        assert "Traceback" not in screen
        term.keys("q")
        screen = term.wait_for("EXIT-STATUS=0")
        assert "Traceback" not in screen
    finally:
        term.close()
        os.chmod(project, 0o755)
    assert (project / "project.duckdb").stat().st_mtime_ns == stamp  # nothing written
