"""The long queries as jobs, in the core: clustering, duplicates, maps and the reading of a set's
vectors report progress that reaches its total, and stop at the next check once their cancel
event is set (Cancelled), saving nothing. Run on the demo project's pixel vectors (36 images),
with blocks made small so that each stage has several steps."""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest
import tui_helpers

from panoptui.core import cluster, duplicates, matrix_file, projection, query, store
from panoptui.core.progress import Cancelled, Progress, Stage, check_cancel

demo_base, project = tui_helpers.demo_base, tui_helpers.project

SET = 1  # the demo's pixel vectors


@pytest.fixture
def con(project):
    con = store.open_project(project)
    yield con
    con.close()


@pytest.fixture
def small_steps(monkeypatch):
    """Several steps per stage on 36 images."""
    monkeypatch.setattr(query, "READ_BATCH", 8)
    monkeypatch.setattr(duplicates, "BLOCK_SCORES", 36 * 5)  # 5 rows a block
    monkeypatch.setattr(projection, "PCA_BLOCK", 8)
    monkeypatch.setattr(cluster, "STEP_WORK", 1)  # one k-means iteration a step


def stages(events: list[Progress]) -> dict[str, list[Progress]]:
    found: dict[str, list[Progress]] = {}
    for event in events:
        found.setdefault(event.stage, []).append(event)
    return found


def assert_counted(events: list[Progress], steps: int = 2) -> None:
    """Each stage's count only grows, ends at its total, in at least ``steps`` steps."""
    for name, seen in stages(events).items():
        done = [e.done for e in seen]
        assert done == sorted(done), name
        assert seen[-1].done == seen[-1].total > 0, name
        assert len(set(done)) >= steps, name


def cancel_at(stage: str, cancel: threading.Event, events: list[Progress]):
    """A progress callback that records events and sets ``cancel`` on the first one of
    ``stage`` past its start."""

    def report(event: Progress) -> None:
        events.append(event)
        if event.stage.startswith(stage) and event.done > 0:
            cancel.set()

    return report


def test_a_stage_counts_to_its_total_and_a_cancel_check_raises():
    events: list[Progress] = []
    stage = Stage(events.append, "work", 10)
    stage.step(4)
    stage.finish()
    assert [(e.stage, e.done, e.total) for e in events] == [
        ("work", 0, 10),
        ("work", 4, 10),
        ("work", 10, 10),
    ]
    check_cancel(None)
    event = threading.Event()
    check_cancel(event)
    event.set()
    with pytest.raises(Cancelled):
        check_cancel(event)


def test_reading_a_set_reports_its_batches_and_stops_when_cancelled(con, small_steps):
    events: list[Progress] = []
    matrix = query.VectorMatrix.load(con, SET, events.append)
    assert len(matrix) == 36
    assert [e.done for e in events] == [0, 8, 16, 24, 32, 36] and events[-1].total == 36
    cancel, seen = threading.Event(), []
    matrix_file.remove(con, SET)  # the first load built the set's vector file: build it again
    with pytest.raises(Cancelled):
        query.VectorMatrix.load(con, SET, cancel_at("reading", cancel, seen), cancel)
    assert seen[-1].done == 8  # stopped at the next batch


@pytest.mark.parametrize("k", [3, None])
def test_clustering_reports_each_stage_to_its_end(con, small_steps, k):
    events: list[Progress] = []
    name, clusters = cluster.cluster_set(con, SET, k, "c", progress=events.append)
    assert sum(c.size for c in clusters) == 36
    names = list(stages(events))
    assert names[0].startswith("reading vectors") and names[-1].startswith("k-means")
    assert ("choosing k" in names) == (k is None)
    assert_counted(events)


def test_a_cancelled_clustering_stops_at_the_next_iteration_and_saves_nothing(con, small_steps):
    cancel, events = threading.Event(), []
    with pytest.raises(Cancelled):
        cluster.cluster_set(con, SET, 3, "c", progress=cancel_at("k-means", cancel, events),
                            cancel=cancel)  # fmt: skip
    kmeans = stages(events)["k-means (k=3)"]
    assert kmeans[-1].done < kmeans[-1].total  # stopped before the end
    assert store.scalar(con, "SELECT count(*) FROM clusterings") == 0
    assert store.scalar(con, "SELECT count(*) FROM cluster_members") == 0


def test_a_cancelled_choice_of_k_stops_at_the_next_candidate(con, small_steps):
    cancel, events = threading.Event(), []
    with pytest.raises(Cancelled):
        cluster.cluster_set(con, SET, None, progress=cancel_at("choosing", cancel, events),
                            cancel=cancel)  # fmt: skip
    assert [e.done for e in stages(events)["choosing k"]] == [0, 1]
    assert not any(name.startswith("k-means") for name in stages(events))
    assert store.scalar(con, "SELECT count(*) FROM clusterings") == 0


def test_kmeans_completes_its_count_when_it_converges_early(small_steps):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    events: list[Progress] = []
    labels = cluster.kmeans(x, 4, events.append)
    assert len(set(labels.tolist())) == 4
    assert events[-1].done == events[-1].total == 3 * cluster.MAX_ITER  # 3 restarts
    assert len(events) < 3 * cluster.MAX_ITER  # converged before MAX_ITER iterations


def test_duplicates_report_the_scores_compared_and_stop_when_cancelled(con, small_steps):
    matrix = query.VectorMatrix.load(con, SET)
    events: list[Progress] = []
    groups = duplicates.near_duplicate_groups(matrix, 0.5, events.append)
    assert groups == duplicates.near_duplicate_groups(matrix, 0.5)  # the same with or without
    assert events[-1].done == events[-1].total == 36 * 37 // 2
    assert len(events) == 1 + 8  # the start, then 8 blocks of 5 rows (the last of 1)
    cancel, seen = threading.Event(), []
    with pytest.raises(Cancelled):
        duplicates.near_duplicate_groups(matrix, 0.5, cancel_at("comparing", cancel, seen), cancel)
    assert len(seen) == 2  # the start and the first block, then the check stopped it


def test_a_map_reports_pca_to_its_end_and_a_cancelled_one_keeps_the_old(con, small_steps):
    events: list[Progress] = []
    ids, points = projection.compute_map(con, SET, "pca", events.append)
    assert list(stages(events)) == [matrix_file.BUILDING, "PCA"]
    assert_counted(events)
    assert stages(events)["PCA"][-1].total == 2 * 36
    saved = con.execute("SELECT image_id, x, y FROM map_points ORDER BY image_id").fetchall()
    assert len(saved) == 36

    cancel, seen = threading.Event(), []
    with pytest.raises(Cancelled):
        projection.coloured_map(con, SET, "pca", progress=cancel_at("PCA", cancel, seen),
                                cancel=cancel)  # fmt: skip
    assert seen[-1].done == 8  # the next block's check stopped it
    assert con.execute("SELECT image_id, x, y FROM map_points ORDER BY image_id").fetchall() == (
        saved
    )


def test_tsne_runs_in_a_child_reporting_its_iterations_and_a_cancel_ends_it(con, small_steps):
    events: list[Progress] = []
    ids, points = projection.compute_map(con, SET, "tsne", events.append)
    assert points.shape == (36, 2) and np.isfinite(points).all()
    tsne = stages(events)["t-SNE"]
    assert tsne[-1].done == tsne[-1].total == projection.TSNE_ITERATIONS
    assert len({e.done for e in tsne}) > 2  # iterations reported on the way, not only the end

    cancel, seen = threading.Event(), []
    with pytest.raises(Cancelled):
        projection.compute_map(con, SET, "tsne", cancel_at("t-SNE", cancel, seen), cancel)
    assert stages(seen)["t-SNE"][-1].done < projection.TSNE_ITERATIONS
    assert [c.name for c in multiprocessing.active_children()] == []  # the child is gone
    assert store.scalar(con, "SELECT count(*) FROM map_points WHERE method = 'tsne'") == 36
