"""Commands that open the terminal app, and one to start with: open (`panoptui PATH` does the
same), demo, samples."""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from panoptui.cli.options import image_protocol_option, positive_int
from panoptui.cli.output import ProgressPrinter, count
from panoptui.core.text import shown

if TYPE_CHECKING:
    from panoptui.cli.options import Commands


def register(commands: Commands) -> None:
    """Add open, demo and samples, in the order of `panoptui --help`."""
    _add_open(commands)
    _add_demo(commands)
    _add_samples(commands)


def _add_open(commands: Commands) -> None:
    opener = commands.add_parser(
        "open",
        help="open the terminal app on a project (or a folder of images to make one of); "
        "`panoptui PATH` does the same",
    )
    opener.add_argument("path", metavar="PROJECT_OR_FOLDER")
    image_protocol_option(opener)
    opener.set_defaults(handler=cmd_open)


def cmd_open(args: argparse.Namespace) -> int:
    from panoptui.core import store

    path = Path(args.path).expanduser().absolute()
    if store.is_project(path):
        return _run_app(path, args.image_protocol, "results")
    if not path.exists():
        raise store.ProjectError(f"{args.path} does not exist")
    if not path.is_dir():
        raise store.ProjectError(f"{args.path} is a file; give a project or a folder of images")
    held = project_in(path)
    if held is not None:  # the demo's folder, or one opened before: never a second project
        return _run_app(held, args.image_protocol, "results")
    project = default_project_for(path)
    if store.is_project(project):  # opened this folder before
        return _run_app(project, args.image_protocol, "results")
    return _run_app(project, args.image_protocol, "project", folder=str(path))


def _add_demo(commands: Commands) -> None:
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
    image_protocol_option(demo)
    demo.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """A newcomer's first minute: a synthetic corpus, imported, with pixels vectors, opened."""
    from panoptui.core.demo import build_demo

    print(f"preparing the demo in {shown(args.folder)} ...", file=sys.stderr)
    printer = ProgressPrinter()
    project = build_demo(args.folder, progress=printer)
    printer.close()
    return _run_app(project, args.image_protocol, "results")


def _add_samples(commands: Commands) -> None:
    samples = commands.add_parser(
        "samples", help="write a small synthetic image corpus to try panoptui with"
    )
    samples.add_argument("folder", metavar="FOLDER")
    samples.add_argument(
        "--per-family", type=positive_int, default=8, help="images per family (6 families)"
    )
    samples.set_defaults(handler=cmd_samples)


def cmd_samples(args: argparse.Namespace) -> int:
    from panoptui.core import store
    from panoptui.core.samples import write_samples

    try:
        paths = write_samples(args.folder, args.per_family)
    except OSError as exc:
        raise store.ProjectError(f"cannot write samples to {args.folder}: {exc.strerror}") from None
    print(f"wrote {count(len(paths), 'image')} to {shown(args.folder)}")
    return 0


def _run_app(
    project: str | Path, protocol: str | None, start: str, folder: str | None = None
) -> int:
    """Open the terminal app. The terminal is asked how to draw pictures (images.prepare) before
    Textual takes it over: hence the order here."""
    import gc

    from panoptui.core import settings, store

    con = None
    read_only = False
    if folder is None:
        # The app owns this connection (and closes it), hence no project_connection here.
        con, read_only = store.open_project_as_permitted(project)
        protocol = protocol or settings.load(con).image_protocol
    from panoptui.tui.images import prepare

    drawing = prepare(protocol or "auto")
    if drawing.note:  # a forced protocol that cannot work here: say so, once, and go on
        print(f"panoptui: {drawing.note}", file=sys.stderr)
    from panoptui.tui.app import PanoptuiApp

    app = PanoptuiApp(
        project, drawing=drawing, start=start, con=con, folder=folder, read_only=read_only
    )
    app.run()
    # Everything the app held, database connections included, is freed before the interpreter
    # exits (else DuckDB's bindings report them as leaked).
    gc.collect()
    return app.return_code or 0


def project_in(folder: Path) -> Path | None:
    """The project a folder holds, if any: ``FOLDER/.panoptui`` (where `panoptui FOLDER` makes
    one), else a project folder right inside it (the demo's ``FOLDER/project``). Two or more
    such folders: which one to open is the user's choice, said in one line."""
    from panoptui.core import store

    hidden = folder / ".panoptui"
    if store.is_project(hidden):
        return hidden
    try:
        # scandir's entries know whether they are folders without a stat call each: a folder of
        # 100,000 images is listed in a fraction of a second.
        with os.scandir(folder) as entries:
            found = sorted(Path(e.path) for e in entries if e.is_dir() and store.is_project(e.path))
    except OSError:  # a folder that cannot be listed holds no project we can see
        return None
    if len(found) > 1:
        names = ", ".join(shown(p.name) for p in found[:3]) + (", ..." if len(found) > 3 else "")
        raise store.ProjectError(
            f"{shown(folder)} holds {len(found)} projects ({names}); open one of them"
        )
    return found[0] if found else None


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

    from panoptui.core import store
    from panoptui.core.scan import registered_folders

    if not store.is_project(project):
        return False
    try:
        con = store.open_project(project, read_only=True)
    except store.ProjectError:
        return False
    try:
        return str(folder) in {path for _, path in registered_folders(con)}
    except duckdb.Error:
        return False
    finally:
        con.close()
