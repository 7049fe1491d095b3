"""Issue 13: properties renamed, deleted and retyped (values converted, or a refusal that
counts those that do not fit and changes nothing), tags added to and removed from a multi-tag
property on a selection."""

from __future__ import annotations

from datetime import datetime

import pytest
import tui_helpers

from panoptui.core import journal, properties, store, tags

demo_base, project = tui_helpers.demo_base, tui_helpers.project


@pytest.fixture
def con(project):
    con = store.open_project(project)
    yield con
    con.close()


def image_ids(con, n=6):
    rows = con.execute("SELECT id FROM images ORDER BY id LIMIT ?", [n]).fetchall()
    return [int(i) for (i,) in rows]


def annotations(con):
    """Every row of every table a change may touch (and the journal): what a refusal must
    leave as it was."""
    tables = sorted(journal.JOURNALED) + ["journal"]
    return {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall())) for t in tables}


def test_rename_checks_the_new_name_as_create_does(con):
    year = properties.create_property(con, "year", "number")
    properties.create_property(con, "place", "text")
    properties.set_values(con, year, image_ids(con, 2), 1990.0)
    before = annotations(con)
    for bad, message in [
        ("width", "is a built-in field"),
        ("place", "exists already"),
        ("  ", "not blank"),
    ]:
        with pytest.raises(store.ProjectError, match=message):
            properties.rename_property(con, "year", bad)
    with pytest.raises(store.ProjectError, match="did you mean 'year'"):
        properties.rename_property(con, "yeer", "published")
    assert annotations(con) == before
    renamed = properties.rename_property(con, "year", " published ")
    assert (renamed.id, renamed.name) == (year.id, "published")
    assert properties.values_of(con, renamed, image_ids(con, 2)) == {
        i: 1990.0 for i in image_ids(con, 2)
    }
    assert properties.find_property(con, "year") is None


def test_delete_says_how_many_values_go_and_takes_the_tags_with_it(con):
    ids = image_ids(con)
    topics = properties.create_property(con, "topics", "multi_tag")
    properties.set_values(con, topics, ids[:3], ["protest", "police"])
    note = properties.create_property(con, "note", "text")
    properties.set_values(con, note, ids[:5], "seen")
    assert properties.delete_property(con, "topics") == 3
    assert properties.delete_property(con, "note") == 5
    assert [p.name for p in properties.list_properties(con)] == ["tags"]
    assert store.scalar(con, "SELECT count(*) FROM tags WHERE property_id <> 1") == 0
    assert store.scalar(con, "SELECT count(*) FROM property_values") == 0


def test_deleting_the_tags_property_then_tagging_makes_it_again(con):
    ids = image_ids(con)
    tags.tag_images(con, "cats", ids[:2])
    assert properties.delete_property(con, "tags") == 2
    assert properties.find_property(con, "tags") is None
    assert tags.list_tags(con) == []
    assert tags.tag_images(con, "dogs", ids[2:4]) == 2
    made = properties.get_property(con, "tags")
    assert (made.id, made.type) == (store.TAGS_PROPERTY_ID, "multi_tag")
    assert [t.name for t in tags.list_tags(con)] == ["dogs"]


@pytest.mark.parametrize(
    ("old", "values", "new", "expected"),
    [
        ("text", ["12", "3,5", "-1e3"], "number", [12.0, 3.5, -1000.0]),
        ("number", [12.0, 3.5], "text", ["12", "3.5"]),
        ("date", [datetime(1990, 5, 17), datetime(1991, 1, 2, 10, 30)], "text",
         ["1990-05-17", "1991-01-02T10:30:00"]),
        ("text", ["1990-05-17", "17/05/1990"], "date",
         [datetime(1990, 5, 17), datetime(1990, 5, 17)]),
        ("checkbox", [True, False], "text", ["true", "false"]),
        ("text", ["yes", "0"], "checkbox", [True, False]),
        ("text", ["https://a.org", "b"], "url", ["https://a.org", "b"]),
        ("text", ["Paris", "Rome, Italy"], "tag", [["Paris"], ["Rome, Italy"]]),
        ("text", ["Paris", "Rome, Italy"], "multi_tag", [["Paris"], ["Rome, Italy"]]),
        ("tag", [["Paris"], ["Rome"]], "text", ["Paris", "Rome"]),
        ("multi_tag", [["a", "b"], ["c"]], "text", ["a, b", "c"]),
        ("tag", [["Paris"], ["Rome"]], "multi_tag", [["Paris"], ["Rome"]]),
        ("multi_tag", [["Paris"], ["Rome"]], "tag", [["Paris"], ["Rome"]]),
        ("number", [1.0, 0.0], "checkbox", [True, False]),
    ],
)  # fmt: skip
def test_a_type_change_converts_every_value(con, old, values, new, expected):
    ids = image_ids(con, len(values))
    prop = properties.create_property(con, "p", old)
    properties.set_each(con, prop, list(zip(ids, values, strict=True)))
    retyped, converted = properties.change_type(con, "p", new)
    assert (retyped.type, converted) == (new, len(values))
    assert properties.get_property(con, "p").type == new
    assert properties.values_of(con, retyped, ids) == dict(zip(ids, expected, strict=True))
    if not retyped.is_tags:  # the old tags went with the old type
        assert store.scalar(con, "SELECT count(*) FROM tags WHERE property_id = ?", [prop.id]) == 0
    else:
        assert store.scalar(con, "SELECT count(*) FROM property_values") == 0


@pytest.mark.parametrize(
    ("old", "values", "new", "message"),
    [
        ("text", ["12", "twelve", "3", "many"], "number",
         r"cannot make 'p' a number: 2 of 4 values do not fit \(e\.g\. image \d+: "
         r"'twelve' is not a number\)"),
        ("date", [datetime(1990, 5, 17)], "number", "1 of 1 values do not fit"),
        ("text", ["maybe", "yes"], "checkbox", "1 of 2 values do not fit"),
        ("multi_tag", [["a", "b"], ["c"], ["d", "e"]], "tag",
         r"cannot make 'p' a tag \(one value each\): 2 images hold several of its tags "
         r"\(e\.g\. image \d+: a, b\)"),
        ("multi_tag", [["a", "b"]], "number", "holds several tags"),
    ],
)  # fmt: skip
def test_a_type_change_that_cannot_be_is_refused_and_changes_nothing(
    con, old, values, new, message
):
    ids = image_ids(con, len(values))
    prop = properties.create_property(con, "p", old)
    properties.set_each(con, prop, list(zip(ids, values, strict=True)))
    before = annotations(con)
    with pytest.raises(store.ProjectError, match=message):
        properties.change_type(con, "p", new)
    assert annotations(con) == before


def test_the_tags_property_stays_a_multi_tag(con):
    with pytest.raises(store.ProjectError, match="stays a multi_tag"):
        properties.change_type(con, "tags", "text")
    with pytest.raises(store.ProjectError, match="unknown property type 'colour'"):
        properties.change_type(con, "tags", "colour")
    assert properties.change_type(con, "tags", "multi_tag")[1] == 0  # its own type: nothing


def test_tags_added_to_and_removed_from_a_selection(con):
    ids = image_ids(con, 4)
    topics = properties.create_property(con, "topics", "multi_tag")
    properties.set_values(con, topics, ids[:2], ["a"])
    assert properties.add_tags(con, topics, ids, ["a", "b"]) == 2 + 4  # a on 2 more, b on 4
    assert properties.values_of(con, topics, ids) == {i: ["a", "b"] for i in ids}
    assert properties.remove_tags(con, topics, ids[:3], ["a"]) == 3
    assert properties.values_of(con, topics, ids) == {
        ids[0]: ["b"],
        ids[1]: ["b"],
        ids[2]: ["b"],
        ids[3]: ["a", "b"],
    }
    properties.set_values(con, topics, ids, None)  # cleared on the selection
    assert properties.values_of(con, topics, ids) == {}
    place = properties.create_property(con, "place", "tag")
    before = annotations(con)
    with pytest.raises(store.ProjectError, match="'topics' has no tag 'zzz'"):
        properties.remove_tags(con, topics, ids, ["zzz"])
    with pytest.raises(store.ProjectError, match="no image 999999"):
        properties.add_tags(con, topics, [999999], ["a"])
    with pytest.raises(store.ProjectError, match="add and remove work on a multi_tag"):
        properties.add_tags(con, place, ids, ["Paris"])
    assert annotations(con) == before
    assert store.scalar(con, "SELECT count(*) FROM journal WHERE said LIKE 'add%'") == 1


def test_file_mode_tags_are_added_to_each_path(con):
    ids = image_ids(con, 2)
    boxes = properties.create_property(con, "box", "multi_tag", mode="file")
    files = properties.targets_for_images(con, boxes, ids)
    assert properties.add_tags(con, boxes, files, ["box 1"]) == len(files)
    assert properties.values_of(con, boxes, files) == {f: ["box 1"] for f in files}
    assert store.scalar(con, "SELECT count(*) FROM image_tags") == 0
