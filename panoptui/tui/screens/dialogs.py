"""Modal dialogs: a yes/no question, and a small form whose values come back checked.

A form checks each value before it closes (its kind, its range, and a field's own ``check``,
usually core's validation function), so a value core would refuse is said under the form, which
stays open with what was typed.

Everything a dialog shows (its question, title, labels, options, the error under a form) is
plain text, shown literally (see literal.py): callers pass names and paths as they are.

A form opens with its first field in focus (Enter on a button would submit blanks). A select
finds an entry as the first letters of it are typed, open or closed; a path field completes the
path typed so far with Tab, as a shell does (and shows the completion greyed as it is typed).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, TypeVar

from textual import events
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from panoptui.core.models.base import ModelError
from panoptui.core.store import ProjectError
from panoptui.core.text import count_text, shown
from panoptui.tui.literal import elide_middle, plain, text
from panoptui.tui.sources import AllImages, RankedImages, Source

T = TypeVar("T")

# What a field's check raises for a value it refuses (core's own checks raise their own types).
CHECK_ERRORS = (ValueError, ModelError, ProjectError)
# The most cells of a reason under a form: three lines of the dialog. A longer one (a long path
# in it) loses its middle, so that the form's buttons stay on an 80x24 screen.
ERROR_CELLS = 3 * 60


class Dialog(ModalScreen[T]):
    """A modal screen that is dismissed once. Keys typed fast (Enter twice, Escape twice, a
    flood) all reach the dialog's widgets before its first dismissal has taken it off the
    screen stack; without this, the second dismissal would pop the screen under it (or, with
    none left, raise ScreenStackError and end the app)."""

    _dismissed = False

    def dismiss(self, result: T | None = None) -> AwaitComplete:
        if self._dismissed or not self.is_current:
            return AwaitComplete.nothing()
        self._dismissed = True
        return super().dismiss(result)


class ConfirmDialog(Dialog[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(plain(self.question), classes="question")
            with Horizontal(classes="buttons"):
                yield Button(plain(f"{self.yes} (y)"), variant="error", id="yes")
                yield Button(plain(f"{self.no} (n)"), id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


KINDS = ("text", "path", "int", "float", "select", "check")
# Typed letters that a select searches by, together, until a pause this long (seconds): Textual's
# own open select waits as long.
FIND_PAUSE = 0.7


def complete_path(typed: str, folders_only: bool = False) -> str | None:
    """What Tab makes of a path typed so far, as a shell does: the longest completion that every
    matching entry shares, ``/`` added after a single folder; None when nothing completes it
    further (no entry, or several that differ at once). Hidden entries only when a dot is typed.
    The text typed is kept as it is (``~`` too): the completion only adds to it."""
    if typed == "~":
        return "~/"
    head, _, stem = typed.rpartition("/")
    folder = os.path.expanduser(head + "/" if head or typed.startswith("/") else ".")
    try:
        with os.scandir(folder) as entries:
            matches = [
                e
                for e in entries
                if e.name.startswith(stem)
                and (stem.startswith(".") or not e.name.startswith("."))
                and (not folders_only or e.is_dir())
            ]
    except OSError:  # no such folder, or not one that can be read
        return None
    if not matches:
        return None
    common = os.path.commonprefix([e.name for e in matches])
    done = (head + "/" if head or typed.startswith("/") else "") + common
    if len(matches) == 1 and matches[0].is_dir():
        done += "/"
    return done if done != typed else None


class PathSuggester(Suggester):
    """Shows, greyed after the cursor, what Tab would add (the folder is read in a thread: a slow
    disk never holds up typing)."""

    def __init__(self, folders_only: bool) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.folders_only = folders_only

    async def get_suggestion(self, value: str) -> str | None:
        return await asyncio.to_thread(complete_path, value, self.folders_only)


class PathInput(Input):
    """A text box for a path: Tab completes it (and stays in the box), or, with nothing to
    complete, goes on to the next field."""

    BINDINGS = [Binding("tab", "complete", "Complete", show=False)]

    def __init__(self, *args: Any, folders_only: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, suggester=PathSuggester(folders_only), **kwargs)
        self.folders_only = folders_only

    def action_complete(self) -> None:
        completed = complete_path(self.value, self.folders_only)
        if completed is None:  # nothing to add: Tab goes on to the next field, as in any form
            self.screen.focus_next()
            return
        self.value = completed
        self.cursor_position = len(completed)


class FunctionSuggester(Suggester):
    """Shows, greyed after the cursor, what ``complete`` makes of the text (in a thread, one
    call at a time: it may read the project)."""

    def __init__(self, complete: Callable[[str], str | None]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.complete = complete
        self.lock = asyncio.Lock()

    async def get_suggestion(self, value: str) -> str | None:
        async with self.lock:
            try:
                return await asyncio.to_thread(self.complete, value)
            except Exception:  # a suggestion is a hint: never an error over the form
                return None


class CompletingInput(Input):
    """A text box whose last word Tab completes (a filter expression: names, values), or, with
    nothing to complete, goes on to the next field; what Tab would add shows greyed after the
    cursor."""

    BINDINGS = [Binding("tab", "complete", "Complete", show=False)]

    def __init__(self, *args: Any, complete: Callable[[str], str | None], **kwargs: Any) -> None:
        super().__init__(*args, suggester=FunctionSuggester(complete), **kwargs)
        self.complete = complete

    def action_complete(self) -> None:
        completed = self.complete(self.value)
        if completed is None:  # nothing to add: Tab goes on to the next field
            self.screen.focus_next()
            return
        self.value = completed
        self.cursor_position = len(completed)


class FindingSelect(Select[Any]):
    """A select that goes to the first entry whose text starts with the letters typed, closed as
    well as open (Textual's own searches only while it is open: typed on a closed one, letters
    did nothing, or worse, reached the App's keys). Enter on a closed one submits the form, as in
    a text box when a value is chosen (else it opens the list); space, up or down open it."""

    BINDINGS = [
        Binding("enter", "submit_form", "Submit", show=False),
        Binding("down,space,up", "show_overlay", "Show menu", show=False),
    ]

    def __init__(self, options: list[tuple[str, Any]], **kwargs: Any) -> None:
        super().__init__([(text(prompt), value) for prompt, value in options], **kwargs)
        self.prompts = [(shown(prompt).casefold(), value) for prompt, value in options]
        self._typed = ""
        self._typed_at = 0.0

    def check_consume_key(self, key: str, character: str | None = None) -> bool:
        return character is not None and character.isprintable()

    def on_key(self, event: events.Key) -> None:
        if self.expanded or event.character is None or not event.is_printable:
            return
        if event.character == " ":
            return  # space opens the list (Select's own key)
        event.stop()
        event.prevent_default()
        now = time.monotonic()
        typed = (self._typed if now - self._typed_at < FIND_PAUSE else "") + event.character
        self._typed_at = now
        found = self.find(typed)
        if found is None and len(typed) > 1:  # a new start (the same letter again, say)
            typed = event.character
            found = self.find(typed)
        self._typed = typed
        if found is not None:
            self.value = found

    def action_submit_form(self) -> None:
        if self.is_blank():  # nothing chosen yet: Enter opens the list, never submits blanks
            self.action_show_overlay()
            return
        form = self.screen
        if isinstance(form, FormDialog):
            form.submit()

    def find(self, typed: str) -> Any:
        """The value of the first entry that starts with ``typed`` (any case); None if none."""
        typed = typed.casefold()
        return next((value for prompt, value in self.prompts if prompt.startswith(typed)), None)


@dataclass
class Field:
    """One value a form asks for. kind: text | int | float | select | check. ``check``, when
    given, takes the value (never an empty optional one) and returns the value to use, or raises
    one of CHECK_ERRORS whose message says what is wrong.

    Everything after the label is keyword-only: passed by position, bounds once landed in
    ``options`` and ``placeholder``, and the form accepted any number (the duplicates threshold).
    A field that cannot mean what it says (bounds on a text, options on a number) is refused
    when it is made."""

    name: str
    label: str
    _: KW_ONLY
    kind: str = "text"
    default: Any = None
    options: list[tuple[str, Any]] = field(default_factory=list)
    placeholder: str = ""
    minimum: float | None = None
    maximum: float | None = None
    optional: bool = False
    check: Callable[[Any], Any] | None = None
    folders_only: bool = False  # a path field: Tab completes folders only
    complete: Callable[[str], str | None] | None = None  # a text field: what Tab completes

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"field {self.name}: kind {self.kind!r} is not one of {KINDS}")
        bounded = self.minimum is not None or self.maximum is not None
        if bounded and self.kind not in ("int", "float"):
            raise ValueError(f"field {self.name}: bounds on a {self.kind} field")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"field {self.name}: minimum {self.minimum} > maximum {self.maximum}")
        if self.options and self.kind != "select":
            raise ValueError(f"field {self.name}: options on a {self.kind} field")
        if self.folders_only and self.kind != "path":
            raise ValueError(f"field {self.name}: folders_only on a {self.kind} field")
        if self.complete is not None and self.kind != "text":
            raise ValueError(f"field {self.name}: completion on a {self.kind} field")


def not_a_number(value: str) -> str:
    """A name's check (a form field's ``check``): a name made of digits only is refused, as a
    number typed into the wrong field of the form."""
    if value.strip().isdigit():
        raise ValueError(f"{value.strip()!r} is a number: give a name (or leave it blank)")
    return value


class FormDialog(Dialog[dict[str, Any] | None]):
    """Asks for a few values; Enter in a text box (or the OK button) checks and returns them,
    Escape cancels. A wrong value is said in the dialog, which stays open."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, fields: list[Field], ok: str = "OK") -> None:
        super().__init__()
        self.title_text, self.fields, self.ok = title, fields, ok

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(plain(self.title_text), classes="title")
            for f in self.fields:
                if f.kind == "check":
                    yield Checkbox(
                        plain(f.label), bool(f.default), id=f"field-{f.name}", compact=True
                    )
                    continue
                yield Label(plain(f.label))
                if f.kind == "select":
                    # A default no longer among the options (a tag deleted or renamed since it
                    # was shown) is no choice: the select starts blank.
                    chosen = f.default in [value for _, value in f.options]
                    yield FindingSelect(
                        f.options,
                        value=f.default if chosen else Select.NULL,
                        allow_blank=f.optional or not chosen,
                        id=f"field-{f.name}",
                        compact=True,
                    )
                elif f.kind == "path":
                    yield PathInput(
                        "" if f.default is None else shown(f.default),
                        placeholder=shown(f.placeholder),
                        id=f"field-{f.name}",
                        compact=True,
                        folders_only=f.folders_only,
                    )
                elif f.complete is not None:
                    yield CompletingInput(
                        "" if f.default is None else shown(f.default),
                        placeholder=shown(f.placeholder),
                        id=f"field-{f.name}",
                        compact=True,
                        complete=f.complete,
                    )
                else:
                    yield Input(
                        "" if f.default is None else shown(f.default),
                        placeholder=shown(f.placeholder),
                        id=f"field-{f.name}",
                        compact=True,
                    )
            yield Static("", id="form-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(plain(self.ok), variant="primary", id="ok")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        # The first field, whatever its kind: on the button, Enter would submit blanks.
        first = f"#field-{self.fields[0].name}" if self.fields else "#ok"
        self.query_one(first).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self.submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def submit(self) -> None:
        values = self.checked_values()
        if values is not None:
            self.dismiss(values)

    def checked_values(self) -> dict[str, Any] | None:
        """The form's values, checked; None when one is refused (said under the form, and the
        field in focus)."""
        values: dict[str, Any] = {}
        for f in self.fields:
            widget = self.query_one(f"#field-{f.name}")
            try:
                values[f.name] = self._checked(f, self._value(f, widget))
            except CHECK_ERRORS as exc:
                self.say(str(exc).strip() or type(exc).__name__)
                widget.focus()
                return None
        return values

    def say(self, reason: str) -> None:
        """A reason under the form (its first line)."""
        error = elide_middle(reason.splitlines()[0], ERROR_CELLS)
        self.query_one("#form-error", Static).update(plain(error))

    @staticmethod
    def _checked(f: Field, value: Any) -> Any:
        return value if f.check is None or value is None else f.check(value)

    @staticmethod
    def _value(f: Field, widget: Any) -> Any:
        if f.kind == "check":
            return bool(widget.value)
        if f.kind == "select":
            if widget.value is Select.NULL:
                if f.optional:
                    return None
                raise ValueError(f"choose {f.label.lower()}")
            return widget.value
        text = widget.value.strip()
        if not text:
            if f.optional:
                return None
            raise ValueError(f"{f.label} is needed")
        if f.kind in ("text", "path"):
            return text
        try:
            number: float = int(text) if f.kind == "int" else float(text)
        except ValueError:
            kind = "a whole number" if f.kind == "int" else "a number"
            raise ValueError(f"{f.label}: {text!r} is not {kind}") from None
        if f.minimum is not None and number < f.minimum:
            raise ValueError(f"{f.label}: at least {f.minimum:g}")
        if f.maximum is not None and number > f.maximum:
            raise ValueError(f"{f.label}: at most {f.maximum:g}")
        return number


def vector_set_field(con: Any, need_text: bool = False) -> Field | None:
    """The form field that asks which vector set to use, on the project's default; None when the
    project has no set (or none that embeds text, with ``need_text``)."""
    from panoptui.core import vector_sets

    every = vector_sets.list_sets(con)
    sets = [s for s in every if s.embeds_text or not need_text]
    if not sets:
        return None
    default = vector_sets.default_set(con, sets=every).id
    if default not in {s.id for s in sets}:
        default = sets[-1].id
    options = [
        (
            f"{s.id}: {s.model}{' (grey)' if s.greyscale else ''} {s.dim}-d "
            f"{s.count}/{s.total} {s.status}",
            s.id,
        )
        for s in sets
    ]
    return Field("set_id", "Vector set", kind="select", default=default, options=options)


class ExportDialog(FormDialog):
    """The export form. What to export (the selection when there is one, the view the Results
    screen shows when it shows less than every image, or all images) and the format (CSV or
    Parquet by the file's name, or Panoptic's CSV) are chosen in the form, and its title says
    which. A file that exists is asked about over the form (overwrite it, or go back to the form
    with the path as typed), never refused with a CLI's "give --force".

    The values: ``file`` (absolute), ``scope`` (selection | view | all), ``view`` (the Results
    screen's source when scope is view), ``format`` (table | panoptic), ``set_id`` and ``force``
    (True once the user said to overwrite the file)."""

    def __init__(self, fields: list[Field], selected: int = 0, view: Source | None = None) -> None:
        self.selected, self.view = selected, view
        scopes = []
        if selected:
            scopes.append((f"the {count_text(selected, 'selected image')}", "selection"))
        if view is not None:
            scopes.append((f"the view shown: {view_words(view)}", "view"))
        scopes.append(("all images", "all"))
        # The first is proposed: the selection, else a filtered view (what the user sees, as
        # the filter bar made it), else all images; a query's answer is offered, not proposed.
        first = scopes[0][1] if selected or isinstance(view, AllImages) else "all"
        # After the file (the form opens on it), before the rest.
        fields = [
            fields[0],
            Field("scope", "What", kind="select", options=scopes, default=first),
            Field("format", "Format", kind="select", options=list(EXPORT_FORMATS), default="table"),
            *fields[1:],
        ]
        super().__init__(self.title_for(first, "table"), fields, "Export")

    def title_for(self, scope: Any, format_: Any) -> str:
        if scope == "selection":
            what = f"the {count_text(self.selected, 'selected image')}"
        elif scope == "view" and self.view is not None:
            what = f"the view shown ({view_words(self.view)})"
        else:
            what = "all images"
        return f"Export {what}" + (" as Panoptic's CSV" if format_ == "panoptic" else "")

    def on_mount(self) -> None:
        super().on_mount()
        # The title wraps (a view's filter may be long) rather than lose its end.
        self.query_one(".title", Label).styles.width = "100%"

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id in ("field-scope", "field-format"):
            scope = self.query_one("#field-scope", Select).value
            format_ = self.query_one("#field-format", Select).value
            self.query_one(".title", Label).update(plain(self.title_for(scope, format_)))

    def submit(self) -> None:
        values = self.checked_values()
        if values is None:
            return
        # What depends on two fields, said in the form rather than after, by the job.
        if values["format"] == "panoptic":
            if not values["file"].lower().endswith(".csv"):
                self.say("Panoptic's CSV: name a .csv file")
                self.query_one("#field-file").focus()
                return
            if values["set_id"] is not None:
                self.say("Panoptic's CSV has no vectors: leave 'With vectors of' blank")
                return
        elif values["set_id"] is not None and not values["file"].lower().endswith(".parquet"):
            self.say("vectors export to Parquet only: name a .parquet file")
            self.query_one("#field-file").focus()
            return
        values["view"] = self.view if values["scope"] == "view" else None
        if not os.path.lexists(values["file"]):  # a link too, even a dangling one: core's rule
            self.dismiss({**values, "force": False})
            return

        def answered(overwrite: bool | None) -> None:
            if overwrite:
                self.dismiss({**values, "force": True})
            else:
                self.query_one("#field-file").focus()

        question = f"{values['file']} exists. Overwrite it?"
        self.app.push_screen(ConfirmDialog(question, yes="Overwrite", no="Back"), answered)


EXPORT_FORMATS = (
    ("CSV or Parquet, by the file's name", "table"),
    ("Panoptic's CSV (';', name[type] headers)", "panoptic"),
)


def view_words(view: Source) -> str:
    """A view in a few words (its filter, or its query's title)."""
    return view.title if isinstance(view, RankedImages) else view.flt.describe()


def shown_view(screen: Any) -> Source | None:
    """What ``screen`` shows when it is the Results screen showing less than every image (a
    filter, a tag, a folder, a name, or a query's answer); else None."""
    source = getattr(getattr(screen, "view", None), "source", None)
    if isinstance(source, RankedImages):
        return source
    if isinstance(source, AllImages):
        flt = source.flt
        if flt.where or flt.tag or flt.folder or flt.name:
            return source
    return None


def export_dialog(con: Any, selected: int = 0, view: Source | None = None) -> FormDialog:
    """Asks where to export (CSV or Parquet; where the last export went, else in the current
    folder), what (the selection, the view shown, or all), in which format, and whether with a
    vector set's vectors (see ExportDialog). ``view``: the view shown, to offer (the Results
    screen passes its own: ``shown_view``)."""
    from panoptui.core import settings, vector_sets
    from panoptui.core.export import FORMATS, check_target

    def where(file: str) -> str:
        # The name and folder are checked here, in the form; whether the file exists is asked.
        return str(check_target(file, tuple(FORMATS), True, "an export"))

    sets = [(f"{s.id}: {s.model}", s.id) for s in vector_sets.list_sets(con)]
    fields = [
        Field(
            "file",
            "File (.csv or .parquet)",
            kind="path",
            default=settings.export_path(con),
            check=where,
        ),
        Field(
            "set_id", "With vectors of (Parquet only)", kind="select", options=sets, optional=True
        ),
    ]
    return ExportDialog(fields, selected, view)
