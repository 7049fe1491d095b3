"""The options that recur across commands (the project, --json, --vectors ID, the image
protocol), the number types they parse with, and the project connection a handler opens.

Numbers are checked while parsing, so that a wrong one ends as argparse's usage line (exit 2),
never as an error from deep inside a query.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

# What add_subparsers returns: each command module's register() adds its commands to it.
type Commands = argparse._SubParsersAction[argparse.ArgumentParser]

# The largest number DuckDB's BIGINT (ids, counts) holds: a larger one fails in the query.
MAX_NUMBER = 2**63 - 1


def whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:  # not a number, or one of thousands of digits
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"expected a number of at least {least}, got {value}")
    if value > MAX_NUMBER:
        raise argparse.ArgumentTypeError(f"expected a number of at most {MAX_NUMBER}, got {value}")
    return value


def positive_int(text: str) -> int:
    return whole_number(text, 1)


def non_negative_int(text: str) -> int:
    return whole_number(text, 0)


def id_list(text: str) -> list[int]:
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise argparse.ArgumentTypeError("expected at least one id, like 1,2,3")
    try:
        return [positive_int(part) for part in parts]
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"expected ids like 1,2,3: {exc}") from None


def batch_size(text: str) -> int:
    from panoptui.core.vector_sets import MAX_BATCH_SIZE

    value = positive_int(text)
    if value > MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_BATCH_SIZE}, got {value}")
    return value


class CommandParser(argparse.ArgumentParser):
    """The parser of one command (``tag``, ``vectors create``): it refuses an unknown argument
    itself, so that the error comes with this command's usage, not the top-level one (argparse
    leaves extra arguments to the top-level parser)."""

    def parse_known_args(
        self, args: Iterable[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def project_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument("project", metavar="PROJECT")


def json_option(command: argparse.ArgumentParser, help: str = "print a JSON list") -> None:
    command.add_argument("--json", action="store_true", help=help)


def vectors_option(command: argparse.ArgumentParser, help: str = "vector set") -> None:
    command.add_argument("--vectors", type=positive_int, metavar="ID", help=help)


def set_id_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument("set_id", metavar="ID", type=positive_int)


def image_protocol_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--image-protocol",
        choices=("auto", "kitty", "sixel", "halfcell", "none"),
        help="how images are drawn (default: the project's setting, else auto-detect)",
    )


@contextmanager
def project_connection(
    project: str, *, write: bool = False, create: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to PROJECT, read-only unless ``write`` (or ``create``), closed when the
    block ends, however it ends."""
    from panoptui.core import store

    con = store.open_project(project, create=create, read_only=not (write or create))
    try:
        yield con
    finally:
        con.close()
