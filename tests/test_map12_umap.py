"""Issue 12: UMAP maps (umap-learn, the extra ``map``) run in a child process, as t-SNE: their
epochs are the progress, a cancel ends the child and saves nothing, and without umap-learn the
error says what to install, in one line."""

from __future__ import annotations

import importlib.util
import multiprocessing
import threading

import numpy as np
import pytest
import tui_helpers

from panoptui.core import projection, store
from panoptui.core.progress import Cancelled, Progress

demo_base, project = tui_helpers.demo_base, tui_helpers.project
SET = 1  # the demo's pixel vectors


@pytest.fixture
def con(project):
    con = store.open_project(project)
    yield con
    con.close()


def umap_events(events: list[Progress]) -> list[Progress]:
    """The layout's epochs (after the nearest neighbours, on a large set)."""
    return [e for e in events if e.stage == "UMAP: layout"]


def test_umap_maps_in_a_child_reporting_its_epochs_and_a_cancel_ends_it(con):
    events: list[Progress] = []
    ids, points = projection.compute_map(con, SET, "umap", events.append)
    assert points.shape == (len(ids), 2) and np.isfinite(points).all()
    assert points.std(axis=0).min() > 0  # a spread, not one spot
    epochs = umap_events(events)
    assert epochs[-1].done == epochs[-1].total == projection.umap_epochs(len(ids))
    assert len({e.done for e in epochs}) > 2  # epochs reported on the way, not only the end
    saved = store.scalar(con, "SELECT count(*) FROM map_points WHERE method = 'umap'")
    assert saved == len(ids)

    cancel = threading.Event()
    seen: list[Progress] = []

    def report(event: Progress) -> None:
        seen.append(event)
        if event.stage == "UMAP: layout" and event.done > 0:
            cancel.set()

    con.execute("DELETE FROM map_points WHERE method = 'umap'")
    with pytest.raises(Cancelled):
        projection.compute_map(con, SET, "umap", report, cancel)
    assert umap_events(seen)[-1].done < projection.umap_epochs(len(ids))
    assert [c.name for c in multiprocessing.active_children()] == []  # the child is gone
    assert store.scalar(con, "SELECT count(*) FROM map_points WHERE method = 'umap'") == 0


def test_umap_without_umap_learn_says_what_to_install(con, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "umap" else find_spec(name, *a),
    )
    with pytest.raises(store.ProjectError, match=r"umap-learn.*pip install 'panoptui\[map\]'"):
        projection.compute_map(con, SET, "umap")


def test_umap_verbose_lines_become_stages_with_their_counts():
    """What umap-learn prints on a large set (pynndescent's descent, then the epochs bar as
    panoptui formats it) becomes two counted stages; timestamps and other lines count nothing."""
    sent: list[tuple[str, object]] = []

    class Pipe:
        def send(self, message: tuple[str, object]) -> None:
            sent.append(message)

    reporter = projection._UmapReporter(Pipe(), 200)  # type: ignore[arg-type]
    for line in [
        "UMAP(angular_rp_forest=True, metric='cosine', n_epochs=200, verbose=True)\n",
        "Mon Nov 30 23:07:22 2026 Construct fuzzy simplicial set\n",
        "Mon Nov 30 23:07:22 2026 NN descent for 14 iterations\n",
        "\t 1  /  14\n",
        "\t 2  /  14\n",
        "Mon Nov 30 23:07:40 2026 Construct embedding\n",
        "0/200\n",
        "57/200\n",
    ]:
        reporter.write(line)
    assert sent == [
        ("stage", ("UMAP: nearest neighbours", 14)),
        ("step", 1),
        ("step", 2),
        ("stage", ("UMAP: layout", 200)),
        ("step", 0),
        ("step", 57),
    ]
