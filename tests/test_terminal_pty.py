"""The installed app in a pseudo-terminal that answers like kitty 0.35: it detects kitty, sends
each thumbnail once, and draws pictures as placeholder text whose colour is the image id."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

KITTY_035 = b"\x1bP>|kitty(0.35.2)\x1b\\\x1b_Gi=4294967295;OK\x1b\\\x1b[?62;c"
KITTY_026 = KITTY_035.replace(b"0.35.2", b"0.26.5")
PANOPTUI = str(Path(sys.executable).parent / "panoptui")
PLACEHOLDER = "\U0010eeee".encode()


class FakeKitty:
    """The terminal side of a pty running the app: answers the app's probe (at its DA1, which
    comes last) as kitty 0.35 would, and keeps every byte the app writes."""

    def __init__(self, project: Path, answers: bytes = KITTY_035) -> None:
        self.answers = answers
        self.fd, tty = pty.openpty()
        # 80x24 cells of 10x20 pixels
        fcntl.ioctl(tty, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 800, 480))
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "COLORTERM", "STY")}
        env.update(TERM="xterm-kitty", KITTY_WINDOW_ID="1")
        self.app = subprocess.Popen(
            [PANOPTUI, str(project)], stdin=tty, stdout=tty, stderr=tty, env=env,
            start_new_session=True,
        )  # fmt: skip
        os.close(tty)
        self.out = b""
        self.answered = False

    def pump_until(self, done, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            if select.select([self.fd], [], [], 0.05)[0]:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    return
                self.out += chunk
                quiet_since = time.monotonic()
                if not self.answered and b"\x1b[c" in self.out:
                    os.write(self.fd, self.answers)
                    self.answered = True
            elif done(self.out) and time.monotonic() - quiet_since > 1.0:
                return  # done, and the app has stopped writing
        raise AssertionError(f"timed out; the app wrote {len(self.out)} bytes")

    def keys(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close(self) -> None:
        self.app.kill()
        self.app.wait(10)
        os.close(self.fd)


def test_kitty_pictures_are_sent_once_and_drawn_as_text(tmp_path):
    from panoptui.core.demo import build_demo

    project = build_demo(tmp_path / "demo", per_family=2)  # 12 images: 8 on page 1, 4 on page 2
    term = FakeKitty(project)
    try:
        term.pump_until(lambda out: out.count(b"a=t,") >= 8)
        assert term.answered
        first = term.out.count(b"a=t,")
        term.keys(b"\x1b[6~")  # pagedown
        term.pump_until(lambda out: out.count(b"a=t,") >= first + 4)
        sent = term.out.count(b"a=t,")
        term.keys(b"\x1b[5~")  # pageup: page 1 again
        mark = len(term.out)
        term.pump_until(lambda out: len(out) > mark)
    finally:
        term.close()
    assert (first, sent) == (8, 12)  # the grid's 8, then page 2's 4
    assert term.out.count(b"a=t,") == 12  # page 1 again: nothing sent again
    assert term.out.count(b"a=p,U=1,") == 12
    back = term.out[mark:]
    assert PLACEHOLDER in back  # drawn again from text alone
    # Each placeholder's foreground is a 24-bit colour (the id), whatever COLORTERM said.
    coloured = re.findall(rb"\x1b\[38;2;(\d+);(\d+);(\d+)[;0-9]*m" + PLACEHOLDER, term.out)
    assert coloured
    ids = set(re.findall(rb"a=t,f=100,i=(\d+),", term.out))
    low = {int(r) << 16 | int(g) << 8 | int(b) for r, g, b in coloured}
    assert low <= {int(i) & 0xFFFFFF for i in ids}


def test_old_kitty_gets_pictures_placed_directly_never_placeholders(tmp_path):
    from panoptui.core.demo import build_demo

    project = build_demo(tmp_path / "demo", per_family=2)
    term = FakeKitty(project, KITTY_026)
    try:
        term.pump_until(lambda out: out.count(b"a=t,") >= 8)
    finally:
        term.close()
    # kitty 0.26 answers U=1 with "invalid key character: 0x55" and shows boxes: never sent
    assert b"U=1" not in term.out and PLACEHOLDER not in term.out
    assert term.out.count(b"a=t,") == 8
    assert len(set(re.findall(rb"a=p,i=(\d+),p=\d+,c=\d+,r=\d+,C=1", term.out))) == 8
