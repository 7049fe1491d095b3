"""The probe asks a real terminal (a pty here) and never waits longer than its bound."""

from __future__ import annotations

import os
import pty
import threading
import time

from panoptui.tui import terminal


def test_a_terminal_that_answers_nothing_costs_the_timeout_and_no_more():
    controller, tty = pty.openpty()
    try:
        start = time.monotonic()
        reply = terminal.probe(tty, tty, timeout=0.5)
        elapsed = time.monotonic() - start
    finally:
        os.close(controller)
        os.close(tty)
    assert reply == ""
    assert 0.4 < elapsed < 2.0
    decision, _ = terminal.decide(terminal.Answers(env={}, reply=reply))
    assert decision.protocol == "halfcell"


def test_the_probe_stops_at_da1_and_keeps_every_answer_before_it():
    controller, tty = pty.openpty()
    asked = []

    def terminal_side() -> None:
        # Like kitty 0.35: read the queries, answer them, DA1 last.
        data = b""
        while b"\x1b[c" not in data:
            data += os.read(controller, 4096)
        asked.append(data.decode())
        os.write(
            controller,
            b"\x1bP>|kitty(0.35.2)\x1b\\\x1b_Gi=4294967295;OK\x1b\\\x1b[?2026;2$y\x1b[?62;c",
        )

    answering = threading.Thread(target=terminal_side)
    answering.start()
    try:
        start = time.monotonic()
        reply = terminal.probe(tty, tty, timeout=5.0)
        elapsed = time.monotonic() - start
    finally:
        answering.join(5)
        os.close(controller)
        os.close(tty)
    assert elapsed < 2.0  # it stopped at DA1, long before the bound
    query = asked[0]
    assert query.endswith(terminal.DA1)  # DA1 last: every terminal answers it
    for sent in (terminal.XTVERSION, terminal.KITTY_QUERY, terminal.DECRQM_SYNC):
        assert sent in query
    decision, _ = terminal.decide(terminal.Answers(env={}, reply=reply))
    assert (decision.protocol, decision.sync) == ("kitty", True)
