"""Text from files and users, made safe to show.

File names, tag names and messages can hold anything: terminal escape sequences (which would set
the pane title, clear the screen or write the clipboard through OSC 52), other control characters,
and bytes that are not UTF-8. Everything shown to a person, in the CLI or the TUI, passes through
``shown`` first; JSON output keeps the exact text instead. What is stored passes through
``storable``, which keeps the text but escapes bytes that are not UTF-8.
"""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls (0x80-0x9f: 0x9b is a one-byte CSI on some terminals); the
# line and paragraph separators, which break a line where none is expected; and the invisible
# format characters that reorder or hide text (bidirectional overrides and isolates, zero-width
# characters, the byte-order mark), with which "gpj.exe" can be made to read "exe.jpg".
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(value: object) -> str:
    """``value`` as text a terminal displays literally: control characters become ``\\xNN``
    escapes, and undecodable bytes (surrogate escapes from file names) become ``\\xNN`` too."""
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate no file name produces
            raw = text.encode("utf-8", "backslashreplace")
        text = raw.decode("utf-8", "backslashreplace")
    return _CONTROL.sub(_escape, text)


def storable(value: str) -> str:
    """Text safe to store: undecodable bytes in file names or messages shown as \\xNN."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def count_text(n: int, word: str, plural: str | None = None) -> str:
    """``n`` and the noun in the right number, with thousands separators: "1 image",
    "0 errors", "12,500 images". ``plural`` is for nouns that do not just take an "s"."""
    noun = word if n == 1 else (plural if plural is not None else word + "s")
    return f"{n:,} {noun}"


_SIZE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def size_text(n_bytes: int) -> str:
    """A size in bytes as people read it: "512 B", "1.5 KiB", "12 MiB". Sizes under 1 KiB are
    shown in bytes, so a small file never reads "0 KiB"; one decimal under 10 of a unit."""
    if n_bytes < 1024:
        return f"{n_bytes:,} B"
    value = float(n_bytes)
    for unit in _SIZE_UNITS:
        value /= 1024
        shown_value = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
        # 1023.7 KiB would round to "1024 KiB": say "1.0 MiB" instead.
        if float(shown_value) < 1024 or unit == _SIZE_UNITS[-1]:
            return f"{shown_value} {unit}"
    raise AssertionError("unreachable")  # the last unit always returns
