"""Commands that explore a project: find (images by file name or path), and those that explore a
vector set: similar, search and recommend (the k best images for a query), cluster, duplicates,
and map."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from panoptui.cli.images import where_option
from panoptui.cli.options import (
    id_list,
    json_option,
    positive_int,
    project_argument,
    project_connection,
    vectors_option,
)
from panoptui.cli.output import ProgressPrinter, command_line, count, plural, print_json
from panoptui.core.text import shown

if TYPE_CHECKING:
    import duckdb

    from panoptui.cli.options import Commands
    from panoptui.core.duplicates import Group
    from panoptui.core.models.base import Embedder
    from panoptui.core.query import Hit, VectorMatrix
    from panoptui.core.vector_sets import VectorSet


def register(commands: Commands) -> None:
    """Add find, similar, search, recommend, cluster, duplicates and map, in the order of
    `panoptui --help`."""
    _add_find(commands)
    _add_similar(commands)
    _add_search(commands)
    _add_recommend(commands)
    _add_cluster(commands)
    _add_duplicates(commands)
    _add_map(commands)


def _add_find(commands: Commands) -> None:
    find = commands.add_parser(
        "find",
        help="images whose file name or path holds a text, or matches a glob (* ? [)",
        description="List the images with a file whose path holds PATTERN (case ignored), or, "
        "when PATTERN holds * ? or [, matches it as a glob: against the whole path if it "
        "starts with / or *, else against the path's end after a / (so 'cat_*.jpg' matches "
        "file names). The same search as F on the app's Results screen.",
    )
    project_argument(find)
    find.add_argument("pattern", metavar="PATTERN")
    find.add_argument("--tag", help="only among this tag's images")
    find.add_argument("--folder", help="only below this folder")
    find.add_argument("--limit", type=positive_int, help="at most this many (default: all)")
    json_option(find)
    find.set_defaults(handler=cmd_find)


def cmd_find(args: argparse.Namespace) -> int:
    from panoptui.core import browse

    flt = browse.name_filter(args.pattern, browse.ImageFilter(args.tag, args.folder))
    with project_connection(args.project) as con:
        total = browse.count_images(con, flt)
        found = browse.page_images(con, 0, min(total, args.limit or total), flt)
    if args.json:
        print_json([{"image_id": i, "path": path} for i, path in found])
        return 0
    if not found:
        print("no images found")
    for image_id, path in found:
        print(f"{image_id:>7}  {shown(path)}")
    if len(found) < total:
        # On stderr: stdout stays one image a line, for a pipe.
        print(
            f"(the first {len(found):,} of {count(total, 'image')}: see --limit)", file=sys.stderr
        )
    return 0


def _query_options(command: argparse.ArgumentParser) -> None:
    """The options of similar, search and recommend: where to look, and how many."""
    command.add_argument(
        "--in-tag",
        metavar="GROUP",
        help="search only among a group: a tag, or a cluster as CLUSTERING:LABEL",
    )
    vectors_option(command, "vector set (default: the project's default, see 'vectors default')")
    command.add_argument("-k", type=positive_int, default=20, help="how many (default 20)")
    command.add_argument("--folder", help="search only below this folder")
    where_option(command)
    command.add_argument("--device", default="auto", help="where a model runs, if needed")
    json_option(command)


def _add_similar(commands: Commands) -> None:
    similar = commands.add_parser(
        "similar", help="the images most similar to an image of the project or to a file"
    )
    project_argument(similar)
    similar.add_argument("image", metavar="IMAGE_PATH", nargs="?", help="any image file")
    similar.add_argument("--id", type=positive_int, help="an image of the project, by id")
    similar.add_argument("--min-score", type=float, default=None, help="cut below this cosine")
    _query_options(similar)
    similar.set_defaults(handler=cmd_query)


def _add_search(commands: Commands) -> None:
    search = commands.add_parser("search", help="text-to-image search (CLIP-like sets)")
    project_argument(search)
    search.add_argument("text", metavar="TEXT")
    _query_options(search)
    search.set_defaults(handler=cmd_query)


def _add_recommend(commands: Commands) -> None:
    recommend = commands.add_parser(
        "recommend", help="images close to a group that are not in it yet"
    )
    project_argument(recommend)
    recommend.add_argument("--ids", type=id_list, help="the group: image ids, comma-separated")
    recommend.add_argument(
        "--tag", metavar="GROUP", help="the group: a tag, or a cluster as CLUSTERING:LABEL"
    )
    _query_options(recommend)
    recommend.set_defaults(handler=cmd_query)


def cmd_query(args: argparse.Namespace) -> int:
    """similar, search and recommend: one vector set, a query, the k best images."""
    from panoptui.core import cluster, query, store, vector_sets

    with project_connection(args.project) as con:
        vector_set = vector_sets.default_set(con, args.vectors)
        within = query.scope(con, args.folder, args.in_tag, args.where)
        if args.command == "search":
            query.require_text(con, vector_set)  # before the matrix and the model load
        matrix = query.VectorMatrix.load(con, vector_set.id)
        if args.command == "recommend":
            if bool(args.ids) == bool(args.tag):
                raise store.ProjectError("give the group with --ids or --tag (one of them)")
            group = args.ids or cluster.group_members(con, args.tag).tolist()
            # A tag's refused images (panoptui tag --refuse, or R in the app) are left out.
            hits = query.recommend(con, matrix, group, args.k, within, tag=args.tag)
        elif args.command == "similar" and args.id is not None:
            if args.image:
                raise store.ProjectError("give an IMAGE_PATH or --id, not both")
            hits = query.similar_to_image(con, matrix, args.id, args.k, args.min_score, within)
        elif args.command == "search":
            hits = query.search_text(
                con, matrix, load_set_model(args.device), vector_set, args.text, args.k, within
            )
        else:
            if not args.image:
                raise store.ProjectError("give an IMAGE_PATH or --id N")
            embedder = load_set_model(args.device)(vector_set)
            hits = query.similar_to_file(
                con, matrix, embedder, vector_set, args.image, args.k, args.min_score, within
            )
    _print_hits(hits, args.json)
    return 0


def load_set_model(device: str) -> Callable[[VectorSet], Embedder]:
    """Loads a set's own model (and weights) on ``device``."""

    def load(vector_set: VectorSet) -> Embedder:
        from panoptui.core.models import load_embedder

        return load_embedder(vector_set.model, vector_set.weights, device)

    return load


def _print_hits(hits: list[Hit], as_json: bool) -> None:
    if as_json:
        print_json([h.as_dict() for h in hits])
        return
    if not hits:
        print("no images found")
    for rank, hit in enumerate(hits, 1):
        print(f"{rank:>3}  {hit.score:6.3f}  {hit.image_id:>7}  {shown(hit.path)}")


def _add_cluster(commands: Commands) -> None:
    cluster = commands.add_parser(
        "cluster", help="group images by similarity (k-means, or choose k automatically)"
    )
    project_argument(cluster)
    how = cluster.add_mutually_exclusive_group(required=True)
    how.add_argument("--k", type=positive_int, help="this many clusters")
    how.add_argument(
        "--auto", action="store_true", help="choose the number (best cosine silhouette)"
    )
    cluster.add_argument("--name", help="save under this name (default: made up)")
    cluster.add_argument(
        "--within",
        metavar="GROUP",
        help="cluster only a group: a tag, or one cluster as CLUSTERING:LABEL (re-cluster it)",
    )
    where_option(cluster)
    vectors_option(cluster)
    json_option(cluster, "print the clusters as JSON")
    cluster.set_defaults(handler=cmd_cluster)


def cmd_cluster(args: argparse.Namespace) -> int:
    from panoptui.core import cluster, query, vector_sets

    with project_connection(args.project, write=True) as con:
        vector_set = vector_sets.default_set(con, args.vectors)
        within = query.scope(con, None, args.within, args.where)
        printer = ProgressPrinter(quiet=args.json)
        try:
            name, clusters = cluster.cluster_set(
                con, vector_set.id, None if args.auto else args.k, args.name, within,
                progress=printer,
            )  # fmt: skip
        finally:
            printer.close()
    if args.k and len(clusters) < args.k:
        # k-means finds no more clusters than there are distinct vectors.
        print(
            f"panoptui: found only {len(clusters)} distinct {plural(len(clusters), 'cluster')} "
            f"where {args.k} were asked: the images' vectors are identical or too alike",
            file=sys.stderr,
        )
    if args.json:
        print_json([{"clustering": name, **c.as_dict()} for c in clusters])
        return 0
    print(
        f"clustering {shown(repr(name))}: {count(len(clusters), 'cluster')} of vector set "
        f"{vector_set.id}"
    )
    print(f"{'label':>5} {'size':>7} {'score':>6}  first images")
    for c in clusters:
        print(f"{c.label:>5} {c.size:>7} {c.score:6.3f}  {', '.join(map(str, c.ids[:8]))}")
    save = command_line("tag", args.project, name, "--from-clustering", name)
    print(f"save as tags with: {save}")
    return 0


def near_duplicates(
    con: duckdb.DuckDBPyConnection, set_id: int | None, threshold: float
) -> list[list[int]]:
    """The groups of near-duplicates of a vector set (duplicates, tag --from-duplicates): image
    ids, the representative first; pairs marked not duplicates never join a group."""
    return [g.ids for g in near_duplicate_groups(con, set_id, threshold)]


def near_duplicate_groups(
    con: duckdb.DuckDBPyConnection,
    set_id: int | None,
    threshold: float,
    where: str | None = None,
) -> list[Group]:
    """near_duplicates with each member's cosine to its representative; ``where``: among the
    images a filter takes only."""
    from panoptui.core import duplicates, query, store, vector_sets

    if not -1.0 <= threshold <= 1.0:
        raise store.ProjectError(f"--threshold is a cosine, from -1 to 1; got {threshold}")
    printer = ProgressPrinter()
    try:
        matrix = query.VectorMatrix.load(
            con, vector_sets.default_set(con, set_id).id, progress=printer
        )
        matrix = _filtered(con, matrix, where)
        excluded = duplicates.not_duplicate_pairs(con)
        return duplicates.near_groups(matrix, threshold, printer, excluded=excluded)
    finally:
        printer.close()


def _filtered(
    con: duckdb.DuckDBPyConnection, matrix: VectorMatrix, where: str | None
) -> VectorMatrix:
    """The rows of the images a filter takes (all without one)."""
    from panoptui.core import filters

    if not where:
        return matrix
    return matrix.among(filters.matching_ids(con, where))


def _add_duplicates(commands: Commands) -> None:
    from panoptui.core.duplicates import DEFAULT_THRESHOLD

    duplicates = commands.add_parser(
        "duplicates", help="exact duplicates and groups of near-duplicate images"
    )
    project_argument(duplicates)
    duplicates.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"cosine of a member to its group's representative (default {DEFAULT_THRESHOLD})",
    )
    duplicates.add_argument(
        "--histogram",
        action="store_true",
        help="to choose a threshold: nearest-neighbour cosines, and the groups per threshold",
    )
    where_option(duplicates)
    vectors_option(duplicates)
    json_option(duplicates, "print the groups as JSON")
    duplicates.set_defaults(handler=cmd_duplicates)


def cmd_duplicates(args: argparse.Namespace) -> int:
    from panoptui.core import duplicates, filters, query, store, vector_sets

    if args.histogram:
        if not -1.0 <= args.threshold <= 1.0:
            raise store.ProjectError(f"--threshold is a cosine, from -1 to 1; got {args.threshold}")
        thresholds = tuple(sorted({*duplicates.HISTOGRAM_THRESHOLDS, args.threshold}))
        with project_connection(args.project) as con:
            vector_set = vector_sets.default_set(con, args.vectors)
            if args.where:  # a bad filter fails before the work
                filters.compile_filter(con, args.where)
            printer = ProgressPrinter(quiet=args.json)
            try:
                matrix = query.VectorMatrix.load(con, vector_set.id, progress=printer)
                matrix = _filtered(con, matrix, args.where)
                excluded = duplicates.not_duplicate_pairs(con)
                found = duplicates.histogram(
                    matrix, thresholds, progress=printer, excluded=excluded
                )
            finally:
                printer.close()
        bins = [
            {"from": low, "to": high, "images": n}
            for low, high, n in zip(found.edges, found.edges[1:], found.counts, strict=False)
        ]
        per_threshold = [
            {"threshold": t, "groups": g, "images": n} for t, (g, n) in found.groups.items()
        ]
        if args.json:
            print_json({"nearest": bins, "thresholds": per_threshold})
            return 0
        print(f"nearest-neighbour cosine of each image (vector set {vector_set.id})")
        widest = max(found.counts, default=0) or 1
        for b in bins:
            bar = "#" * round(40 * b["images"] / widest)
            print(f"  {b['from']:4.2f}-{b['to']:4.2f} {b['images']:>8}  {bar}")
        print("groups per threshold")
        for t, (groups, images) in found.groups.items():
            mark = "  <- --threshold" if t == args.threshold else ""
            print(f"  {t:4.2f}  {count(groups, 'group')} ({count(images, 'image')}){mark}")
        return 0
    with project_connection(args.project) as con:
        vector_set = vector_sets.default_set(con, args.vectors)
        if args.where:  # a bad filter fails before the work
            filters.compile_filter(con, args.where)
        near = duplicates.with_paths(
            con, near_duplicate_groups(con, vector_set.id, args.threshold, args.where)
        )
        exact = duplicates.exact_duplicates(con)
        if args.where:
            taken = set(filters.matching_ids(con, args.where).tolist())
            exact = [group for group in exact if group[0]["id"] in taken]
    if args.json:
        print_json({"exact": exact, "near": near})
        return 0
    print(f"{count(len(exact), 'image')} with identical copies at several paths")
    for group in exact:
        print(f"  image {group[0]['id']}: " + ", ".join(shown(m["path"]) for m in group))
    print(
        f"{count(len(near), 'group')} of near-duplicates (vector set {vector_set.id}, "
        f"cosine >= {args.threshold} to the first of each group)"
    )
    for n, group in enumerate(near, 1):
        print(f"  group {n} ({count(len(group), 'image')})")
        for member in group:
            print(f"    {member['id']:>7}  {member['score']:6.3f}  {shown(member['path'])}")
    return 0


def _add_map(commands: Commands) -> None:
    map_ = commands.add_parser("map", help="a 2-D map of a vector set (PCA, t-SNE or UMAP)")
    project_argument(map_)
    vectors_option(map_)
    map_.add_argument("--method", choices=("pca", "tsne", "umap"), default="pca")
    map_.add_argument("--png", metavar="FILE", help="draw the map to a PNG file")
    map_.add_argument("--force", action="store_true", help="overwrite the PNG file if it exists")
    colour = map_.add_mutually_exclusive_group()
    colour.add_argument(
        "--by-clustering", metavar="NAME",
        help="colour dots by cluster (default: the newest clustering of the vector set)",
    )  # fmt: skip
    colour.add_argument("--by-tag", metavar="TAG", help="colour by the tags under TAG")
    where_option(
        map_,
        "show only the images this filter takes (the map itself is of the whole set, so "
        "that they sit where the map screen puts them); see 'panoptui images --help'",
    )
    json_option(map_, "print the points as JSON")
    map_.set_defaults(handler=cmd_map)


def cmd_map(args: argparse.Namespace) -> int:
    import dataclasses

    import numpy as np

    from panoptui.core import filters, projection, vector_sets

    if args.png:  # checked first: a refused file costs no computing
        projection.check_png_target(args.png, args.force)
    with project_connection(args.project, write=True) as con:
        vector_set = vector_sets.default_set(con, args.vectors)
        if args.where:  # a bad filter fails before the work
            filters.compile_filter(con, args.where)
        printer = ProgressPrinter(quiet=args.json)
        try:
            # As on the map screen: by default, the newest clustering of the same vector set.
            ids, points, colours = projection.map_with_colours(
                con, vector_set.id, args.method, by_clustering=args.by_clustering,
                by_tag=args.by_tag, newest_clustering=True, progress=printer,
            )  # fmt: skip
        finally:
            printer.close()
        if args.where:
            keep = np.isin(ids, filters.matching_ids(con, args.where))
            ids, points = ids[keep], points[keep]
            colours = dataclasses.replace(colours, groups=colours.groups[keep])
    groups = colours.groups
    if args.png:
        projection.draw_png(args.png, points, colours, force=args.force)
    if args.json:
        print_json(
            [
                {"id": int(i), "x": float(x), "y": float(y), "group": int(g)}
                for i, (x, y), g in zip(ids, points, groups, strict=True)
            ]
        )
        return 0
    print(
        f"mapped {count(len(ids), 'image')} of vector set {vector_set.id} with {args.method}, "
        f"coloured by {shown(colours.title)}"
    )
    if args.png:
        print(f"drew {shown(args.png)}")
    return 0
