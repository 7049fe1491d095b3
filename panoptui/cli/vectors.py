"""`panoptui vectors ACTION`: create, resume, list, see the errors of, delete, and choose the
default vector set."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING, Any

from panoptui.cli import EXIT_INTERRUPTED, say_interrupted
from panoptui.cli.options import (
    batch_size,
    json_option,
    non_negative_int,
    positive_int,
    project_argument,
    project_connection,
    set_id_argument,
)
from panoptui.cli.output import (
    ProgressPrinter,
    command_line,
    count,
    print_json,
    print_path_reasons,
    print_sets,
    warn,
)
from panoptui.core.text import shown

if TYPE_CHECKING:
    from panoptui.cli.options import Commands

MODEL_HELP = (
    "clip (default), siglip, dinov2, mobilenet, pixels (no download), "
    "or open_clip:ARCH/PRETRAINED, timm:NAME, hf:ORG/NAME"
)


def register(commands: Commands) -> None:
    """Add `vectors` and its actions, in the order of `panoptui vectors --help`."""
    vectors = commands.add_parser(
        "vectors",
        help="create, list, resume and delete vector sets",
        description="A vector set holds one vector per image, made by one model.",
    )
    actions = vectors.add_subparsers(dest="vectors_command", metavar="ACTION", required=True)
    _add_create(actions)
    _add_resume(actions)
    _add_list(actions)
    _add_errors(actions)
    _add_delete(actions)
    _add_default(actions)


def _run_options(command: argparse.ArgumentParser, resume: bool = False) -> None:
    """The options of a vector run, shared by create and resume."""
    from panoptui.core.vector_sets import DEFAULT_BATCH_SIZE

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
        type=batch_size,
        default=None,
        help=(
            "images per batch, 1 to 4096 (default: the set's own, so that the batches are the same)"
            if resume
            else "images per batch, 1 to 4096 (default: the project's setting, else on CUDA the "
            f"largest power of two up to 512 that fits, else {DEFAULT_BATCH_SIZE})"
        ),
    )
    command.add_argument(
        "--cpu-decode",
        action="store_true",
        help="decode JPEGs on the CPU even where CUDA could (default: on the GPU there)",
    )
    command.add_argument(
        "--workers",
        type=non_negative_int,
        default=None,
        help="decoding processes (default: cores - 1 on a GPU; on the CPU, a decoding "
        "thread per core between batches; 0 decodes in the main thread)",
    )
    command.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="compute on Ray (pip install 'panoptui[ray]'), given after PROJECT: no ADDRESS "
        "(or local) starts a local instance; auto, HOST:PORT or ray://HOST:PORT joins an "
        "existing cluster",
    )
    command.add_argument(
        "--ray-workdir",
        metavar="DIR",
        default=None,
        help="with --ray: where the image list and the results go, on storage every node "
        "sees (default: PROJECT/ray-work)",
    )
    command.add_argument(
        "--ray-cpus",
        type=positive_int,
        default=None,
        metavar="N",
        help="with --ray and no ADDRESS: the cores the local Ray instance may use (default: all)",
    )
    json_option(command, "print the summary as JSON")


def _add_create(actions: Commands) -> None:
    from panoptui.core.models import DEFAULT_MODEL

    create = actions.add_parser(
        "create",
        help="compute a new vector set",
        description=f"Compute a vector for every image of PROJECT with a model: {MODEL_HELP}",
    )
    project_argument(create)
    create.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME", help=MODEL_HELP)
    create.add_argument(
        "--greyscale", action="store_true", help="embed greyscale copies of the images"
    )
    _run_options(create)
    create.set_defaults(handler=cmd_create)


def cmd_create(args: argparse.Namespace) -> int:
    return _run_vectors(args, None)


def _add_resume(actions: Commands) -> None:
    resume = actions.add_parser(
        "resume", help="finish an incomplete vector set (and embed images imported since)"
    )
    project_argument(resume)
    set_id_argument(resume)
    _run_options(resume, resume=True)
    resume.set_defaults(handler=cmd_resume)


def cmd_resume(args: argparse.Namespace) -> int:
    return _run_vectors(args, args.set_id)


def _run_vectors(args: argparse.Namespace, resume_id: int | None) -> int:
    from panoptui.core import store, vector_sets, vectorize

    if args.ray is not None:
        return _run_on_ray(args, resume_id)
    if args.ray_workdir is not None or args.ray_cpus is not None:
        raise store.ProjectError("--ray-workdir and --ray-cpus go with --ray")

    def loading(model: str) -> None:
        print(
            f"loading model {shown(model)} ...",
            file=sys.stderr if not sys.stdout.isatty() else None,
        )

    with project_connection(args.project, write=True) as con:
        quiet = args.json
        if resume_id is None:
            _note_identical_sets(con, args)
        set_id, embedder = vectorize.prepare_run(
            con,
            model=getattr(args, "model", ""),  # resume has no --model: the set's own
            greyscale=getattr(args, "greyscale", False),
            weights=args.weights,
            device=args.device,
            batch_size=args.batch_size,
            resume_id=resume_id,
            loading=None if quiet else loading,
        )
        printer = ProgressPrinter(quiet=quiet)
        try:
            summary = vectorize.compute_vectors(
                con,
                set_id,
                embedder,
                batch_size=args.batch_size,
                workers=args.workers,
                gpu_decode=False if args.cpu_decode else None,
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
        result = vector_sets.get_set(con, set_id)
    return _print_summary(args, summary, result, embedder.device, set_id)


def _note_identical_sets(con: Any, args: argparse.Namespace) -> None:
    """The app asks first; a script is told, and goes on."""
    from panoptui.core import vector_sets

    same = vector_sets.identical_sets(
        vector_sets.list_sets(con), args.model, args.greyscale, args.weights
    )
    if same:
        ids = ", ".join(str(s.id) for s in same)
        which = (
            f"vector set {ids} already holds"
            if len(same) == 1
            else (f"vector sets {ids} already hold")
        )
        warn(f"note: {which} these vectors; computing them again")


def _run_on_ray(args: argparse.Namespace, resume_id: int | None) -> int:
    """The same run with the images embedded on a Ray cluster (core/ray_vectors.py). What this
    machine can check is checked before Ray starts (seconds); Ray is reached, and every node
    checked, before the set is created: a cluster that cannot run the job leaves the project
    untouched."""
    from pathlib import Path

    from panoptui.core import ray_vectors, store, vector_sets, vectorize
    from panoptui.core.models import check_choice

    if args.workers is not None or args.cpu_decode:
        warn("note: --workers and --cpu-decode are ignored with --ray (Ray decodes)")
    if args.ray_cpus is not None and args.ray != ray_vectors.LOCAL:
        raise store.ProjectError("--ray-cpus sizes a local Ray instance: give it without ADDRESS")
    with project_connection(args.project, write=True) as con:
        weights = str(Path(args.weights).expanduser().resolve()) if args.weights else None
        if resume_id is None:
            model = args.model
        else:
            resumed = vector_sets.get_set(con, resume_id)
            model, weights = resumed.model, weights or resumed.weights
        ray_vectors.check_model(model)
        check_choice(model, weights, args.device or "cpu")
        if resume_id is None:
            _note_identical_sets(con, args)
        workdir = (
            Path(args.ray_workdir).expanduser().resolve()
            if args.ray_workdir
            else ray_vectors.default_workdir(con)
        )
        ray_vectors.check_workdir(workdir)
        # A complete set's resume has nothing for Ray to do: it is not started.
        needs_ray = resume_id is None or bool(vectorize.pending_images(con, resume_id))
        started = ray_vectors.connect(args.ray, args.ray_cpus) if needs_ray else False
        try:
            if needs_ray:
                ray_vectors.check_cluster(workdir, weights)
            # The model is loaded here only for its size and preprocessing (the nodes load
            # their own): on the CPU, leaving this machine's GPU to Ray.
            set_id, embedder = vectorize.prepare_run(
                con,
                model=getattr(args, "model", ""),
                greyscale=getattr(args, "greyscale", False),
                weights=args.weights,
                device=args.device or "cpu",
                batch_size=args.batch_size,
                resume_id=resume_id,
                loading=None if args.json else _say_loading,
            )
            printer = ProgressPrinter(quiet=args.json)
            try:
                summary = ray_vectors.compute_vectors_on_ray(
                    con,
                    set_id,
                    embedder,
                    workdir,
                    batch_size=args.batch_size,
                    weights=weights,
                    progress=printer,
                )
            except KeyboardInterrupt:
                printer.close()
                if vector_sets.get_set(con, set_id).status == vector_sets.COMPLETE:
                    say_interrupted(f"panoptui: interrupted; vector set {set_id} is complete")
                else:
                    say_interrupted(
                        "panoptui: interrupted; the vectors computed so far are saved. Finish "
                        f"with: {command_line('vectors', 'resume', args.project, set_id)} --ray"
                    )
                return EXIT_INTERRUPTED
            printer.close()
            result = vector_sets.get_set(con, set_id)
        finally:
            if started:
                ray_vectors.shutdown()
            if not args.ray_workdir:  # the default folder, inside the project: not left empty
                with contextlib.suppress(OSError):
                    workdir.rmdir()
    return _print_summary(args, summary, result, f"Ray {args.ray}", set_id)


def _say_loading(model: str) -> None:
    print(f"loading model {shown(model)} ...", file=sys.stderr if not sys.stdout.isatty() else None)


def _print_summary(
    args: argparse.Namespace, summary: Any, result: Any, where: str, set_id: int
) -> int:
    if args.json:
        print_json({**summary.as_dict(), "set": result.as_dict()})
        return 0
    earlier = getattr(summary, "from_earlier_runs", 0)  # a Ray run's, found in its shards
    embedded = summary.done - earlier
    rate = embedded / summary.seconds if summary.seconds else 0.0
    taken = f" and {earlier} taken from an earlier run" if earlier else ""
    print(
        f"vector set {set_id} ({shown(result.model)}{', greyscale' if result.greyscale else ''}, "
        f"{result.dim}-d on {where}): {count(embedded, 'image')} embedded in "
        f"{summary.seconds:.1f}s ({rate:.1f} images/s){taken}, "
        f"{count(summary.errors, 'error')}; {result.count}/{result.total} done, {result.status}"
    )
    if result.errors:
        print(f"see why with: {command_line('vectors', 'errors', args.project, set_id)}")
    return 0


def _add_list(actions: Commands) -> None:
    listing = actions.add_parser("list", help="list the vector sets of a project")
    project_argument(listing)
    json_option(listing)
    listing.set_defaults(handler=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    from panoptui.core import vector_sets

    with project_connection(args.project) as con:
        sets = vector_sets.list_sets(con)
    if args.json:
        print_json([v.as_dict() for v in sets])
    else:
        print_sets(sets)
    return 0


def _add_errors(actions: Commands) -> None:
    failures = actions.add_parser(
        "errors", help="list the images of a vector set that could not be embedded, and why"
    )
    project_argument(failures)
    set_id_argument(failures)
    json_option(failures)
    failures.set_defaults(handler=cmd_errors)


def cmd_errors(args: argparse.Namespace) -> int:
    from panoptui.core import vector_sets

    with project_connection(args.project) as con:
        rows = vector_sets.vector_errors(con, args.set_id)
    if args.json:
        print_json([row.as_dict() for row in rows])
        return 0
    print_path_reasons(rows)
    if not rows:
        print(f"no errors in vector set {args.set_id}")
    return 0


def _add_delete(actions: Commands) -> None:
    delete = actions.add_parser("delete", help="delete a vector set")
    project_argument(delete)
    set_id_argument(delete)
    delete.set_defaults(handler=cmd_delete)


def cmd_delete(args: argparse.Namespace) -> int:
    from panoptui.core import vector_sets

    with project_connection(args.project, write=True) as con:
        vector_sets.delete_set(con, args.set_id)
    print(f"deleted vector set {args.set_id}")
    return 0


def _add_default(actions: Commands) -> None:
    default = actions.add_parser(
        "default", help="choose the vector set queries use when not told (--vectors)"
    )
    project_argument(default)
    set_id_argument(default)
    default.set_defaults(handler=cmd_default)


def cmd_default(args: argparse.Namespace) -> int:
    from panoptui.core import vector_sets

    with project_connection(args.project, write=True) as con:
        vector_sets.set_default(con, args.set_id)
    print(f"queries now use vector set {args.set_id} unless told otherwise")
    return 0
