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
    return [e for e in events if e.stage == "UMAP"]


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
        if event.stage == "UMAP" and event.done > 0:
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
