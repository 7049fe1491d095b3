"""`panoptui tag` (tag and untag images, or make tags from a clustering or from duplicates) and
`panoptui tags` (list, rename, delete)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from panoptui.cli.explore import near_duplicates
from panoptui.cli.options import (
    id_list,
    json_option,
    project_argument,
    project_connection,
    vectors_option,
)
from panoptui.cli.output import count, plural, print_json
from panoptui.core.text import shown

if TYPE_CHECKING:
    from panoptui.cli.options import Commands


def register(commands: Commands) -> None:
    """Add tag and tags, in the order of `panoptui --help`."""
    _add_tag(commands)
    _add_tags(commands)


def _add_tag(commands: Commands) -> None:
    from panoptui.core.duplicates import DEFAULT_THRESHOLD

    tag = commands.add_parser("tag", help="tag images (or untag them with --remove)")
    project_argument(tag)
    tag.add_argument("name", metavar="NAME")
    source = tag.add_mutually_exclusive_group(required=True)
    source.add_argument("--ids", type=id_list, help="image ids, comma-separated")
    source.add_argument(
        "--refuse",
        type=id_list,
        metavar="IDS",
        help="images that do not belong in the tag: never recommended for it again",
    )
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
    vectors_option(tag, "with --from-duplicates")
    tag.add_argument("--remove", action="store_true", help="untag the --ids instead")
    tag.set_defaults(handler=cmd_tag)


def cmd_tag(args: argparse.Namespace) -> int:
    from panoptui.core import cluster, tags

    name = tags.clean_name(args.name)  # before any work: a blank name is refused
    with project_connection(args.project, write=True) as con:
        if args.from_clustering:
            made = cluster.tags_from_clustering(con, args.from_clustering, name)
            print(f"made {count(len(made), 'tag')} under {shown(repr(name))}")
        elif args.from_duplicates:
            from panoptui.core.duplicates import tag_groups

            groups = near_duplicates(con, args.vectors, args.threshold)
            tag_groups(con, name, groups)
            print(
                f"made {count(len(groups), 'tag')} under {shown(repr(name))}, "
                "one per near-duplicate group"
            )
        elif args.refuse:
            from panoptui.core.query import refuse_recommendations

            existed = tags.tag_exists(con, name)
            refused = refuse_recommendations(con, name, args.refuse)
            new_tag = "" if existed else f" (made the tag {shown(repr(name))}, still empty)"
            print(
                f"refused {count(refused, 'more image')} for {shown(repr(name))}: "
                f"recommend leaves them out{new_tag}"
            )
        elif args.remove:
            tags.untag_images(con, name, args.ids)
            print(f"untagged {count(len(args.ids), 'image')} from {shown(repr(name))}")
        else:
            added = tags.tag_images(con, name, args.ids)
            print(f"tagged {added} more {plural(added, 'image')} {shown(repr(name))}")
    return 0


def _add_tags(commands: Commands) -> None:
    tag_list = commands.add_parser("tags", help="list tags; rename or delete one")
    project_argument(tag_list)
    tag_list.add_argument("--rename", nargs=2, metavar=("OLD", "NEW"))
    tag_list.add_argument(
        "--delete", metavar="NAME", help="delete a tag (and the tags under it, which it names)"
    )
    tag_list.add_argument(
        "--property",
        metavar="NAME",
        help="list the tags of this tag property only (default: those of 'tags', then those "
        "of every other tag property, under its name)",
    )
    json_option(tag_list)
    tag_list.set_defaults(handler=cmd_tags)


def cmd_tags(args: argparse.Namespace) -> int:
    from panoptui.core import store, tags

    writing = bool(args.rename or args.delete)
    with project_connection(args.project, write=writing) as con:
        # Which properties to list: one asked for, or ``tags`` then every other tag property
        # holding tags (an imported Panoptic project's).
        if args.property is not None:
            chosen = tags.tag_property(con, args.property)
            listed = [chosen]
        else:
            listed = [
                tags.TagProperty(
                    store.TAGS_PROPERTY_ID, tags.property_name(con, store.TAGS_PROPERTY_ID)
                )
            ]
            listed += [p for p in tags.tag_properties(con) if p.id != store.TAGS_PROPERTY_ID]
        # --rename and --delete act on the tags of --property NAME (default: 'tags').
        acted_on = listed[0].id if args.property is not None else store.TAGS_PROPERTY_ID
        if args.rename:
            old, new = args.rename
            tags.rename_tag(con, old, new, property_id=acted_on)
        if args.delete:
            under = tags.delete_tag(con, args.delete, property_id=acted_on)
            if under:  # said on stderr: --json keeps stdout for the list
                print(
                    f"deleted {count(len(under), 'tag')} under {shown(repr(args.delete))} too",
                    file=sys.stderr,
                )
        sections = [(prop, tags.list_tags(con, prop.id)) for prop in listed]
    if args.json:
        print_json(
            [{**row.as_dict(), "property": prop.name} for prop, rows in sections for row in rows]
        )
        return 0
    if args.property is not None:
        ((prop, rows),) = sections
        if not rows:
            print(f"no tags in the property {shown(repr(prop.name))} yet")
    else:
        (_, rows), *others = sections
        if not rows and not others:
            print("no tags yet; tag images with: panoptui tag PROJECT NAME --ids 1,2,3")
    for n, (prop, rows) in enumerate(sections):
        if n > 0:  # another tag property's tags, under a line naming it
            print(f"property {shown(repr(prop.name))}:")
        for row in rows:
            print(f"{'  ' * row.depth}{shown(row.name)}  ({count(row.images, 'image')})")
    return 0
