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
