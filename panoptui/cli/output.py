"""What the CLI prints: text through ``text.shown`` (terminal escapes in a file name are shown,
never run), JSON with the exact text, suggested commands (shell-quoted), counts, and the
progress of a long job.

Results go to stdout; progress, warnings and errors to stderr, so that stdout stays valid JSON
with --json.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from panoptui.core.text import shown

if TYPE_CHECKING:
    from panoptui.core.progress import Progress
    from panoptui.core.vector_sets import VectorSet


def print_json(value: Any) -> None:
    """One JSON document on stdout (--json): text as it is, not through ``shown``."""
    print(json.dumps(value))


def warn(line: str) -> None:
    """A line for the user that is not a result: stderr."""
    print(line, file=sys.stderr)


def command_line(*words: object) -> str:
    """A command to suggest, as a user can paste it: each word shell-quoted, then shown."""
    return shown(" ".join(shlex.quote(str(w)) for w in ("panoptui", *words)))


def plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def count(n: int, word: str) -> str:
    """``1 image``, ``2 images``: a count as the CLI prints it."""
    return f"{n} {plural(n, word)}"


def print_sets(sets: list[VectorSet]) -> None:
    """The vector sets of a project as a table (status, vectors list)."""
    if not sets:
        print("no vector sets yet; create one with: panoptui vectors create PROJECT --model clip")
        return
    print(f"{'id':>3}  {'model':<24} {'grey':<5} {'dim':>5} {'vectors':>15} {'errors':>6}  status")
    for v in sets:
        done = f"{v.count}/{v.total}"
        grey = "yes" if v.greyscale else "no"
        model = shown(v.model)
        print(f"{v.id:>3}  {model:<24} {grey:<5} {v.dim:>5} {done:>15} {v.errors:>6}  {v.status}")


class PathReason(Protocol):
    """A file that failed, and why: an import error (``FailedFile``) or a vector error."""

    @property
    def path(self) -> str: ...

    @property
    def reason(self) -> str: ...


def print_path_reasons(rows: Sequence[PathReason]) -> None:
    """Files that failed (import errors, vector errors): the path, then why, indented."""
    for row in rows:
        print(f"{shown(row.path)}\n    {shown(row.reason)}")


UNITS = {"embedding": "images"}


class ProgressPrinter:
    """A live bar when stdout is a terminal; otherwise a plain line every few seconds on stderr,
    so that stdout carries only results (and stays valid JSON with --json)."""

    def __init__(self, quiet: bool = False) -> None:
        self.tty = sys.stdout.isatty() and not quiet
        self.stream: TextIO = sys.stdout if self.tty else sys.stderr
        self.last = 0.0
        self.drawn = False

    def __call__(self, event: Progress) -> None:
        if event.stage != "scanning" and not event.total:
            return  # nothing to read: the summary says so
        now = time.monotonic()
        interval = 0.1 if self.tty else 5.0
        if now - self.last < interval and event.done < event.total:
            return
        self.last = now
        if event.total:
            from panoptui.core.progress import eta_text

            fraction = event.done / event.total
            eta = eta_text(event)
            text = (
                f"{event.stage} {event.done}/{event.total} {fraction:4.0%} "
                f"{event.rate:6.1f} {UNITS.get(event.stage, 'files')}/s  ETA {eta}  "
                f"errors {event.errors}"
            )
            bar_width = 24
            filled = int(bar_width * fraction)
            bar = "[" + "#" * filled + "-" * (bar_width - filled) + "] "
        else:
            text, bar = f"{event.stage} {event.done} files found", ""
        if self.tty:
            self.stream.write("\r\x1b[2K" + bar + text)
            self.drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
