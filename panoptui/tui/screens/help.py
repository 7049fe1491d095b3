"""Help: every key of every screen, drawn from the bindings themselves (so it cannot drift)."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from panoptui.tui.screens.explore import ClustersScreen, DuplicatesScreen, MapScreen


def _keys(binding: Binding) -> str:
    names = {"question_mark": "?", "slash": "/", "space": "space", "escape": "esc"}
    return ", ".join(names.get(k, k) for k in binding.key.split(","))


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
    ]
    lines = []
    for title, bindings in sections:
        lines.append(f"[b]{title}[/b]")
        for b in bindings:
            if isinstance(b, Binding):
                about = b.description + (f": {b.tooltip}" if b.tooltip else "")
                lines.append(f"  {_keys(b):<18} {about}")
        lines.append("")
    lines.append("  ctrl+p             command palette: every screen and action by name")
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(help_text(self.app), id="help-text")
