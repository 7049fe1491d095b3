"""Modal dialogs: a yes/no question, and a small form whose values come back checked.

A form checks each value before it closes (its kind, its range, and a field's own ``check``,
usually core's validation function), so a value core would refuse is said under the form, which
stays open with what was typed.

Everything a dialog shows (its question, title, labels, options, the error under a form) is
plain text, shown literally (see literal.py): callers pass names and paths as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, TypeVar

from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from panoptui.core.models.base import ModelError
from panoptui.core.store import ProjectError
from panoptui.core.text import shown
from panoptui.tui.literal import elide_middle, plain, text

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


KINDS = ("text", "int", "float", "select", "check")


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
                    yield Select(
                        [(text(prompt), value) for prompt, value in f.options],
                        value=f.default if f.default is not None else Select.NULL,
                        allow_blank=f.default is None,
                        id=f"field-{f.name}",
                        compact=True,
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
        inputs = self.query(Input)
        (inputs.first() if inputs else self.query_one("#ok", Button)).focus()

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
        values: dict[str, Any] = {}
        for f in self.fields:
            widget = self.query_one(f"#field-{f.name}")
            try:
                values[f.name] = self._checked(f, self._value(f, widget))
            except CHECK_ERRORS as exc:
                reason = str(exc).strip().splitlines() or [type(exc).__name__]
                error = elide_middle(reason[0], ERROR_CELLS)
                self.query_one("#form-error", Static).update(plain(error))
                widget.focus()
                return
        self.dismiss(values)

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
        if f.kind == "text":
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


def export_dialog(con: Any) -> FormDialog:
    """Asks where to export (CSV or Parquet), and whether with a vector set's vectors."""
    from panoptui.core import vector_sets

    sets = [(f"{s.id}: {s.model}", s.id) for s in vector_sets.list_sets(con)]
    fields = [
        Field("file", "File (.csv or .parquet)", placeholder="/tmp/panoptui-export.csv"),
        Field(
            "set_id", "With vectors of (Parquet only)", kind="select", options=sets, optional=True
        ),
        Field("force", "Overwrite an existing file", kind="check", default=False),
    ]
    return FormDialog("Export images, paths, tags and clusters", fields, "Export")
