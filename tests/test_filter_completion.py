"""Issue 13: the filter bar completes property names, keywords and values as they are typed."""

from __future__ import annotations

import pytest
import tui_helpers

from panoptui.core import properties, store
from panoptui.core.filter_completion import Completer

demo_base, project = tui_helpers.demo_base, tui_helpers.project


@pytest.fixture
def completer(project):
    con = store.open_project(project)
    images = [int(i) for (i,) in con.execute("SELECT id FROM images ORDER BY id").fetchall()]
    topics = properties.create_property(con, "topics", "multi_tag")
    properties.set_values(con, topics, images[:3], ["protest", "police", 'say "hi"'])
    source = properties.create_property(con, "source", "text")
    properties.set_values(con, source, images[:5], "social media")
    properties.set_values(con, source, images[5:6], "press")
    properties.create_property(con, "published", "date")
    yield Completer(con)
    con.close()


@pytest.mark.parametrize(
    ("typed", "completed"),
    [
        ("pub", "published"),
        ("top", "topics"),
        ("wid", "width"),
        ("published >= 1990-01-01 an", "published >= 1990-01-01 and"),
        ("(fo", "(folder"),
        ("topics h", "topics has any ("),
        ("topics has any (pro", "topics has any (protest"),
        ("topics has none (protest, po", "topics has none (protest, police"),
        ("topics has any (say", 'topics has any ("say \\"hi\\""'),
        ("source = soc", 'source = "social media"'),
        ('source != "pr', 'source != "press"'),
        ("source = ", 'source = "social media"'),  # the most frequent first
        ("not SOU", "not source"),
    ],
)
def test_the_last_word_is_completed(completer, typed, completed):
    assert completer.complete(typed) == completed


@pytest.mark.parametrize(
    "typed",
    ["", "published >= 19", "nothing_like_it", "source = zz", "width > "],
)
def test_nothing_is_proposed_where_nothing_fits(completer, typed):
    assert completer.complete(typed) is None


def test_a_completed_expression_compiles(completer):
    from panoptui.core import filters

    text = completer.complete("topics has any (say")
    assert text is not None
    filters.compile_filter(completer.con, text + ")")  # no FilterError
