"""What the CLI prints: text through ``text.shown`` (terminal escapes in a file name are shown,
never run), JSON with the exact text, suggested commands (shell-quoted), counts, and the
progress of a long job.

Results go to stdout; progress, warnings and errors to stderr, so that stdout stays valid JSON
with --json.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from panoptui.core.text import count_text, shown

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
    """``1 image``, ``2 images``, ``12,500 images``: a count as the CLI (and the app) prints it."""
    return count_text(n, word)


def print_sets(sets: list[VectorSet]) -> None:
    """The vector sets of a project as a table (status, vectors list)."""
    if not sets:
        print("no vector sets yet; create one with: panoptui vectors create PROJECT --model clip")
        return
    # The weights last, whole: two sets of one model differ there.
    print(
        f"{'id':>3}  {'model':<24} {'grey':<5} {'dim':>5} {'vectors':>15} {'errors':>6}  "
        f"{'status':<10}  weights"
    )
    for v in sets:
        done = f"{v.count}/{v.total}"
        grey = "yes" if v.greyscale else "no"
        model, weights = shown(v.model), shown(v.weights or "")
        print(
            f"{v.id:>3}  {model:<24} {grey:<5} {v.dim:>5} {done:>15} {v.errors:>6}  "
            f"{v.status:<10}  {weights}".rstrip()
        )


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


# What a stage counts, for its rate (a stage named "k-means (k=8)" is "k-means"); files else.
UNITS = {
    "embedding": "images",
    "reading vectors": "vectors",
    "choosing k": "tries",
    "k-means": "iterations",
    "comparing": "pairs",
    "PCA": "rows",
    "t-SNE": "iterations",
}
BAR = 12  # cells of the bar, drawn where the terminal has room for it beside the text
# Without a terminal (a log file, a pipe), a whole line this often.
LOG_INTERVAL = 5.0


def progress_line(event: Progress, width: int | None = None) -> str:
    """The progress of a job in one line of at most ``width`` cells (None: no limit, no bar):
    what it does and how far, then the ETA, the errors and the rate as they fit, and a bar in
    the room left. Fitting matters: a line longer than the terminal wraps, and the carriage
    return that redraws it goes back only to the start of its last part, so each redraw
    leaves the rest of the line behind (a stack of cut lines at 80 columns)."""
    from panoptui.core.progress import eta_text

    if not event.total:
        parts = [f"{event.stage} {count_text(event.done, 'file')} found"]
        bar_fraction = None
    else:
        fraction = event.done / event.total
        parts = [
            f"{event.stage} {event.done}/{event.total} {fraction:4.0%}",
            f"{event.rate:6.1f} {UNITS.get(event.stage.split(' (')[0], 'files')}/s",
            f"ETA {eta_text(event)}",
            f"errors {event.errors}",
        ]
        bar_fraction = fraction
    if width is None:
        return "  ".join(parts)
    room = max(width - 1, 1)  # the last column left empty: some terminals wrap on it

    def joined(indices: list[int]) -> str:
        return "  ".join(parts[i] for i in sorted(indices))

    chosen = [0]
    for index in (2, 3, 1)[: len(parts) - 1]:  # the ETA, then the errors, then the rate
        if len(joined([*chosen, index])) <= room:
            chosen.append(index)
    line = joined(chosen)[:room]
    # A bar of one width, where the line has room for it at its longest (the count grown to
    # the total's digits, an ETA in hours): one that took the room left would shrink and grow,
    # and one that came and went would make the text jump.
    longest = len(line) + len(str(event.total)) - len(str(event.done)) + 3  # ETA "1:23:45"
    if bar_fraction is not None and longest + BAR + 3 <= room:  # "[", "] "
        filled = int(BAR * bar_fraction)
        line = "[" + "#" * filled + "-" * (BAR - filled) + "] " + line
    return line


class ProgressPrinter:
    """The progress of a long job, on stderr (stdout carries only results, and stays valid JSON
    with --json): a live line redrawn in place when stderr is a terminal, fitted to its width;
    otherwise a whole line every LOG_INTERVAL seconds, from LOG_INTERVAL on (work done sooner
    prints none: a script's stderr stays for what went wrong), and then the last one."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() and not quiet
        self.last = 0.0 if self.tty else time.monotonic()
        self.drawn = False
        self.logged = False

    def __call__(self, event: Progress) -> None:
        if event.stage != "scanning" and not event.total:
            return  # nothing to read: the summary says so
        now = time.monotonic()
        interval = 0.1 if self.tty else LOG_INTERVAL
        finished = bool(event.total) and event.done >= event.total
        if now - self.last < interval and not (finished and (self.tty or self.logged)):
            return
        self.last = now
        self.logged = True
        if self.tty:
            # Asked at each line: the terminal may have been resized meanwhile.
            width = shutil.get_terminal_size().columns
            self.stream.write("\r\x1b[2K" + progress_line(event, width))
            self.drawn = True
        else:
            self.stream.write(progress_line(event) + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
