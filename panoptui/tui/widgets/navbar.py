"""The top line of every screen: the app (and "read-only" when the project is), and the screens
with their keys (the one shown highlighted), so that where to go is always in view, even at 80
columns."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

# The screens a key (and the command palette) switches between: (mode, key, title). The App
# binds the keys; they are listed here, where they are shown, so that no widget imports the App.
SCREENS = (
    ("project", "1", "Project"),
    ("vectors", "2", "Vectors"),
    ("results", "3", "Results"),
    ("tags", "4", "Tags"),
    ("settings", "5", "Settings"),
)


class NavBar(Static):
    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def on_mount(self) -> None:
        text = Text()
        text.append("panoptui ", style="bold")
        if getattr(self.app, "read_only", False):
            # Said on every screen: this session cannot change the project.
            text.append("read-only ", style="bold reverse red")
        for mode, key, title in SCREENS:
            style = "reverse bold" if mode == self.current else ""
            text.append(f" {key} {title} ", style=style)
        if not getattr(self.app, "read_only", False):  # at 80 columns, room for one of them
            text.append("  ? Help  q Quit", style="dim")
        self.update(text)
