"""The Panoptic projects the tests build (tests/panoptic_scripts/) hold what
/work/briefs/panoptic/NOTES.md says they hold: read here with sqlite3 alone, so that a change on
Panoptic's side (a new release, a different layout) shows up as a failure here, not as a
mysterious one of `panoptui import-panoptic`."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import panoptic_env
import pytest
from conftest import PanopticProject
from panoptic_env import panoptic_python

TYPES = ("text", "number", "date", "checkbox", "url", "color", "tag", "multi_tags", "path",
         "image_link")  # fmt: skip
MODEL = "openai/clip-vit-base-patch32"


@contextmanager
def opened(db: Path) -> Iterator[sqlite3.Connection]:
    # immutable: nothing (no -wal, no -shm) is written beside the shared project's files
    con = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
    try:
        yield con
    finally:
        con.close()


def rows(con: sqlite3.Connection, sql: str, *args: object) -> list[tuple]:
    return con.execute(sql, args).fetchall()


def one(con: sqlite3.Connection, sql: str, *args: object) -> object:
    return con.execute(sql, args).fetchone()[0]


def image_files(images: Path) -> list[Path]:
    return sorted(p for p in images.rglob("*") if p.is_file())


# --- Panoptic 1.0 ----------------------------------------------------------------------------


def test_v1_has_its_three_databases_at_known_versions_and_no_wal_left(panoptic_v1):
    names = {p.name for p in panoptic_v1.project.iterdir()}
    assert {"project.db", "data.db", "media.db"} <= names
    assert not [n for n in names if n.endswith(("-wal", "-shm"))]  # closed cleanly
    for name, version in (("data.db", 2), ("media.db", 1), ("project.db", 1)):
        with opened(panoptic_v1.project / name) as con:
            assert rows(con, "SELECT value FROM _version WHERE key = 'db_version'") == [(version,)]


def test_v1_holds_every_file_once_and_the_sha1_of_its_bytes(panoptic_v1: PanopticProject):
    files = image_files(panoptic_v1.images)
    assert len(files) == 13
    with opened(panoptic_v1.project / "data.db") as con:
        assert one(con, "SELECT count(*) FROM folders") == 4
        assert one(con, "SELECT count(*) FROM files") == 13
        found = dict(
            rows(
                con,
                "SELECT fo.path || '/' || f.name, i.sha1 FROM instances i "
                "JOIN files f ON f.id = i.file_id JOIN folders fo ON fo.id = f.folder_id",
            )
        )
    expected = {str(p): hashlib.sha1(p.read_bytes()).hexdigest() for p in files}
    assert found == expected
    assert len(set(expected.values())) == 12  # the byte-identical copy shares its sha1


def test_v1_properties_every_type_and_mode_and_one_tombstone(panoptic_v1: PanopticProject):
    with opened(panoptic_v1.project / "data.db") as con:
        alive = rows(
            con,
            "SELECT name, dtype, mode FROM properties WHERE system_key IS NULL AND operation != -1",
        )
        dead = rows(con, "SELECT id, name FROM properties WHERE operation = -1")
        assert sorted(alive) == sorted(
            (f"{t}_{m}", t, m) for t in TYPES for m in ("sha1", "id", "file")
        )
        assert [name for _, name in dead] == ["to_delete"]
        # its value went with it, as a tombstone too
        assert rows(
            con, "SELECT value, operation FROM instance_values WHERE property_id = ?", dead[0][0]
        ) == [('"gone"', -1)]


def _tags(con: sqlite3.Connection, prop: str, alive: bool = True) -> dict[str, list[str]]:
    """Tag -> the names of its parents, of one tag property."""
    found = rows(
        con,
        "SELECT t.id, t.value, t.parents, t.operation FROM tags t "
        "JOIN properties p ON p.id = t.list_id WHERE p.name = ?",
        prop,
    )
    names = {tag_id: value for tag_id, value, _, _ in found}
    return {
        value: sorted(names[p] for p in json.loads(parents))
        for _, value, parents, op in found
        if (op != -1) == alive
    }


def test_v1_tag_hierarchies_with_a_deleted_tag_and_a_deleted_parent(panoptic_v1):
    hierarchy = {"animal": [], "pet": [], "cat": ["animal", "pet"], "dog": ["pet"],
                 "kitten": ["cat"]}  # fmt: skip
    with opened(panoptic_v1.project / "data.db") as con:
        for mode in ("sha1", "id", "file"):
            for dtype in ("tag", "multi_tags"):
                prop = f"{dtype}_{mode}"
                if prop not in ("multi_tags_id", "tag_sha1"):
                    assert _tags(con, prop) == hierarchy, prop
        # a deleted tag is a tombstone, and so are its 6 junction rows
        assert _tags(con, "multi_tags_id", alive=False) == {"dog": ["pet"]}
        assert "dog" not in _tags(con, "multi_tags_id")
        assert one(con, "SELECT count(*) FROM instance_tag_values WHERE operation = -1") == 6
        # a deleted parent stays in its child's parents in 1.0
        assert _tags(con, "tag_sha1", alive=False) == {"animal": []}
        assert _tags(con, "tag_sha1")["cat"] == ["animal", "pet"]
        # one tag taken off a multi_tags cell: its junction row is a tombstone
        assert one(con, "SELECT count(*) FROM sha1_tag_values WHERE operation = -1") == 1


def test_v1_values_follow_the_recipe_and_cleared_ones_are_null(panoptic_v1: PanopticProject):
    with opened(panoptic_v1.project / "data.db") as con:
        prop = dict(rows(con, "SELECT name, id FROM properties WHERE operation != -1"))
        ids = [i for (i,) in rows(con, "SELECT id FROM instances ORDER BY id")]
        by_instance = dict(
            rows(
                con,
                "SELECT instance_id, value FROM instance_values WHERE property_id = ?",
                prop["number_id"],
            )
        )
        # numbers are SQLite numbers (integer or real), not JSON text
        assert [by_instance[i] for i in ids] == [i * 1.5 if i % 3 else i for i in range(13)]
        dates = rows(
            con,
            "SELECT value FROM file_values WHERE property_id = ? ORDER BY file_id",
            prop["date_file"],
        )
        assert dates[0] == ('"2024-09-01T10:00:00Z"',)
        checks = rows(
            con, "SELECT value FROM instance_values WHERE property_id = ?", prop["checkbox_id"]
        )
        assert sorted(checks) == sorted([("false",)] * 6 + [("true",)] * 7)  # false is stored
        # a file-mode tag value is a JSON list of tag ids in file_values (no junction table)
        tag_file = rows(
            con, "SELECT value FROM file_values WHERE property_id = ?", prop["tag_file"]
        )
        assert len(tag_file) == 13 and all(len(json.loads(v)) == 1 for (v,) in tag_file)
        # cleared: value NULL with operation 1, not a tombstone
        cleared = rows(
            con,
            "SELECT property_id, operation FROM instance_values WHERE value IS NULL "
            "UNION ALL SELECT property_id, operation FROM sha1_values WHERE value IS NULL",
        )
        assert sorted(cleared) == sorted([(prop["text_id"], 1), (prop["text_sha1"], 1)])


def test_v1_two_vector_sets_one_half_computed(panoptic_v1: PanopticProject):
    with opened(panoptic_v1.project / "media.db") as con:
        sets = rows(con, "SELECT id, source, params FROM vector_types ORDER BY id")
        assert [(s, json.loads(p)) for _, s, p in sets] == [
            ("PanopticML", {"model": MODEL, "greyscale": False}),
            ("PanopticML", {"model": MODEL, "greyscale": True}),
        ]
        counts = rows(
            con,
            "SELECT type_id, count(*), min(length(data)), max(length(data)) FROM vectors "
            "GROUP BY type_id ORDER BY type_id",
        )
        assert [c[1:] for c in counts] == [(12, 2048, 2048), (6, 2048, 2048)]


# --- Panoptic 0.7 ----------------------------------------------------------------------------


def test_v07_one_database_version_7_no_tombstones(panoptic_v07: PanopticProject):
    assert (panoptic_v07.project / "panoptic.db").is_file()
    with opened(panoptic_v07.project / "panoptic.db") as con:
        assert rows(con, "SELECT value FROM panoptic WHERE key = 'db_version'") == [("7",)]
        assert one(con, "SELECT count(*) FROM folders") == 4
        assert rows(con, "SELECT count(*), count(DISTINCT sha1) FROM instances") == [(13, 12)]
        props = rows(con, "SELECT name, type, mode FROM properties")
        assert sorted(props) == sorted((f"{t}_{m}", t, m) for t in TYPES for m in ("sha1", "id"))
        # hard deletes: the deleted tag is gone from the value lists, its parent from cat
        tags = {
            prop: _tags07(con, prop)
            for prop in ("tag_sha1", "tag_id", "multi_tags_sha1", "multi_tags_id")
        }
        assert tags["tag_id"] == tags["multi_tags_sha1"] == {
            "animal": [], "pet": [], "cat": ["animal", "pet"], "dog": ["pet"], "kitten": ["cat"]
        }  # fmt: skip
        assert "dog" not in tags["multi_tags_id"] and len(tags["multi_tags_id"]) == 4
        assert tags["tag_sha1"] == {"pet": [], "cat": ["pet"], "dog": ["pet"], "kitten": ["cat"]}
        # an unchecked checkbox is no row in 0.7
        checked = one(
            con,
            "SELECT count(*) FROM instance_property_values v JOIN properties p "
            "ON p.id = v.property_id WHERE p.name = 'checkbox_id'",
        )
        assert checked == 7
        sets = rows(con, "SELECT source, params FROM vector_type ORDER BY id")
        assert [json.loads(p)["greyscale"] for _, p in sets] == [False, True]
        assert rows(con, "SELECT type_id, count(*) FROM vectors GROUP BY 1 ORDER BY 1") == [
            (1, 12), (2, 6)
        ]  # fmt: skip


def _tags07(con: sqlite3.Connection, prop: str) -> dict[str, list[str]]:
    found = rows(
        con,
        "SELECT t.id, t.value, t.parents FROM tags t JOIN properties p ON p.id = t.property_id "
        "WHERE p.name = ?",
        prop,
    )
    names = {tag_id: value for tag_id, value, _ in found}
    return {value: sorted(names[p] for p in json.loads(parents)) for _, value, parents in found}


# 0.7's sha1 (core/task/import_instance_task.py::_import_image): the image, made at most
# 1024 px, as RGB, saved as a JPEG of quality 30; sha1 of those bytes. Run with the 0.7 venv's
# Pillow: the bytes depend on Pillow's libjpeg.
SHA1_V07 = """
import hashlib, io, json, sys
from PIL import Image
out = {}
for path in sys.argv[1:]:
    image = Image.open(path)
    if image.width > 1024 or image.height > 1024:
        image.thumbnail((1024, 1024))
    buffer = io.BytesIO()
    image.convert('RGB').save(buffer, format='jpeg', quality=30)
    out[path] = hashlib.sha1(buffer.getvalue()).hexdigest()
print(json.dumps(out))
"""


def test_v07_sha1_is_that_of_the_image_as_a_jpeg_of_quality_30(panoptic_v07: PanopticProject):
    files = [str(p) for p in image_files(panoptic_v07.images)]
    done = subprocess.run(
        [str(panoptic_python("0.7.6")), "-c", SHA1_V07, *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    expected = json.loads(done.stdout)
    with opened(panoptic_v07.project / "panoptic.db") as con:
        found = dict(rows(con, "SELECT url, sha1 FROM instances"))
    assert found == expected
    # and not the sha1 of the file's bytes
    assert all(found[f] != hashlib.sha1(Path(f).read_bytes()).hexdigest() for f in files)


# --- the environments ------------------------------------------------------------------------


def test_an_environment_that_cannot_be_made_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("PANOPTUI_PANOPTIC_VENVS", str(tmp_path / "venvs"))
    monkeypatch.setattr(panoptic_env, "_checked", {})
    monkeypatch.setattr(panoptic_env, "_base_python", lambda: str(tmp_path / "no-python"))
    with pytest.raises(panoptic_env.PanopticEnvError) as raised:
        panoptic_python("1.0.0")
    said = str(raised.value)
    assert said.startswith(f"cannot make the Panoptic 1.0.0 environment in {tmp_path}/venvs/1.0.0")
    with pytest.raises(panoptic_env.PanopticEnvError, match="no Panoptic '2.0'"):
        panoptic_python("2.0")
