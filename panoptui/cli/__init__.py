"""The command line: opens the terminal app (`panoptui PROJECT`, `panoptui demo`) or runs a
headless command.

Every problem a user can cause ends as one line on stderr and a non-zero exit code:
1 for a bad project, folder or value (a full disk too), 2 for a wrong argument or a project held
by another process, 130 for Ctrl-C ("panoptui: interrupted", at any moment, however often).

Text from files and users is printed through ``text.shown`` (terminal escapes in a file name are
shown, never run); --json output keeps the exact text. Suggested commands are shell-quoted.

This package imports only the standard library at load time: DuckDB, Arrow and numpy take a few
tenths of a second to import, and main loads them while it holds Ctrl-C (_load_core; main and
panoptui/__main__.py say why).

The commands live beside their arguments, grouped as a user sees them: imports.py (import,
status, folders, errors), vectors.py, explore.py (similar, search, recommend, cluster,
duplicates, map), export.py, tags.py (tag, tags), app.py (open, demo, samples). Each has a
``register(commands)`` that adds its parsers, the options of a command right above its handler;
options.py holds the options that recur, output.py what prints. This module runs one command:
Ctrl-C and the one-line errors.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Sequence

from panoptui import __version__
from panoptui.core.text import shown

EXIT_ERROR = 1
EXIT_USAGE = 2  # argparse's code for a wrong argument; also a project locked by another process
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]


def _load_core() -> None:
    """Import the modules every command uses (DuckDB, Arrow: slow); main calls it while it
    holds Ctrl-C."""
    from panoptui.core import settings, store  # noqa: F401


def build_parser() -> tuple[argparse.ArgumentParser, set[str]]:
    """The parser, and the names of its commands (to tell `panoptui PATH` from a mistyped
    command). The order of registration is the order of ``panoptui --help``."""
    # Imported here, not at the top: the command modules import say_interrupted from this one.
    from panoptui.cli import app, explore, export, images, imports, rank, tags, vectors
    from panoptui.cli import classify as classify_cli
    from panoptui.cli import csv as csv_cli
    from panoptui.cli import panoptic as panoptic_cli
    from panoptui.cli import properties as properties_cli
    from panoptui.cli.options import CommandParser

    parser = argparse.ArgumentParser(
        prog="panoptui",
        description="Explore large image corpora with deep-learning embeddings, from a terminal.",
    )
    parser.add_argument("--version", action="version", version=f"panoptui {__version__}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=CommandParser
    )
    for module in (
        imports, panoptic_cli, vectors, explore, classify_cli, images, rank, export, tags,
        properties_cli, csv_cli, app
    ):  # fmt: skip
        module.register(commands)
    return parser, set(commands.choices)


def _option_value(argv: list[str], n: int) -> bool:
    """Whether argv[n] is the value of the option before it (``--image-protocol none``)."""
    return n > 0 and argv[n - 1] == "--image-protocol"


class _Interrupts:
    """Ctrl-C, as main handles it: the first one raises KeyboardInterrupt, which each command
    ends cleanly (a job keeps what it committed) and main prints as one line, exit 130. A second
    one, while that cleanup runs, or any one once the command is over (the interpreter shutting
    down), ends the process at once with the same line: what is committed is safe (DuckDB
    survives a SIGKILL as well), and worker processes die with their parent (workers.py)."""

    count = 0
    said = False
    command_over = False


def say_interrupted(message: str = "panoptui: interrupted") -> None:
    """Print the interruption's one line (once, whoever gets there first)."""
    if not _Interrupts.said:
        _Interrupts.said = True
        print(message, file=sys.stderr, flush=True)
    _forget_escaped_interrupt()


def _forget_escaped_interrupt() -> None:
    """CPython notes a KeyboardInterrupt that escapes code it runs through PyRun_* (extension
    modules run some while they are imported) and, at exit, kills itself with SIGINT, even
    once the interrupt was handled: the exit status then says "killed by SIGINT", not 130.
    Each PyRun_* call starts by clearing that note, so an empty one does."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.pythonapi.PyRun_SimpleString(b"")


def _on_interrupt(signum: int, frame: object) -> None:
    _Interrupts.count += 1
    if _Interrupts.count == 1 and not _Interrupts.command_over:
        raise KeyboardInterrupt
    try:
        sys.stdout.flush()
        say_interrupted()
    except Exception:  # a closed pipe: nothing more to say
        pass
    os._exit(EXIT_INTERRUPTED)


def _quiet_warnings() -> None:
    """Library warnings (sklearn, numpy, Pillow) are for developers: a user sees results and
    one-line errors. -W or PYTHONWARNINGS bring them back. Worker processes inherit the choice
    through the environment."""
    if sys.warnoptions:
        return
    warnings.simplefilter("ignore")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: Sequence[str] | None = None, held: list[int] | None = None) -> int:
    """Run one command (``argv``, else the process's arguments) and return its exit code.

    Ctrl-C is held until the command starts: a handler only records it in ``held`` while the
    modules load (DuckDB, Arrow, numpy: a few tenths of a second), because a KeyboardInterrupt
    raised inside an extension module's import prints a traceback, or aborts the process
    outright (DuckDB's nanobind). If one came, main says "panoptui: interrupted" and returns
    130 without running the command; only then does Ctrl-C raise KeyboardInterrupt
    (_on_interrupt), for the command to end cleanly. ``held`` is the list that
    panoptui.__main__.run has been recording into since the process started (see there)."""
    _Interrupts.count, _Interrupts.said, _Interrupts.command_over = 0, False, False
    held = [] if held is None else held
    handling = threading.current_thread() is threading.main_thread()
    if handling:
        signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        _quiet_warnings()
        _load_core()
        parser, names = build_parser()
        if handling:
            # Installed before `held` is read: a Ctrl-C from now on raises, none is lost.
            signal.signal(signal.SIGINT, _on_interrupt)
        if held:
            say_interrupted()
            return EXIT_INTERRUPTED
        return _main(parser, names, argv)
    except KeyboardInterrupt:  # parsing the arguments, or a command's own cleanup
        say_interrupted()
        return EXIT_INTERRUPTED
    finally:
        _Interrupts.command_over = True


def _main(parser: argparse.ArgumentParser, names: set[str], argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `panoptui PATH`: a first word that is not a command but a path (one that exists, or one
    # written with a slash) is opened; anything else is a mistyped command, for argparse to say.
    words = [a for n, a in enumerate(argv) if not a.startswith("-") and not _option_value(argv, n)]
    if (
        words
        and words[0] not in names
        and argv[0] not in ("-h", "--help", "--version")
        and ("/" in words[0] or os.path.exists(words[0]))
    ):
        argv = ["open", *argv]
    args = parser.parse_args(argv)
    handler: Handler = args.handler  # each command's register() sets it
    try:
        return handler(args)
    except KeyboardInterrupt:  # outside a job (loading a model, opening a project)
        say_interrupted()
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `panoptui errors P | head`
        return 0
    except Exception as exc:
        code = _reported(exc)
        if code is None:  # a bug: its traceback is wanted
            raise
        return code


# How DuckDB says that text is not UTF-8: a str holding a surrogate (an undecodable byte of an
# argument or file name), or bytes that do not decode.
NOT_UTF8 = re.compile(r"surrogate|utf-?8|unicode", re.IGNORECASE)


def _reported(exc: Exception) -> int | None:
    """Print the one line for an exception a user can cause and return the exit code; None
    for any other exception."""
    import duckdb

    from panoptui.core import store
    from panoptui.core.models.base import ModelError

    if _follows_interrupt(exc):
        say_interrupted()
        return EXIT_INTERRUPTED
    if isinstance(exc, store.ProjectLocked):
        print(f"panoptui: {shown(exc)}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, store.ProjectError | ModelError):
        print(f"panoptui: {shown(exc)}", file=sys.stderr)
        return EXIT_ERROR
    if isinstance(exc, duckdb.Error) and NOT_UTF8.search(str(exc)):
        # Text that is not UTF-8 (an argument typed in Latin-1, say) that no check caught
        # earlier: DuckDB refuses it when it meets the query.
        print(
            f"panoptui: text given is not valid UTF-8; type it again ({shown(_first_line(exc))})",
            file=sys.stderr,
        )
        return EXIT_ERROR
    if isinstance(exc, OSError | duckdb.Error) and store.disk_full(exc):
        # A full disk, during an import or a vector run: what was committed stays, consistent
        # (each batch is one transaction), and the same command finishes the job later.
        print(
            f"panoptui: disk full: {shown(_first_line(exc))}. Free some space, then run the "
            "same command again to finish",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return None


def _follows_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is a Ctrl-C in other clothes: DuckDB stopping a query for it (as a
    RuntimeError or its InterruptException), or any error raised while one was being handled
    (a rollback that fails after it, say)."""
    import duckdb

    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, KeyboardInterrupt | duckdb.InterruptException) or (
            isinstance(seen, RuntimeError) and str(seen) == "Query interrupted"
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
