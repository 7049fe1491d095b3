"""Which way of drawing pictures works in this terminal: ask it, then decide.

Two halves, kept apart so that the decision can be tested on recorded answers:
- ``ask()`` gathers what the terminal says about itself: environment (TERM, TERM_PROGRAM, TMUX,
  KITTY_WINDOW_ID...), its replies to XTVERSION (``CSI > q``), kitty's graphics query (``a=q``),
  DECRQM 2026 (synchronized output) and DA1, and, inside tmux, what tmux itself says (``tmux -V``,
  ``allow-passthrough``, the outer terminal's name, XTVERSION and features). DA1 goes last because
  every terminal answers it: the probe stops at its answer, or after ``timeout`` seconds when a
  terminal answers nothing (never a hang). It must run before Textual takes the terminal over
  (Textual reads stdin in a thread and would take the replies).
- ``decide()`` is pure: answers in, a protocol and the reason out.

What each terminal really supports (checked against their documentation and source):
- kitty: kitty graphics since long ago; Unicode placeholders (``U=1``) only from 0.28. kitty 0.26
  (Debian 12, Ubuntu 22.04/24.04) answers ``a=q`` with OK but shows placeholder cells as boxes and
  logs ``invalid key character: 0x55``: there we place pictures directly (no placeholders),
  which tmux cannot carry.
- Ghostty: kitty graphics with Unicode placeholders; no sixel.
- WezTerm: sixel (DA1 lists 4); its kitty graphics are partial and off by default, and it has no
  Unicode placeholders: sixel.
- xterm -ti vt340, foot, iTerm2 3.5, Konsole, Windows Terminal 1.22, VS Code (with images on):
  sixel, announced by the 4 in DA1.
- tmux answers the queries itself (its own DA1, XTVERSION "tmux 3.4"). Sixel works inside tmux
  only when tmux itself draws sixel (3.4+ built with it: 4 in tmux's DA1) and the terminal
  outside has sixel (tmux lists it in the client's features). Kitty placeholders are
  plain text plus passthrough escapes, so they survive tmux when ``allow-passthrough`` is on and
  tmux sends 24-bit colour to the outer terminal (the colour carries the image id).
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

ENV_KEYS = (
    "TERM", "TERM_PROGRAM", "TERM_PROGRAM_VERSION", "TMUX", "TMUX_PANE", "KITTY_WINDOW_ID",
    "WEZTERM_EXECUTABLE", "GHOSTTY_RESOURCES_DIR", "COLORTERM", "STY",
)  # fmt: skip

# The queries, DA1 last. The kitty query names an image id nobody uses and asks for 1x1 pixels.
XTVERSION = "\x1b[>q"
KITTY_QUERY = "\x1b_Gi=4294967295,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"
DECRQM_SYNC = "\x1b[?2026$p"
DA1 = "\x1b[c"

_DA1_REPLY = re.compile(r"\x1b\[\?([0-9;]*)c")
_XTVERSION_REPLY = re.compile(r"\x1bP>\|(.*?)\x1b\\", re.DOTALL)
_KITTY_REPLY = re.compile(r"\x1b_G([^;\x1b]*);([^\x1b]*)\x1b\\")
_SYNC_REPLY = re.compile(r"\x1b\[\?2026;(\d)\$y")

PLACEHOLDERS_SINCE = (0, 28)
NAMES = {  # each protocol, as the user is told
    "kitty": "kitty pictures",
    "kitty-direct": "kitty pictures",
    "sixel": "sixel",
    "halfcell": "half blocks",
}  # kitty's first version with Unicode placeholders


@dataclass(frozen=True)
class TmuxInfo:
    """What tmux says about itself and the terminal it draws on (empty strings: unknown)."""

    version: str = ""  # "3.3a"
    passthrough: str = ""  # "on", "all", "off"
    client_termname: str = ""  # the outer terminal's TERM: "xterm-kitty"
    client_termtype: str = ""  # its XTVERSION as tmux saw it: "kitty(0.26.5)"
    client_termfeatures: str = ""  # "256,RGB,title,..."


@dataclass(frozen=True)
class Answers:
    """Everything the decision looks at, as recorded from one terminal."""

    env: Mapping[str, str] = field(default_factory=dict)
    reply: str = ""  # the raw bytes the terminal sent back to the probe
    tmux: TmuxInfo | None = None  # asked only inside tmux
    cell_pixels: tuple[int, int] = (0, 0)  # from the tty's window size; (0, 0) when unknown


@dataclass(frozen=True)
class Decision:
    protocol: str  # kitty (Unicode placeholders) | kitty-direct | sixel | halfcell
    reason: str  # why, in words a user can act on
    sync: bool = False  # the terminal said it has synchronized output (mode 2026)
    tmux: bool = False  # escapes for the outer terminal must be wrapped for tmux passthrough
    cell_pixels: tuple[int, int] = (10, 20)


@dataclass(frozen=True)
class Replies:
    """The probe's reply, parsed."""

    da1: tuple[int, ...] | None  # None: no DA1 answer (the probe timed out)
    xtversion: str
    kitty_ok: bool
    sync: bool


def parse_reply(reply: str) -> Replies:
    da1 = _DA1_REPLY.search(reply)
    version = _XTVERSION_REPLY.search(reply)
    sync = _SYNC_REPLY.search(reply)
    return Replies(
        da1=tuple(int(p) for p in da1.group(1).split(";") if p.isdigit()) if da1 else None,
        xtversion=version.group(1) if version else "",
        kitty_ok=any(m.group(2) == "OK" for m in _KITTY_REPLY.finditer(reply)),
        sync=bool(sync and sync.group(1) in "123"),  # 4: permanently off
    )


def kitty_version(text: str) -> tuple[int, ...] | None:
    """kitty's version from its XTVERSION answer ("kitty(0.26.5)"), else None."""
    match = re.search(r"kitty\((\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _terminal_name(xtversion: str, env: Mapping[str, str]) -> str:
    """kitty | ghostty | wezterm | other, from XTVERSION first, else the environment."""
    text = xtversion.lower()
    for name in ("kitty", "ghostty", "wezterm"):
        if name in text:
            return name
    if text:
        return "other"
    if env.get("TERM") == "xterm-kitty" or env.get("KITTY_WINDOW_ID"):
        return "kitty"
    if env.get("TERM") == "xterm-ghostty" or env.get("TERM_PROGRAM", "").lower() == "ghostty":
        return "ghostty"
    if env.get("TERM_PROGRAM") == "WezTerm" or env.get("WEZTERM_EXECUTABLE"):
        return "wezterm"
    return "other"


def _placeholders(name: str, version_text: str) -> bool:
    if name == "ghostty":
        return True
    version = kitty_version(version_text)
    return name == "kitty" and version is not None and version >= PLACEHOLDERS_SINCE


@dataclass(frozen=True)
class Capabilities:
    """Which protocols would work here; for each one that would not, why."""

    works: dict[str, bool]
    why_not: dict[str, str]
    sync: bool
    tmux: bool


def capabilities(answers: Answers) -> Capabilities:
    env = answers.env
    replies = parse_reply(answers.reply)
    da1 = replies.da1 or ()
    works = {"kitty": False, "kitty-direct": False, "sixel": False, "halfcell": True}
    why: dict[str, str] = {}
    if env.get("TMUX"):
        tmux = answers.tmux or TmuxInfo()
        outer = tmux.client_termtype  # XTVERSION here is tmux's own answer
        name = _terminal_name(outer, {"TERM": tmux.client_termname})
        why["kitty-direct"] = "tmux cannot carry kitty pictures placed directly"
        if not _placeholders(name, outer):
            why["kitty"] = (
                f"the terminal outside tmux ({outer or tmux.client_termname or 'unknown'}) has no "
                "kitty Unicode placeholders (kitty 0.28+ or Ghostty)"
            )
        elif tmux.passthrough not in ("on", "all"):
            why["kitty"] = "tmux passthrough is off: add `set -g allow-passthrough on` to tmux.conf"
        else:
            works["kitty"] = True
        features = tmux.client_termfeatures.split(",") if tmux.client_termfeatures else []
        if 4 not in da1:  # tmux's own DA1: 4 when tmux itself draws sixel
            why["sixel"] = f"tmux {tmux.version} does not draw sixel (3.4+ built with it)"
        elif features and "sixel" not in features:  # tmux sends sixel only where it can
            why["sixel"] = (
                f"the terminal outside tmux ({outer or tmux.client_termname}) has no sixel"
            )
        else:
            works["sixel"] = True
        return Capabilities(works, why, replies.sync, tmux=True)
    if env.get("STY"):  # GNU screen draws every cell itself and carries no graphics
        why["kitty"] = why["kitty-direct"] = why["sixel"] = "GNU screen carries no pictures"
        return Capabilities(works, why, replies.sync, tmux=False)
    name = _terminal_name(replies.xtversion, env)
    if replies.da1 is None and not replies.xtversion:
        why["kitty"] = why["kitty-direct"] = why["sixel"] = "the terminal answered no query"
        return Capabilities(works, why, replies.sync, tmux=False)
    if _placeholders(name, replies.xtversion):
        works["kitty"] = True
    else:
        why["kitty"] = (
            f"{replies.xtversion or 'this terminal'} has no kitty Unicode placeholders "
            "(kitty 0.28+ or Ghostty)"
        )
    if replies.kitty_ok:
        works["kitty-direct"] = True
    else:
        why["kitty-direct"] = "the terminal did not answer kitty's graphics query"
    if 4 in da1:
        works["sixel"] = True
    else:
        why["sixel"] = "the terminal does not announce sixel (no 4 in its DA1 answer)"
    return Capabilities(works, why, replies.sync, tmux=False)


def decide(answers: Answers, forced: str = "auto") -> tuple[Decision, str | None]:
    """The protocol to draw with, and a one-line note when a forced protocol cannot work.

    ``auto`` prefers kitty placeholders (text Textual lays out, scrolls and diffs; each picture
    sent once), then sixel, then kitty direct placement (old kitty), then half blocks. WezTerm
    announces both sixel and (partial) kitty graphics: sixel is its complete one."""
    caps = capabilities(answers)
    cell = answers.cell_pixels if all(answers.cell_pixels) else (10, 20)

    def made(protocol: str, reason: str) -> Decision:
        return Decision(protocol, reason, sync=caps.sync, tmux=caps.tmux, cell_pixels=cell)

    auto: Decision | None = None
    for protocol in ("kitty", "sixel", "kitty-direct"):
        if caps.works[protocol]:
            auto = made(protocol, f"{protocol}: the terminal has it")
            break
    if auto is None:
        reasons = "; ".join(dict.fromkeys(caps.why_not.values()))
        auto = made("halfcell", f"half blocks: {reasons}")
    note = None
    if forced in ("kitty", "sixel"):
        if forced == "kitty" and caps.works["kitty"]:
            return made("kitty", "kitty: asked for"), None
        if forced == "kitty" and caps.works["kitty-direct"]:
            return made("kitty-direct", "kitty (placed directly): asked for"), None
        if forced == "sixel" and caps.works["sixel"]:
            return made("sixel", "sixel: asked for"), None
        # Outside tmux, a terminal without kitty pictures placed directly has no kitty graphics
        # at all: that is the reason to give, not the lack of placeholders.
        basic = forced == "kitty" and not caps.tmux
        why = caps.why_not.get("kitty-direct" if basic else forced) or caps.why_not.get(forced, "")
        shown = NAMES[auto.protocol]
        note = f"image protocol {forced} cannot work here: {why}; drawing with {shown} instead"
    return auto, note


# -- asking the terminal ------------------------------------------------------------------------


def probe(fd_in: int, fd_out: int, timeout: float = 1.0) -> str:
    """Send the queries to the terminal on ``fd_out`` and return what it answers on ``fd_in``,
    stopping at DA1's answer or after ``timeout`` seconds in all (an answer that never comes
    costs that much, no more). Both fds must be the terminal (isatty).

    Inside tmux nothing is sent through passthrough to the terminal outside: its answer would
    come after tmux's own DA1 answer, past the probe, into Textual's input. tmux already knows
    that terminal (``client_termtype``: its XTVERSION answer), and ``ask_tmux`` asks for it."""
    import termios
    import tty

    queries = XTVERSION + KITTY_QUERY + DECRQM_SYNC
    saved = termios.tcgetattr(fd_in)
    reply = b""
    try:
        tty.setcbreak(fd_in, termios.TCSANOW)  # no echo of the answers, no line buffering
        os.write(fd_out, (queries + DA1).encode())
        deadline = time.monotonic() + timeout
        while not _DA1_REPLY.search(reply.decode("latin-1")):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd_in], [], [], left)[0]:
                break
            chunk = os.read(fd_in, 4096)
            if not chunk:
                break
            reply += chunk
    finally:
        termios.tcsetattr(fd_in, termios.TCSANOW, saved)
    return reply.decode("utf-8", "replace")


def tmux_wrap(escape: str) -> str:
    """An escape for the terminal outside tmux, wrapped in tmux's passthrough envelope."""
    return "\x1bPtmux;" + escape.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def ask_tmux(env: Mapping[str, str], timeout: float = 1.0) -> TmuxInfo:
    """What the tmux we run inside says (empty fields where it cannot be asked)."""

    def tmux(*args: str) -> str:
        try:
            done = subprocess.run(
                ["tmux", *args], capture_output=True, text=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    pane = ["-t", env["TMUX_PANE"]] if env.get("TMUX_PANE") else []
    passthrough = tmux("show", "-Apv", *pane, "allow-passthrough") or tmux(
        "show", "-gv", "allow-passthrough"
    )
    fields = tmux(
        "display", "-p", *pane, "#{client_termname}\t#{client_termtype}\t#{client_termfeatures}"
    ).split("\t")
    fields += [""] * (3 - len(fields))
    return TmuxInfo(
        version=tmux("-V").removeprefix("tmux "),
        passthrough=passthrough.split()[-1] if passthrough else "",
        client_termname=fields[0],
        client_termtype=fields[1],
        client_termfeatures=fields[2],
    )


def _cell_pixels(fd: int) -> tuple[int, int]:
    import fcntl
    import struct
    import termios

    try:
        packed = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return (0, 0)
    rows, columns, width, height = struct.unpack("HHHH", packed)
    if not (rows and columns and width and height):
        return (0, 0)
    return (width // columns, height // rows)


def ask(timeout: float = 1.0) -> Answers:
    """This process's terminal's answers (nothing asked when stdin or stdout is not a terminal)."""
    env = {key: os.environ[key] for key in ENV_KEYS if key in os.environ}
    in_tmux = bool(env.get("TMUX"))
    reply = ""
    cell = (0, 0)
    if os.isatty(0) and os.isatty(1):
        try:
            reply = probe(0, 1, timeout)
        except OSError:
            reply = ""
        cell = _cell_pixels(1)
    return Answers(env, reply, ask_tmux(env, timeout) if in_tmux else None, cell)
