"""`panoptui import-panoptic`: open a Panoptic project as it is (core/panoptic_read.py reads it,
never writing; core/panoptic_import.py stores it)."""

from __future__ import annotations

import argparse
import threading
from typing import TYPE_CHECKING

from panoptui.cli import EXIT_INTERRUPTED, say_interrupted
from panoptui.cli.options import json_option, positive_int, project_connection
from panoptui.cli.output import ProgressPrinter, command_line, count, print_json, warn
from panoptui.core.text import shown

if TYPE_CHECKING:
    from panoptui.cli.options import Commands
    from panoptui.core.panoptic_import import PanopticImportSummary


def register(commands: Commands) -> None:
    command = commands.add_parser(
        "import-panoptic",
        help="make or update a project from a Panoptic project (1.x or 0.7), read-only",
        description="Import a Panoptic project folder into PROJECT (created when missing): its "
        "folders and files, properties and values, tags with their parents, and vector sets. "
        "The Panoptic project is only read, also while Panoptic has it open. Run it again to "
        "bring over what changed in Panoptic; nothing is made twice, nothing is deleted here.",
    )
    command.add_argument("panoptic", metavar="PANOPTIC_PROJECT_DIR")
    command.add_argument("project", metavar="PROJECT")
    command.add_argument(
        "--move",
        nargs=2,
        metavar=("OLD_ROOT", "NEW_ROOT"),
        help="the images were under OLD_ROOT when Panoptic imported them; they are under "
        "NEW_ROOT now (a project from another machine)",
    )
    command.add_argument(
        "--workers", type=positive_int, default=None, help="worker processes (default: all cores)"
    )
    json_option(command, "print the summary as JSON")
    command.set_defaults(handler=cmd_import_panoptic)


def cmd_import_panoptic(args: argparse.Namespace) -> int:
    from panoptui.core import settings
    from panoptui.core.panoptic_import import import_panoptic
    from panoptui.core.panoptic_read import read_project

    # Read the whole Panoptic project first: a folder that is not one writes nothing here.
    source = read_project(args.panoptic)
    try:
        with project_connection(args.project, write=True, create=True) as con:
            printer = ProgressPrinter(quiet=args.json)
            cancel = threading.Event()
            try:
                summary = import_panoptic(
                    con,
                    source,
                    move=tuple(args.move) if args.move else None,
                    workers=args.workers,
                    thumb_size=settings.load(con).thumb_size,
                    progress=printer,
                    cancel=cancel,
                )
            except KeyboardInterrupt:
                printer.close()
                say_interrupted(
                    "panoptui: import interrupted; what was read is saved. "
                    "Run the same command again to finish it."
                )
                return EXIT_INTERRUPTED
            printer.close()
    finally:
        source.close()
    if args.json:
        print_json(summary.as_dict())
    else:
        _print_summary(summary, args)
    return 0


def _print_summary(summary: PanopticImportSummary, args: argparse.Namespace) -> None:
    print(f"from {summary.layout} project {shown(summary.name)!r} in {summary.seconds:.1f}s:")
    print(
        f"  {count(summary.files, 'file')}: {summary.found:,} found, {summary.missing:,} missing "
        f"(kept, {summary.missing_thumbnails} with Panoptic's thumbnail); "
        f"{count(summary.images, 'image')}"
    )
    if summary.other_files:
        print(f"  {count(summary.other_files, 'other file')} in Panoptic's folders, imported too")
    print(
        f"  {summary.properties} {'property' if summary.properties == 1 else 'properties'}, "
        f"{count(summary.values, 'value')}, "
        f"{count(summary.tags, 'tag')}"
    )
    for old, new in summary.properties_renamed.items():
        print(f"  property {shown(old)!r} is {shown(new)!r} here (the name was taken)")
    for vset in summary.vector_sets:
        kind = f"the {vset.preset} preset" if vset.preset else "image-only"
        grey = ", greyscale" if vset.greyscale else ""
        state = "complete" if vset.complete else "incomplete"
        print(
            f"  vector set {vset.set_id}: {shown(vset.model)} ({kind}{grey}), "
            f"{count(vset.vectors, 'vector')}, {state}"
        )
        if not vset.complete:
            again = command_line("vectors", "resume", args.project, vset.set_id)
            print(f"    finish it with: {again}")
    for reason, n in sorted(summary.not_imported.items()):
        print(f"  not imported: {n} {reason}")
    if summary.missing and not args.move:
        warn(
            "some files are not where Panoptic saw them; if they moved, give "
            "--move OLD_ROOT NEW_ROOT"
        )
