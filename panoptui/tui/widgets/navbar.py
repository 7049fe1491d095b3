"""The top line of every screen: the project, and the screens with their keys (the one shown
highlighted), so that where to go is always in view, even at 80 columns."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class NavBar(Static):
    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def on_mount(self) -> None:
        from panoptui.tui.app import SCREENS

        text = Text()
        text.append("panoptui ", style="bold")
        for mode, key, title in SCREENS:
            style = "reverse bold" if mode == self.current else ""
            text.append(f" {key} {title} ", style=style)
        text.append("  ? Help  q Quit", style="dim")
        self.update(text)
