"""`panoptui export`: images, metadata, tags, properties and clusters to CSV or Parquet (a
column per property), or Panoptic's CSV (--format panoptic); --where takes a filter."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from panoptui.cli.options import positive_int, project_argument, project_connection
from panoptui.cli.output import count
from panoptui.core.text import shown

if TYPE_CHECKING:
    from panoptui.cli.options import Commands


def register(commands: Commands) -> None:
    """Add export."""
    _add_export(commands)


def _add_export(commands: Commands) -> None:
    export = commands.add_parser(
        "export",
        help="write images, metadata, tags, properties and clusters to CSV or Parquet, "
        "or Panoptic's CSV",
    )
    project_argument(export)
    export.add_argument("file", metavar="FILE.csv|FILE.parquet")
    export.add_argument(
        "--vectors", type=positive_int, metavar="ID", help="add a vector set's vectors (Parquet)"
    )
    export.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    export.add_argument(
        "--csv-raw",
        action="store_true",
        help="write CSV cells exactly; by default a cell starting with = + - @ (a formula to a "
        "spreadsheet) gets a leading single quote, which panoptui's CSV import takes off but "
        "Panoptic's keeps: give --csv-raw for a file going to Panoptic",
    )
    export.add_argument(
        "--format",
        choices=("panoptic",),
        help="panoptic: Panoptic's CSV (';', path first, a name[type] column per property), "
        "which `panoptui properties import` and Panoptic read back",
    )
    export.add_argument(
        "--where", metavar="EXPR", help="only the images this filter takes (see: panoptui images)"
    )
    export.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from panoptui.core.export import export

    with project_connection(args.project) as con:
        rows = export(
            con, args.file, args.vectors, args.force, csv_raw=args.csv_raw, where=args.where,
            panoptic=args.format == "panoptic",
        )  # fmt: skip
    print(f"wrote {count(rows, 'row')} to {shown(args.file)}")
    return 0
