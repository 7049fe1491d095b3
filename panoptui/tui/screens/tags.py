"""Tags: every tag with its size; show a tag's images, rename, delete, export."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from panoptui.core import browse, tags
from panoptui.tui.literal import plain, text
from panoptui.tui.screens.base import AppScreen
from panoptui.tui.screens.dialogs import ConfirmDialog, Field, FormDialog, export_dialog
from panoptui.tui.sources import AllImages
from panoptui.tui.widgets.navbar import NavBar


class TagsScreen(AppScreen):
    BINDINGS = [
        Binding("enter", "show", "Show", tooltip="show the tag's images"),
        Binding("R", "rename", "Rename"),
        Binding("delete", "delete", "Delete"),
        Binding("e", "export", "Export", tooltip="write CSV or Parquet"),
    ]

    def compose(self) -> ComposeResult:
        yield NavBar("tags")
        yield Static("", id="tags-title")
        yield DataTable(id="tags", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("tag", "images", "parent")

    def resumed(self) -> None:
        self.refresh_tags()

    def refresh_tags(self) -> None:
        self.rows = tags.list_tags(self.panoptui.db)
        table = self.query_one(DataTable)
        table.clear()
        for t in self.rows:
            table.add_row(text(t.name), str(t.images), text(t.parent or ""))
        selected = len(self.panoptui.selection)
        self.query_one("#tags-title", Static).update(
            plain(
                f"{len(self.rows)} tags · {selected} images selected on the Results screen"
                + ("" if self.rows else " · tag images there with t")
            )
        )

    @property
    def highlighted(self) -> str | None:
        row = self.query_one(DataTable).cursor_row
        return self.rows[row].name if self.rows and row < len(self.rows) else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_show()

    def action_show(self) -> None:
        name = self.highlighted
        if name is not None:
            self.panoptui.open_results(AllImages(browse.ImageFilter(tag=name)))

    def action_rename(self) -> None:
        name = self.highlighted
        if name is None or self.panoptui.refuse_write("rename a tag"):
            return

        def answered(values: dict[str, Any] | None) -> None:
            if values:
                # A taken name raises ProjectError: the App shows it as a notification.
                tags.rename_tag(self.panoptui.db, name, values["name"])
                self.refresh_tags()

        self.panoptui.push_screen(
            FormDialog(f"Rename tag {name}", [Field("name", "New name", default=name)]), answered
        )

    def action_delete(self) -> None:
        name = self.highlighted
        if name is None or self.panoptui.refuse_write("delete a tag"):
            return

        def answered(yes: bool | None) -> None:
            if yes:
                tags.delete_tag(self.panoptui.db, name)
                self.refresh_tags()

        self.panoptui.push_screen(ConfirmDialog(f"Delete tag {name}? (images stay)"), answered)

    def action_export(self) -> None:
        self.panoptui.push_screen(export_dialog(self.panoptui.db), self.panoptui.run_export)
