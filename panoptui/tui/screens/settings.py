"""Settings: the project's folders and settings (default vector set, device, batch size,
thumbnail size, image protocol, tile size), saved in the project."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Footer, Input, Label, Select, Static
from textual.widgets.select import NoSelection

from panoptui.core import browse, settings, store, vector_sets
from panoptui.tui.literal import lines, marked, plain, text
from panoptui.tui.screens.base import AppScreen
from panoptui.tui.widgets.navbar import NavBar


class SettingsScreen(AppScreen):
    BINDINGS = [Binding("ctrl+s", "save", "Save", tooltip="save the settings in the project")]

    def compose(self) -> ComposeResult:
        yield NavBar("settings")
        with VerticalScroll(id="settings-body"):
            yield Static("", id="settings-folders")
            with Horizontal(classes="setting"):
                yield Label("Default vector set")
                yield Select[int](
                    [], id="default_set", allow_blank=True, prompt="newest complete", compact=True
                )
            for key in ("device", "batch_size", "thumb_size"):
                with Horizontal(classes="setting"):
                    about = settings.SETTINGS[key][1]
                    yield Label(about[0].upper() + about[1:])
                    yield Input(id=key, compact=True)
            with Horizontal(classes="setting"):
                yield Label("Image protocol (from the next start)")
                yield Select(
                    [(p, p) for p in settings.IMAGE_PROTOCOLS], id="image_protocol", compact=True,
                    allow_blank=False,
                )  # fmt: skip
            with Horizontal(classes="setting"):
                yield Label("Tile size (+ and - on Results)")
                yield Select(
                    [(t, t) for t in settings.TILE_SIZES], id="tile_size", compact=True,
                    allow_blank=False,
                )  # fmt: skip
            yield Static("", id="settings-message")
            yield Button("Save (ctrl+s)", variant="primary", id="save")
        yield Footer()

    def resumed(self) -> None:
        con = self.panoptui.db
        folders = browse.folders(con)
        self.query_one("#settings-folders", Static).update(
            lines(
                marked("[b]Folders[/b] (add or rescan on the Project screen)"),
                *(plain(f"  {f}") for f in folders or ["none yet"]),
            )
        )
        values = settings.load(con)
        self.query_one("#device", Input).value = values.device
        self.query_one("#batch_size", Input).value = str(values.batch_size)
        self.query_one("#thumb_size", Input).value = str(values.thumb_size)
        self.query_one("#image_protocol", Select).value = values.image_protocol
        self.query_one("#tile_size", Select).value = values.tile_size
        sets = vector_sets.list_sets(con)
        chooser = self.query_one("#default_set", Select)
        chooser.set_options([(text(f"{s.id}: {s.model} ({s.status})"), s.id) for s in sets])
        chosen = store.get_setting(con, vector_sets.DEFAULT_SET_KEY)
        if chosen is not None and int(chosen) in {s.id for s in sets}:
            chooser.value = int(chosen)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()

    def action_save(self) -> None:
        if self.panoptui.refuse_write("save settings"):
            return
        con = self.panoptui.db
        message = self.query_one("#settings-message", Static)
        values: dict[str, Any] = {
            k: self.query_one(f"#{k}", Input).value for k in ("device", "batch_size", "thumb_size")
        }
        values["image_protocol"] = self.query_one("#image_protocol", Select).value
        values["tile_size"] = self.query_one("#tile_size", Select).value
        try:
            settings.save(con, values)
            chosen = self.query_one("#default_set", Select).value
            if isinstance(chosen, NoSelection):  # blank: the newest complete set
                vector_sets.clear_default(con)
            else:
                vector_sets.set_default(con, int(chosen))
        except store.ProjectError as exc:
            message.update(marked("[red]$error[/red]", error=exc))
            return
        message.update("saved")
        self.notify("settings saved in the project")
