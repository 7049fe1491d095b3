"""The command line: opens the terminal app (`panoptui PROJECT`, `panoptui demo`) or runs a
headless command.

Every problem a user can cause ends as one line on stderr and a non-zero exit code:
1 for a bad project, folder or value (a full disk too), 2 for a wrong argument or a project held
by another process, 130 for Ctrl-C ("panoptui: interrupted", at any moment, however often).

Text from files and users is printed through ``text.shown`` (terminal escapes in a file name are
shown, never run); --json output keeps the exact text. Suggested commands are shell-quoted.

This module imports only the standard library at load time: DuckDB, Arrow and numpy take a few
tenths of a second to import, and main loads them while it holds Ctrl-C (_load_core; main and
panoptui/__main__.py say why).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shlex
import signal
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from panoptui import __version__
from panoptui.core.text import shown

if TYPE_CHECKING:
    from panoptui.core import settings, store
    from panoptui.core.progress import Progress

EXIT_ERROR = 1
EXIT_USAGE = 2  # argparse's code for a wrong argument; also a project locked by another process
EXIT_INTERRUPTED = 130


def _load_core() -> None:
    """Import the modules every command uses (DuckDB, Arrow: slow) into this module's globals;
    main calls it while it holds Ctrl-C."""
    global settings, store
    from panoptui.core import settings, store


def command_line(*words: object) -> str:
    """A command to suggest, as a user can paste it: each word shell-quoted, then shown."""
    return shown(" ".join(shlex.quote(str(w)) for w in ("panoptui", *words)))


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


# The largest number DuckDB's BIGINT (ids, counts) holds: a larger one fails in the query.
MAX_NUMBER = 2**63 - 1


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:  # not a number, or one of thousands of digits
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"expected a number of at least {least}, got {value}")
    if value > MAX_NUMBER:
        raise argparse.ArgumentTypeError(f"expected a number of at most {MAX_NUMBER}, got {value}")
    return value


def _positive_int(text: str) -> int:
    return _whole_number(text, 1)


def _non_negative_int(text: str) -> int:
    return _whole_number(text, 0)


def _id_list(text: str) -> list[int]:
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise argparse.ArgumentTypeError("expected at least one id, like 1,2,3")
    try:
        return [_positive_int(part) for part in parts]
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"expected ids like 1,2,3: {exc}") from None


MODEL_HELP = (
    "clip (default), siglip, dinov2, mobilenet, pixels (no download), "
    "or open_clip:ARCH/PRETRAINED, timm:NAME, hf:ORG/NAME"
)


def _batch_size(text: str) -> int:
    from panoptui.core.vectorize import MAX_BATCH_SIZE

    value = _positive_int(text)
    if value > MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_BATCH_SIZE}, got {value}")
    return value


class _CommandParser(argparse.ArgumentParser):
    """The parser of one command (``tag``, ``vectors create``): it refuses an unknown argument
    itself, so that the error comes with this command's usage, not the top-level one (argparse
    leaves extra arguments to the top-level parser)."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def build_parser() -> argparse.ArgumentParser:
    from panoptui.core.decode import DEFAULT_MAX_PIXELS
    from panoptui.core.duplicates import DEFAULT_THRESHOLD
    from panoptui.core.models import DEFAULT_MODEL
    from panoptui.core.vectorize import DEFAULT_BATCH_SIZE

    parser = argparse.ArgumentParser(
        prog="panoptui",
        description="Explore large image corpora with deep-learning embeddings, from a terminal.",
    )
    parser.add_argument("--version", action="version", version=f"panoptui {__version__}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_CommandParser
    )

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
    imp.add_argument(
        "--follow-links",
        action="store_true",
        help="follow symbolic links that lead out of the imported folders (default: only links "
        "that stay inside them)",
    )
    imp.add_argument("--json", action="store_true", help="print the summary as JSON")

    status = commands.add_parser("status", help="print what a project holds")
    status.add_argument("project", metavar="PROJECT")
    status.add_argument("--json", action="store_true", help="print one JSON object")

    folders = commands.add_parser(
        "folders",
        help="list a project's folders; remove one, or record that one moved",
        description="List the folders of PROJECT. --remove forgets a folder and its files; "
        "--move records that a folder now lives elsewhere, keeping its images, tags and vectors.",
    )
    folders.add_argument("project", metavar="PROJECT")
    change = folders.add_mutually_exclusive_group()
    change.add_argument("--remove", metavar="PATH", help="forget this folder and its files")
    change.add_argument(
        "--move", nargs=2, metavar=("OLD", "NEW"), help="the folder OLD is now at NEW"
    )
    folders.add_argument("--json", action="store_true", help="print a JSON list")

    errors = commands.add_parser("errors", help="list the files that could not be imported")
    errors.add_argument("project", metavar="PROJECT")
    errors.add_argument("--json", action="store_true", help="print a JSON list")

    vectors = commands.add_parser(
        "vectors",
        help="create, list, resume and delete vector sets",
        description="A vector set holds one vector per image, made by one model.",
    )
    vector_commands = vectors.add_subparsers(
        dest="vectors_command", metavar="ACTION", required=True
    )
    create = vector_commands.add_parser(
        "create",
        help="compute a new vector set",
        description=f"Compute a vector for every image of PROJECT with a model: {MODEL_HELP}",
    )
    create.add_argument("project", metavar="PROJECT")
    create.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME", help=MODEL_HELP)
    create.add_argument(
        "--greyscale", action="store_true", help="embed greyscale copies of the images"
    )
    resume = vector_commands.add_parser(
        "resume", help="finish an incomplete vector set (and embed images imported since)"
    )
    resume.add_argument("project", metavar="PROJECT")
    resume.add_argument("set_id", metavar="ID", type=_positive_int)
    for command in (create, resume):
        command.add_argument(
            "--weights", metavar="PATH", help="local weights: a checkpoint file or model folder"
        )
        command.add_argument(
            "--device",
            default=None,
            help="auto (cuda, then mps, then cpu), cpu, cuda, mps (default: the project's "
            "setting, else auto)",
        )
        command.add_argument(
            "--batch-size",
            type=_batch_size,
            default=None,
            help=f"images per batch (default: the project's setting, else {DEFAULT_BATCH_SIZE}; "
            "resume: the set's own)",
        )
        command.add_argument(
            "--workers",
            type=_non_negative_int,
            default=None,
            help="decoding processes (default: cores - 1 on a GPU; on the CPU, a decoding "
            "thread per core between batches; 0 decodes in the main thread)",
        )
        command.add_argument("--json", action="store_true", help="print the summary as JSON")
    listing = vector_commands.add_parser("list", help="list the vector sets of a project")
    listing.add_argument("project", metavar="PROJECT")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    failures = vector_commands.add_parser(
        "errors", help="list the images of a vector set that could not be embedded, and why"
    )
    failures.add_argument("project", metavar="PROJECT")
    failures.add_argument("set_id", metavar="ID", type=_positive_int)
    failures.add_argument("--json", action="store_true", help="print a JSON list")
    delete = vector_commands.add_parser("delete", help="delete a vector set")
    delete.add_argument("project", metavar="PROJECT")
    delete.add_argument("set_id", metavar="ID", type=_positive_int)

    default = vector_commands.add_parser(
        "default", help="choose the vector set queries use when not told (--vectors)"
    )
    default.add_argument("project", metavar="PROJECT")
    default.add_argument("set_id", metavar="ID", type=_positive_int)

    similar = commands.add_parser(
        "similar", help="the images most similar to an image of the project or to a file"
    )
    similar.add_argument("project", metavar="PROJECT")
    similar.add_argument("image", metavar="IMAGE_PATH", nargs="?", help="any image file")
    similar.add_argument("--id", type=_positive_int, help="an image of the project, by id")
    similar.add_argument("--min-score", type=float, default=None, help="cut below this cosine")
    search = commands.add_parser("search", help="text-to-image search (CLIP-like sets)")
    search.add_argument("project", metavar="PROJECT")
    search.add_argument("text", metavar="TEXT")
    recommend = commands.add_parser(
        "recommend", help="images close to a group that are not in it yet"
    )
    recommend.add_argument("project", metavar="PROJECT")
    recommend.add_argument("--ids", type=_id_list, help="the group: image ids, comma-separated")
    recommend.add_argument(
        "--tag", metavar="GROUP", help="the group: a tag, or a cluster as CLUSTERING:LABEL"
    )
    cluster = commands.add_parser(
        "cluster", help="group images by similarity (k-means, or choose k automatically)"
    )
    cluster.add_argument("project", metavar="PROJECT")
    how = cluster.add_mutually_exclusive_group(required=True)
    how.add_argument("--k", type=_positive_int, help="this many clusters")
    how.add_argument(
        "--auto", action="store_true", help="choose the number (best cosine silhouette)"
    )
    cluster.add_argument("--name", help="save under this name (default: made up)")
    cluster.add_argument(
        "--within",
        metavar="GROUP",
        help="cluster only a group: a tag, or one cluster as CLUSTERING:LABEL (re-cluster it)",
    )
    duplicates = commands.add_parser(
        "duplicates", help="exact duplicates and groups of near-duplicate images"
    )
    duplicates.add_argument("project", metavar="PROJECT")
    duplicates.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"cosine linking two images (default {DEFAULT_THRESHOLD})",
    )
    duplicates.add_argument("--vectors", type=_positive_int, metavar="ID", help="vector set")
    duplicates.add_argument("--json", action="store_true", help="print the groups as JSON")
    map_ = commands.add_parser("map", help="a 2-D map of a vector set (PCA or t-SNE)")
    map_.add_argument("project", metavar="PROJECT")
    map_.add_argument("--vectors", type=_positive_int, metavar="ID", help="vector set")
    map_.add_argument("--method", choices=("pca", "tsne"), default="pca")
    map_.add_argument("--png", metavar="FILE", help="draw the map to a PNG file")
    map_.add_argument("--force", action="store_true", help="overwrite the PNG file if it exists")
    colour = map_.add_mutually_exclusive_group()
    colour.add_argument("--by-clustering", metavar="NAME", help="colour dots by cluster")
    colour.add_argument("--by-tag", metavar="TAG", help="colour by the tags under TAG")
    map_.add_argument("--json", action="store_true", help="print the points as JSON")
    export = commands.add_parser(
        "export", help="write images, metadata, tags and clusters to CSV or Parquet"
    )
    export.add_argument("project", metavar="PROJECT")
    export.add_argument("file", metavar="FILE.csv|FILE.parquet")
    export.add_argument(
        "--vectors", type=_positive_int, metavar="ID", help="add a vector set's vectors (Parquet)"
    )
    export.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    export.add_argument(
        "--csv-raw",
        action="store_true",
        help="write CSV cells exactly; by default a cell starting with = + - @ (a formula to a "
        "spreadsheet) gets a leading single quote",
    )
    tag = commands.add_parser("tag", help="tag images (or untag them with --remove)")
    tag.add_argument("project", metavar="PROJECT")
    tag.add_argument("name", metavar="NAME")
    source = tag.add_mutually_exclusive_group(required=True)
    source.add_argument("--ids", type=_id_list, help="image ids, comma-separated")
    source.add_argument(
        "--from-clustering", metavar="CLUSTERING", help="one tag per cluster, NAME/LABEL"
    )
    source.add_argument(
        "--from-duplicates",
        action="store_true",
        help="one tag per group of near-duplicates, NAME/1, NAME/2, ... (see 'duplicates')",
    )
    tag.add_argument(
        "--threshold", type=float, default=DEFAULT_THRESHOLD, help="with --from-duplicates"
    )
    tag.add_argument("--vectors", type=_positive_int, metavar="ID", help="with --from-duplicates")
    tag.add_argument("--remove", action="store_true", help="untag the --ids instead")
    tag_list = commands.add_parser("tags", help="list tags; rename or delete one")
    tag_list.add_argument("project", metavar="PROJECT")
    tag_list.add_argument("--rename", nargs=2, metavar=("OLD", "NEW"))
    tag_list.add_argument("--delete", metavar="NAME", help="delete a tag (and tags under it)")
    tag_list.add_argument("--json", action="store_true", help="print a JSON list")
    cluster.add_argument("--vectors", type=_positive_int, metavar="ID", help="vector set")
    cluster.add_argument("--json", action="store_true", help="print the clusters as JSON")
    for command in (similar, search, recommend):
        command.add_argument(
            "--in-tag",
            metavar="GROUP",
            help="search only among a group: a tag, or a cluster as CLUSTERING:LABEL",
        )
        command.add_argument(
            "--vectors",
            type=_positive_int,
            metavar="ID",
            help="vector set (default: the project's default, see 'vectors default')",
        )
        command.add_argument("-k", type=_positive_int, default=20, help="how many (default 20)")
        command.add_argument("--folder", help="search only below this folder")
        command.add_argument("--device", default="auto", help="where a model runs, if needed")
        command.add_argument("--json", action="store_true", help="print a JSON list")

    opener = commands.add_parser(
        "open",
        help="open the terminal app on a project (or a folder of images to make one of); "
        "`panoptui PATH` does the same",
    )
    opener.add_argument("path", metavar="PROJECT_OR_FOLDER")
    _image_protocol_option(opener)

    demo = commands.add_parser(
        "demo",
        help="make a synthetic corpus, import it, compute pixels vectors and open the app",
    )
    demo.add_argument(
        "folder",
        metavar="FOLDER",
        nargs="?",
        default=str(Path("~/panoptui-demo").expanduser()),
        help="where the demo's images and project go (default ~/panoptui-demo)",
    )
    _image_protocol_option(demo)

    samples = commands.add_parser(
        "samples", help="write a small synthetic image corpus to try panoptui with"
    )
    samples.add_argument("folder", metavar="FOLDER")
    samples.add_argument(
        "--per-family", type=_positive_int, default=8, help="images per family (6 families)"
    )
    return parser


def _image_protocol_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--image-protocol",
        choices=("auto", "kitty", "sixel", "halfcell", "none"),
        help="how images are drawn (default: the project's setting, else auto-detect)",
    )


def _run_app(
    project: str | Path, protocol: str | None, start: str, folder: str | None = None
) -> int:
    """Open the terminal app. textual-image probes the terminal when imported, which must happen
    before Textual takes the terminal over: hence the order here."""
    import gc

    con = None
    read_only = False
    if folder is None:
        con, read_only = store.open_project_as_permitted(project)
        protocol = protocol or settings.load(con)["image_protocol"]
    from panoptui.tui.images import prepare

    drawing = prepare(protocol or "auto")
    from panoptui.tui.app import PanoptuiApp

    app = PanoptuiApp(
        project, drawing=drawing, start=start, con=con, folder=folder, read_only=read_only
    )
    app.run()
    # Everything the app held, database connections included, is freed before the interpreter
    # exits (else DuckDB's bindings report them as leaked).
    gc.collect()
    return app.return_code or 0


def default_project_for(folder: Path) -> Path:
    """Where a project for a folder of images goes: hidden inside it (the import skips hidden
    folders, and the project moves with the images), or in the user's data folder when the
    folder is read-only, named after the folder and a hash of its full path (two read-only
    folders named alike get two projects)."""
    if os.access(folder, os.W_OK):
        return folder / ".panoptui"
    folder = folder.expanduser().absolute()
    projects = Path(os.environ.get("XDG_DATA_HOME", "~/.local/share")).expanduser()
    projects = projects / "panoptui" / "projects"
    legacy = projects / folder.name
    if _holds_folder(legacy, folder):  # made by an earlier version, named by the folder only
        return legacy
    key = hashlib.sha256(os.fsencode(folder)).hexdigest()[:12]
    # Letters, digits, . _ - only: a project path must be valid UTF-8, and DuckDB takes a
    # backslash for a separator. The hash keeps names that this folds together apart.
    name = re.sub(r"[^\w.-]+", "_", folder.name).strip("._") or "folder"
    return projects / f"{name}-{key}"


def _holds_folder(project: Path, folder: Path) -> bool:
    """Whether ``project`` exists and imported ``folder`` (False when it cannot be read)."""
    import duckdb

    if not store.is_project(project):
        return False
    try:
        con = store.open_project(project, read_only=True)
    except store.ProjectError:
        return False
    try:
        found = store.scalar(con, "SELECT count(*) FROM folders WHERE path = ?", [str(folder)])
    except duckdb.Error:
        found = 0
    finally:
        con.close()
    return bool(found)


def cmd_open(args: argparse.Namespace) -> int:
    path = Path(args.path).expanduser().absolute()
    if store.is_project(path):
        return _run_app(path, args.image_protocol, "results")
    if not path.exists():
        raise store.ProjectError(f"{args.path} does not exist")
    if not path.is_dir():
        raise store.ProjectError(f"{args.path} is a file; give a project or a folder of images")
    project = default_project_for(path)
    if store.is_project(project):  # opened this folder before
        return _run_app(project, args.image_protocol, "results")
    return _run_app(project, args.image_protocol, "project", folder=str(path))


def cmd_demo(args: argparse.Namespace) -> int:
    """A newcomer's first minute: a synthetic corpus, imported, with pixels vectors, opened."""
    from panoptui.core.demo import build_demo

    print(f"preparing the demo in {shown(args.folder)} ...", file=sys.stderr)
    printer = ProgressPrinter()
    project = build_demo(args.folder, progress=printer)
    printer.close()
    return _run_app(project, args.image_protocol, "results")


def cmd_import(args: argparse.Namespace) -> int:
    from panoptui.core.scan import import_folders, resolve_folder

    # Check every folder before creating anything, so a typo leaves no empty project behind.
    folders = [resolve_folder(f) for f in args.folders]
    con = store.open_project(args.project, create=bool(folders))
    try:
        if not folders and not store.scalar(con, "SELECT count(*) FROM folders"):
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
                thumb_size=settings.load(con)["thumb_size"],
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
    finally:
        con.close()
    if args.json:
        print(json.dumps(summary.as_dict()))
        return 0
    for folder in summary.folders_not_found:
        print(
            f"warning: folder {shown(folder)} not found; its files are marked missing",
            file=sys.stderr,
        )
    for problem in summary.folders_unreadable:
        print(f"warning: cannot read folder {shown(problem)}; it was not scanned", file=sys.stderr)
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


def _skipped_lines(summary: Any) -> list[str]:
    """What the import left alone: files it does not read, by extension, and links it did not
    follow."""
    lines = []
    skipped = dict(summary.skipped)  # by extension; scan.NO_EXTENSION for none
    if skipped:
        total = sum(skipped.values())
        counts = ", ".join(
            f"{n} {shown(ext)}"
            for ext, n in sorted(skipped.items(), key=lambda item: (-item[1], item[0]))
        )
        lines.append(f"skipped {total} {_plural(total, 'file')} panoptui does not read: {counts}")
    if summary.links_not_followed:
        n = summary.links_not_followed
        lines.append(
            f"did not follow {n} {_plural(n, 'link')} leading out of the imported folders "
            "(--follow-links follows them)"
        )
    return lines


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _count(n: int, word: str) -> str:
    """``1 image``, ``2 images``: a count as the CLI prints it."""
    return f"{n} {_plural(n, word)}"


def cmd_status(args: argparse.Namespace) -> int:
    from panoptui.core.status import project_status
    from panoptui.core.vectorize import list_sets

    con = store.open_project(args.project, read_only=True)
    try:
        status = project_status(con, args.project)
        sets = list_sets(con)
    finally:
        con.close()
    if args.json:
        status.pop("folder_details")
        status["vector_sets"] = [v.as_dict() for v in sets]
        print(json.dumps(status))
        return 0
    print(f"project  {shown(status['project'])}")
    print(f"images   {status['images']}  ({status['files']} files on disk)")
    print(f"missing  {_count(status['missing'], 'file')}")
    if status["stale"]:
        print(f"stale    {_count(status['stale'], 'image')} (their files now hold other content)")
    see = f"  (see them with: {command_line('errors', args.project)})" if status["errors"] else ""
    print(f"errors   {status['errors']}{see}")
    print(f"folders  {len(status['folders'])}")  # type: ignore[arg-type]
    for folder in status["folder_details"]:  # type: ignore[attr-defined]
        last = folder["last_import"] or "never completed"
        print(f"  {shown(folder['path'])}  {_count(folder['files'], 'file')}, last import {last}")
    print(f"vectors  {_count(len(sets), 'set')}")
    if sets:
        _print_sets(sets)
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
        print(f"{shown(row['path'])}\n    {shown(row['reason'])}")
    return 0


def _print_sets(sets: list) -> None:
    if not sets:
        print("no vector sets yet; create one with: panoptui vectors create PROJECT --model clip")
        return
    print(f"{'id':>3}  {'model':<24} {'grey':<5} {'dim':>5} {'vectors':>15} {'errors':>6}  status")
    for v in sets:
        done = f"{v.count}/{v.total}"
        grey = "yes" if v.greyscale else "no"
        model = shown(v.model)
        print(f"{v.id:>3}  {model:<24} {grey:<5} {v.dim:>5} {done:>15} {v.errors:>6}  {v.status}")


def _run_vectors(args: argparse.Namespace, resume_id: int | None) -> int:
    from panoptui.core import vectorize
    from panoptui.core.models import load_embedder

    con = store.open_project(args.project)
    try:
        if resume_id is not None:
            vector_set = vectorize.get_set(con, resume_id)
            model, greyscale = vector_set.model, vector_set.greyscale
            weights = args.weights or vector_set.weights
        else:
            model, greyscale = args.model, args.greyscale
            weights = str(Path(args.weights).expanduser().resolve()) if args.weights else None
        quiet = args.json
        prefs = settings.load(con)
        if not quiet:
            print(
                f"loading model {shown(model)} ...",
                file=sys.stderr if not sys.stdout.isatty() else None,
            )
        embedder = load_embedder(model, weights, args.device or prefs["device"])
        if resume_id is None:
            batch_size = args.batch_size or prefs["batch_size"]
            set_id = vectorize.create_set(con, embedder, greyscale, weights, batch_size)
        else:
            set_id = resume_id
        printer = ProgressPrinter(quiet=quiet)
        try:
            summary = vectorize.compute_vectors(
                con,
                set_id,
                embedder,
                batch_size=args.batch_size,
                workers=args.workers,
                progress=printer,
            )
        except KeyboardInterrupt:
            printer.close()
            say_interrupted(
                "panoptui: interrupted; the vectors computed so far are saved. "
                f"Finish with: {command_line('vectors', 'resume', args.project, set_id)}"
            )
            return EXIT_INTERRUPTED
        printer.close()
        result = vectorize.get_set(con, set_id)
    finally:
        con.close()
    if args.json:
        print(json.dumps({**summary.as_dict(), "set": result.as_dict()}))
        return 0
    rate = summary.done / summary.seconds if summary.seconds else 0.0
    print(
        f"vector set {set_id} ({shown(result.model)}{', greyscale' if result.greyscale else ''}, "
        f"{result.dim}-d on {embedder.device}): {_count(summary.done, 'image')} embedded in "
        f"{summary.seconds:.1f}s ({rate:.1f} images/s), {_count(summary.errors, 'error')}; "
        f"{result.count}/{result.total} done, {result.status}"
    )
    if result.errors:
        print(f"see why with: {command_line('vectors', 'errors', args.project, set_id)}")
    return 0


def cmd_vectors(args: argparse.Namespace) -> int:
    from panoptui.core import vectorize

    action = args.vectors_command
    if action == "create":
        return _run_vectors(args, None)
    if action == "resume":
        return _run_vectors(args, args.set_id)
    con = store.open_project(args.project, read_only=action in ("list", "errors"))
    try:
        if action == "delete":
            vectorize.delete_set(con, args.set_id)
            print(f"deleted vector set {args.set_id}")
            return 0
        if action == "default":
            vectorize.set_default(con, args.set_id)
            print(f"queries now use vector set {args.set_id} unless told otherwise")
            return 0
        if action == "errors":
            rows = vectorize.vector_errors(con, args.set_id)
            if args.json:
                print(json.dumps(rows))
            for row in [] if args.json else rows:
                print(f"{shown(row['path'])}\n    {shown(row['reason'])}")
            if not rows and not args.json:
                print(f"no errors in vector set {args.set_id}")
            return 0
        sets = vectorize.list_sets(con)
    finally:
        con.close()
    if args.json:
        print(json.dumps([v.as_dict() for v in sets]))
    else:
        _print_sets(sets)
    return 0


def _print_hits(hits: list, as_json: bool) -> None:
    if as_json:
        print(json.dumps([h.as_dict() for h in hits]))
        return
    if not hits:
        print("no images found")
    for rank, hit in enumerate(hits, 1):
        print(f"{rank:>3}  {hit.score:6.3f}  {hit.image_id:>7}  {shown(hit.path)}")


def cmd_query(args: argparse.Namespace) -> int:
    """similar, search and recommend: one vector set, a query, the k best images."""
    import numpy as np

    from panoptui.core import cluster, query, vectorize
    from panoptui.core.models import TEXT_PRESETS

    con = store.open_project(args.project, read_only=True)
    try:
        vector_set = vectorize.default_set(con, args.vectors)
        within = query.folder_images(con, str(Path(args.folder).resolve())) if args.folder else None
        if args.in_tag:
            members = cluster.group_members(con, args.in_tag)
            within = members if within is None else np.intersect1d(within, members)
        if args.command == "search" and not vector_set.embeds_text:
            able = [f"{v.id} ({v.model})" for v in vectorize.list_sets(con) if v.embeds_text]
            raise store.ProjectError(
                f"vector set {vector_set.id} ({vector_set.model}) embeds images only; "
                + (
                    f"sets that embed text: {', '.join(able)}"
                    if able
                    else f"create one that does: panoptui vectors create PROJECT --model "
                    f"{' or '.join(TEXT_PRESETS)}"
                )
            )
        matrix = query.VectorMatrix.load(con, vector_set.id)
        if args.command == "recommend":
            if bool(args.ids) == bool(args.tag):
                raise store.ProjectError("give the group with --ids or --tag (one of them)")
            group = args.ids or cluster.group_members(con, args.tag).tolist()
            hits = query.recommend(con, matrix, group, args.k, within)
        elif args.command == "similar" and args.id is not None:
            if args.image:
                raise store.ProjectError("give an IMAGE_PATH or --id, not both")
            hits = query.similar_to_image(con, matrix, args.id, args.k, args.min_score, within)
        else:
            if args.command == "similar" and not args.image:
                raise store.ProjectError("give an IMAGE_PATH or --id N")
            from panoptui.core.models import load_embedder

            embedder = load_embedder(vector_set.model, vector_set.weights, args.device)
            if args.command == "search":
                vector = embedder.embed_texts([args.text])[0]
                hits = query.similar_to_vector(con, matrix, vector, args.k, None, within)
            else:
                image = str(Path(args.image).expanduser())
                vector = vectorize.embed_file(embedder, image, vector_set.greyscale)
                known = query.image_at(con, str(Path(image).resolve()))
                ranked = matrix.top_k(
                    vector,
                    args.k,
                    min_score=args.min_score,
                    within=within,
                    exclude={known} if known is not None else None,
                )
                hits = query.to_hits(con, ranked)
    finally:
        con.close()
    _print_hits(hits, args.json)
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from panoptui.core import cluster, vectorize

    con = store.open_project(args.project)
    try:
        vector_set = vectorize.default_set(con, args.vectors)
        within = cluster.group_members(con, args.within) if args.within else None
        name, clusters = cluster.cluster_set(
            con, vector_set.id, None if args.auto else args.k, args.name, within
        )
    finally:
        con.close()
    if args.k and len(clusters) < args.k:
        # k-means finds no more clusters than there are distinct vectors.
        print(
            f"panoptui: found only {len(clusters)} distinct {_plural(len(clusters), 'cluster')} "
            f"where {args.k} were asked: the images' vectors are identical or too alike",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps([{"clustering": name, **c.as_dict()} for c in clusters]))
        return 0
    print(
        f"clustering {shown(repr(name))}: {_count(len(clusters), 'cluster')} of vector set "
        f"{vector_set.id}"
    )
    print(f"{'label':>5} {'size':>7} {'score':>6}  first images")
    for c in clusters:
        print(f"{c.label:>5} {c.size:>7} {c.score:6.3f}  {', '.join(map(str, c.ids[:8]))}")
    save = command_line("tag", args.project, name, "--from-clustering", name)
    print(f"save as tags with: {save}")
    return 0


def _near_duplicates(con, set_id: int | None, threshold: float) -> list[list[int]]:
    from panoptui.core import duplicates, query, vectorize

    if not -1.0 <= threshold <= 1.0:
        raise store.ProjectError(f"--threshold is a cosine, from -1 to 1; got {threshold}")
    matrix = query.VectorMatrix.load(con, vectorize.default_set(con, set_id).id)
    return duplicates.near_duplicate_groups(matrix, threshold)


def cmd_duplicates(args: argparse.Namespace) -> int:
    from panoptui.core import duplicates, vectorize

    con = store.open_project(args.project, read_only=True)
    try:
        vector_set = vectorize.default_set(con, args.vectors)
        near = duplicates.with_paths(con, _near_duplicates(con, vector_set.id, args.threshold))
        exact = duplicates.exact_duplicates(con)
    finally:
        con.close()
    if args.json:
        print(json.dumps(exact + near))
        return 0
    print(f"{_count(len(exact), 'image')} with identical copies at several paths")
    for group in exact:
        print(f"  image {group[0]['id']}: " + ", ".join(shown(m["path"]) for m in group))
    print(
        f"{_count(len(near), 'group')} of near-duplicates (vector set {vector_set.id}, "
        f"cosine >= {args.threshold})"
    )
    for n, group in enumerate(near, 1):
        print(f"  group {n} ({_count(len(group), 'image')})")
        for member in group:
            print(f"    {member['id']:>7}  {shown(member['path'])}")
    return 0


def cmd_map(args: argparse.Namespace) -> int:
    import numpy as np

    from panoptui.core import cluster, projection, tags, vectorize

    if args.png:  # checked first: a refused file costs no computing
        projection.check_png_target(args.png, args.force)
    con = store.open_project(args.project)
    try:
        vector_set = vectorize.default_set(con, args.vectors)
        ids, points = projection.compute_map(con, vector_set.id, args.method)
        groups = np.full(len(ids), -1)
        if args.by_clustering:
            for c in cluster.load_clustering(con, args.by_clustering):
                groups[np.isin(ids, c.ids)] = c.label
        elif args.by_tag:
            parent = tags.clean_name(args.by_tag)
            children = [str(t["name"]) for t in tags.list_tags(con) if t["parent"] == parent]
            for n, name in enumerate(children or [parent]):
                groups[np.isin(ids, tags.tag_members(con, name))] = n
    finally:
        con.close()
    if args.png:
        projection.draw_png(args.png, points, groups, force=args.force)
    if args.json:
        print(
            json.dumps(
                [
                    {"id": int(i), "x": float(x), "y": float(y), "group": int(g)}
                    for i, (x, y), g in zip(ids, points, groups, strict=True)
                ]
            )
        )
        return 0
    print(f"mapped {_count(len(ids), 'image')} of vector set {vector_set.id} with {args.method}")
    if args.png:
        print(f"drew {shown(args.png)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from panoptui.core.export import export

    con = store.open_project(args.project, read_only=True)
    try:
        rows = export(con, args.file, args.vectors, args.force, csv_raw=args.csv_raw)
    finally:
        con.close()
    print(f"wrote {_count(rows, 'row')} to {shown(args.file)}")
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    from panoptui.core import cluster, tags

    name = tags.clean_name(args.name)  # before any work: a blank name is refused
    con = store.open_project(args.project)
    try:
        if args.from_clustering:
            made = cluster.tags_from_clustering(con, args.from_clustering, name)
            print(f"made {_count(len(made), 'tag')} under {shown(repr(name))}")
        elif args.from_duplicates:
            from panoptui.core.duplicates import tag_groups

            groups = _near_duplicates(con, args.vectors, args.threshold)
            tag_groups(con, name, groups)
            print(
                f"made {_count(len(groups), 'tag')} under {shown(repr(name))}, "
                "one per near-duplicate group"
            )
        elif args.remove:
            tags.untag_images(con, name, args.ids)
            print(f"untagged {_count(len(args.ids), 'image')} from {shown(repr(name))}")
        else:
            added = tags.tag_images(con, name, args.ids)
            print(f"tagged {added} more {_plural(added, 'image')} {shown(repr(name))}")
    finally:
        con.close()
    return 0


def cmd_tags(args: argparse.Namespace) -> int:
    from panoptui.core import tags

    writing = bool(args.rename or args.delete)
    con = store.open_project(args.project, read_only=not writing)
    try:
        if args.rename:
            tags.rename_tag(con, *args.rename)
        if args.delete:
            tags.delete_tag(con, args.delete)
        rows = tags.list_tags(con)
    finally:
        con.close()
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print("no tags yet; tag images with: panoptui tag PROJECT NAME --ids 1,2,3")
    for row in rows:
        indent = "  " if row["parent"] else ""
        print(f"{indent}{shown(row['name'])}  ({_count(row['images'], 'image')})")
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    from panoptui.core.samples import write_samples

    try:
        paths = write_samples(args.folder, args.per_family)
    except OSError as exc:
        raise store.ProjectError(f"cannot write samples to {args.folder}: {exc.strerror}") from None
    print(f"wrote {_count(len(paths), 'image')} to {shown(args.folder)}")
    return 0


def cmd_folders(args: argparse.Namespace) -> int:
    from panoptui.core import folders

    changing = bool(args.remove or args.move)
    con = store.open_project(args.project, read_only=not changing)
    try:
        # Paths as typed: folders.py finds the folder a user means (it may be gone from disk).
        if args.remove:
            removed = folders.remove_folder(con, args.remove)
            print(
                f"removed folder {shown(args.remove)} and its {_count(removed, 'file')} "
                "from the project"
            )
        elif args.move:
            moved = folders.move_folder(con, *args.move)
            old, new = (shown(a) for a in args.move)
            print(f"folder {old} is now {new} ({_count(moved, 'file')} re-pointed)")
        listed = folders.list_folders(con)
    finally:
        con.close()
    if args.json:
        print(json.dumps([f.as_dict() for f in listed]))
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
        files = _count(folder.files, "file")
        print(f"{shown(folder.path)}  {files}, last import {last or 'never completed'}{gone}")
    return 0


COMMANDS = {
    "open": cmd_open,
    "demo": cmd_demo,
    "import": cmd_import,
    "status": cmd_status,
    "errors": cmd_errors,
    "folders": cmd_folders,
    "samples": cmd_samples,
    "vectors": cmd_vectors,
    "similar": cmd_query,
    "search": cmd_query,
    "recommend": cmd_query,
    "cluster": cmd_cluster,
    "duplicates": cmd_duplicates,
    "export": cmd_export,
    "map": cmd_map,
    "tag": cmd_tag,
    "tags": cmd_tags,
}


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
        parser = build_parser()
        if handling:
            # Installed before `held` is read: a Ctrl-C from now on raises, none is lost.
            signal.signal(signal.SIGINT, _on_interrupt)
        if held:
            say_interrupted()
            return EXIT_INTERRUPTED
        return _main(parser, argv)
    except KeyboardInterrupt:  # parsing the arguments, or a command's own cleanup
        say_interrupted()
        return EXIT_INTERRUPTED
    finally:
        _Interrupts.command_over = True


def _main(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `panoptui PATH`: a first word that is not a command but a path (one that exists, or one
    # written with a slash) is opened; anything else is a mistyped command, for argparse to say.
    words = [a for n, a in enumerate(argv) if not a.startswith("-") and not _option_value(argv, n)]
    if (
        words
        and words[0] not in COMMANDS
        and argv[0] not in ("-h", "--help", "--version")
        and ("/" in words[0] or os.path.exists(words[0]))
    ):
        argv = ["open", *argv]
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
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
