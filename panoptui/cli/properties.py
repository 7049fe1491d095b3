"""`panoptui properties` (list, create, rename, delete, change the type of a property),
`panoptui set` (set, clear, add or remove a property's values on images) and `panoptui undo`
(take back the last annotation changes, or redo them): each a call to core/properties.py or
core/journal.py, which the app calls too.

`panoptui properties import PROJECT FILE.csv` is the CSV import's command
(`properties-import`, registered by its own module): the `properties` parser hands the words
after `import` to it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from panoptui.cli.options import (
    CommandParser,
    id_list,
    json_option,
    positive_int,
    project_argument,
    project_connection,
)
from panoptui.cli.output import count, print_json
from panoptui.core.text import shown

if TYPE_CHECKING:
    from panoptui.cli.options import Commands

IMPORT_COMMAND = "properties-import"


def register(commands: Commands) -> None:
    """Add properties, set and undo, in the order of `panoptui --help`."""
    _add_properties(commands)
    _add_set(commands)
    _add_undo(commands)


class _PropertiesParser(CommandParser):
    """The `properties` parser: `properties import ...` is the CSV import's command, parsed by
    its own parser (looked up when parsing: it is registered by another module)."""

    commands: Commands | None = None

    def parse_known_args(
        self, args: Iterable[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        words = list(sys.argv[1:] if args is None else args)
        importer = self.commands.choices.get(IMPORT_COMMAND) if self.commands else None
        if words[:1] == ["import"] and importer is not None:
            return importer.parse_known_args(words[1:], namespace)
        return super().parse_known_args(words, namespace)


def _add_properties(commands: Commands) -> None:
    from panoptui.core.properties import MODES, TYPES

    parser = commands.add_parser(
        "properties",
        help="list properties; create, rename, delete one or change its type",
        description="Without an action: list the properties, their type, mode and how many "
        "images (or files) hold a value.",
    )
    # One parser of this command's own class (add_parser makes the subparsers' class).
    parser.__class__ = _PropertiesParser
    _PropertiesParser.commands = commands
    project_argument(parser)
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--create", nargs=2, metavar=("NAME", "TYPE"), help=f"TYPE: {', '.join(TYPES)}"
    )
    action.add_argument("--rename", nargs=2, metavar=("OLD", "NEW"))
    action.add_argument("--delete", metavar="NAME", help="delete a property and its values")
    action.add_argument(
        "--type", nargs=2, metavar=("NAME", "TYPE"), help="change the type, values converted"
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="image",
        help="with --create: a value per image (its content, all its copies) or per file (path)",
    )
    parser.add_argument("--yes", action="store_true", help="with --delete: delete without asking")
    json_option(parser)
    parser.set_defaults(handler=cmd_properties)


def cmd_properties(args: argparse.Namespace) -> int:
    from panoptui.core import properties, store

    if args.yes and not args.delete:
        raise store.ProjectError("--yes goes with --delete")
    if args.mode != "image" and not args.create:
        raise store.ProjectError("--mode goes with --create")
    writing = bool(args.create or args.rename or args.delete or args.type)
    with project_connection(args.project, write=writing) as con:
        if args.create:
            name, type_ = args.create
            existed = properties.find_property(con, name) is not None
            made = properties.create_property(con, name, type_, args.mode)
            verb = "there is already" if existed else "created"
            _say(
                f"{verb} the {made.type} property {shown(repr(made.name))} ({made.mode})",
                args.json,
            )
        elif args.rename:
            renamed = properties.rename_property(con, *args.rename)
            old = shown(repr(args.rename[0]))
            _say(f"renamed the property {old} to {shown(repr(renamed.name))}", args.json)
        elif args.delete:
            prop = properties.get_property(con, args.delete)
            lost = properties.count_values(con, prop)
            if not args.yes:
                raise store.ProjectError(
                    f"deleting the property {shown(repr(prop.name))} deletes "
                    f"{count(lost, 'value')}; add --yes to delete it"
                )
            properties.delete_property(con, prop.name)
            _say(
                f"deleted the property {shown(repr(prop.name))} and {count(lost, 'value')}",
                args.json,
            )
        elif args.type:
            name, type_ = args.type
            retyped, converted = properties.change_type(con, name, type_)
            _say(
                f"{shown(repr(retyped.name))} is a {retyped.type} now "
                f"({count(converted, 'value')} converted)",
                args.json,
            )
        rows = properties.summaries(con)
    if args.json:
        print_json([row.as_dict() for row in rows])
    elif not writing:
        for row in rows:
            p = row.property
            print(f"{shown(p.name)}  {p.type}  {p.mode}  {count(row.values, 'value')}")
    return 0


def _say(line: str, json: bool) -> None:
    """What an action did; on stderr with --json, which keeps stdout for the list."""
    print(line, file=sys.stderr if json else sys.stdout)


def _add_set(commands: Commands) -> None:
    parser = commands.add_parser(
        "set",
        help="set a property's value on images (or clear it, add or remove tags)",
        description="VALUE is read by the property's type: 12.5, 1990-05-17 or 17/05/1990, "
        "true/false, a tag, tags separated by commas. A file-mode property's value goes to "
        "every path of each image.",
    )
    project_argument(parser)
    parser.add_argument("name", metavar="NAME", help="the property")
    parser.add_argument("value", metavar="VALUE", nargs="?")
    parser.add_argument("--ids", type=id_list, required=True, help="image ids, comma-separated")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--clear", action="store_true", help="clear the value (no VALUE)")
    how.add_argument("--add", action="store_true", help="multi_tag: add VALUE's tags")
    how.add_argument("--remove", action="store_true", help="multi_tag: remove VALUE's tags")
    parser.set_defaults(handler=cmd_set)


def cmd_set(args: argparse.Namespace) -> int:
    from panoptui.core import properties, store, tags

    if args.clear == (args.value is not None):
        raise store.ProjectError("give a VALUE, or --clear (not both)")
    with project_connection(args.project, write=True) as con:
        prop = properties.get_property(con, args.name)
        value: properties.Value = None
        if not args.clear:
            try:
                value = properties.parse_value(prop.type, args.value)
            except ValueError as exc:
                raise store.ProjectError(
                    f"{shown(repr(prop.name))} holds a {prop.type}: {shown(exc)}"
                ) from None
        images = tags.known_images(con, args.ids)
        targets = properties.targets_for_images(con, prop, images)
        what = "image" if prop.mode == "image" else "file"
        if args.add or args.remove:
            names = value if isinstance(value, list) else []
            if args.add:
                changed = properties.add_tags(con, prop, targets, names)
                print(
                    f"added {shown(', '.join(names))} to {shown(repr(prop.name))} on "
                    f"{count(len(targets), _target_word(prop.mode))} ({changed} new)"
                )
            else:
                changed = properties.remove_tags(con, prop, targets, names)
                print(
                    f"removed {shown(', '.join(names))} from {shown(repr(prop.name))} on "
                    f"{count(len(targets), _target_word(prop.mode))} ({changed} held)"
                )
            return 0
        properties.set_values(con, prop, targets, value)
        if args.clear:
            print(f"cleared {shown(repr(prop.name))} on {count(len(targets), what)}")
        else:
            shown_value = properties.format_value(prop.type, value)
            print(
                f"set {shown(repr(prop.name))} to {shown(repr(shown_value))} on "
                f"{count(len(targets), what)}"
            )
    return 0


def _add_undo(commands: Commands) -> None:
    parser = commands.add_parser(
        "undo",
        help="take back the last annotation changes (or redo them)",
        description="Annotation changes (values set or cleared, tags, properties) are kept in "
        "the project: the last ones can be taken back, also after a restart.",
    )
    project_argument(parser)
    parser.add_argument("-n", type=positive_int, default=1, metavar="N", help="how many (1)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--redo", action="store_true", help="make again the last undone ones")
    what.add_argument("--list", action="store_true", help="list the changes kept")
    json_option(parser, "with --list: print a JSON list")
    parser.set_defaults(handler=cmd_undo)


def cmd_undo(args: argparse.Namespace) -> int:
    from panoptui.core import journal

    with project_connection(args.project, write=not args.list) as con:
        if args.list:
            entries = journal.history(con)
            if args.json:
                print_json([entry.as_dict() for entry in entries])
            elif not entries:
                print("no changes kept yet")
            for entry in [] if args.json else entries:
                state = "  (undone)" if entry.undone else ""
                print(f"{entry.id}  {entry.changed_at:%Y-%m-%d %H:%M}  {shown(entry.said)}{state}")
            return 0
        done = journal.redo(con, args.n) if args.redo else journal.undo(con, args.n)
    verb = "redid" if args.redo else "undid"
    if not done:
        print(f"nothing to {'redo' if args.redo else 'undo'}")
    for said in done:
        print(f"{verb}: {shown(said)}")
    return 0


def _target_word(mode: str) -> str:
    return "image" if mode == "image" else "file"
