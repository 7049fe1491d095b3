"""Issue 13: named views kept in the project, and each group of a group-by opened as a filter
that takes exactly the images the group counted."""

from __future__ import annotations

from datetime import datetime

import pytest
import tui_helpers

from panoptui.core import browse, filters, properties, store, views

demo_base, project = tui_helpers.demo_base, tui_helpers.project


@pytest.fixture
def con(project):
    con = store.open_project(project)
    images = [int(i) for (i,) in con.execute("SELECT id FROM images ORDER BY id").fetchall()]
    published = properties.create_property(con, "published", "date")
    for n, image in enumerate(images[:20]):
        properties.set_values(con, published, [image], datetime(1988 + n % 4, 1 + n % 12, 1 + n))
    topics = properties.create_property(con, "topics", "multi_tag")
    properties.set_values(con, topics, images[:6], ["protest", "police"])
    properties.set_values(con, topics, images[6:9], ['say "hi", (ok)'])
    score = properties.create_property(con, "score", "number")
    properties.set_values(con, score, images[:4], 2.5)
    properties.set_values(con, score, images[4:7], 3.0)
    checked = properties.create_property(con, "checked", "checkbox")
    properties.set_values(con, checked, images[::3], True)
    source = properties.create_property(con, "the source", "text")
    properties.set_values(con, source, images[:5], 'a "quoted" [b]text[/b]')
    yield con
    con.close()


@pytest.mark.parametrize(
    "group",
    ["published:year", "published:month", "published:day", "topics", "score", "checked",
     "the source", "format", "width"],
)  # fmt: skip
def test_each_group_opens_as_exactly_its_images(con, group):
    counts = filters.group_counts(con, group)
    assert counts and sum(n for _, n in counts) >= 1
    for value, n in counts:
        where = views.group_filter(con, group, value)
        shown = browse.count_images(con, browse.ImageFilter(where=where))
        assert shown == n, (group, value, where)


def test_views_are_kept_in_order_and_checked_before_saving(con):
    views.save_view(con, views.View("recent", where="published >= 1990-01-01", sort="-published"))
    views.save_view(con, views.View("by topic", group="topics"))
    views.save_view(con, views.View("recent", where="published >= 1991-01-01"))  # replaced
    listed = views.list_views(con)
    assert [v.name for v in listed] == ["recent", "by topic"]  # its place is kept
    assert listed[0].where == "published >= 1991-01-01" and listed[0].sort is None
    with pytest.raises(filters.FilterError, match="did you mean published"):
        views.save_view(con, views.View("bad", where="publshed > 1990"))
    with pytest.raises(filters.FilterError):
        views.save_view(con, views.View("bad", sort="nope"))
    assert [v.name for v in views.list_views(con)] == ["recent", "by topic"]
    views.delete_view(con, "recent")
    assert [v.name for v in views.list_views(con)] == ["by topic"]
    with pytest.raises(store.ProjectError, match="no view 'recent'"):
        views.delete_view(con, "recent")
