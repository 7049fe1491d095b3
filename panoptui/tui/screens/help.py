"""Help: every key of every screen, drawn from the bindings themselves (so it cannot drift)."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from panoptui.tui.screens.dialogs import ConfirmDialog, FormDialog
from panoptui.tui.screens.explore import ClustersScreen, DuplicatesScreen, MapScreen

# Keys as a user types them (Textual names them by their names).
KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "escape": "esc",
    "asterisk": "*",
    "tilde": "~",
    "plus": "+",
    "minus": "-",
}
# What the bindings cannot say: esc, a key of each screen and dialog (listed there too), and the
# keys of Textual's own widgets inside every form.
ESCAPE = ("esc", "back: closes a dialog or this help; from results or findings, the previous")
FORM_KEYS = [
    ("tab, shift+tab", "next, previous field (in a path field, tab completes the path)"),
    ("letters", "in a list field: go to the entry that starts with them"),
    ("enter", "OK (a list field with nothing chosen: open it; an open list: choose)"),
    ("space, up, down", "in a list field: open the list"),
]


def key_text(binding: Binding) -> str:
    """The keys of a binding as a user types them ("*", "esc", "i, enter")."""
    return ", ".join(KEY_NAMES.get(k, k) for k in binding.key.split(","))


def help_text(app: App[Any]) -> str:
    """Every key: the App's own, then each screen's (the App's modes, then the screens of
    findings). Read from the running App, which imports this module (so it is not imported)."""
    modes = [m for m in app.MODES.values() if isinstance(m, type) and issubclass(m, Screen)]
    sections = [("Everywhere", app.BINDINGS)]
    sections += [(cls.__name__.removesuffix("Screen"), cls.BINDINGS) for cls in modes]
    sections += [
        ("Clusters", ClustersScreen.BINDINGS),
        ("Duplicates", DuplicatesScreen.BINDINGS),
        ("Map", MapScreen.BINDINGS),
        ("Questions", ConfirmDialog.BINDINGS),
        ("Forms", FormDialog.BINDINGS),
        ("Help", HelpScreen.BINDINGS),
    ]
    lines = []
    for title, bindings in sections:
        lines.append(f"[b]{title}[/b]")
        for b in bindings:
            if isinstance(b, Binding):
                about = b.description + (f": {b.tooltip}" if b.tooltip else "")
                lines.append(f"  {key_text(b):<18} {about}")
        extra = {"Everywhere": [ESCAPE], "Forms": FORM_KEYS}.get(title, [])
        lines += [f"  {keys:<18} {about}" for keys, about in extra]
        lines.append("")
    lines.append("  ctrl+p             command palette: every screen and action by name")
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close", tooltip="this help")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(help_text(self.app), id="help-text")
