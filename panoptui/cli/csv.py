"""`panoptui properties import PROJECT FILE.csv` (also `panoptui properties-import`): property
values from a CSV in Panoptic's format (core/csv_io.py), with --dry-run and --strict.

``properties`` is cli/properties.py's command; its parser hands the words after ``import`` to
the parser registered here (by its name, COMMAND), so both spellings run ``cmd_import``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from panoptui.cli.options import project_argument, project_connection
from panoptui.cli.output import count
from panoptui.core.text import shown

if TYPE_CHECKING:
    from panoptui.cli.options import Commands
    from panoptui.core.csv_io import Problem

COMMAND = "properties-import"


def register(commands: Commands) -> None:
    """Add properties-import."""
    command = commands.add_parser(
        COMMAND,
        prog="panoptui properties import",  # the spelling, in usage and errors
        help="set property values from a CSV in Panoptic's format (also: properties import)",
        description="Read a CSV (Panoptic's format: ';' or ',' between cells, a first column "
        "'path' or 'id', then 'name[type]' headers) and set its values, in one transaction. "
        "Rows that cannot go in are listed with their line numbers.",
    )
    project_argument(command)
    command.add_argument("file", metavar="FILE.csv")
    command.add_argument(
        "--strict", action="store_true", help="import nothing if any row or column is bad"
    )
    command.add_argument(
        "--dry-run", action="store_true", help="say what would be created and show the first rows"
    )
    command.add_argument(
        "--mode",
        choices=("image", "file"),
        default="image",
        help="of the properties it creates: the image (its content, all its copies; default) "
        "or the file (one path)",
    )
    command.set_defaults(handler=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from panoptui.core import csv_io

    with project_connection(args.project, write=not args.dry_run) as con:
        plan = csv_io.plan_import(con, args.file, args.mode)
        for note in plan.notes:
            print(f"{shown(args.file)}: {note}")
        if args.dry_run:
            print("\n".join(csv_io.describe(plan)))
            if plan.problems:
                print(f"{count(len(plan.problems), 'problem')}:", file=sys.stderr)
                _print_problems(plan.problems)
            return 0
        if args.strict and plan.problems:
            _print_problems(plan.problems)
        result = csv_io.apply_import(con, plan, strict=args.strict)
    for name in result.created:
        column = next(c for c in plan.columns if c.name == name)
        print(f"created property {shown(name)!r} ({column.type}, {plan.mode})")
    print(
        f"imported {count(result.rows, 'row')} ({count(result.values, 'value')} set) "
        f"from {shown(args.file)}"
    )
    if plan.problems:
        left = plan.read - result.rows
        print(f"{count(left, 'row')} left out:", file=sys.stderr)
        _print_problems(plan.problems)
    return 0


def _print_problems(problems: list[Problem]) -> None:
    from panoptui.core.csv_io import listed_problems

    for line in listed_problems(problems):
        print(f"  {line}", file=sys.stderr)
