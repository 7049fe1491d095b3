"""`panoptui images`: the images a filter takes, sorted, with their properties, or their counts
per group. The filter language, the sort keys and the groups are core/filters.py's (the app's
filter bar uses the same); ``where_option`` adds ``--where`` to the query commands.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from panoptui.cli.options import json_option, positive_int, project_argument, project_connection
from panoptui.cli.output import count, print_json
from panoptui.core.text import shown

if TYPE_CHECKING:
    import duckdb

    from panoptui.cli.options import Commands

WHERE_HELP = (
    "only the images a filter takes, like: width > 1000 and tags has any (cat, dog) (see "
    "'panoptui images --help')"
)
LANGUAGE = """\
filter (--where): conditions joined by and, or, not and parentheses (keywords in any case):
  NAME = != < <= > >= VALUE    numbers, dates (1990-01-31, 1990-01-31T14:30) and text
  NAME contains "x"            text, case ignored; also startswith; NAME ~ "regex"
  NAME is set, NAME is not set
  NAME has any|all|none (a, b) tag properties (a tag's children count as it) and keywords
  checkboxes: = true, = false (not ticked, unset included)
  missing = true               images whose files are gone from disk, kept on record (listed
                               at their recorded paths); any filter without it: present ones
  text in double quotes ("a \\"b\\""); a single word may go bare. A comparison is false
  where the value is not set; path, name, folder and file properties: any of its files.
names: folder, path, name, format, width, height, size, missing, the metadata read from the
files (date_taken, date_offset, camera_make, camera_model, lens, focal_length, exposure, iso,
latitude, longitude, title, description, creator, keywords), the project's properties.
sort (--sort): names, comma-separated, - for descending: date_taken,-width (unset last);
a first key with - goes after =: --sort=-width.
group (--group-by): a name; a date by year, month or day: date_taken:year."""


def register(commands: Commands) -> None:
    images = commands.add_parser(
        "images",
        help="list images with their properties: filter, sort, count by group",
        description="The present images a filter takes (missing ones too when it names "
        "missing), sorted, with id, path and one value per property (or, with --group-by, "
        "how many in each group).",
        epilog=LANGUAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    project_argument(images)
    where_option(images, "only the images this filter takes (see below)")
    images.add_argument("--sort", metavar="KEYS", help="order by these names (see below)")
    images.add_argument("--limit", type=positive_int, help="at most this many (default: all)")
    images.add_argument(
        "--group-by", metavar="NAME", help="count the images per value of NAME instead"
    )
    json_option(images, "print a JSON list of objects (id, path, one key per property)")
    images.set_defaults(handler=cmd_images)


def where_option(command: argparse.ArgumentParser, help: str = WHERE_HELP) -> None:
    command.add_argument("--where", metavar="EXPR", help=help)


def cmd_images(args: argparse.Namespace) -> int:
    from panoptui.core import filters

    with project_connection(args.project) as con:
        if args.where and not check_where(con, args.where):
            return 1
        if args.group_by:
            groups = filters.group_counts(con, args.group_by, args.where)
        else:
            rows = filters.list_images(con, args.where, args.sort, args.limit)
            # All the filter takes, to say "the first 3 of 42" when --limit cut the list.
            total = len(rows)
            if args.limit is not None and len(rows) == args.limit:
                total = len(filters.select_ids(con, args.where))
    if args.group_by:
        _print_groups(groups, args.json)
    elif args.json:
        print_json([{k: _plain(v) for k, v in row.items()} for row in rows])
    else:
        _print_rows(rows, args.sort, total)
    return 0


def check_where(con: duckdb.DuckDBPyConnection, where: str) -> bool:
    """Whether a filter compiles; if not, says why in one line on stderr (on a terminal, the
    expression and a caret under the column follow it)."""
    from panoptui.core import filters

    try:
        filters.compile_filter(con, where)
    except filters.FilterError as exc:
        print(f"panoptui: {shown(exc)}", file=sys.stderr)
        if sys.stderr.isatty():
            print(shown(exc.pointer(where)), file=sys.stderr)
        return False
    return True


def _plain(value: Any) -> Any:
    """A value as JSON holds it: dates as ISO 8601 text."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _shown_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(shown(str(v)) for v in value) or "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return shown(str(_plain(value)))


def _print_rows(rows: list[dict[str, Any]], sort: str | None, total: int) -> None:
    """id, the sort keys' values, path: one line per image; then how many, of how many."""
    if not rows:
        print("no images found")
        return
    keys = [k.strip().lstrip("-").strip() for k in sort.split(",")] if sort else []
    keys = [k for k in keys if k in rows[0] and k not in ("id", "path")]
    table = [[_shown_value(row[k]) for k in keys] for row in rows]
    widths = [max(len(k), *(len(values[n]) for values in table)) for n, k in enumerate(keys)]
    print(
        "  ".join([f"{'id':>7}", *(k.ljust(w) for k, w in zip(keys, widths, strict=True)), "path"])
    )
    for row, values in zip(rows, table, strict=True):
        cells = [v.ljust(w) for v, w in zip(values, widths, strict=True)]
        print("  ".join([f"{row['id']:>7}", *cells, shown(row["path"] or "")]))
    if total > len(rows):
        print(f"the first {len(rows)} of {count(total, 'image')} (--limit)", file=sys.stderr)
    else:
        print(count(len(rows), "image"), file=sys.stderr)


def _print_groups(groups: list[tuple[Any, int]], as_json: bool) -> None:
    if as_json:
        print_json([{"group": _plain(g), "images": n} for g, n in groups])
        return
    if not groups:
        print("no images found")
        return
    print(f"{'images':>8}  group")
    for group, n in groups:
        print(f"{n:>8}  {'(not set)' if group is None else _shown_value(group)}")
