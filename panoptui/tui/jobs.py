"""Every long job the app runs (import, vectors, clustering, duplicates, maps, tags, queries,
export), each one typed function (``start_...``) that starts it in a thread worker of the App
(``PanoptuiApp.start_job``), so that switching screens never cancels it. The screens parse what
the user asked for and call one of them; the App and screens hear of the job through JobChanged
messages (job.py).

The jobs whose findings open a screen of their own (clusters, duplicates, a map) hand them to the
App, which knows those screens: this module imports no screen, so every screen can import it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

from panoptui.core import (
    browse,
    cluster,
    duplicates,
    projection,
    query,
    scan,
    settings,
    tags,
    vector_sets,
    vectorize,
)
from panoptui.tui.job import Job

if TYPE_CHECKING:  # the App imports this module: at run time, a circle
    from panoptui.tui.app import PanoptuiApp


# --- the project's images -------------------------------------------------------------------


def start_import(app: PanoptuiApp, folders: list[str] | None) -> Job | None:
    """Import new folders, or rescan every folder (None)."""
    if app.refuse_write("import" if folders else "rescan"):
        return None
    thumb_size = settings.load(app.db).thumb_size

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> scan.ImportSummary:
        return scan.import_folders(
            cur, folders, thumb_size=thumb_size, progress=app.job_reporter(job), cancel=job.cancel
        )

    def done(job: Job) -> None:
        if job.state in ("done", "cancelled"):
            s = job.result
            app.notify(
                f"import {job.state}: {s.new} new, {s.changed} changed, {s.missing} missing, "
                f"{s.failed} errors",
                timeout=8,
            )

    label = "import" if folders else "rescan"
    return app.start_job("import", label, work, done)


def start_export(app: PanoptuiApp, file: str, set_id: int | None, force: bool) -> Job | None:
    """Export the images, paths, tags and clusters (with a set's vectors) to CSV or Parquet."""
    from panoptui.core.export import export

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> int:
        return export(cur, file, set_id, force)

    def done(job: Job) -> None:
        if job.state == "done":
            app.notify(f"wrote {job.result} rows to {file}")

    return app.start_job("export", f"export to {file}", work, done)


# --- vectors --------------------------------------------------------------------------------


def start_vectors(
    app: PanoptuiApp,
    model: str,
    greyscale: bool,
    weights: str | None,
    device: str,
    batch_size: int,
    resume_id: int | None = None,
) -> Job | None:
    """Load the model and fill a new set (or resume one)."""
    if app.refuse_write("compute vectors"):
        return None

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> vectorize.VectorRunSummary:
        job.set_id, embedder = vectorize.prepare_run(
            cur, model=model, greyscale=greyscale, weights=weights, device=device,
            batch_size=batch_size, resume_id=resume_id,
        )  # fmt: skip
        return vectorize.compute_vectors(
            cur, job.set_id, embedder, progress=app.job_reporter(job), cancel=job.cancel
        )

    def done(job: Job) -> None:
        if job.result is not None:
            s = job.result
            how = "stopped; resume it any time" if s.cancelled else "done"
            app.notify(
                f"vector set {job.set_id}: {s.done} images embedded, {s.errors} errors ({how})",
                timeout=8,
            )

    label = f"vectors ({model})" if resume_id is None else f"resume set {resume_id}"
    return app.start_job("vectors", label, work, done)


# --- queries --------------------------------------------------------------------------------


def start_query(
    app: PanoptuiApp,
    label: str,
    run: Callable[[duckdb.DuckDBPyConnection], list[query.Hit]],
    found: Callable[[list[query.Hit]], None],
) -> Job | None:
    """Run a query (``run``, in the job's thread); ``found`` gets its hits when it is done."""

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> list[query.Hit]:
        return run(cur)

    def done(job: Job) -> None:
        if job.state == "done":
            found(job.result)

    return app.start_job("query", label, work, done)


# --- findings that open a screen of their own -----------------------------------------------


def start_clustering(
    app: PanoptuiApp,
    set_id: int,
    k: int | None,
    name: str | None,
    within: browse.ImageFilter | list[int] | None,
    *,
    label: str | None = None,
    unique: bool = False,
) -> Job | None:
    """Cluster a set's images (those ``within`` a filter or a list, else all), save the
    clustering under ``name`` (None: made up; with ``unique``, numbered if taken) and show its
    clusters."""

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> tuple[str, list[cluster.Cluster]]:
        scope: np.ndarray | None
        if isinstance(within, browse.ImageFilter):
            scope = browse.filter_ids(cur, within)
        else:
            scope = None if within is None else np.array(within, np.int64)
        return cluster.cluster_set(cur, set_id, k, name, scope, unique=unique)

    def done(job: Job) -> None:
        if job.state == "done":
            app.show_clusters(*job.result)

    return app.start_job("cluster", label or f"clustering set {set_id}", work, done)


def start_duplicates(app: PanoptuiApp, set_id: int, threshold: float) -> Job | None:
    """Find groups of near-duplicate images in a set, and show them."""

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> list[list[int]]:
        matrix = app.matrix(cur, set_id, vector_sets.get_set(cur, set_id).count)
        return duplicates.near_duplicate_groups(matrix, threshold)

    def done(job: Job) -> None:
        if job.state == "done":
            app.show_duplicates(job.result, set_id, threshold)

    return app.start_job("duplicates", f"duplicates in set {set_id}", work, done)


def start_map(app: PanoptuiApp, set_id: int, method: str) -> Job | None:
    """Compute (and save) a set's 2-D map, coloured by its newest clustering, and show it."""

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> Any:
        return projection.coloured_map(cur, set_id, method, newest_clustering=True)

    def done(job: Job) -> None:
        if job.state == "done":
            ids, points, labels = job.result
            app.show_map(ids, points, labels, f"map of set {set_id} ({method})")

    return app.start_job("map", f"{method} map of set {set_id}", work, done)


# --- tags from findings ---------------------------------------------------------------------


def start_tags_from_clustering(app: PanoptuiApp, name: str) -> Job | None:
    """One tag per cluster of a clustering, under a tag named after it."""
    if app.refuse_write("save tags"):
        return None

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> list[str]:
        return cluster.tags_from_clustering(cur, name)

    def done(job: Job) -> None:
        if job.state == "done":
            app.notify(f"made {len(job.result)} tags under {name!r}")

    return app.start_job("tags", f"tags from {name}", work, done)


def start_tags_from_duplicates(
    app: PanoptuiApp, groups: list[list[int]], set_id: int, threshold: float
) -> Job | None:
    """One tag per group of near-duplicates, under ``duplicates-SET-THRESHOLD``."""
    if app.refuse_write("save tags"):
        return None
    base = f"duplicates-{set_id}-{threshold:g}"

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> str:
        # A tag of its own for each run: groups of another run never merge into these.
        taken = {t.name for t in tags.list_tags(cur)}
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        duplicates.tag_groups(cur, name, groups)
        return name

    def done(job: Job) -> None:
        if job.state == "done":
            app.notify(f"made {len(groups)} tags under {job.result!r}")

    return app.start_job("tags", "tags from duplicates", work, done)
