"""`panoptui classify`: label images by names or by the tags under a parent (zero-shot, through
the vector set's own text model; core/classify.py), shown like a clustering, saved as tags on
request."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from panoptui.cli.images import where_option
from panoptui.cli.options import (
    json_option,
    project_argument,
    project_connection,
    vectors_option,
)
from panoptui.cli.output import count, print_json
from panoptui.core.text import shown

if TYPE_CHECKING:
    from panoptui.cli.options import Commands

SHOWN_IDS = 8  # ids printed per group (--json gives them all)


def cosine(text: str) -> float:
    """A threshold: a cosine, -1 to 1 (nan, inf and 1.5 would leave every image out)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not -1 <= value <= 1:  # nan fails both
        raise argparse.ArgumentTypeError(f"expected a cosine from -1 to 1, got {text}")
    return value


def register(commands: Commands) -> None:
    classify = commands.add_parser(
        "classify",
        help="label images by names or a tag's children (zero-shot, CLIP-like sets)",
        description="Give each image the label whose text (the prompt with the label in it) "
        "its vector is closest to, by the vector set's own text model; with --multiple, every "
        "label at or above --threshold. Images below the threshold get none. Panoptic's "
        "'cluster by tags'.",
    )
    project_argument(classify)
    source = classify.add_mutually_exclusive_group(required=True)
    source.add_argument("--labels", help='the labels, comma-separated: "cat,dog,bird"')
    source.add_argument("--tags", metavar="PARENT", help="the tags under this tag are the labels")
    classify.add_argument(
        "--tag-property",
        metavar="NAME",
        help="with --tags, the tag property PARENT is a tag of (default: tags; an imported "
        "Panoptic project's tag properties keep their names)",
    )
    classify.add_argument(
        "--parent-names",
        choices=("use", "combine", "ignore"),
        default="use",
        help="with --tags, tags that have tags under them: labels too (use, the default), "
        "left out (ignore), or left out with their name put before their children's "
        "(combine: 'animals cat')",
    )
    classify.add_argument(
        "--prompt", default="a photo of {}", help="the text embedded, {} for the label"
    )
    classify.add_argument(
        "--threshold", type=cosine, help="a label needs at least this cosine (default: none)"
    )
    classify.add_argument(
        "--multiple", action="store_true", help="every label at or above --threshold"
    )
    vectors_option(classify, "vector set (default: the project's default, see 'vectors default')")
    classify.add_argument("--save-as", metavar="PARENT", help="tag the groups as PARENT/LABEL")
    where_option(classify)
    classify.add_argument("--device", default="auto", help="where the text model runs")
    json_option(classify, "print the groups as JSON")
    classify.set_defaults(handler=cmd_classify)


def cmd_classify(args: argparse.Namespace) -> int:
    from panoptui.cli.explore import load_set_model
    from panoptui.core import classify, query, store, tags, vector_sets

    if args.multiple and args.threshold is None:
        raise store.ProjectError("--multiple needs --threshold: every label at or above it")
    save_as = tags.clean_name(args.save_as) if args.save_as is not None else None
    with project_connection(args.project, write=save_as is not None) as con:
        if args.labels is not None:
            if args.tag_property is not None:
                raise store.ProjectError("--tag-property goes with --tags PARENT, not --labels")
            labels = classify.parse_labels(args.labels)
        else:
            property_id = store.TAGS_PROPERTY_ID
            if args.tag_property is not None:
                property_id = tags.tag_property(con, args.tag_property).id
            labels = classify.tag_labels(con, args.tags, args.parent_names, property_id)
        classify.prompt_texts(labels, args.prompt)  # a bad prompt: before anything loads
        vector_set = vector_sets.default_set(con, args.vectors)
        query.require_text(con, vector_set)  # before the matrix and the model load
        within = query.scope(con, None, None, args.where)
        matrix = query.VectorMatrix.load(con, vector_set.id)
        labelling = classify.classify_set(
            con,
            matrix,
            load_set_model(args.device),
            vector_set,
            labels,
            args.prompt,
            args.threshold,
            args.multiple,
            within,
        )
        saved = classify.save_as_tags(con, labelling, save_as) if save_as else []
    if args.json:
        print_json({"vector_set": vector_set.id, **labelling.as_dict(), "tags": saved})
        return 0
    width = max(len(shown(g.label)) for g in labelling.groups)
    for group in labelling.groups:
        ids = ", ".join(str(i) for i in group.ids[:SHOWN_IDS])
        more = ", ..." if group.size > SHOWN_IDS else ""
        line = f"{shown(group.label):<{width}}  {count(group.size, 'image'):>12}"
        print(f"{line}  mean {group.score:6.3f}  {ids}{more}" if group.ids else line)
    if labelling.unlabelled:
        print(f"unlabelled: {count(len(labelling.unlabelled), 'image')} (under the threshold)")
    if saved:
        print(f"saved {count(len(saved), 'tag')} under {shown(save_as)}")
    return 0
