"""The command line: parses arguments and runs a headless command (the TUI comes later).

Every problem a user can cause ends as one line on stderr and a non-zero exit code:
1 for a bad project, folder or value, 2 for a wrong argument or a project held by another process.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence
from typing import TextIO

from panoptui import __version__
from panoptui.core import store
from panoptui.core.decode import DEFAULT_MAX_PIXELS
from panoptui.core.progress import Progress

EXIT_ERROR = 1
EXIT_USAGE = 2  # argparse's code for a wrong argument; also a project locked by another process


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
            fraction = event.done / event.total
            eta = _duration(event.eta) if event.eta is not None else "--:--"
            text = (
                f"{event.stage} {event.done}/{event.total} {fraction:4.0%} "
                f"{event.rate:6.1f} files/s  ETA {eta}  errors {event.errors}"
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


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="panoptui",
        description="Explore large image corpora with deep-learning embeddings, from a terminal.",
    )
    parser.add_argument("--version", action="version", version=f"panoptui {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    imp = commands.add_parser(
        "import",
        help="import folders of images into a project (created when missing)",
        description="Import folders into PROJECT (created when missing). Re-running it rescans: "
        "unchanged files are skipped, changed ones re-read, deleted ones marked missing. "
        "With no FOLDER, every folder of the project is rescanned.",
    )
    imp.add_argument("project", metavar="PROJECT")
    imp.add_argument("folders", metavar="FOLDER", nargs="*")
    imp.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=DEFAULT_MAX_PIXELS,
        help="refuse images larger than this many pixels (decompression bombs); "
        "default %(default)s",
    )
    imp.add_argument(
        "--workers", type=_positive_int, default=None, help="worker processes (default: all cores)"
    )
    imp.add_argument("--json", action="store_true", help="print the summary as JSON")

    status = commands.add_parser("status", help="print what a project holds")
    status.add_argument("project", metavar="PROJECT")
    status.add_argument("--json", action="store_true", help="print one JSON object")

    errors = commands.add_parser("errors", help="list the files that could not be imported")
    errors.add_argument("project", metavar="PROJECT")
    errors.add_argument("--json", action="store_true", help="print a JSON list")

    samples = commands.add_parser(
        "samples", help="write a small synthetic image corpus to try panoptui with"
    )
    samples.add_argument("folder", metavar="FOLDER")
    samples.add_argument(
        "--per-family", type=_positive_int, default=8, help="images per family (6 families)"
    )
    return parser


def cmd_import(args: argparse.Namespace) -> int:
    from panoptui.core.scan import import_folders, resolve_folder

    # Check every folder before creating anything, so a typo leaves no empty project behind.
    folders = [resolve_folder(f) for f in args.folders]
    con = store.open_project(args.project, create=bool(folders))
    try:
        if not folders and not store.scalar(con, "SELECT count(*) FROM folders"):
            raise store.ProjectError(
                f"project {args.project} has no folders yet; give one: "
                f"panoptui import {args.project} FOLDER"
            )
        printer = ProgressPrinter(quiet=args.json)
        cancel = threading.Event()
        try:
            summary = import_folders(
                con,
                folders or None,
                max_pixels=args.max_pixels,
                workers=args.workers,
                progress=printer,
                cancel=cancel,
            )
        except KeyboardInterrupt:
            printer.close()
            print(
                "panoptui: import interrupted; what was read is saved. "
                "Run the same command again to finish it.",
                file=sys.stderr,
            )
            return 130
        printer.close()
    finally:
        con.close()
    if args.json:
        print(json.dumps(summary.as_dict()))
        return 0
    for folder in summary.folders_not_found:
        print(f"warning: folder {folder} not found; its files are marked missing", file=sys.stderr)
    for problem in summary.folders_unreadable:
        print(f"warning: cannot read folder {problem}; it was not scanned", file=sys.stderr)
    print(
        f"imported in {summary.seconds:.1f}s: {summary.new} new, {summary.changed} changed, "
        f"{summary.restored} back, {summary.unchanged} unchanged, {summary.missing} missing, "
        f"{summary.failed} failed"
    )
    if summary.failed:
        print(f"see why with: panoptui errors {args.project}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from panoptui.core.status import project_status

    con = store.open_project(args.project, read_only=True)
    try:
        status = project_status(con, args.project)
    finally:
        con.close()
    if args.json:
        status.pop("folder_details")
        print(json.dumps(status))
        return 0
    print(f"project  {status['project']}")
    print(f"images   {status['images']}  ({status['files']} files on disk)")
    print(f"missing  {status['missing']} files")
    if status["stale"]:
        print(f"stale    {status['stale']} images (their files now hold other content)")
    print(
        f"errors   {status['errors']}" + ("  (panoptui errors PROJECT)" if status["errors"] else "")
    )
    print(f"folders  {len(status['folders'])}")  # type: ignore[arg-type]
    for folder in status["folder_details"]:  # type: ignore[attr-defined]
        last = folder["last_import"] or "never completed"
        print(f"  {folder['path']}  {folder['files']} files, last import {last}")
    return 0


def cmd_errors(args: argparse.Namespace) -> int:
    from panoptui.core.status import import_errors

    con = store.open_project(args.project, read_only=True)
    try:
        rows = import_errors(con)
    finally:
        con.close()
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print("no import errors")
    for row in rows:
        print(f"{row['path']}\n    {row['reason']}")
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    from panoptui.core.samples import write_samples

    try:
        paths = write_samples(args.folder, args.per_family)
    except OSError as exc:
        raise store.ProjectError(f"cannot write samples to {args.folder}: {exc.strerror}") from None
    print(f"wrote {len(paths)} images to {args.folder}")
    return 0


COMMANDS = {
    "import": cmd_import,
    "status": cmd_status,
    "errors": cmd_errors,
    "samples": cmd_samples,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except store.ProjectLocked as exc:
        print(f"panoptui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except store.ProjectError as exc:
        print(f"panoptui: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # `panoptui errors P | head`
        return 0
