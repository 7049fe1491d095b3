"""Commands that order a vector set's images: rank (by how representative of their cluster, or
how unusual) and diverse (a few images that cover the set). The same core functions as the
app's Results screen (core/ranking.py: o and D there)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from panoptui.cli.images import where_option
from panoptui.cli.options import (
    json_option,
    positive_int,
    project_argument,
    project_connection,
    vectors_option,
)
from panoptui.cli.output import ProgressPrinter, count, print_json
from panoptui.core.text import shown

if TYPE_CHECKING:
    import duckdb

    from panoptui.cli.options import Commands
    from panoptui.core.ranking import Ranked


def register(commands: Commands) -> None:
    _add_rank(commands)
    _add_diverse(commands)


def _scope_options(command: argparse.ArgumentParser) -> None:
    """Which images are ordered: a group, a folder, or all; and from which vector set."""
    command.add_argument(
        "--in-tag", metavar="GROUP", help="only a group: a tag, or a cluster as CLUSTERING:LABEL"
    )
    command.add_argument("--folder", help="only the images below this folder")
    where_option(command)
    vectors_option(command, "vector set (default: the project's default, see 'vectors default')")
    json_option(command, "print a JSON list of {image_id, path, score}")


def _add_rank(commands: Commands) -> None:
    from panoptui.core.ranking import BY, DEFAULT_NEIGHBOURS

    rank = commands.add_parser(
        "rank",
        help="order images by how representative of their cluster, or how unusual, they are",
        description="representative: cosine to the centre of the image's cluster (in the "
        "set's newest clustering, or --clustering), highest first; images outside the "
        "clustering last. unusual: mean cosine distance to the image's k nearest neighbours "
        "in the whole set, outliers first.",
    )
    project_argument(rank)
    rank.add_argument("--by", choices=BY, required=True, help="the order")
    rank.add_argument("--clustering", metavar="NAME", help="representative: of this clustering")
    rank.add_argument(
        "-k",
        type=positive_int,
        default=DEFAULT_NEIGHBOURS,
        help=f"unusual: neighbours to average over (default {DEFAULT_NEIGHBOURS})",
    )
    rank.add_argument("--limit", type=positive_int, help="print at most this many (default: all)")
    _scope_options(rank)
    rank.set_defaults(handler=cmd_rank)


def cmd_rank(args: argparse.Namespace) -> int:
    from panoptui.core import cluster, query, ranking, store, vector_sets

    if args.clustering and args.by != "representative":
        raise store.ProjectError("--clustering goes with --by representative")
    with project_connection(args.project) as con:
        set_id = args.vectors
        if args.clustering and set_id is None:  # a named clustering: the set it was made from
            set_id = cluster.clustering_set(con, args.clustering)
        vector_set = vector_sets.default_set(con, set_id)
        within = query.scope(con, args.folder, args.in_tag, args.where)
        printer = ProgressPrinter(quiet=args.json)
        try:
            matrix = query.VectorMatrix.load(con, vector_set.id, progress=printer)
            if args.by == "unusual":
                found = ranking.rank_unusual(matrix, args.k, within, progress=printer)
                what = f"most unusual first (k={args.k})"
                score_is = f"mean cosine distance to its {args.k} nearest neighbours"
            else:
                name, found = ranking.rank_representative(
                    con, matrix, vector_set.id, args.clustering, within, progress=printer
                )
                what = f"most representative of their cluster in {shown(repr(name))} first"
                score_is = "cosine to its cluster's centre"
        finally:
            printer.close()
        found = found[: args.limit] if args.limit else found
        _print_ranked(con, found, args.json, f"vector set {vector_set.id}, {what}", score_is)
    return 0


def _add_diverse(commands: Commands) -> None:
    from panoptui.core.ranking import DEFAULT_DIVERSE

    diverse = commands.add_parser(
        "diverse",
        help="a few images that cover a set (greedy farthest-point sampling)",
        description="N images picked one at a time, each the farthest (in cosine) from those "
        "picked before, from the most central one: every cluster is reached before any gets "
        "a second image. Score: the cosine distance to the nearest image picked before.",
    )
    project_argument(diverse)
    diverse.add_argument(
        "-n",
        type=positive_int,
        default=DEFAULT_DIVERSE,
        help=f"how many (default {DEFAULT_DIVERSE})",
    )
    _scope_options(diverse)
    diverse.set_defaults(handler=cmd_diverse)


def cmd_diverse(args: argparse.Namespace) -> int:
    from panoptui.core import query, ranking, vector_sets

    with project_connection(args.project) as con:
        vector_set = vector_sets.default_set(con, args.vectors)
        within = query.scope(con, args.folder, args.in_tag, args.where)
        printer = ProgressPrinter(quiet=args.json)
        try:
            matrix = query.VectorMatrix.load(con, vector_set.id, progress=printer)
            found = ranking.diverse_sample(matrix, args.n, within, progress=printer)
        finally:
            printer.close()
        _print_ranked(
            con,
            found,
            args.json,
            f"{count(len(found), 'diverse image')} of vector set {vector_set.id}, "
            "in the order picked",
            "cosine distance to the nearest image picked before it",
        )
    return 0


def _print_ranked(
    con: duckdb.DuckDBPyConnection,
    found: list[Ranked],
    as_json: bool,
    title: str,
    score_is: str,
) -> None:
    """A numbered table of the images, under a title and a line saying what the score is."""
    from panoptui.core.query import paths_of

    paths = paths_of(con, [r.image_id for r in found])
    if as_json:
        print_json([{**r.as_dict(), "path": paths.get(r.image_id, "")} for r in found])
        return
    print(title)
    if not found:
        print("no images found")
        return
    print(f"score: {score_is}")
    print(f"{'#':>5}  {'score':>6}  {'id':>7}  path")
    for n, r in enumerate(found, 1):
        score = "     -" if r.score is None else f"{r.score:6.3f}"
        print(f"{n:>5}  {score}  {r.image_id:>7}  {shown(paths.get(r.image_id, ''))}")
