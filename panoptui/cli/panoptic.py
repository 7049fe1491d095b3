"""`panoptui import-panoptic`: open a Panoptic project as it is (core/panoptic_read.py reads it,
never writing; core/panoptic_import.py stores it)."""

from __future__ import annotations

import argparse
import threading
from typing import TYPE_CHECKING

from panoptui.cli import EXIT_INTERRUPTED, say_interrupted
from panoptui.cli.options import json_option, positive_int, project_connection
from panoptui.cli.output import ProgressPrinter, command_line, count, print_json
from panoptui.core.text import count_text, shown

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
    from panoptui.core.panoptic_import import check_move, check_target, import_panoptic
    from panoptui.core.panoptic_read import read_project

    # Read the whole Panoptic project and check the arguments first: bad input writes nothing.
    source = read_project(args.panoptic)
    printer = ProgressPrinter(quiet=args.json)
    try:
        check_target(source, args.project)
        move = check_move(source, (args.move[0], args.move[1])) if args.move else None
        with project_connection(args.project, write=True, create=True) as con:
            summary = import_panoptic(
                con,
                source,
                move=move,
                workers=args.workers,
                thumb_size=settings.load(con).thumb_size,
                progress=printer,
                cancel=threading.Event(),
            )
    except KeyboardInterrupt:
        printer.close()
        say_interrupted(
            "panoptui: import interrupted; what was read is saved. "
            "Run the same command again to finish it."
        )
        return EXIT_INTERRUPTED
    finally:
        printer.close()
        source.close()
    if args.json:
        print_json(summary.as_dict())
    else:
        _print_summary(summary, args)
    return 0


def _print_summary(summary: PanopticImportSummary, args: argparse.Namespace) -> None:
    from panoptui.core.panoptic_import import reason_text

    print(f"from {summary.version}, project {shown(summary.name)!r}, in {summary.seconds:.1f}s:")
    found = f"{summary.found:,} found"
    if summary.found_by_content:
        found += f", {summary.found_by_content:,} found elsewhere by their content"
    if summary.missing:
        found += f", {summary.missing:,} missing (kept"
        if summary.missing_thumbnails:
            found += f"; {count(summary.missing_thumbnails, 'image')} with Panoptic's thumbnail"
        found += ")"
    if summary.unreadable:
        found += f", {summary.unreadable:,} unreadable now (see: panoptui errors)"
    print(f"  {count(summary.files, 'file')}: {found}; {count(summary.images, 'image')}")
    if summary.other_files:
        print(f"  {count(summary.other_files, 'other file')} in Panoptic's folders, imported too")
    new = f" ({summary.properties_new:,} new)" if summary.properties_new else ""
    print(f"  {count_text(summary.properties, 'property', 'properties')}{new}")
    written, removed = summary.values_written, summary.values_removed
    if written == summary.values and not removed:
        print(f"  {count(summary.values, 'value')}")
    else:
        print(
            f"  {count(summary.values, 'value')}: since the last import, {written:,} new or "
            f"changed in Panoptic (written here), {removed:,} removed there (removed here "
            "unless changed here); the others are left as they are here"
        )
    new = f" ({summary.tags_new:,} new)" if summary.tags_new else ""
    print(f"  {count(summary.tags, 'tag')}{new}")
    for old, new_name in summary.properties_renamed.items():
        print(f"  property {shown(old)!r} is {shown(new_name)!r} here (the name was taken)")
    for old, new_name in summary.renames_followed.items():
        print(f"  property {shown(old)!r} was renamed {shown(new_name)!r} in Panoptic: here too")
    for tag in summary.tag_renames_followed:
        print(
            f"  tag {shown(tag['old'])!r} of {shown(tag['property'])!r} was renamed "
            f"{shown(tag['new'])!r} in Panoptic: here too"
        )
    for change in summary.types_followed:
        print(
            f"  property {shown(change['property'])!r} became {change['new']} in Panoptic "
            f"(was {change['old']}): here too, its values converted"
        )
    for vset in summary.vector_sets:
        kind = f"the {vset.preset} preset" if vset.preset else "image-only"
        grey = ", greyscale" if vset.greyscale else ""
        state = "complete" if vset.complete else "incomplete"
        print(
            f"  vector set {vset.set_id}: {shown(vset.model)} ({kind}{grey}), "
            f"{vset.vectors:,} of {count(vset.images, 'image')}, {state}"
        )
        if not vset.complete:
            again = command_line("vectors", "resume", args.project, vset.set_id)
            print(f"    finish it with: {again}")
    for reason, n in sorted(summary.not_imported.items()):
        print(f"  not imported: {reason_text(reason)}: {n:,}")
    if summary.missing_images:
        see = command_line("images", args.project, "--where", "missing = true")
        shown_images = count(summary.missing_images, "image")
        print(f"  {shown_images} with no file on disk; see them with: {see}")
    if summary.missing and not args.move:
        print(
            "  some files are not where Panoptic saw them; if they moved, give "
            "--move OLD_ROOT NEW_ROOT"
        )
