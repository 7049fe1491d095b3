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


def elide_middle(value: object, width: int) -> str:
    """``value`` shown in at most ``width`` cells: a long path loses its middle, not its end,
    so that the file's name stays in view (``/home/me/…/holiday/IMG_0001.jpg``); other text
    keeps two thirds of its room for its start."""
    from rich.cells import cell_len

    full = shown(value)
    if cell_len(full) <= width:
        return full
    if width < 2:
        return "…"[:width]
    if "/" not in full:  # not a path: a message, whose start says the most
        tail_room = (width - 1) // 3
    else:
        name = full.rsplit("/", 1)[-1]
        # The end gets two thirds of the room, or all the name needs (up to all but one cell).
        tail_room = min(width - 1, max((width - 1) * 2 // 3, cell_len(name) + 1))
    head_room = width - 1 - tail_room
    return _take(full, head_room) + "…" + _take(full[::-1], tail_room)[::-1]


def elide_end(value: object, width: int) -> str:
    """``value`` shown in at most ``width`` cells, its end cut off (a message's start says
    the most)."""
    from rich.cells import cell_len

    full = shown(value)
    if cell_len(full) <= width:
        return full
    return _take(full, width - 1) + "…" if width > 0 else ""


def _take(value: str, room: int) -> str:
    """The longest start of ``value`` that fits in ``room`` cells."""
    from rich.cells import get_character_cell_size

    used = 0
    for index, char in enumerate(value):
        used += get_character_cell_size(char)
        if used > room:
            return value[:index]
    return value
