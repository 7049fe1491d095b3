"""Commands that bring images in and say what a project holds: import, status, folders,
errors."""

from __future__ import annotations

import argparse
import threading
from typing import TYPE_CHECKING

from panoptui.cli import EXIT_INTERRUPTED, say_interrupted
from panoptui.cli.options import (
    json_option,
    positive_int,
    project_argument,
    project_connection,
)
from panoptui.cli.output import (
    ProgressPrinter,
    command_line,
    count,
    plural,
    print_json,
    print_path_reasons,
    print_sets,
    warn,
)
from panoptui.core.text import shown

if TYPE_CHECKING:
    from panoptui.cli.options import Commands
    from panoptui.core.scan import ImportSummary


def register(commands: Commands) -> None:
    """Add import, status, folders and errors, in the order of `panoptui --help`."""
    _add_import(commands)
    _add_status(commands)
    _add_folders(commands)
    _add_errors(commands)


def _add_import(commands: Commands) -> None:
    from panoptui.core.decode import DEFAULT_MAX_PIXELS

    imp = commands.add_parser(
        "import",
        help="import folders of images into a project (created when missing)",
        description="Import folders into PROJECT (created when missing). Re-running it rescans: "
        "unchanged files are skipped, changed ones re-read, deleted ones marked missing. "
        "With no FOLDER, every folder of the project is rescanned.",
    )
    project_argument(imp)
    imp.add_argument("folders", metavar="FOLDER", nargs="*")
    imp.add_argument(
        "--max-pixels",
        type=positive_int,
        default=DEFAULT_MAX_PIXELS,
        help="refuse images larger than this many pixels (decompression bombs); "
        "default %(default)s",
    )
    imp.add_argument(
        "--workers", type=positive_int, default=None, help="worker processes (default: all cores)"
    )
    imp.add_argument(
        "--follow-links",
        action="store_true",
        help="follow symbolic links that lead out of the imported folders (default: only links "
        "that stay inside them)",
    )
    json_option(imp, "print the summary as JSON")
    imp.set_defaults(handler=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from panoptui.core import settings, store
    from panoptui.core.scan import import_folders, registered_folders, resolve_folder

    # Check every folder before creating anything, so a typo leaves no empty project behind.
    folders = [resolve_folder(f) for f in args.folders]
    with project_connection(args.project, write=True, create=bool(folders)) as con:
        if not folders and not registered_folders(con):
            raise store.ProjectError(
                f"project {args.project} has no folders yet; give one: "
                f"{command_line('import', args.project)} FOLDER"
            )
        printer = ProgressPrinter(quiet=args.json)
        cancel = threading.Event()
        try:
            summary = import_folders(
                con,
                folders or None,
                max_pixels=args.max_pixels,
                thumb_size=settings.load(con).thumb_size,
                workers=args.workers,
                progress=printer,
                cancel=cancel,
                follow_links=args.follow_links,
            )
        except KeyboardInterrupt:
            printer.close()
            say_interrupted(
                "panoptui: import interrupted; what was read is saved. "
                "Run the same command again to finish it."
            )
            return EXIT_INTERRUPTED
        printer.close()
    if args.json:
        print_json(summary.as_dict())
        return 0
    for folder in summary.folders_not_found:
        warn(f"warning: folder {shown(folder)} not found; its files are marked missing")
    for problem in summary.folders_unreadable:
        warn(f"warning: cannot read folder {shown(problem)}; it was not scanned")
    print(
        f"imported in {summary.seconds:.1f}s: {summary.new} new, {summary.changed} changed, "
        f"{summary.restored} back, {summary.unchanged} unchanged, {summary.missing} missing, "
        f"{summary.failed} failed"
    )
    for line in _skipped_lines(summary):
        print(line)
    if summary.failed:
        print(f"see why with: {command_line('errors', args.project)}")
    return 0


def _skipped_lines(summary: ImportSummary) -> list[str]:
    """What the import left alone: files it does not read, by extension, and links it did not
    follow."""
    lines = []
    skipped = dict(summary.skipped)  # by extension; walk.NO_EXTENSION for none
    if skipped:
        total = sum(skipped.values())
        counts = ", ".join(
            f"{n} {shown(ext)}"
            for ext, n in sorted(skipped.items(), key=lambda item: (-item[1], item[0]))
        )
        lines.append(f"skipped {total} {plural(total, 'file')} panoptui does not read: {counts}")
    if summary.links_not_followed:
        n = summary.links_not_followed
        lines.append(
            f"did not follow {n} {plural(n, 'link')} leading out of the imported folders "
            "(--follow-links follows them)"
        )
    return lines


def _add_status(commands: Commands) -> None:
    status = commands.add_parser("status", help="print what a project holds")
    project_argument(status)
    json_option(status, "print one JSON object")
    status.set_defaults(handler=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    from panoptui.core.status import project_status
    from panoptui.core.vector_sets import list_sets

    with project_connection(args.project) as con:
        status = project_status(con, args.project)
        sets = list_sets(con)
    if args.json:
        print_json({**status.as_dict(), "vector_sets": [v.as_dict() for v in sets]})
        return 0
    print(f"project  {shown(status.project)}")
    print(f"images   {status.images}  ({count(status.files, 'file')} on disk)")
    print(f"missing  {count(status.missing, 'file')}")
    if status.stale:
        print(f"stale    {count(status.stale, 'image')} (their files now hold other content)")
    see = f"  (see them with: {command_line('errors', args.project)})" if status.errors else ""
    print(f"errors   {status.errors}{see}")
    print(f"folders  {len(status.folders)}")
    for folder in status.folders:
        last = folder.last_import or "never completed"
        print(f"  {shown(folder.path)}  {count(folder.files, 'file')}, last import {last}")
    print(f"vectors  {count(len(sets), 'set')}")
    if sets:
        print_sets(sets)
    return 0


def _add_errors(commands: Commands) -> None:
    errors = commands.add_parser("errors", help="list the files that could not be imported")
    project_argument(errors)
    json_option(errors)
    errors.set_defaults(handler=cmd_errors)


def cmd_errors(args: argparse.Namespace) -> int:
    from panoptui.core.status import import_errors

    with project_connection(args.project) as con:
        rows = import_errors(con)
    if args.json:
        print_json([row.as_dict() for row in rows])
        return 0
    if not rows:
        print("no import errors")
    print_path_reasons(rows)
    return 0


def _add_folders(commands: Commands) -> None:
    folders = commands.add_parser(
        "folders",
        help="list a project's folders; remove one, or record that one moved",
        description="List the folders of PROJECT. --remove forgets a folder and its files; "
        "--move records that a folder now lives elsewhere, keeping its images, tags and vectors.",
    )
    project_argument(folders)
    change = folders.add_mutually_exclusive_group()
    change.add_argument("--remove", metavar="PATH", help="forget this folder and its files")
    change.add_argument(
        "--move", nargs=2, metavar=("OLD", "NEW"), help="the folder OLD is now at NEW"
    )
    json_option(folders)
    folders.set_defaults(handler=cmd_folders)


def cmd_folders(args: argparse.Namespace) -> int:
    from panoptui.core import folders

    changing = bool(args.remove or args.move)
    with project_connection(args.project, write=changing) as con:
        # Paths as typed: folders.py finds the folder a user means (it may be gone from disk).
        if args.remove:
            removed = folders.remove_folder(con, args.remove)
            print(
                f"removed folder {shown(args.remove)} and its {count(removed, 'file')} "
                "from the project"
            )
        elif args.move:
            moved = folders.move_folder(con, *args.move)
            old, new = (shown(a) for a in args.move)
            print(f"folder {old} is now {new} ({count(moved, 'file')} re-pointed)")
        listed = folders.list_folders(con)
    if args.json:
        print_json([f.as_dict() for f in listed])
        return 0
    if changing:
        return 0
    if not listed:
        print(f"no folders yet; add one with: {command_line('import', args.project)} FOLDER")
    for folder in listed:
        last = (
            folder.last_import.isoformat(sep=" ", timespec="seconds")
            if folder.last_import
            else None
        )
        gone = "" if folder.exists else "  (not found: --move it or --remove it)"
        files = count(folder.files, "file")
        print(f"{shown(folder.path)}  {files}, last import {last or 'never completed'}{gone}")
    return 0
