"""Issue 13: every annotation change is journaled in the project, and undo / redo take it back
and make it again, also after the project is closed and opened again."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import tui_helpers

from panoptui.core import journal, properties, query, store, tags

demo_base, project = tui_helpers.demo_base, tui_helpers.project


def ids_of(con, n=6):
    rows = con.execute("SELECT id FROM images ORDER BY id LIMIT ?", [n]).fetchall()
    return [int(i) for (i,) in rows]


def state(con):
    """Every row of the tables a change touches, in an order that does not depend on how
    they were written."""
    return {
        t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall()))
        for t in sorted(journal.JOURNALED)
    }


def prop(con, name):
    return properties.get_property(con, name)


def files_of(con, ids):
    return properties.files_of_images(con, ids)


# Each change: (setup, change). Setup makes what the change needs, with its own entries.
CHANGES = {
    "create a property": (None, lambda c, i: properties.create_property(c, "year", "number")),
    **{
        f"set a {type_}": (
            lambda c, i, t=type_: properties.create_property(c, "p", t),
            lambda c, i, v=value: properties.set_values(c, prop(c, "p"), i[:3], v),
        )
        for type_, value in [
            ("text", "a [b]x[/b]"),
            ("url", "https://example.org"),
            ("number", 3.5),
            ("date", datetime(1990, 5, 17)),
            ("checkbox", True),
            ("tag", ["Paris"]),
            ("multi_tag", ["protest", "police"]),
        ]
    },
    "replace values": (
        lambda c, i: properties.set_each(
            c, properties.create_property(c, "p", "text"), [(i[0], "a"), (i[1], "b")]
        ),
        lambda c, i: properties.set_each(c, prop(c, "p"), [(i[0], "c"), (i[2], "d")]),
    ),
    "clear values": (
        lambda c, i: properties.set_values(
            c, properties.create_property(c, "p", "multi_tag"), i[:4], ["a", "b"]
        ),
        lambda c, i: properties.set_values(c, prop(c, "p"), i[1:3], None),
    ),
    "set on files": (
        lambda c, i: properties.create_property(c, "box", "multi_tag", mode="file"),
        lambda c, i: properties.set_values(c, prop(c, "box"), files_of(c, i[:2]), ["box 1"]),
    ),
    "add tags": (
        lambda c, i: properties.set_values(
            c, properties.create_property(c, "p", "multi_tag"), i[:2], ["a"]
        ),
        lambda c, i: properties.add_tags(c, prop(c, "p"), i[:4], ["a", "new"]),
    ),
    "remove tags": (
        lambda c, i: properties.set_values(
            c, properties.create_property(c, "p", "multi_tag"), i[:4], ["a", "b"]
        ),
        lambda c, i: properties.remove_tags(c, prop(c, "p"), i[1:3], ["a"]),
    ),
    "tag images with a new tag": (None, lambda c, i: tags.tag_images(c, "cats", i[:3])),
    "tag more images": (
        lambda c, i: tags.tag_images(c, "cats", i[:2]),
        lambda c, i: tags.tag_images(c, "cats", i[1:5]),
    ),
    "untag": (
        lambda c, i: tags.tag_images(c, "cats", i[:4]),
        lambda c, i: tags.untag_images(c, "cats", i[1:3]),
    ),
    "rename a tag": (
        lambda c, i: tags.tag_images(c, "cats", i[:4]),
        lambda c, i: tags.rename_tag(c, "cats", "felines"),
    ),
    "delete a tag and those under it": (
        lambda c, i: (
            tags.create_tag(c, "animals/cats", parent="animals"),
            tags.tag_images(c, "animals/cats", i[:3]),
            tags.tag_images(c, "animals", i[3:5]),
            query.refuse_recommendations(c, "animals/cats", i[5:6]),
        ),
        lambda c, i: tags.delete_tag(c, "animals"),
    ),
    "refuse recommendations": (None, lambda c, i: query.refuse_recommendations(c, "x", i[:2])),
    "rename a property": (
        lambda c, i: properties.create_property(c, "year", "number"),
        lambda c, i: properties.rename_property(c, "year", "published"),
    ),
    "delete a property": (
        lambda c, i: properties.set_values(
            c, properties.create_property(c, "year", "number"), i[:3], 1990.0
        ),
        lambda c, i: properties.delete_property(c, "year"),
    ),
    "delete the tags property": (
        lambda c, i: tags.tag_images(c, "cats", i[:3]),
        lambda c, i: properties.delete_property(c, "tags"),
    ),
    "retype text to number": (
        lambda c, i: properties.set_each(
            c, properties.create_property(c, "p", "text"), [(i[0], "12"), (i[1], "3,5")]
        ),
        lambda c, i: properties.change_type(c, "p", "number"),
    ),
    "retype text to multi_tag": (
        lambda c, i: properties.set_each(
            c, properties.create_property(c, "p", "text"), [(i[0], "a"), (i[1], "b")]
        ),
        lambda c, i: properties.change_type(c, "p", "multi_tag"),
    ),
    "retype multi_tag to text": (
        lambda c, i: properties.set_values(
            c, properties.create_property(c, "p", "multi_tag"), i[:3], ["a", "b"]
        ),
        lambda c, i: properties.change_type(c, "p", "text"),
    ),
    "retype multi_tag to tag": (
        lambda c, i: properties.set_values(
            c, properties.create_property(c, "p", "multi_tag"), i[:3], ["a"]
        ),
        lambda c, i: properties.change_type(c, "p", "tag"),
    ),
}


@pytest.mark.parametrize("kind", list(CHANGES))
def test_each_change_is_undone_and_redone_after_a_reopen(project, kind):
    setup, make = CHANGES[kind]
    con = store.open_project(project)
    ids = ids_of(con)
    if setup is not None:
        setup(con, ids)
    before = state(con)
    entries = len(journal.history(con))
    make(con, ids)
    after = state(con)
    assert after != before, "the change changed nothing"
    assert len(journal.history(con)) == entries + 1  # one change, one entry
    con.close()

    con = store.open_project(project)
    said = journal.history(con)[-1].said
    assert journal.undo(con) == [said]
    assert state(con) == before
    con.close()

    con = store.open_project(project)
    assert journal.redo(con) == [said]
    assert state(con) == after
    assert journal.redo(con) == []  # nothing more to redo
    assert journal.undo(con) == [said]
    assert state(con) == before
    con.close()


def test_undo_and_redo_several_in_order(project):
    con = store.open_project(project)
    ids = ids_of(con)
    states = [state(con)]
    year = properties.create_property(con, "year", "number")
    states.append(state(con))
    properties.set_values(con, year, ids[:2], 1990.0)
    states.append(state(con))
    properties.set_values(con, year, ids[1:3], 2000.0)
    states.append(state(con))
    assert journal.undo(con, 2) == ["set 'year' on 2 images", "set 'year' on 2 images"]
    assert state(con) == states[1]
    assert journal.undo(con, 5) == ["create the number property 'year'"]
    assert state(con) == states[0]
    assert journal.undo(con) == []
    assert journal.redo(con, 2) == ["create the number property 'year'", "set 'year' on 2 images"]
    assert state(con) == states[2]
    assert [e.undone for e in journal.history(con)] == [False, False, True]
    con.close()


def test_a_new_change_after_an_undo_drops_the_undone_ones(project):
    con = store.open_project(project)
    ids = ids_of(con)
    tags.tag_images(con, "a", ids[:2])
    tags.tag_images(con, "b", ids[:2])
    journal.undo(con)
    tags.tag_images(con, "c", ids[:2])
    assert [e.said for e in journal.history(con)] == ["tag 2 images 'a'", "tag 2 images 'c'"]
    assert journal.redo(con) == []
    con.close()


def test_a_change_that_changes_nothing_is_not_journaled(project):
    con = store.open_project(project)
    ids = ids_of(con)
    tags.tag_images(con, "a", ids[:2])
    assert tags.tag_images(con, "a", ids[:2]) == 0
    tags.rename_tag(con, "a", "a")
    properties.create_property(con, "year", "number")
    properties.create_property(con, "year", "number")  # the same one
    assert len(journal.history(con)) == 2
    con.close()


def test_changes_inside_one_change_are_one_step(project):
    """A CSV import, a clustering saved as tags: each is one change to undo."""
    con = store.open_project(project)
    ids = ids_of(con)
    before = state(con)
    with journal.change(con, "import values.csv"):
        year = properties.create_property(con, "year", "number")
        properties.set_values(con, year, ids[:3], 1990.0)
        tags.tag_images(con, "cats", ids[:2])
        tags.create_tag(con, "animals/dogs", parent="animals")  # tags made on the way too
        tags.tag_images(con, "animals/dogs", ids[2:4])
    assert [e.said for e in journal.history(con)] == ["import values.csv"]
    assert journal.undo(con) == ["import values.csv"]
    assert state(con) == before
    con.close()


def test_a_change_rolled_back_leaves_no_entry(project):
    con = store.open_project(project)
    ids = ids_of(con)
    before = state(con)
    with pytest.raises(RuntimeError), store.transaction(con):
        tags.tag_images(con, "cats", ids[:2])  # inside the caller's transaction
        raise RuntimeError("the caller fails after")
    assert state(con) == before
    assert journal.history(con) == []
    with pytest.raises(store.ProjectError, match="cannot hold"):
        properties.set_values(con, properties.create_property(con, "n", "number"), ids, "x")
    assert [e.said for e in journal.history(con)] == ["create the number property 'n'"]
    con.close()


def test_the_journal_keeps_the_last_changes(project, monkeypatch):
    monkeypatch.setattr(journal, "MAX_ENTRIES", 3)
    con = store.open_project(project)
    ids = ids_of(con)
    for n in range(5):
        tags.tag_images(con, f"t{n}", ids[:1])
    assert [e.said for e in journal.history(con)] == [f"tag 1 image 't{n}'" for n in (2, 3, 4)]
    assert len(journal.undo(con, 10)) == 3
    assert [t.name for t in tags.list_tags(con)] == ["t0", "t1"]
    con.close()


def test_a_journal_that_names_another_table_is_refused(project):
    con = store.open_project(project)
    tags.tag_images(con, "cats", ids_of(con)[:2])
    hostile = [{"table": "images", "where": {"id": [1]}, "rows": {"id": []}}]
    con.execute("UPDATE journal SET undo = ?", [json.dumps(hostile)])
    before = state(con)
    images = store.scalar(con, "SELECT count(*) FROM images")
    with pytest.raises(store.ProjectError, match="cannot restore: 'images'"):
        journal.undo(con)
    bad_column = [{"table": "tags", "where": {"1=1) OR (id": [1]}, "rows": {}}]
    con.execute("UPDATE journal SET undo = ?", [json.dumps(bad_column)])
    with pytest.raises(store.ProjectError, match="unknown column"):
        journal.undo(con)
    assert (state(con), store.scalar(con, "SELECT count(*) FROM images")) == (before, images)
    assert not journal.history(con)[0].undone
    con.close()


def test_saving_a_clustering_or_duplicate_groups_as_tags_is_one_undo_step(tmp_path):
    """Many tags made at once (one per cluster, one per group, their parent): one ctrl+z."""
    import numpy as np

    from panoptui.core import cluster, duplicates, journal, store, tags

    con = store.open_project(tmp_path / "p", create=True)
    con.execute(
        "INSERT INTO images (id, content_hash, size, format, width, height, mode, orientation, "
        "frames, phash, state, imported_at) SELECT i, 'h' || i, 1, 'PNG', 1, 1, 'RGB', 1, 1, 0, "
        "'ok', now() FROM range(1, 13) t(i)"
    )
    con.execute(
        "INSERT INTO vector_sets VALUES (1, 'pixels', 'pixels', false, NULL, 2, false, "
        "'complete', now(), now(), 32)"
    )
    ids = np.arange(1, 13)
    labels = np.arange(12) % 3
    vectors = np.eye(3, dtype=np.float32)[labels][:, :2] + 0.01
    cluster.save_clustering(con, "three", 1, "kmeans", cluster.summarise(ids, vectors, labels))
    made = cluster.tags_from_clustering(con, "three")
    duplicates.tag_groups(con, "dups", [[1, 2], [3, 4, 5]])
    assert len(made) == 3 and tags.tag_exists(con, "dups/2")
    journal.undo(con)  # the duplicate groups, all of them
    assert not tags.tag_exists(con, "dups") and not tags.tag_exists(con, "dups/1")
    assert tags.tag_exists(con, "three/0")
    journal.undo(con)  # the clustering's tags, their parent too
    assert [t.name for t in tags.list_tags(con)] == []
    journal.redo(con, 2)
    assert len(tags.tag_members(con, "three")) == 12 and len(tags.tag_members(con, "dups")) == 5
    con.close()
