"""A report to read whole: a failure whose message is too long for a notification (the offline
weights error runs to 400 characters, and a toast cuts it and leaves after 10 seconds).

The text sits in a read-only TextArea: it wraps, scrolls, and can be selected with the mouse or
the keys (shift with the arrows) and copied with ctrl+c, so that a command or a path in it can be
pasted elsewhere. Shown literally: control characters in a path become escapes (core/text.py).
"""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static, TextArea

from panoptui.core.text import shown
from panoptui.tui.literal import plain
from panoptui.tui.screens.dialogs import Dialog

# A message longer than this reads better in a ReportDialog than in a notification.
LONG_MESSAGE = 120


class ReportDialog(Dialog[None]):
    """A title and a long text, read-only and selectable; escape or enter closes it."""

    DEFAULT_CSS = """
    ReportDialog { align: center middle; }
    ReportDialog .dialog { width: 80; }
    ReportDialog TextArea { height: auto; max-height: 14; }
    """
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, title: str, report: str) -> None:
        super().__init__()
        self.title_text, self.report = title, report

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(plain(self.title_text), classes="title")
            yield TextArea(
                # TextArea shows text as it is (no markup), but would pass control characters on;
                # its lines stay lines.
                "\n".join(shown(line) for line in self.report.splitlines()),
                read_only=True,
                soft_wrap=True,
                show_line_numbers=False,
                id="report",
            )
            yield Static(plain("select with the mouse or shift+arrows, ctrl+c copies"))
            with Horizontal(classes="buttons"):
                yield Button(plain("Close (esc)"), variant="primary", id="close")

    def on_mount(self) -> None:
        self.query_one("#report", TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


def show_failure(app: App[Any], title: str, message: str) -> None:
    """A failure said to the user: a long message (or one of several lines) in a ReportDialog,
    a short one in a notification."""
    if len(message) > LONG_MESSAGE or "\n" in message:
        app.push_screen(ReportDialog(title, message))
    else:
        app.notify(message, title=title, severity="error", timeout=10)
