"""How to draw, decided on answers recorded from real terminals (terminal.decide is pure).

The tmux 3.3a answers were recorded here (a pane of tmux 3.3a, terminal.ask()); the others are
the replies those terminals give to the same queries, from their source and documentation:
kitty's XTVERSION is "kitty(VERSION)", its graphics query answers ";OK"; xterm -ti vt340 lists 4
(sixel) in DA1; tmux answers DA1 and XTVERSION itself, with 4 in DA1 only when built with sixel."""

from __future__ import annotations

import pytest
import tui_helpers

from panoptui.tui import images, terminal
from panoptui.tui.terminal import Answers, TmuxInfo

demo_base, project = tui_helpers.demo_base, tui_helpers.project

KITTY_OK = "\x1b_Gi=4294967295;OK\x1b\\"


def xtversion(text: str) -> str:
    return f"\x1bP>|{text}\x1b\\"


KITTY_026 = Answers(
    env={"TERM": "xterm-kitty", "KITTY_WINDOW_ID": "1"},
    reply=xtversion("kitty(0.26.5)") + KITTY_OK + "\x1b[?2026;2$y" + "\x1b[?62;c",
)
KITTY_035 = Answers(
    env={"TERM": "xterm-kitty", "KITTY_WINDOW_ID": "1"},
    reply=xtversion("kitty(0.35.2)") + KITTY_OK + "\x1b[?2026;2$y" + "\x1b[?62;c",
)
GHOSTTY = Answers(
    env={"TERM": "xterm-ghostty", "TERM_PROGRAM": "ghostty"},
    reply=xtversion("ghostty 1.1.3") + KITTY_OK + "\x1b[?2026;2$y" + "\x1b[?62;22;52c",
)
WEZTERM = Answers(
    env={"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"},
    reply=xtversion("WezTerm 20240203-110809-5046fc22") + "\x1b[?2026;2$y" + "\x1b[?65;4;6;18;22c",
)
XTERM_VT340 = Answers(
    env={"TERM": "xterm"},
    reply=xtversion("XTerm(390)") + "\x1b[?2026;0$y" + "\x1b[?63;1;2;4;6;9;15;16;22;28c",
)
SILENT = Answers(env={"TERM": "xterm-256color"}, reply="")
# GNU screen inside kitty: screen answers DA1 itself; should the outer kitty's answers get
# through, its pictures still could not (screen redraws every cell).
SCREEN = Answers(
    env={"TERM": "screen.xterm-256color", "STY": "1234.pts-0.host"},
    reply=xtversion("kitty(0.35.2)") + KITTY_OK + "\x1b[?1;2c",
)

# Recorded in a pane of tmux 3.3a (terminal.ask()): tmux answers XTVERSION and DA1 itself,
# nothing to DECRQM 2026; the kitty query does not reach a terminal.
TMUX_33_REPLY = "\x1bP>|tmux 3.3a\x1b\\\x1b[?1;2c"
TMUX_ENV = {"TERM": "tmux-256color", "TERM_PROGRAM": "tmux", "TMUX": "/tmp/tmux-0/default,1,0"}
TMUX_34_SIXEL_REPLY = "\x1bP>|tmux 3.4\x1b\\\x1b[?1;2;4c"
FEATURES = "clipboard,ccolour,cstyle,focus,title"  # tmux's defaults for xterm*
XTERM_FEATURES = "clipboard,ccolour,cstyle,focus,sixel,title"


def in_tmux(reply: str, version: str, passthrough: str, termtype: str, features: str = FEATURES,
            termname: str = "xterm-kitty") -> Answers:  # fmt: skip
    info = TmuxInfo(version, passthrough, termname, termtype, features)
    return Answers(env=TMUX_ENV, reply=reply, tmux=info)


@pytest.mark.parametrize(
    ("answers", "protocol"),
    [
        (KITTY_026, "kitty-direct"),  # placeholders would be garbage there: 0x55 'U'
        (KITTY_035, "kitty"),
        (GHOSTTY, "kitty"),
        (WEZTERM, "sixel"),
        (XTERM_VT340, "sixel"),
        (SILENT, "halfcell"),
        (SCREEN, "halfcell"),
        # tmux 3.3 has no sixel: placeholders when the outer terminal has them and passthrough is on
        (in_tmux(TMUX_33_REPLY, "3.3a", "on", "kitty(0.35.2)"), "kitty"),
        (in_tmux(TMUX_33_REPLY, "3.3a", "off", "kitty(0.35.2)"), "halfcell"),
        (in_tmux(TMUX_33_REPLY, "3.3a", "on", "kitty(0.26.5)"), "halfcell"),
        (in_tmux(TMUX_33_REPLY, "3.3a", "on", "XTerm(390)", termname="xterm"), "halfcell"),
        (in_tmux(TMUX_33_REPLY, "3.3a", "on", "", termname=""), "halfcell"),  # no client
        # tmux 3.4 built with sixel draws sixel itself, whatever passthrough says
        (in_tmux(TMUX_34_SIXEL_REPLY, "3.4", "on", "kitty(0.35.2)"), "kitty"),
        (in_tmux(TMUX_34_SIXEL_REPLY, "3.4", "off", "kitty(0.35.2)"), "halfcell"),
        (
            in_tmux(TMUX_34_SIXEL_REPLY, "3.4", "off", "XTerm(390)", XTERM_FEATURES, "xterm"),
            "sixel",
        ),
        (in_tmux(TMUX_34_SIXEL_REPLY, "3.4", "on", "kitty(0.26.5)"), "halfcell"),  # kitty: no sixel
    ],
)
def test_auto_picks_what_works_on_each_recorded_terminal(answers, protocol):
    decision, note = terminal.decide(answers)
    assert (decision.protocol, note) == (protocol, None), decision.reason
    assert decision.tmux == bool(answers.tmux)


def test_the_reasons_say_what_to_set():
    decision, _ = terminal.decide(in_tmux(TMUX_33_REPLY, "3.3a", "off", "kitty(0.35.2)"))
    assert "set -g allow-passthrough on" in decision.reason
    decision, _ = terminal.decide(in_tmux(TMUX_33_REPLY, "3.3a", "on", "kitty(0.26.5)"))
    assert "kitty(0.26.5)" in decision.reason and "0.28" in decision.reason
    decision, _ = terminal.decide(SILENT)
    assert "answered no query" in decision.reason


def test_synchronized_output_is_read_from_decrqm():
    assert terminal.decide(KITTY_035)[0].sync
    assert not terminal.decide(XTERM_VT340)[0].sync  # 0: mode not recognised
    assert not terminal.decide(SILENT)[0].sync


@pytest.mark.parametrize(
    ("answers", "forced", "protocol", "says"),
    [
        (KITTY_026, "kitty", "kitty-direct", None),  # works, without placeholders
        (KITTY_035, "kitty", "kitty", None),
        (XTERM_VT340, "sixel", "sixel", None),
        (KITTY_035, "sixel", "kitty", "image protocol sixel cannot work here"),
        (XTERM_VT340, "kitty", "sixel", "image protocol kitty cannot work here"),
        # xterm has no kitty graphics at all: said so, not that it lacks placeholders
        (XTERM_VT340, "kitty", "sixel", "did not answer kitty's graphics query; drawing with"),
        (SILENT, "kitty", "halfcell", "drawing with half blocks instead"),
        # the trial: sixel forced inside tmux 3.3 gave empty tiles and no word
        (
            in_tmux(TMUX_33_REPLY, "3.3a", "on", "XTerm(390)", termname="xterm"),
            "sixel",
            "halfcell",
            "tmux 3.3a does not draw sixel",
        ),  # fmt: skip
        (
            in_tmux(TMUX_33_REPLY, "3.3a", "on", "kitty(0.26.5)"),
            "kitty",
            "halfcell",
            "no kitty Unicode placeholders",
        ),  # fmt: skip
    ],
)
def test_a_forced_protocol_that_cannot_work_says_so_in_one_line_and_falls_back(
    answers, forced, protocol, says
):
    decision, note = terminal.decide(answers, forced)
    assert decision.protocol == protocol
    if says is None:
        assert note is None
    else:
        assert note is not None and says in note and "\n" not in note


def test_prepare_builds_the_drawing_the_decision_names(monkeypatch):
    monkeypatch.delenv("COLORTERM", raising=False)
    drawing = images.prepare("auto", KITTY_035)
    assert drawing.kind == "kitty" and drawing.kitty is not None and drawing.kitty.placeholders
    # Rich decides its colours from COLORTERM; the placeholder colour carries the image id.
    import os

    assert os.environ["COLORTERM"] == "truecolor"
    drawing = images.prepare("kitty", KITTY_026)
    assert drawing.kind == "kitty-direct" and drawing.kitty is not None
    assert not drawing.kitty.placeholders
    drawing = images.prepare("auto", XTERM_VT340)
    assert drawing.kind == "sixel" and drawing.note is None
    drawing = images.prepare("sixel", SILENT)
    assert drawing.kind == "halfcell" and drawing.note and "sixel cannot work" in drawing.note
    assert images.prepare("halfcell").kind == "halfcell"  # nothing asked


def test_the_cli_says_it_in_one_line_on_stderr_before_the_app_starts(monkeypatch, tmp_path, capsys):
    from panoptui.cli import app as cli_app
    from panoptui.tui import app as tui_app

    ran = []

    class FakeApp:
        return_code = 0

        def __init__(self, *args, **kwargs):
            self.drawing = kwargs["drawing"]

        def run(self):
            ran.append(self.drawing.kind)

    monkeypatch.setattr(terminal, "ask", lambda timeout=1.0: SILENT)
    monkeypatch.setattr(tui_app, "PanoptuiApp", FakeApp)
    assert cli_app._run_app(tmp_path, "sixel", "project", folder=str(tmp_path)) == 0
    err = capsys.readouterr().err
    assert ran == ["halfcell"]
    assert err.count("\n") == 1 and err.startswith("panoptui: image protocol sixel cannot work")


def test_the_app_says_the_fallback_on_screen_too(project):
    """stderr is seen only after the app closes: the note is a notification in the app as well."""
    import asyncio

    from panoptui.tui.app import PanoptuiApp

    note = "image protocol sixel cannot work here (tmux 3.3a does not draw sixel): half blocks"
    drawing = images.Drawing("halfcell", note=note)

    async def main() -> list[str]:
        app = PanoptuiApp(project, drawing=drawing)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            return [n.message for n in app._notifications]

    assert note in asyncio.run(main())
