"""Every long job the app runs (import, vectors, clustering, duplicates, maps, tags, queries,
export), each one typed function (``start_...``) that starts it in a thread worker of the App
(``PanoptuiApp.start_job``), so that switching screens never cancels it. The screens parse what
the user asked for and call one of them; the App and screens hear of the job through JobChanged
messages (job.py).

The jobs whose findings open a screen of their own (clusters, duplicates, a map) hand them to the
App, which knows those screens: this module imports no screen, so every screen can import it.
Those findings open over the Results screen when it is the one shown; a job that ends while the
user works on another screen never pulls them away from it: a notification says what is ready,
and the findings open when the user next goes to Results (``open_on_results``).

Clustering, duplicates, maps and queries report their progress (stages, with an ETA where the
work is counted) and stop at their next check when cancelled (``x``: ``App.cancel_jobs``),
saving nothing: see the core functions.
"""

from __future__ import annotations

import weakref
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
    ranking,
    scan,
    settings,
    tags,
    vector_sets,
    vectorize,
)
from panoptui.tui.job import Job

if TYPE_CHECKING:  # the App imports this module: at run time, a circle
    from panoptui.tui.app import PanoptuiApp
    from panoptui.tui.sources import Source


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


def start_export(
    app: PanoptuiApp,
    file: str,
    set_id: int | None,
    force: bool,
    image_ids: frozenset[int] | None = None,
    view: Source | None = None,
    panoptic: bool = False,
) -> Job | None:
    """Export the images, paths, properties, tags and clusters (with a set's vectors) to CSV or
    Parquet, or Panoptic's CSV (``panoptic``); ``image_ids``: only those (the selection);
    ``view``: only the images of a view of the Results screen."""
    from panoptui.core import views
    from panoptui.core.export import export
    from panoptui.tui.sources import AllImages

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> int:
        ids, where = image_ids, None
        if isinstance(view, AllImages) and not view.flt.name:
            where = views.as_where(view.flt)  # the view's conditions, as one filter expression
        elif view is not None:  # a query's answer, or a name pattern (no filter expression)
            ids = frozenset(int(i) for i in view.ids(cur))
        return export(cur, file, set_id, force, image_ids=ids, where=where, panoptic=panoptic)

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
        from panoptui.core.text import count_text

        if job.result is not None:
            s = job.result
            how = "stopped; resume it any time" if s.cancelled else "done"
            embedded, errors = count_text(s.done, "image"), count_text(s.errors, "error")
            app.notify(f"vector set {job.set_id}: {embedded} embedded, {errors} ({how})", timeout=8)

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
        # The first text query of a set also loads its model: App.text_embedder says so here.
        return run(cur)

    def done(job: Job) -> None:
        if job.state == "done":
            found(job.result)  # on the Results screen, which shows them when the user is back
            if app.current_mode != "results":
                app.notify(f"{label}: done; press 3 (Results) to see it", timeout=15)
        said_if_cancelled(app, job)

    return app.start_job("query", label, work, done)


# --- where findings open --------------------------------------------------------------------

Show = Callable[["PanoptuiApp"], None]  # opens findings in the App it is given

# The findings of jobs that ended while the user was on another screen than Results, per app,
# opened when the user goes to Results. Each takes the App rather than holding it: a value
# that held its key would keep a closed App alive for good.
_waiting: weakref.WeakKeyDictionary[PanoptuiApp, list[Show]] = weakref.WeakKeyDictionary()


def open_on_results(app: PanoptuiApp, what: str, show: Show) -> None:
    """Open a job's findings (``show``) over the Results screen: now if Results is shown, else
    when the user next goes there, with a notification naming ``what`` is ready and the key.
    A user who started a clustering and went tagging meanwhile expects to finish there, not to
    be moved; the findings must still be one key away."""
    if app.current_mode == "results":
        show(app)
        return
    if app not in _waiting:
        _waiting[app] = []
        # The subscription lives in the App's own signal: it goes with the App.
        app.mode_change_signal.subscribe(app, lambda mode: _open_waiting(app, mode))
    _waiting[app].append(show)
    app.notify(f"{what} ready: press 3 (Results) to see it", timeout=15)


def _open_waiting(app: PanoptuiApp, mode: str) -> None:
    if mode != "results":
        return
    shows, _waiting[app] = _waiting.get(app, []), []
    for show in shows:
        show(app)


def saved(job: Job, found: Any) -> Any:
    """What a job saved in the project: a cancel that came after its last check (while it
    saved) came too late, and the job is done (shown, not said to have saved nothing)."""
    job.cancel.clear()
    return found


def said_if_cancelled(app: PanoptuiApp, job: Job) -> None:
    if job.state == "cancelled":  # a query saves nothing anyway: its hits are dropped
        app.notify(f"{job.label}: cancelled" + ("" if job.kind == "query" else ", nothing saved"))


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
        found = cluster.cluster_set(
            cur, set_id, k, name, scope, unique=unique, progress=app.job_reporter(job),
            cancel=job.cancel,
        )  # fmt: skip
        return saved(job, found)

    def done(job: Job) -> None:
        if job.state == "done":
            name, clusters = job.result
            what = f"clustering {name} ({len(clusters)} clusters)"
            open_on_results(app, what, lambda shown: shown.show_clusters(name, clusters))
        said_if_cancelled(app, job)

    return app.start_job("cluster", label or f"clustering set {set_id}", work, done)


def start_duplicates(
    app: PanoptuiApp, set_id: int, threshold: float, within: browse.ImageFilter | None = None
) -> Job | None:
    """Find groups of near-duplicate images in a set (among the images of a view, ``within``),
    and show them."""

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> list[list[int]]:
        matrix = app.matrix(cur, set_id, vector_sets.get_set(cur, set_id).count, job)
        if within is not None:
            matrix = matrix.among(browse.filter_ids(cur, within))
        return duplicates.near_duplicate_groups(
            matrix, threshold, app.job_reporter(job), job.cancel,
            excluded=duplicates.not_duplicate_pairs(cur),
        )  # fmt: skip

    def done(job: Job) -> None:
        if job.state == "done":
            groups = job.result
            among = f" among {within.describe()}" if within is not None else ""
            what = f"{len(groups)} groups of near-duplicates in set {set_id}{among}"
            open_on_results(
                app, what, lambda shown: shown.show_duplicates(groups, set_id, threshold)
            )
        said_if_cancelled(app, job)

    return app.start_job("duplicates", f"duplicates in set {set_id}", work, done)


def start_duplicate_histogram(
    app: PanoptuiApp,
    set_id: int,
    threshold: float,
    shown: Callable[[duplicates.Histogram | None, str], None],
) -> Job | None:
    """The spread of a set's nearest-neighbour cosines and the groups each threshold (and
    ``threshold`` itself) gives, to choose one; ``shown(histogram, state)`` when it ends (the
    histogram None when it was cancelled or failed). It saves nothing. Of kind "duplicates":
    one at a time with a duplicates search, since both compare every pair of the set."""

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> duplicates.Histogram:
        matrix = app.matrix(cur, set_id, vector_sets.get_set(cur, set_id).count, job)
        thresholds = tuple(sorted({*duplicates.HISTOGRAM_THRESHOLDS, threshold}))
        return duplicates.histogram(
            matrix, thresholds, progress=app.job_reporter(job), cancel=job.cancel,
            excluded=duplicates.not_duplicate_pairs(cur),
        )  # fmt: skip

    def done(job: Job) -> None:
        shown(job.result if job.state == "done" else None, job.state)

    return app.start_job("duplicates", f"histogram of set {set_id}", work, done)


def start_map(
    app: PanoptuiApp, set_id: int, method: str, within: browse.ImageFilter | None = None
) -> Job | None:
    """Compute (and save) a set's 2-D map, coloured by its newest clustering, and show it: the
    whole set's map, of which only the images of a view (``within``) are shown, so that the
    saved map stays whole and the points sit where they always do."""

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> Any:
        found = projection.coloured_map(
            cur, set_id, method, newest_clustering=True, progress=app.job_reporter(job),
            cancel=job.cancel,
        )  # fmt: skip
        if within is not None:
            ids, points, labels = found
            keep = np.isin(ids, browse.filter_ids(cur, within))
            found = (ids[keep], points[keep], labels[keep])
        return saved(job, found)

    def done(job: Job) -> None:
        if job.state == "done":
            ids, points, labels = job.result
            among = f", {within.describe()}" if within is not None else ""
            title = f"map of set {set_id} ({method}{among})"
            open_on_results(
                app, title, lambda shown: shown.show_map(ids, points, labels, title, set_id)
            )
        said_if_cancelled(app, job)

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


# --- orderings of the images shown ----------------------------------------------------------

Ranking = tuple[str, list[ranking.Ranked]]  # a title for the results, and the ordered images


def start_rank(
    app: PanoptuiApp,
    set_id: int,
    by: str,
    k: int,
    within: browse.ImageFilter | list[int] | None,
    found: Callable[[str, list[ranking.Ranked]], None],
    clustering: str | None = None,
) -> Job | None:
    """Order the images ``within`` (a filter, a list; None: all) by how representative of their
    cluster they are (in ``clustering``; None: the set's newest) or how unusual (``k``
    neighbours); ``found`` gets a title and the order."""

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> Ranking:
        matrix = app.matrix(cur, set_id, vector_sets.get_set(cur, set_id).count, job)
        scope, report = _ids_within(cur, within), app.job_reporter(job)
        if by == "unusual":
            ranked = ranking.rank_unusual(matrix, k, scope, report, job.cancel)
            return f"most unusual first (k={k}, set {set_id})", ranked
        name, ranked = ranking.rank_representative(
            cur, matrix, set_id, clustering, scope, report, job.cancel
        )
        return f"most representative of their cluster in {name} first (set {set_id})", ranked

    return app.start_job("query", f"ranking by {by} (set {set_id})", work, _ranked(app, found))


def start_diverse(
    app: PanoptuiApp,
    set_id: int,
    n: int,
    within: browse.ImageFilter | list[int] | None,
    found: Callable[[str, list[ranking.Ranked]], None],
) -> Job | None:
    """``n`` diverse images among those ``within`` (a filter, a list; None: all)."""

    def work(cur: duckdb.DuckDBPyConnection, job: Job) -> Ranking:
        matrix = app.matrix(cur, set_id, vector_sets.get_set(cur, set_id).count, job)
        scope = _ids_within(cur, within)
        picked = ranking.diverse_sample(matrix, n, scope, app.job_reporter(job), job.cancel)
        return f"{len(picked)} diverse images (set {set_id})", picked

    return app.start_job("query", f"{n} diverse images (set {set_id})", work, _ranked(app, found))


def _ids_within(
    cur: duckdb.DuckDBPyConnection, within: browse.ImageFilter | list[int] | None
) -> np.ndarray | None:
    if isinstance(within, browse.ImageFilter):
        return browse.filter_ids(cur, within)
    return None if within is None else np.array(within, np.int64)


def _ranked(
    app: PanoptuiApp, found: Callable[[str, list[ranking.Ranked]], None]
) -> Callable[[Job], None]:
    """The end of an ordering job: its images to ``found`` (the Results screen, which shows
    them when the user is back there), as a query's hits."""

    def done(job: Job) -> None:
        if job.state == "done":
            found(*job.result)
            if app.current_mode != "results":
                app.notify(f"{job.label}: done; press 3 (Results) to see it", timeout=15)
        said_if_cancelled(app, job)

    return done
