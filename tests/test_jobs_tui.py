"""Every long query is a job in the app: clustering, duplicates, maps and the model a text query
loads show their progress where the user is, ``x`` cancels them (state "cancelled", nothing
saved), and a job that ends while the user is on another screen waits for them on Results.

The jobs run the real core functions. To catch one half-way on 36 images, the core module's
cancel check is wrapped: its first call waits for the test's go (the job stands still at a
check, as a long one would between steps), then checks for real."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import tui_helpers
from tui_helpers import fill_form, screen_text, settle, wait_for

from panoptui.core import cluster, duplicates, projection, store
from panoptui.core.progress import check_cancel
from panoptui.tui.jobs import start_query
from panoptui.tui.screens.explore import ClustersScreen, DuplicatesScreen, MapScreen
from panoptui.tui.screens.results import ResultsScreen

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive

WIDE = (120, 30)  # room on the Results status line for the job's line


class Gate:
    """A core module's cancel check that stops at its first call until ``go``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: Any) -> None:
        self.reset()
        monkeypatch.setattr(module, "check_cancel", self.check)

    def reset(self) -> None:
        """Stop the next job at its first check."""
        self.reached = threading.Event()
        self.go = threading.Event()
        self.calls = 0

    def check(self, cancel: threading.Event | None) -> None:
        self.calls += 1
        if self.calls == 1:
            self.reached.set()
            self.go.wait(30)
        check_cancel(cancel)


def notices(app) -> str:
    return "\n".join(n.message for n in app._notifications)


async def reach(pilot, gate: Gate, text: str) -> None:
    """Wait until the job stands at the gate and the screen shows ``text``."""
    await wait_for(pilot, gate.reached.is_set, what="the job at its first check")
    await wait_for(pilot, lambda: text in screen_text(pilot.app), what=repr(text))


async def cancel_with_x(pilot, gate: Gate, kind: str) -> None:
    """Press x while the job stands still: it says "cancelling…", then stops at the check."""
    app = pilot.app
    await pilot.press("x")
    await pilot.pause()
    assert app.jobs[kind].cancel.is_set()
    await wait_for(pilot, lambda: "cancelling…" in screen_text(app), what="cancelling…")
    gate.go.set()
    await settle(pilot)
    assert app.jobs[kind].state == "cancelled" and app.jobs[kind].result is None
    assert "cancelled, nothing saved" in notices(app)
    assert "cancelling" not in screen_text(app)  # the line of a running job is gone


def test_clustering_shows_its_progress_and_x_cancels_it_saving_nothing(drive, monkeypatch):
    gate = Gate(monkeypatch, cluster)

    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        await pilot.press("c")
        await fill_form(pilot, {"k": 3, "name": "three"})
        await reach(pilot, gate, "clustering set 1: k-means (k=3) 0%")
        await cancel_with_x(pilot, gate, "cluster")
        assert app.screen is results
        assert store.scalar(app.db, "SELECT count(*) FROM clusterings") == 0

    drive(scenario, size=WIDE)


def test_duplicates_show_their_progress_and_x_cancels_them(drive, monkeypatch):
    gate = Gate(monkeypatch, duplicates)

    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("d")
        await fill_form(pilot, {"threshold": 0.5})
        await reach(pilot, gate, "duplicates in set 1: comparing 0%")
        await cancel_with_x(pilot, gate, "duplicates")
        assert isinstance(app.screen, ResultsScreen)  # no groups opened
        # Run again, to its end: the groups open on Results, where the user is.
        gate.reset()
        gate.go.set()
        await pilot.press("d")
        await fill_form(pilot, {"threshold": 0.5})
        await settle(pilot)
        assert isinstance(app.screen, DuplicatesScreen) and app.screen.groups

    drive(scenario, size=WIDE)


def test_a_map_shows_its_progress_and_x_cancels_it_keeping_no_points(drive, monkeypatch):
    gate = Gate(monkeypatch, projection)

    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("m")
        await fill_form(pilot, {"method": "pca"})
        await reach(pilot, gate, "pca map of set 1: PCA 0%")
        await cancel_with_x(pilot, gate, "map")
        assert store.scalar(app.db, "SELECT count(*) FROM map_points") == 0
        assert not isinstance(app.screen, MapScreen)

    drive(scenario, size=WIDE)


def test_a_job_that_ends_elsewhere_waits_on_results_and_x_works_on_findings(drive, monkeypatch):
    """The user starts a clustering, goes to the Tags screen; it ends there without moving them,
    says so and which key shows it; on Results the clusters are open. There, a re-clustering
    shows its progress on the clusters screen, and x cancels it."""
    gate = Gate(monkeypatch, cluster)

    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("c")
        await fill_form(pilot, {"k": 3, "name": "three"})
        await wait_for(pilot, gate.reached.is_set)
        await pilot.press("4")  # the Tags screen, while it runs
        await pilot.pause()
        assert app.current_mode == "tags" and app.jobs["cluster"].running
        gate.go.set()
        await settle(pilot)
        assert app.jobs["cluster"].state == "done"
        assert app.current_mode == "tags"  # not pulled away
        assert "clustering three (3 clusters) ready: press 3 (Results) to see it" in notices(app)
        await pilot.press("3")
        await settle(pilot)
        clusters = app.screen
        assert isinstance(clusters, ClustersScreen) and clusters.clustering == "three"
        assert sum(c.size for c in clusters.clusters) == 36

        # A re-clustering of the biggest cluster, from the clusters screen: its line shows
        # there, with the key that cancels it.
        gate.reset()
        biggest = max(range(3), key=lambda n: clusters.clusters[n].size)
        for _ in range(biggest):
            await pilot.press("down")
        await pilot.press("r")
        await fill_form(pilot, {"k": 2})
        await reach(pilot, gate, "re-clustering three:")
        assert app.screen is clusters
        line = str(clusters.query_one("#explore-job #job-line").render())
        assert "k-means (k=2) 0%" in line and "x: cancel" in line
        await cancel_with_x(pilot, gate, "cluster")
        assert app.screen is clusters and not clusters.query_one("#explore-job").display
        names = [r[0] for r in app.db.execute("SELECT name FROM clusterings").fetchall()]
        assert names == ["three"]

    drive(scenario, size=WIDE)


def test_a_text_query_says_it_loads_the_model_and_x_drops_its_result(drive, monkeypatch):
    """A model load cannot be interrupted: the job says "cancelling…" until it ends, then drops
    the query (the model is kept for the next one)."""
    import panoptui.core.models as models

    loading, go = threading.Event(), threading.Event()
    model = object()

    def slow_load(name: str, weights: str | None = None, device: str = "auto") -> Any:
        loading.set()
        go.wait(30)
        return model

    monkeypatch.setattr(models, "load_embedder", slow_load)
    found: list[Any] = []

    class TextSet:
        id, model, weights = 7, "clip", None

    async def scenario(app, pilot):
        await settle(pilot)

        def run(cur):
            app.text_embedder(TextSet(), "cpu")
            return []

        start_query(app, "search 'a cat' (set 7)", run, found.append)
        await wait_for(pilot, loading.is_set)
        await wait_for(pilot, lambda: "loading the model clip" in screen_text(app))
        await pilot.press("x")
        await wait_for(pilot, lambda: "search 'a cat' (set 7): cancelling…" in screen_text(app))
        go.set()
        await settle(pilot)
        assert app.jobs["query"].state == "cancelled" and found == []
        assert "search 'a cat' (set 7): cancelled" in notices(app)
        assert app.text_embedder(TextSet(), "cpu") is model  # loaded once, kept

    drive(scenario, size=WIDE)


def test_x_with_no_job_running_says_so(drive):
    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("x")
        await pilot.pause()
        assert "no job to cancel here" in notices(app)
        assert not app.running_jobs()

    drive(scenario)


def test_a_cancel_that_comes_while_a_clustering_is_saved_is_too_late(drive, monkeypatch):
    """Past its last check the clustering is saved: the job is done and its clusters show,
    rather than a "cancelled, nothing saved" that would not be true."""
    original = cluster.save_clustering
    apps: list[Any] = []

    def saved_while_cancelled(*args: Any, **kwargs: Any) -> int:
        apps[0].jobs["cluster"].cancel.set()  # x, pressed while the rows are written
        return original(*args, **kwargs)

    monkeypatch.setattr(cluster, "save_clustering", saved_while_cancelled)

    async def scenario(app, pilot):
        apps.append(app)
        await settle(pilot)
        await pilot.press("c")
        await fill_form(pilot, {"k": 3, "name": "three"})
        await settle(pilot)
        assert app.jobs["cluster"].state == "done"
        assert isinstance(app.screen, ClustersScreen) and app.screen.clustering == "three"
        assert "nothing saved" not in notices(app)

    drive(scenario, size=WIDE)


def test_a_clustering_running_shows_on_the_tags_screen_and_x_cancels_it_there(drive, monkeypatch):
    """Work started on Results stays in view while tagging: its line, and x, on Tags too."""
    gate = Gate(monkeypatch, cluster)

    async def scenario(app, pilot):
        await settle(pilot)
        await pilot.press("c")
        await fill_form(pilot, {"k": 3, "name": "three"})
        await wait_for(pilot, gate.reached.is_set)
        await pilot.press("4")
        await reach(pilot, gate, "clustering set 1: k-means (k=3) 0%")
        assert app.current_mode == "tags" and "x: cancel" in screen_text(app)
        await cancel_with_x(pilot, gate, "cluster")
        assert app.current_mode == "tags"
        assert store.scalar(app.db, "SELECT count(*) FROM clusterings") == 0

    drive(scenario, size=WIDE)
