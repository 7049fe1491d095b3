"""Issue 13: `panoptui properties` (list, create, rename, delete, change the type), `panoptui
set` and `panoptui undo`, as a user runs them: bad input is one line on stderr, exit 1, and
changes nothing."""

from __future__ import annotations

import json

import pytest
import tui_helpers
from helpers import assert_usage_error, run_cli

from panoptui.core import journal, store

demo_base, project = tui_helpers.demo_base, tui_helpers.project


def ok(*args: str) -> str:
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def refused(*args: str, message: str) -> None:
    done = run_cli(*args)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def listed(p) -> list[dict]:
    return json.loads(ok("properties", p, "--json"))


def annotations(p):
    con = store.open_project(p, read_only=True)
    try:
        tables = sorted(journal.JOURNALED) + ["journal"]
        return {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall())) for t in tables}
    finally:
        con.close()


def test_properties_set_and_undo_as_a_user_runs_them(project):
    p = str(project)
    assert ok("properties", p) == "tags  multi_tag  image  0 values\n"
    assert ok("properties", p, "--create", "year", "number") == (
        "created the number property 'year' (image)\n"
    )
    ok("properties", p, "--create", "box", "multi_tag", "--mode", "file")
    assert ok("properties", p, "--create", "year", "number") == (
        "there is already the number property 'year' (image)\n"
    )
    assert ok("set", p, "year", "1990", "--ids", "1,2") == "set 'year' to '1990' on 2 images\n"
    assert "on 1 file" in ok("set", p, "box", "box 1, box 2", "--ids", "1")
    assert ok("set", p, "box", "box 3", "--ids", "1", "--add") == (
        "added box 3 to 'box' on 1 file (1 new)\n"
    )
    assert [(r["name"], r["type"], r["mode"], r["values"]) for r in listed(p)] == [
        ("tags", "multi_tag", "image", 0),
        ("year", "number", "image", 2),
        ("box", "multi_tag", "file", 1),
    ]
    assert "'year' is a text now (2 values converted)" in ok(
        "properties", p, "--type", "year", "text"
    )
    ok("properties", p, "--rename", "year", "published")
    assert ok("set", p, "published", "--clear", "--ids", "2") == "cleared 'published' on 1 image\n"
    assert ok("undo", p, "-n", "2") == (
        "undid: clear 'published' on 1 image\nundid: rename the property 'year' to 'published'\n"
    )
    assert [(r["name"], r["type"], r["values"]) for r in listed(p)][1] == ("year", "text", 2)
    assert ok("undo", p, "--redo") == "redid: rename the property 'year' to 'published'\n"
    history = json.loads(ok("undo", p, "--list", "--json"))
    assert [e["undone"] for e in history][-2:] == [False, True]
    done = run_cli("properties", p, "--delete", "published")
    assert done.returncode == 1
    assert done.stderr == (
        "panoptui: deleting the property 'published' deletes 2 values; add --yes to delete it\n"
    )
    assert ok("properties", p, "--delete", "published", "--yes") == (
        "deleted the property 'published' and 2 values\n"
    )
    assert ok("undo", p) == "undid: delete the property 'published' (2 values)\n"
    assert [r["values"] for r in listed(p)] == [0, 2, 1]
    ok("undo", p, "-n", "100")
    assert ok("undo", p) == "nothing to undo\n"
    assert [r["name"] for r in listed(p)] == ["tags"]


def test_bad_input_is_one_line_and_changes_nothing(project):
    p = str(project)
    ok("properties", p, "--create", "year", "number")
    ok("properties", p, "--create", "note", "text")
    ok("set", p, "note", "twelve", "--ids", "1")
    before = annotations(p)
    refused("set", p, "yaer", "1990", "--ids", "1", message="did you mean 'year'?")
    refused("set", p, "year", "199O", "--ids", "1", message="'year' holds a number: '199O' is")
    refused("set", p, "year", "1990", "--ids", "1,999999", message="no image 999999")
    refused("properties", p, "--create", "width", "text", message="'width' is a built-in field")
    refused("properties", p, "--create", "c", "colour", message="unknown property type 'colour'")
    refused("properties", p, "--rename", "year", "path", message="is a built-in field")
    refused("properties", p, "--type", "note", "number", message="1 of 1 values do not fit")
    refused("properties", p, "--delete", "year", message="deletes 0 values; add --yes")
    refused("set", p, "note", "--ids", "1", message="give a VALUE, or --clear")
    refused("set", p, "note", "x", "--ids", "1", "--add", message="add and remove work on a multi")
    assert annotations(p) == before
    assert_usage_error(run_cli("set", p, "note", "x", "--ids", "a"), "set", "--ids")
    assert_usage_error(
        run_cli("properties", p, "--create", "a", "text", "--delete", "b"), "properties"
    )


def test_properties_import_is_handed_to_the_import_command():
    """`panoptui properties import PROJECT FILE.csv` (the issue's form) is parsed by the CSV
    import's own command, `properties-import`; `properties PROJECT` stays this one."""
    from panoptui.cli import build_parser
    from panoptui.cli.properties import IMPORT_COMMAND, _PropertiesParser

    parser, _ = build_parser()
    commands = _PropertiesParser.commands
    assert commands is not None
    if IMPORT_COMMAND not in commands.choices:  # until its module registers it
        importer = commands.add_parser(IMPORT_COMMAND)
        importer.add_argument("project")
        importer.add_argument("file")
        importer.set_defaults(handler="import handler")
    args = parser.parse_args(["properties", "import", "P", "values.csv"])
    assert args.handler == commands.choices[IMPORT_COMMAND].get_default("handler")
    assert (args.project, args.file) == ("P", "values.csv")
    args = parser.parse_args(["properties", "P", "--create", "year", "number"])
    assert (args.project, args.create, args.handler.__name__) == (
        "P",
        ["year", "number"],
        "cmd_properties",
    )


@pytest.mark.parametrize("redo", [False, True])
def test_undo_with_nothing_kept(project, redo):
    args = ["undo", str(project)] + (["--redo"] if redo else [])
    assert ok(*args) == f"nothing to {'redo' if redo else 'undo'}\n"
