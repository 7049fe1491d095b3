"""The project's properties, listed on the Tags screen (``p`` shows them in place of the tags):
each with its type, what it belongs to (the image, or each file) and how many hold a value.

``n`` makes one, ``R`` renames it, ``T`` changes its type (refused, in one line, when a value
does not convert: core says how many), ``del`` deletes it after a question that says how many
values go, ``enter`` shows the images holding a value on the Results screen. Each change is the
one core call `panoptui properties` makes (core/properties.py), journaled: ctrl+z takes it back.
A read-only project refuses the changes (app.refuse_write). Names are shown literally."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from textual.widgets import DataTable

from panoptui.core import browse, properties, store
from panoptui.core.filter_completion import quoted
from panoptui.core.text import count_text
from panoptui.tui.literal import text
from panoptui.tui.screens.dialogs import ConfirmDialog, Field, FormDialog
from panoptui.tui.sources import AllImages

if TYPE_CHECKING:  # the App imports the screens: at run time, this import would be a circle
    from panoptui.tui.app import PanoptuiApp

TYPE_OPTIONS = [(t, t) for t in properties.TYPES]
MODE_OPTIONS = [("the image (all its copies)", "image"), ("each file (one path)", "file")]


def holders(prop: properties.Property, n: int) -> str:
    """What holds ``n`` values of a property: "12 images", "1 file"."""
    return count_text(n, "image" if prop.mode == "image" else "file")


def where_set(name: str) -> str:
    """The filter that takes the images holding a value of the property."""
    return f"{quoted(name)} is set"


def check_name(name: str) -> str:
    """Core's check of a property's name, for a form: its refusal of a built-in name ends with
    the list of all of them, longer than a form's room for a reason (which keeps a reason's
    end): the form says the name and the rule."""
    try:
        return properties.check_name(name)
    except store.ProjectError as exc:
        reason = str(exc)
        if "is a built-in field" in reason:
            reason = reason.split(" (", 1)[0] + " (as path, width, date_taken...): choose another"
        raise store.ProjectError(reason) from None


def delete_question(summary: properties.Summary) -> str:
    """What the delete dialog asks: the values that go with the property, counted."""
    prop = summary.property
    if summary.values == 0:
        return f"Delete property {prop.name}? (it holds no value; images stay)"
    kind = "tags" if prop.is_tags else "values"
    return (
        f"Delete property {prop.name} and its {kind} on {holders(prop, summary.values)}? "
        "(images stay; ctrl+z takes it back)"
    )


class PropertiesList(DataTable[Any]):
    """The properties as rows; the changes asked with the Tags screen's keys (which call the
    methods here when the list is shown)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.summaries: list[properties.Summary] = []

    @property
    def panoptui(self) -> PanoptuiApp:
        return cast("PanoptuiApp", self.app)

    def on_mount(self) -> None:
        self.add_columns("property", "type", "belongs to", "values")

    def read(self, cursor_on: str | None = None) -> None:
        """Read the properties again; the cursor goes to the one named ``cursor_on`` when there
        is one, else stays on its row (the last, when fewer are left)."""
        row = self.cursor_row
        self.summaries = properties.summaries(self.panoptui.db)
        self.clear()
        for s in self.summaries:
            p = s.property
            self.add_row(text(p.name), p.type, p.mode, holders(p, s.values))
        names = [s.property.name for s in self.summaries]
        if cursor_on in names:
            row = names.index(cursor_on)
        if self.summaries:
            self.move_cursor(row=min(max(row, 0), len(self.summaries) - 1), scroll=True)

    @property
    def highlighted(self) -> properties.Summary | None:
        row = self.cursor_row
        return self.summaries[row] if self.summaries and 0 <= row < len(self.summaries) else None

    def _changed(self, said: str, cursor_on: str | None = None) -> None:
        self.panoptui.notify(said)
        self.read(cursor_on)

    # --- the keys -----------------------------------------------------------------------------

    def show(self) -> None:
        """The images that hold a value of the property, on the Results screen."""
        summary = self.highlighted
        if summary is not None:
            flt = browse.ImageFilter(where=where_set(summary.property.name))
            self.panoptui.open_results(AllImages(flt))

    def new(self) -> None:
        if self.panoptui.refuse_write("create a property"):
            return
        fields = [
            Field("name", "Name", check=check_name),
            Field("type", "Type", kind="select", options=TYPE_OPTIONS, default="text"),
            Field("mode", "Belongs to", kind="select", options=MODE_OPTIONS, default="image"),
        ]
        self.panoptui.push_screen(FormDialog("New property", fields, "Create"), self._create)

    def _create(self, values: dict[str, Any] | None) -> None:
        if not values:
            return
        con = self.panoptui.db
        existed = properties.find_property(con, values["name"]) is not None
        try:
            made = properties.create_property(con, values["name"], values["type"], values["mode"])
        except store.ProjectError as exc:  # the name is another property's, of another type
            self.panoptui.report(exc)
            return
        verb = "there is already" if existed else "created"
        self._changed(f"{verb} the {made.type} property {made.name!r} ({made.mode})", made.name)

    def rename(self) -> None:
        summary = self.highlighted
        if summary is None or self.panoptui.refuse_write("rename a property"):
            return
        name = summary.property.name

        def answered(values: dict[str, Any] | None) -> None:
            if values:
                self._rename(name, values["name"])

        field = Field("name", "New name", default=name, check=check_name)
        self.panoptui.push_screen(FormDialog(f"Rename property {name}", [field]), answered)

    def _rename(self, old: str, new: str) -> None:
        try:
            renamed = properties.rename_property(self.panoptui.db, old, new)
        except store.ProjectError as exc:  # taken by another property
            self.panoptui.report(exc)
            return
        self._changed(f"renamed the property {old!r} to {renamed.name!r}", renamed.name)

    def change_type(self) -> None:
        summary = self.highlighted
        if summary is None or self.panoptui.refuse_write("change a property's type"):
            return
        prop = summary.property

        def answered(values: dict[str, Any] | None) -> None:
            if values:
                self._retype(prop.name, values["type"])

        field = Field("type", "New type", kind="select", options=TYPE_OPTIONS, default=prop.type)
        title = f"Change the type of {prop.name} ({prop.type}, {holders(prop, summary.values)})"
        self.panoptui.push_screen(FormDialog(title, [field], "Change"), answered)

    def _retype(self, name: str, type_: str) -> None:
        try:
            retyped, converted = properties.change_type(self.panoptui.db, name, type_)
        except store.ProjectError as exc:  # values that do not convert: core counts them
            self.panoptui.report(exc)
            return
        converted_said = count_text(converted, "value")
        said = f"{retyped.name!r} is a {retyped.type} now ({converted_said} converted)"
        self._changed(said, retyped.name)

    def delete(self) -> None:
        summary = self.highlighted
        if summary is None or self.panoptui.refuse_write("delete a property"):
            return
        name = summary.property.name

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(name)

        # Counted now, as the question is asked: the count said is the count that goes.
        con = self.panoptui.db
        fresh = properties.Summary(summary.property, properties.count_values(con, summary.property))
        self.panoptui.push_screen(ConfirmDialog(delete_question(fresh)), answered)

    def _delete(self, name: str) -> None:
        try:
            lost = properties.delete_property(self.panoptui.db, name)
        except store.ProjectError as exc:  # deleted meanwhile (by the CLI, say)
            self.panoptui.report(exc)
            return
        self._changed(f"deleted the property {name!r} and {count_text(lost, 'value')}")
