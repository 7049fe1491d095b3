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
