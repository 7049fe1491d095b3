"""Issue 14 (review): the tags of every tag property are seen and usable, not only those of the
built-in ``tags``. An imported Panoptic project brings its tag properties as panoptui tag /
multi_tag properties; `panoptui tags`, `classify --tags` (with --tag-property) and the Tags
screen show and use their tags. With only ``tags`` nothing changes (the older tests hold)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from helpers import run_cli

from panoptui.core import classify, properties, store, tags
from panoptui.core.samples import write_samples


def kind_family(con: duckdb.DuckDBPyConnection) -> tuple[list[int], properties.Property]:
    """``tags``: one tag ``red`` on the first image. ``kind`` (multi_tag, images): animal and
    pet, cat under both (two parents), dog under animal, puppy under dog; images 1-2 cat, 3
    puppy, 4 dog. ``place`` (tag, files): indoor on the first file. Returns the image ids."""
    ids = [int(i) for (i,) in con.execute("SELECT id FROM images ORDER BY id").fetchall()]
    tags.tag_images(con, "red", ids[:1])
    kind = properties.create_property(con, "kind", "multi_tag")
    for name in ("animal", "pet"):
        tags.create_tag(con, name, property_id=kind.id)
    cat = tags.create_tag(con, "cat", property_id=kind.id)
    dog = tags.create_tag(con, "dog", property_id=kind.id)
    puppy = tags.create_tag(con, "puppy", property_id=kind.id)
    animal = tags.get_tag(con, "animal", kind.id)
    tags.set_parents(con, cat, [animal, tags.get_tag(con, "pet", kind.id)])
    tags.set_parents(con, dog, [animal])
    tags.set_parents(con, puppy, [dog])
    properties.add_tags(con, kind, ids[:2], ["cat"])
    properties.add_tags(con, kind, ids[2:3], ["puppy"])
    properties.add_tags(con, kind, ids[3:4], ["dog"])
    place = properties.create_property(con, "place", "tag", mode="file")
    first_file = int(store.scalar(con, "SELECT min(id) FROM files"))
    properties.set_values(con, place, [first_file], ["indoor"])
    return ids, kind


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("h14tagsall")
    photos = root / "photos"
    write_samples(photos, per_family=2)
    project = root / "project"
    done = run_cli("import", str(project), str(photos))
    assert done.returncode == 0, done.stderr
    con = store.open_project(project)
    try:
        kind_family(con)
    finally:
        con.close()
    return project


@pytest.fixture
def project(built: Path, tmp_path: Path) -> Path:
    """A copy of the built project (a test may change it)."""
    copy = tmp_path / "project"
    shutil.copytree(built, copy)
    return copy


def listed(con, property_id: int = store.TAGS_PROPERTY_ID) -> list[tuple]:
    return [(t.name, t.parent, t.images, t.depth) for t in tags.list_tags(con, property_id)]


# --- core --------------------------------------------------------------------------------------


def test_each_tag_property_lists_its_own_tags(built):
    con = store.open_project(built, read_only=True)
    try:
        kind = properties.get_property(con, "kind")
        place = properties.get_property(con, "place")
        # The default stays the ``tags`` property.
        assert listed(con) == [("red", None, 1, 0)]
        # cat under both of its parents; a tag counts the images of the tags under it.
        assert listed(con, kind.id) == [
            ("animal", None, 4, 0),
            ("cat", "animal", 2, 1),
            ("dog", "animal", 2, 1),
            ("puppy", "dog", 1, 2),
            ("pet", None, 2, 0),
            ("cat", "pet", 2, 1),
        ]
        # A property of mode file: the images of the files tagged.
        assert listed(con, place.id) == [("indoor", None, 1, 0)]
        assert tags.tag_properties(con) == [
            tags.TagProperty(store.TAGS_PROPERTY_ID, "tags"),
            tags.TagProperty(kind.id, "kind"),
            tags.TagProperty(place.id, "place"),
        ]
        assert tags.child_tags(con, "animal", kind.id) == ["cat", "dog"]
        assert tags.child_tags(con, "animal") == []  # not a tag of ``tags``
        assert tags.properties_with_tag(con, "cat") == ["kind"]
        assert tags.tag_property(con, "KIND") == tags.TagProperty(kind.id, "kind")
    finally:
        con.close()


def test_a_tag_property_without_tags_is_not_listed_and_other_types_are_refused(project):
    con = store.open_project(project)
    try:
        properties.create_property(con, "empty", "multi_tag")
        properties.create_property(con, "note", "text")
        assert [p.name for p in tags.tag_properties(con)] == ["tags", "kind", "place"]
        with pytest.raises(store.ProjectError, match="'note' is a text, not a tag property"):
            tags.tag_property(con, "note")
        with pytest.raises(store.ProjectError, match="no property 'nothing'"):
            tags.tag_property(con, "nothing")
    finally:
        con.close()


def test_labels_from_a_family_of_another_tag_property(built):
    con = store.open_project(built, read_only=True)
    try:
        kind = properties.get_property(con, "kind")
        labels = classify.tag_labels(con, "animal", "use", kind.id)
        assert [label.name for label in labels] == ["cat", "dog", "puppy"]
        labels = classify.tag_labels(con, "animal", "ignore", kind.id)
        assert [label.name for label in labels] == ["cat", "puppy"]
        # Searched in ``tags``: the error names the property that has it.
        with pytest.raises(store.ProjectError) as wrong:
            classify.tag_labels(con, "animal")
        assert str(wrong.value) == "'animal' is a tag of kind: give --tag-property NAME"
        # In none: the usual error.
        with pytest.raises(store.ProjectError, match="no tag 'zebra' in the property 'kind'"):
            classify.tag_labels(con, "zebra", "use", kind.id)
        with pytest.raises(store.ProjectError, match="no tag 'zebra' in this project"):
            classify.tag_labels(con, "zebra")
    finally:
        con.close()


# --- the CLI -----------------------------------------------------------------------------------


def test_tags_lists_every_tag_property_under_its_name(built):
    done = run_cli("tags", str(built))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "red  (1 image)",
        "property 'kind':",
        "animal  (4 images)",
        "  cat  (2 images)",
        "  dog  (2 images)",
        "    puppy  (1 image)",
        "pet  (2 images)",
        "  cat  (2 images)",
        "property 'place':",
        "indoor  (1 image)",
    ]


def test_tags_json_names_each_tags_property(built):
    done = run_cli("tags", str(built), "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert rows[0] == {"name": "red", "parent": None, "images": 1, "property": "tags"}
    assert [(r["property"], r["name"], r["parent"]) for r in rows[1:3]] == [
        ("kind", "animal", None),
        ("kind", "cat", "animal"),
    ]
    assert rows[-1] == {"name": "indoor", "parent": None, "images": 1, "property": "place"}
    assert len(rows) == 8


def test_tags_property_lists_one(built):
    done = run_cli("tags", str(built), "--property", "place")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["indoor  (1 image)"]
    done = run_cli("tags", str(built), "--property", "tags", "--json")
    assert [r["name"] for r in json.loads(done.stdout)] == ["red"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--property", "nothing"], "no property 'nothing' in this project"),
        (["--property", "name"], "'name' is a built-in field"),
        (["--property", "kind", "--delete", "wolf"], "no tag 'wolf' in the property 'kind'"),
    ],
)
def test_tags_property_bad_input_is_one_line(project, args, said):
    done = run_cli("tags", str(project), *args)
    assert done.returncode == 1 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and said in done.stderr, done.stderr
    con = store.open_project(project, read_only=True)
    try:  # nothing deleted
        assert "dog" in [
            t.name for t in tags.list_tags(con, properties.get_property(con, "kind").id)
        ]
    finally:
        con.close()


def test_a_project_with_only_tags_lists_as_before(tmp_path):
    project = tmp_path / "project"
    store.open_project(project, create=True).close()
    done = run_cli("tags", str(project))
    assert done.stdout.startswith("no tags yet")
    con = store.open_project(project)
    try:  # a tag property without tags adds nothing
        properties.create_property(con, "kind", "multi_tag")
    finally:
        con.close()
    assert run_cli("tags", str(project)).stdout == done.stdout
    assert run_cli("tags", str(project), "--json").stdout.strip() == "[]"


def test_classify_tags_in_another_property(built):
    # Not in ``tags``: the one line names the property; --tag-property finds it. (This project
    # has no vector set: a run that read its labels stops at the set.)
    done = run_cli("classify", str(built), "--tags", "animal")
    assert done.returncode == 1
    assert done.stderr == "panoptui: 'animal' is a tag of kind: give --tag-property NAME\n"
    done = run_cli("classify", str(built), "--tags", "animal", "--tag-property", "kind")
    assert done.returncode == 1 and "no vector sets yet" in done.stderr, done.stderr
    done = run_cli("classify", str(built), "--labels", "a,b", "--tag-property", "kind")
    assert done.returncode == 1 and "--tag-property goes with --tags" in done.stderr
    for name, said in (
        ("path", "'path' is a built-in field, not a tag property"),
        ("kid", "no property 'kid' in this project (did you mean 'kind'?)"),
    ):
        done = run_cli("classify", str(built), "--tags", "animal", "--tag-property", name)
        assert done.returncode == 1 and done.stderr == f"panoptui: {said}\n"


def test_classify_labels_by_a_family_of_another_property(project, tmp_path):
    """End to end with a tiny random-weight text model: the labels are the family's tags in
    ``kind``, and the groups can be saved as tags (of ``tags``) under a parent."""
    from model_fixtures import tiny_open_clip_dir

    weights = tiny_open_clip_dir(tmp_path)
    done = run_cli(
        "vectors", "create", str(project), "--model", "open_clip:tiny", "--weights", str(weights)
    )
    assert done.returncode == 0, done.stderr
    done = run_cli(
        "classify", str(project), "--tags", "animal", "--tag-property", "kind",
        "--parent-names", "ignore", "--json", "--save-as", "guessed",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert [g["label"] for g in found["groups"]] == ["cat", "puppy"]
    assert [g["text"] for g in found["groups"]] == ["a photo of cat", "a photo of puppy"]
    con = store.open_project(project, read_only=True)
    try:
        images = int(store.scalar(con, "SELECT count(*) FROM images"))
        assert sum(g["size"] for g in found["groups"]) == images
        assert found["tags"] == [f"guessed/{g['label']}" for g in found["groups"] if g["ids"]]
        assert all(tags.tag_exists(con, t) for t in found["tags"])
    finally:
        con.close()


def test_rename_and_delete_a_tag_of_another_property(project):
    done = run_cli("tags", str(project), "--property", "kind", "--rename", "dog", "doggo")
    assert done.returncode == 0, done.stderr
    done = run_cli("tags", str(project), "--property", "kind", "--delete", "doggo", "--json")
    assert done.returncode == 0, done.stderr
    names = [r["name"] for r in json.loads(done.stdout)]
    assert "dog" not in names and "doggo" not in names and "cat" in names
    con = store.open_project(project, read_only=True)
    try:  # the tags of 'tags' are untouched
        assert [t.name for t in tags.list_tags(con)] == ["red"]
    finally:
        con.close()
