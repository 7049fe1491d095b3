"""Text from files and users, as the app's widgets must show it: literally.

Textual reads markup in plain strings given to most widgets (Static, Label, DataTable cells,
options, notifications): a tag named ``[draft]`` would show as nothing, ``x[/b]`` would crash
the app (MarkupError), and ``[@click=app.quit]`` would make a caption run an app action when
clicked. Terminal control characters in file names would reach the terminal (set its title,
clear it, write the clipboard through OSC 52). So every value from a file, the store or the user
reaches a widget through these functions: as a ``Content`` that is never parsed, made of
``shown()`` text (core/text.py), where control characters are escapes.
"""

from __future__ import annotations

from rich.text import Text
from textual.content import Content

from panoptui.core.text import shown


def plain(value: object) -> Content:
    """``value`` shown as it is: no markup, control characters escaped."""
    return Content(shown(value))


def marked(template: str, **values: object) -> Content:
    """Our own markup (``template``, never data) with values put in literally: ``$name`` in the
    template is ``values["name"]``, shown as it is."""
    return Content.from_markup(template, **{k: shown(v) for k, v in values.items()})


def lines(*contents: Content) -> Content:
    """Contents one under the other (``plain`` would escape a newline in a value)."""
    return Content("\n").join(contents)


def text(value: object) -> Text:
    """``value`` as a Rich Text (never parsed either), for the widgets that measure or search
    Rich Text but not Content: DataTable cells (a Content cell's column would keep the width of
    its header) and Select options (whose type-to-search skips Content prompts)."""
    return Text(shown(value))
