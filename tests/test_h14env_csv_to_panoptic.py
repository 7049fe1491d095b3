"""Back to Panoptic (issue 14): `panoptui export PROJECT FILE.csv --format panoptic` read by
Panoptic 1.0.0's own CSV importer (panoptic/core/importer/importer.py, driven headlessly by
tests/panoptic_scripts/import_csv_v1.py with the web UI's defaults), into a Panoptic project of
the same images; then every value is read back from Panoptic's data.db.

What Panoptic takes: every type we write (text, url, number, date, checkbox, tag, multi_tags)
with names and values holding commas, quotes, semicolons, line breaks and any Unicode. What it
cannot take, whatever we write (the last test, so that a change on either side shows): a `[`
in a property name, a name with both `"` and `;`, a comma inside a tag name of a multi_tags
column, tag parents (its CSV has no place for them), and per-file values (the importer makes
every new property per image: sha1 mode, the first row of an image wins)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from helpers import run_cli
from panoptic_env import generate_images, run_panoptic

from panoptui.core import csv_io, properties, store, tags

QUOTED_NAME = 'note, "quoted"; été 東京'  # ; and " : Panoptic reads its header doubling the "
# name -> (our type, {image file (relative) -> value}); image mode
VALUES: dict[str, tuple[str, dict[str, object]]] = {
    "caption": ("text", {
        "img_000.png": 'a, b; "c"', "img_004.png": "two\nlines", "img_008.png": "été 東京 🙂",
        "a/img_001.jpg": "=1+1", "a/img_005.jpg": "-5 degrees", "a/img_009.jpg": "@someone",
    }),
    'say "hi"': ("text", {"img_000.png": "hello"}),
    "count": ("number", {
        "img_000.png": 3.0, "img_004.png": 1.5, "img_008.png": -2.25, "a/img_001.jpg": 1e-05,
        "a/img_005.jpg": 1e20, "a/img_009.jpg": 0.0,
    }),
    "when": ("date", {"img_000.png": datetime(2024, 9, 1),
                      "img_004.png": datetime(2024, 9, 2, 10, 30)}),
    "ok": ("checkbox", {"img_000.png": True, "img_004.png": False, "img_008.png": True}),
    "site": ("url", {"img_000.png": "https://example.org/a?b=1;c=2&d=é"}),
    "kind": ("tag", {"img_000.png": ["cat"], "img_004.png": ["chat, noir"],
                     "img_008.png": ["été"]}),
    "topics": ("multi_tag", {"img_000.png": ["a", "b"], "img_004.png": ["東京", "c;d"],
                             "img_008.png": ["e \"f\""]}),
}  # fmt: skip
# Panoptic's importer takes a date as the text written: ours, as panoptui formats dates.
DATES_WRITTEN = {"img_000.png": "2024-09-01", "img_004.png": "2024-09-02T10:30:00"}
LIMITS: dict[str, tuple[str, dict[str, object]]] = {
    "size [cm]": ("number", {"img_000.png": 7.0}),
    QUOTED_NAME: ("text", {"img_000.png": "x"}),
    "pair": ("multi_tag", {"img_000.png": ["x, y"]}),
}
SAME_IMAGE = {"c/img_000_copy.png": "img_000.png"}  # a byte-identical copy: one image
PER_FILE = {"img_000.png": "original", "c/img_000_copy.png": "copy"}  # one image, two files


@dataclass(frozen=True)
class Imported:
    images: Path
    project: Path  # the panoptui project exported
    panoptic: Path  # the Panoptic project the CSV went into
    answer: dict  # import_csv_v1.py's: headers, mapping, failed
    csv: str


def _fill(project: Path, images: Path) -> None:
    con = store.open_project(project)
    try:
        rows = con.execute("SELECT path, image_id, id FROM files").fetchall()
        image_of = {Path(p): int(i) for p, i, _ in rows}
        file_of = {Path(p): int(f) for p, _, f in rows}
        for name, (type_, by_file) in {**VALUES, **LIMITS}.items():
            prop = properties.create_property(con, name, type_)
            properties.set_each(con, prop, [(image_of[images / f], v) for f, v in by_file.items()])
        prop = properties.create_property(con, "per file", "text", "file")
        properties.set_each(con, prop, [(file_of[images / f], v) for f, v in PER_FILE.items()])
        # panoptui's own tags, with a parent
        tags.create_tag(con, "cat", parent="animal")
        tags.tag_images(con, "cat", [image_of[images / "img_000.png"]])
        tags.tag_images(con, "animal", [image_of[images / "img_004.png"]])
    finally:
        con.close()


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    root = tmp_path_factory.mktemp("csv-to-panoptic")
    images, project, target = root / "images", root / "panoptui", root / "out.csv"
    generate_images(images)
    done = run_cli("import", str(project), str(images))
    assert done.returncode == 0, done.stderr
    _fill(project, images)
    # --csv-raw: without it a text starting with = + - @ gets a leading ' for spreadsheets,
    # and Panoptic keeps that quote (its importer takes a text cell as it is: '=1+1)
    done = run_cli("export", str(project), str(target), "--format", "panoptic", "--csv-raw")
    assert done.returncode == 0, done.stderr
    answer_file = root / "answer.json"
    run_panoptic(
        "1.0.0", "import_csv_v1.py", str(images), str(root / "panoptic"), str(target),
        str(answer_file),
    )  # fmt: skip
    answer = json.loads(answer_file.read_text(encoding="utf-8"))
    return Imported(images, project, root / "panoptic", answer, target.read_text(encoding="utf-8"))


def _read(panoptic: Path) -> tuple[dict[str, tuple[str, str]], dict[tuple[str, str], object]]:
    """Panoptic's user properties (name -> (dtype, mode)) and their alive values by (property
    name, file path), tags as sorted lists of names."""
    con = sqlite3.connect(f"file:{panoptic / 'data.db'}?immutable=1", uri=True)
    try:
        props = {
            pid: (name, dtype, mode)
            for pid, name, dtype, mode in con.execute(
                "SELECT id, name, dtype, mode FROM properties "
                "WHERE system_key IS NULL AND operation != -1"
            )
        }
        paths_of: dict[str, list[str]] = {}
        for path, sha1 in con.execute(
            "SELECT fo.path || '/' || f.name, i.sha1 FROM instances i "
            "JOIN files f ON f.id = i.file_id JOIN folders fo ON fo.id = f.folder_id"
        ):
            paths_of.setdefault(sha1, []).append(path)
        tag_name = dict(con.execute("SELECT id, value FROM tags WHERE operation != -1"))
        values: dict[tuple[str, str], object] = {}
        for pid, sha1, value in con.execute(
            "SELECT property_id, sha1, value FROM sha1_values "
            "WHERE operation != -1 AND value IS NOT NULL"
        ):
            for path in paths_of[sha1]:
                values[(props[pid][0], path)] = (
                    json.loads(value) if isinstance(value, str) else value
                )
        for pid, sha1, tag_id in con.execute(
            "SELECT property_id, sha1, tag_id FROM sha1_tag_values WHERE operation != -1"
        ):
            for path in paths_of[sha1]:
                names = values.setdefault((props[pid][0], path), [])
                assert isinstance(names, list)
                names.append(tag_name[tag_id])
                names.sort()
        assert not con.execute("SELECT count(*) FROM instance_values").fetchone()[0]
        assert not con.execute("SELECT count(*) FROM file_values").fetchone()[0]
        return {name: (dtype, mode) for name, dtype, mode in props.values()}, values
    finally:
        con.close()


def _expected(type_: str, file: str, value: object) -> object:
    """A value as Panoptic should hold it."""
    if type_ == "date":
        return DATES_WRITTEN[SAME_IMAGE.get(file, file)]
    if type_ in ("tag", "multi_tag"):
        assert isinstance(value, list)
        return sorted(value)
    return value


def test_panoptic_accepts_the_file_every_row_and_cell(imported: Imported):
    headers, mapping = imported.answer["headers"], imported.answer["mapping"]
    assert headers["key"] == "path"
    names = [p["name"] for p in headers["col_to_property"].values()]
    assert set(VALUES) | {"tags", "per file"} <= set(names)
    limited = {str(names.index("size") + 1)}  # 'size [cm]': see the last test
    assert set(headers["errors"]) == limited
    assert mapping == {"missing_rows": [], "new_instances_count": 0}  # every row found its file
    assert imported.answer["failed"] == 0  # no cell Panoptic could not parse


def test_every_type_and_value_arrives_as_written(imported: Imported):
    props, values = _read(imported.panoptic)
    for name, (type_, by_file) in VALUES.items():
        assert props[name] == (properties_type(type_), "sha1"), name
        for file in sorted(p.relative_to(imported.images).as_posix() for p in _files(imported)):
            value = by_file.get(SAME_IMAGE.get(file, file))
            found = values.get((name, str(imported.images / file)))
            if value is None or value is False:  # false: no value, an unchecked box
                assert found is None, (name, file, found)
            else:
                assert found == _expected(type_, file, value), (name, file)
    # a number keeps its kind: integers as integers, the others as floats
    assert isinstance(values[("count", str(imported.images / "img_000.png"))], int)
    assert isinstance(values[("count", str(imported.images / "a/img_001.jpg"))], float)


def _files(imported: Imported) -> list[Path]:
    return [p for p in imported.images.rglob("*") if p.is_file()]


def properties_type(ours: str) -> str:
    return {"multi_tag": "multi_tags"}.get(ours, ours)


def test_our_tags_arrive_as_a_multi_tags_property_without_their_parents(imported: Imported):
    props, values = _read(imported.panoptic)
    assert props["tags"] == ("multi_tags", "sha1")
    assert values[("tags", str(imported.images / "img_000.png"))] == ["cat"]
    assert values[("tags", str(imported.images / "img_004.png"))] == ["animal"]
    con = sqlite3.connect(f"file:{imported.panoptic / 'data.db'}?immutable=1", uri=True)
    try:
        parents = dict(con.execute("SELECT value, parents FROM tags WHERE value = 'cat'"))
    finally:
        con.close()
    assert json.loads(parents["cat"]) == []  # Panoptic's data CSV has no place for parents


def test_what_panoptic_cannot_take_whatever_we_write(imported: Imported):
    props, values = _read(imported.panoptic)
    first = str(imported.images / "img_000.png")
    # Panoptic cuts a header at its first '[': 'size [cm][number]' is a text property 'size'
    assert props["size"] == ("text", "sha1") and values[("size", first)] == "7"
    # a name with ; and " must be quoted, and Panoptic's header reader keeps the "" doubled
    assert QUOTED_NAME.replace('"', '""') in props and values[
        (QUOTED_NAME.replace('"', '""'), first)
    ] == "x"  # fmt: skip
    # a comma inside a tag name splits it in a multi_tags cell (in our own reader too)
    assert values[("pair", first)] == ["x", "y"]
    # a per-file property becomes per image: of one image's two files, the first row wins
    assert props["per file"] == ("text", "sha1")
    assert values[("per file", first)] == values[
        ("per file", str(imported.images / "c/img_000_copy.png"))
    ] == "copy"  # fmt: skip


def test_our_own_reader_takes_the_same_names_back(imported: Imported, tmp_path: Path):
    target = tmp_path / "out.csv"
    target.write_text(imported.csv, encoding="utf-8")
    con = store.open_project(imported.project, read_only=True)
    try:
        plan = csv_io.plan_import(con, target)
    finally:
        con.close()
    assert not plan.problems and not plan.created  # every column is an existing property
    assert {c.name for c in plan.columns} >= set(VALUES) | set(LIMITS)
