"""Issue 13: typed properties in the core: names, types, modes, values of each type set on
images or on files, and text parsed into each type."""

from __future__ import annotations

from datetime import datetime

import pytest
import tui_helpers

from panoptui.core import properties, store, tags

demo_base, project = tui_helpers.demo_base, tui_helpers.project


@pytest.fixture
def con(project):
    con = store.open_project(project)
    yield con
    con.close()


def test_a_name_is_checked_and_a_property_made_once(con):
    year = properties.create_property(con, "year", "number")
    assert properties.create_property(con, " year ", "number") == year  # the same one
    with pytest.raises(store.ProjectError, match="exists already, of type number"):
        properties.create_property(con, "year", "date")
    for bad in ("width", "Path", "date_taken", "keywords"):
        with pytest.raises(store.ProjectError, match="is a built-in field"):
            properties.create_property(con, bad, "text")
    with pytest.raises(store.ProjectError, match="not blank"):
        properties.create_property(con, "  ", "text")
    with pytest.raises(store.ProjectError, match="unknown property type 'colour'"):
        properties.create_property(con, "c", "colour")
    with pytest.raises(store.ProjectError, match="did you mean 'year'"):
        properties.get_property(con, "yaer")
    assert [p.name for p in properties.list_properties(con)] == ["tags", "year"]


@pytest.mark.parametrize(
    ("type_", "text", "value"),
    [
        ("text", "  a [b]x[/b] ", "a [b]x[/b]"),
        ("url", "https://example.org/a?b=1", "https://example.org/a?b=1"),
        ("number", "3,5", 3.5),
        ("number", "-1e3", -1000.0),
        ("date", "1990-05-17", datetime(1990, 5, 17)),
        ("date", "17/05/1990", datetime(1990, 5, 17)),
        ("date", "17.05.1990", datetime(1990, 5, 17)),
        ("date", "1990", datetime(1990, 1, 1)),
        ("date", "1990-05-17T10:20:30+02:00", datetime(1990, 5, 17, 10, 20, 30)),
        ("checkbox", "Yes", True),
        ("checkbox", "0", False),
        ("tag", "protest", ["protest"]),
        ("multi_tag", "a, b,a,,c", ["a", "b", "c"]),
        ("number", "", None),
    ],
)
def test_text_parses_into_each_type_and_back(type_, text, value):
    parsed = properties.parse_value(type_, text)
    assert parsed == value
    again = properties.parse_value(type_, properties.format_value(type_, parsed))
    assert again == value


@pytest.mark.parametrize(
    ("type_", "text"),
    [("number", "12 kg"), ("number", "nan"), ("date", "31/31/1990"), ("checkbox", "maybe")],
)
def test_text_that_does_not_fit_its_type_says_why(type_, text):
    with pytest.raises(ValueError, match=r"is not a"):
        properties.parse_value(type_, text)


def test_values_of_each_type_on_images_and_on_files(con):
    images = [
        int(i) for (i,) in con.execute("SELECT id FROM images ORDER BY id LIMIT 4").fetchall()
    ]
    cases = [
        ("note", "text", "seen [b]twice[/b]"),
        ("count", "number", 42.0),
        ("published", "date", datetime(1991, 2, 3)),
        ("checked", "checkbox", True),
        ("source", "url", "https://example.org"),
        ("place", "tag", ["Paris"]),
        ("topics", "multi_tag", ["protest", "police"]),
    ]
    for name, type_, value in cases:
        prop = properties.create_property(con, name, type_)
        assert properties.set_values(con, prop, images[:2], value) == 2
        got = properties.values_of(con, prop, images)
        expected = sorted(value) if isinstance(value, list) else value
        assert got == {images[0]: expected, images[1]: expected}, name
        assert properties.count_values(con, prop) == 2
        properties.set_values(con, prop, [images[0]], None)  # cleared
        assert list(properties.values_of(con, prop, images)) == [images[1]]
    # A tag property's tags are its own: "protest" in topics is not the tags property's.
    assert not tags.tag_exists(con, "protest")
    with pytest.raises(store.ProjectError, match="holds one tag"):
        properties.set_values(con, properties.get_property(con, "place"), images, ["a", "b"])
    with pytest.raises(store.ProjectError, match="cannot hold"):
        properties.set_values(con, properties.get_property(con, "count"), images, "many")
    with pytest.raises(store.ProjectError, match="no image 999999"):
        properties.set_values(con, properties.get_property(con, "count"), [999999], 1.0)

    # File mode: a value set on images goes to each of their paths.
    per_path = properties.create_property(con, "scan batch", "number", mode="file")
    files = properties.targets_for_images(con, per_path, images[:1])
    assert files and all(isinstance(f, int) for f in files)
    properties.set_values(con, per_path, files, 7.0)
    assert properties.values_of(con, per_path, files) == {f: 7.0 for f in files}
    file_tags = properties.create_property(con, "box", "multi_tag", mode="file")
    properties.set_values(con, file_tags, files, ["box 1"])
    assert properties.values_of(con, file_tags, files) == {f: ["box 1"] for f in files}
    with pytest.raises(store.ProjectError, match="no file"):
        properties.set_values(con, per_path, [10**9], 1.0)


def test_names_differing_only_in_case_are_one_property(con):
    """A filter, a CSV header and Panoptic's export name properties alike whatever their case:
    'Tags' beside 'tags' would make a CSV that cannot be read back."""
    year = properties.create_property(con, "year", "number")
    assert properties.create_property(con, "YEAR", "number") == year
    with pytest.raises(store.ProjectError, match="property 'tags' exists already"):
        properties.create_property(con, "Tags", "text")
    keep = properties.create_property(con, "keep", "checkbox")
    with pytest.raises(store.ProjectError, match="a property 'year' exists already"):
        properties.rename_property(con, "keep", "Year")
    assert properties.rename_property(con, "year", "Year").name == "Year"  # its own case
    assert properties.get_property(con, "YEAR").id == year.id
    assert properties.get_property(con, "KEEP") == keep
    assert [p.name for p in properties.list_properties(con)] == ["tags", "Year", "keep"]
