"""Tags: every tag with its size (its own images and those of the tags under it), each followed by
the tags under it; show a tag's images, rename, delete (saying which tags go with it), export.
After a rename or a delete the cursor stays where the user was (on the renamed tag, or on the
row that took the deleted one's place).

``p`` shows the project's properties in place of the tags, and back (properties_list.py): the
same keys then act on the property under the cursor (enter, R, del), with ``n`` (new) and ``T``
(change the type) besides. The navigation bar has no room for a sixth screen at 80 columns: the
properties share this one, as tags are the values of the property ``tags``.

The tags of the other tag properties (an imported Panoptic project's ``kind``, ``species``...)
follow those of ``tags``: each property a row of its own, its tag tree under it. Enter shows a
tag's images (by a filter on its property) and ``L`` labels by a family of it; renaming and
deleting act on the highlighted tag, in its own property."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from panoptui.core import browse, store, tags
from panoptui.core.filter_completion import quoted
from panoptui.core.text import count_text
from panoptui.tui.literal import plain, text
from panoptui.tui.screens.dialogs import ConfirmDialog, Field, FormDialog, export_dialog
from panoptui.tui.screens.explore import CANCEL_JOB, FindingsScreen
from panoptui.tui.screens.properties_list import PropertiesList
from panoptui.tui.sources import AllImages
from panoptui.tui.widgets.navbar import NavBar

# How many of the tags under a deleted one its dialog names (then: "and N more").
NAMED_UNDER = 5


def delete_with(under: list[str]) -> str:
    """What deleting a tag deletes with it, said in its dialog: "the 35 tags under it (c/1,
    c/2, c/3, c/4, c/5 and 30 more)"."""
    # "and 1 more" would hide a name in as much room as it takes: then all are named.
    shown_names = under if len(under) <= NAMED_UNDER + 1 else under[:NAMED_UNDER]
    named = ", ".join(shown_names)
    more = f" and {len(under) - len(shown_names)} more" if len(shown_names) < len(under) else ""
    what = "the tag" if len(under) == 1 else f"the {len(under)} tags"
    return f"{what} under it ({named}{more})"


class TagsScreen(FindingsScreen):
    """Every tag; and, as on the screens of findings, the line of a clustering, map... running
    (``x`` cancels it), so that work started on Results stays in view while tagging."""

    BINDINGS = [
        Binding("enter", "show", "Show", tooltip="show the tag's (property's) images"),
        Binding("R", "rename", "Rename"),
        Binding("delete", "delete", "Delete"),
        Binding("p", "toggle_properties", "Properties", tooltip="the list of properties, or tags"),
        # Not in the footer (no room at 80 columns): the title line of the list says them.
        Binding("n", "new_property", "New property", show=False, tooltip="make a property"),
        Binding("T", "change_type", "Change type", show=False, tooltip="of the property"),
        Binding("e", "export", "Export", tooltip="write CSV or Parquet"),
        Binding(
            "L",
            "classify",
            "Label by its tags",
            show=False,
            tooltip="label images by the names of the tags under this one (zero-shot)",
        ),
        CANCEL_JOB,
    ]
    # The keys that act on properties only: hidden (and inert) while the tags are shown.
    PROPERTY_ACTIONS = ("new_property", "change_type")

    showing_properties = False
    # The rows after those of ``tags``: another tag property (its line: no tag), or one of its
    # tags.
    others: list[tuple[tags.TagProperty, tags.Tag | None]] = []

    def compose(self) -> ComposeResult:
        yield NavBar("tags")
        yield Static("", id="tags-title")
        yield DataTable(id="tags", cursor_type="row")
        yield PropertiesList(id="properties")
        yield self.job_progress()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#tags", DataTable).add_columns("tag", "images", "parent")
        self.properties.display = False

    @property
    def properties(self) -> PropertiesList:
        return self.query_one(PropertiesList)

    def resumed(self) -> None:
        super().resumed()
        if self.showing_properties:
            self.refresh_properties()
        else:
            self.refresh_tags()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.PROPERTY_ACTIONS:
            return self.showing_properties
        return True

    def action_toggle_properties(self) -> None:
        """The properties in place of the tags, or the tags again."""
        self.showing_properties = not self.showing_properties
        tags_table = self.query_one("#tags", DataTable)
        tags_table.display = not self.showing_properties
        self.properties.display = self.showing_properties
        if self.showing_properties:
            self.refresh_properties()
            self.properties.focus()
        else:
            self.refresh_tags()
            tags_table.focus()
        self.refresh_bindings()

    def refresh_properties(self, cursor_on: str | None = None) -> None:
        listed = self.properties
        listed.read(cursor_on)
        self.query_one("#tags-title", Static).update(
            plain(
                f"{count_text(len(listed.summaries), 'property', 'properties')} · n: new · "
                "T: change the type · p: the tags"
            )
        )

    def refresh_tags(self, cursor_on: str | None = None) -> None:
        """Read the tags again; the cursor goes to the tag named ``cursor_on`` when there is
        one, else stays on its row (the last, when fewer are left)."""
        table = self.query_one("#tags", DataTable)
        row = table.cursor_row
        con = self.panoptui.db
        self.rows = tags.list_tags(con)
        self.others = []
        properties = [p for p in tags.tag_properties(con) if p.id != store.TAGS_PROPERTY_ID]
        for prop in properties:
            self.others.append((prop, None))
            self.others += [(prop, t) for t in tags.list_tags(con, prop.id)]
        table.clear()
        for t in self.rows:
            table.add_row(text("  " * t.depth + t.name), str(t.images), text(t.parent or ""))
        for prop, other in self.others:
            if other is None:  # the property's own row, its tags indented under it
                table.add_row(text(prop.name), "", text("(tag property)"))
            else:
                table.add_row(
                    text("  " * (other.depth + 1) + other.name),
                    str(other.images),
                    text(other.parent or prop.name),
                )
        names = [t.name for t in self.rows]
        if cursor_on in names:
            row = names.index(cursor_on)
        shown_rows = len(self.rows) + len(self.others)
        if shown_rows:
            table.move_cursor(row=min(max(row, 0), shown_rows - 1), scroll=True)
        selected = len(self.panoptui.selection)
        said = (
            f"{count_text(len(self.rows), 'tag')} · {count_text(selected, 'image')} "
            "selected on the Results screen"
            + ("" if self.rows or self.others else " · tag images there with t")
        )
        if properties:  # only then: the title of a project without them stays as it was
            # Short enough for 80 columns: what is below, and the key that labels by a family.
            others = count_text(len(properties), "tag property", "tag properties")
            said = (
                f"{count_text(len(self.rows), 'tag')} + {others} below · L: label by a family · "
                f"{selected:,} selected"
            )
        self.query_one("#tags-title", Static).update(plain(said))

    @property
    def highlighted(self) -> str | None:
        """The highlighted tag of ``tags`` (None on another property's row)."""
        row = self.query_one("#tags", DataTable).cursor_row
        return self.rows[row].name if self.rows and 0 <= row < len(self.rows) else None

    @property
    def highlighted_other(self) -> tuple[tags.TagProperty, tags.Tag | None] | None:
        """The highlighted row when it is another tag property's (its line or a tag of it)."""
        row = self.query_one("#tags", DataTable).cursor_row - len(self.rows)
        return self.others[row] if 0 <= row < len(self.others) else None

    def target(self) -> tuple[str, int] | None:
        """The highlighted tag to rename or delete, with its property: one of ``tags``, or of
        another tag property (None on a property's own line)."""
        other = self.highlighted_other
        if other is not None:
            prop, tag = other
            return None if tag is None else (tag.name, prop.id)
        name = self.highlighted
        return None if name is None else (name, store.TAGS_PROPERTY_ID)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_show()

    def action_classify(self) -> None:
        """Label every image by the names of the tags under the highlighted one."""
        from panoptui.tui.screens.classify import ask_classify

        if self.showing_properties:
            ask_classify(self)
            return
        other = self.highlighted_other
        if other is not None:  # a family of another tag property: proposed with its property
            prop, tag = other
            ask_classify(self, parent=None if tag is None else (prop.name, tag.name))
            return
        ask_classify(self, parent=self.highlighted)

    def action_new_property(self) -> None:
        self.properties.new()

    def action_change_type(self) -> None:
        self.properties.change_type()

    def action_show(self) -> None:
        if self.showing_properties:
            self.properties.show()
            return
        other = self.highlighted_other
        if other is not None:
            prop, tag = other
            if tag is not None:  # its images, as the filter on its property finds them
                where = f"{quoted(prop.name)} has any ({quoted(tag.name)})"
                self.panoptui.open_results(AllImages(browse.ImageFilter(where=where)))
            return
        name = self.highlighted
        if name is not None:
            self.panoptui.open_results(AllImages(browse.ImageFilter(tag=name)))

    def action_rename(self) -> None:
        if self.showing_properties:
            self.properties.rename()
            return
        target = self.target()
        if target is None or self.panoptui.refuse_write("rename a tag"):
            return
        name, property_id = target

        def answered(values: dict[str, Any] | None) -> None:
            if values:
                # A taken name raises ProjectError: the App shows it as a notification.
                tags.rename_tag(self.panoptui.db, name, values["name"], property_id)
                mine = property_id == store.TAGS_PROPERTY_ID
                self.refresh_tags(cursor_on=tags.clean_name(values["name"]) if mine else None)

        self.panoptui.push_screen(
            FormDialog(f"Rename tag {name}", [Field("name", "New name", default=name)]), answered
        )

    def action_delete(self) -> None:
        if self.showing_properties:
            self.properties.delete()
            return
        target = self.target()
        if target is None or self.panoptui.refuse_write("delete a tag"):
            return
        name, property_id = target

        def answered(yes: bool | None) -> None:
            if yes:
                tags.delete_tag(self.panoptui.db, name, property_id)
                self.refresh_tags()

        question = f"Delete tag {name}? (images stay)"
        under = tags.tags_under(self.panoptui.db, name, property_id)
        if under:
            question = f"Delete tag {name} and {delete_with(under)}? (images stay)"
        self.panoptui.push_screen(ConfirmDialog(question), answered)

    def action_export(self) -> None:
        self.panoptui.push_screen(
            export_dialog(self.panoptui.db, len(self.panoptui.selection)), self.panoptui.run_export
        )
