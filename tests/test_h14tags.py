"""Issue 14: a tag may have several parents (schema 9), as Panoptic's tags may (``cat`` under
both ``animal`` and ``pet``).

The upgrade is tested on a project that panoptui's schema-8 version made
(tests/data/schema8-project.tar.xz: built with the code of commit 7dd8aa6, its files taken with
``git archive``: 6 generated pictures imported through its CLI, then through its core the tags
animal > animal/cat, animal > animal/dog > animal/dog/puppy, a tag ``gone`` made under animal
and deleted, and ``pet`` (which took gone's id, 5); images 1-2 tagged animal/cat, 3
animal/dog/puppy, 4 animal/dog, 5 pet)."""

from __future__ import annotations

import csv
import json
import tarfile
from pathlib import Path

import duckdb
import pytest
from helpers import run_cli

from panoptui.core import browse, classify, export, journal, properties, store, tags

ARCHIVE = Path(__file__).parent / "data" / "schema8-project.tar.xz"

# The listing of the schema-8 project, as schema 8 gave it (name, parent, images, depth).
LISTED_BEFORE = [
    ("animal", None, 4, 0),
    ("animal/cat", "animal", 2, 1),
    ("animal/dog", "animal", 2, 1),
    ("animal/dog/puppy", "animal/dog", 1, 2),
    ("pet", None, 1, 0),
]


def listed(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str | None, int, int]]:
    return [(t.name, t.parent, t.images, t.depth) for t in tags.list_tags(con)]


def tag_id(con: duckdb.DuckDBPyConnection, name: str) -> int:
    return tags.get_tag(con, name)


def images_where(con: duckdb.DuckDBPyConnection, where: str) -> list[int]:
    return browse.filter_ids(con, browse.ImageFilter(where=where)).tolist()


def links(con: duckdb.DuckDBPyConnection) -> list[tuple[int, int]]:
    return [tuple(r) for r in con.execute("SELECT * FROM tag_parents ORDER BY ALL").fetchall()]


@pytest.fixture
def old_project(tmp_path: Path) -> Path:
    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(tmp_path, filter="data")
    return tmp_path / "project"


@pytest.fixture
def con(old_project: Path):
    """The schema-8 project, upgraded, with cat under both animal and pet."""
    connection = store.open_project(old_project)
    tags.set_parents(
        connection,
        tag_id(connection, "animal/cat"),
        [tag_id(connection, n) for n in ("animal", "pet")],
    )
    yield connection
    connection.close()


def test_the_old_version_wrote_schema_8(old_project: Path):
    raw = duckdb.connect(str(old_project / store.DB_NAME), read_only=True)
    assert raw.execute("SELECT version FROM schema_meta").fetchone() == (8,)
    tables = {
        t for (t,) in raw.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert "tags" in tables and "tag_parents" not in tables
    raw.close()


def test_the_upgrade_keeps_every_tag_and_its_one_parent(old_project: Path):
    con = store.open_project(old_project)
    assert con.execute("SELECT version FROM schema_meta").fetchone() == (store.SCHEMA_VERSION,)
    assert store.SCHEMA_VERSION == 9
    assert links(con) == []
    assert con.execute("SELECT id, name, parent_id FROM tags ORDER BY id").fetchall() == [
        (1, "animal", None),
        (2, "animal/cat", 1),
        (3, "animal/dog", 1),
        (4, "animal/dog/puppy", 3),
        (5, "pet", None),
    ]
    # What the Tags screen and `panoptui tags` show is what schema 8 showed.
    assert listed(con) == LISTED_BEFORE
    assert tags.tag_members(con, "animal").tolist() == [1, 2, 3, 4]
    assert tags.tag_members(con, "pet").tolist() == [5]
    assert tags.child_tags(con, "animal") == ["animal/cat", "animal/dog"]
    assert tags.parents_of(con, tag_id(con, "animal/dog/puppy")) == [3]
    con.close()


def test_set_parents_keeps_the_first_in_tags_and_the_others_beside(con):
    cat, animal, pet = (tag_id(con, n) for n in ("animal/cat", "animal", "pet"))
    assert con.execute("SELECT parent_id FROM tags WHERE id = ?", [cat]).fetchone() == (animal,)
    assert links(con) == [(cat, pet)]
    assert tags.parents_of(con, cat) == [animal, pet]
    tags.set_parents(con, cat, [pet, animal, pet])  # another order; a repeat counts once
    assert tags.parents_of(con, cat) == [pet, animal]
    assert links(con) == [(cat, animal)]
    tags.set_parents(con, cat, [])  # a top-level tag
    assert tags.parents_of(con, cat) == [] and links(con) == []
    assert ("animal/cat", None, 2, 0) in listed(con)
    # Inside a journaled change (an import's, say), undo gives the tag its parents back.
    with journal.change(con, "put cat under both again"):
        tags.set_parents(con, cat, [animal, pet])
    assert tags.parents_of(con, cat) == [animal, pet]
    journal.undo(con)
    assert tags.parents_of(con, cat) == [] and links(con) == []
    journal.redo(con)
    assert tags.parents_of(con, cat) == [animal, pet]


def test_set_parents_refuses_what_would_be_wrong(con):
    cat, animal, dog = (tag_id(con, n) for n in ("animal/cat", "animal", "animal/dog"))
    puppy = tag_id(con, "animal/dog/puppy")
    kind = properties.create_property(con, "kind", "multi_tag")
    properties.add_tags(con, kind, [1], ["wild"])
    wild = int(store.scalar(con, "SELECT id FROM tags WHERE name = 'wild'"))
    refused = {
        "itself": ([cat], "the tag 'animal/cat' cannot be under 'animal/cat', which is itself"),
        "a loop": (
            [puppy],
            "the tag 'animal/dog' cannot be under 'animal/dog/puppy', which is under it",
        ),
        "another property": ([wild], "the tag 'wild' is of another property"),
        "no such tag": ([99], "no tag with id 99"),
    }
    before = (con.execute("SELECT * FROM tags ORDER BY id").fetchall(), links(con))
    for case, (parents, said) in refused.items():
        target = dog if case == "a loop" else cat
        with pytest.raises(store.ProjectError, match=said.replace("(", r"\(")):
            tags.set_parents(con, target, [animal, *parents])
        assert (con.execute("SELECT * FROM tags ORDER BY id").fetchall(), links(con)) == before
    with pytest.raises(store.ProjectError, match="no tag with id 98 in this project"):
        tags.set_parents(con, 98, [animal])


def test_a_tag_with_two_parents_is_listed_under_each(con):
    assert listed(con) == [
        ("animal", None, 4, 0),
        ("animal/cat", "animal", 2, 1),
        ("animal/dog", "animal", 2, 1),
        ("animal/dog/puppy", "animal/dog", 1, 2),
        ("pet", None, 3, 0),  # its own image and cat's two
        ("animal/cat", "pet", 2, 1),
    ]


def test_the_cli_lists_a_tag_under_each_parent(con, old_project: Path):
    con.close()
    shown = run_cli("tags", str(old_project))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "animal  (4 images)",
        "  animal/cat  (2 images)",
        "  animal/dog  (2 images)",
        "    animal/dog/puppy  (1 image)",
        "pet  (3 images)",
        "  animal/cat  (2 images)",
    ]
    as_json = run_cli("tags", str(old_project), "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert [(t["name"], t["parent"], t["images"]) for t in json.loads(as_json.stdout)][-2:] == [
        ("pet", None, 3),
        ("animal/cat", "pet", 2),
    ]


def test_a_parent_stands_for_its_tags_through_either_parent(con):
    # The filter, the tag's view, its members and the map's colours agree.
    assert images_where(con, "tags = pet") == [1, 2, 5]
    assert images_where(con, "tags = animal") == [1, 2, 3, 4]
    assert images_where(con, "tags has all (pet, animal)") == [1, 2]
    assert images_where(con, "tags != pet") == [3, 4, 6]
    assert browse.filter_ids(con, browse.ImageFilter(tag="pet")).tolist() == [1, 2, 5]
    assert tags.tag_members(con, "pet").tolist() == [1, 2, 5]
    assert tags.child_tags(con, "pet") == ["animal/cat"]
    # classify --tags pet labels by the names under it, through its second parent too.
    assert [label.name for label in classify.tag_labels(con, "pet")] == ["animal/cat"]
    assert [label.name for label in classify.tag_labels(con, "animal")] == ["cat", "dog", "puppy"]


def test_a_loop_of_parents_never_goes_round_forever(con):
    """Written elsewhere (set_parents refuses it): animal under cat, cat under animal."""
    animal, cat = tag_id(con, "animal"), tag_id(con, "animal/cat")
    con.execute("INSERT INTO tag_parents VALUES (?, ?)", [animal, cat])
    rows = listed(con)
    # animal has a parent now, so pet is the one top-level tag; the loop stops where it began.
    assert rows == [
        ("pet", None, 5, 0),
        ("animal/cat", "pet", 4, 1),
        ("animal", "animal/cat", 4, 2),
        ("animal/dog", "animal", 2, 3),
        ("animal/dog/puppy", "animal/dog", 1, 4),
    ]
    assert tags.tag_members(con, "animal").tolist() == [1, 2, 3, 4]
    assert images_where(con, "tags = animal/cat") == [1, 2, 3, 4]
    assert [label.name for label in classify.tag_labels(con, "animal")] == ["cat", "dog", "puppy"]
    # A loop that nothing leads to is listed too, from the top, once.
    pet = tag_id(con, "pet")
    con.execute("DELETE FROM tag_parents WHERE tag_id = ? AND parent_id = ?", [cat, pet])
    assert [(n, d) for n, _, _, d in listed(con)] == [
        ("pet", 0),
        ("animal", 0),
        ("animal/cat", 1),
        ("animal/dog", 1),
        ("animal/dog/puppy", 2),
    ]
    # Deleting a tag on the loop deletes what has no parent left, and ends.
    assert tags.delete_tag(con, "animal/cat") == ["animal", "animal/dog", "animal/dog/puppy"]
    assert con.execute("SELECT id FROM tags").fetchall() == [(pet,)]
    assert links(con) == []


def test_deleting_a_parent_keeps_a_tag_that_has_another(con):
    cat, animal, pet = (tag_id(con, n) for n in ("animal/cat", "animal", "pet"))
    assert tags.tags_under(con, "pet") == []  # what the dialog names: nothing goes with it
    assert tags.delete_tag(con, "pet") == []
    assert tags.parents_of(con, cat) == [animal] and links(con) == []
    assert tags.tag_members(con, "animal/cat").tolist() == [1, 2]
    # A new tag takes pet's id: it inherits no child.
    assert tags.create_tag(con, "new") == pet
    assert tags.child_tags(con, "new") == [] and tags.tag_members(con, "new").tolist() == []
    assert ("animal/cat", "animal", 2, 1) in listed(con)


def test_deleting_the_first_parent_makes_the_next_one_first(con):
    cat, pet = tag_id(con, "animal/cat"), tag_id(con, "pet")
    assert tags.tags_under(con, "animal") == ["animal/dog", "animal/dog/puppy"]
    assert tags.delete_tag(con, "animal") == ["animal/dog", "animal/dog/puppy"]
    assert con.execute("SELECT id, parent_id FROM tags ORDER BY id").fetchall() == [
        (cat, pet),
        (pet, None),
    ]
    assert links(con) == []
    assert listed(con) == [("pet", None, 3, 0), ("animal/cat", "pet", 2, 1)]
    # Undo brings back the tags, their images and both parents of cat.
    journal.undo(con)
    assert tags.parents_of(con, cat) == [tag_id(con, "animal"), pet]
    assert tags.tag_members(con, "animal").tolist() == [1, 2, 3, 4]
    assert listed(con)[-1] == ("animal/cat", "pet", 2, 1)


def test_a_deleted_tag_leaves_no_parent_row_as_child_or_as_parent(con):
    cat, pet, dog = (tag_id(con, n) for n in ("animal/cat", "pet", "animal/dog"))
    house = tags.create_tag(con, "house")  # the last id: the next tag made takes it again
    tags.set_parents(con, house, [pet, dog])  # a child with a parent beside tags.parent_id
    tags.set_parents(con, cat, [tag_id(con, "animal"), pet, house])  # and a parent of one
    assert links(con) == [(cat, pet), (cat, house), (house, dog)]
    assert tags.delete_tag(con, "house") == []
    assert links(con) == [(cat, pet)]
    # A new tag that takes house's id is under nothing and over nothing.
    assert tags.create_tag(con, "fresh") == house
    assert tags.parents_of(con, house) == [] and tags.child_tags(con, "fresh") == []
    assert tags.child_tags(con, "animal/dog") == ["animal/dog/puppy"]


def test_deleting_a_tag_property_deletes_its_parent_rows(con):
    kind = properties.create_property(con, "kind", "multi_tag")
    properties.add_tags(con, kind, [1], ["wild", "lion"])
    wild, lion = (
        int(store.scalar(con, "SELECT id FROM tags WHERE name = ?", [n])) for n in ("wild", "lion")
    )
    big = int(store.scalar(con, "SELECT max(id) + 1 FROM tags"))
    con.execute("INSERT INTO tags VALUES (?, ?, 'big', NULL, current_timestamp)", [big, kind.id])
    tags.set_parents(con, lion, [wild, big])
    assert (lion, big) in links(con)
    properties.delete_property(con, "kind")
    assert links(con) == [(tag_id(con, "animal/cat"), tag_id(con, "pet"))]  # the tags' stay
    journal.undo(con)
    assert (lion, big) in links(con)


def test_exports_write_a_tag_with_two_parents(con, tmp_path: Path):
    """Exports write tag names, never a parent: a second parent changes nothing in them."""
    assert export.export(con, str(tmp_path / "plain.csv")) == 6
    rows = list(csv.DictReader((tmp_path / "plain.csv").open()))
    assert [r["tags"] for r in rows] == ["animal/cat"] * 2 + [
        "animal/dog/puppy",
        "animal/dog",
        "pet",
        "",
    ]
    assert export.export(con, str(tmp_path / "panoptic.csv"), panoptic=True) == 6
    rows = list(csv.reader((tmp_path / "panoptic.csv").open(), delimiter=";"))
    assert [r[1] for r in rows] == [
        "tags[multi_tags]",
        "animal/cat",
        "animal/cat",
        "animal/dog/puppy",
        "animal/dog",
        "pet",
        "",
    ]
