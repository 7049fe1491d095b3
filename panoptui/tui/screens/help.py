"""Help: every key of every screen, drawn from the bindings themselves (so it cannot drift)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def _keys(binding: Binding) -> str:
    names = {"question_mark": "?", "slash": "/", "space": "space", "escape": "esc"}
    return ", ".join(names.get(k, k) for k in binding.key.split(","))


def help_text() -> str:
    from panoptui.tui.app import PanoptuiApp
    from panoptui.tui.screens.explore import ClustersScreen, DuplicatesScreen, MapScreen

    sections = [("Everywhere", PanoptuiApp.BINDINGS)]
    sections += [
        (cls.__name__.removesuffix("Screen"), cls.BINDINGS) for cls in PanoptuiApp.MODES.values()
    ]  # type: ignore[attr-defined]
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
            yield Static(help_text(), id="help-text")
