"""The App: one open project, its screens (as modes, so each keeps its state), the jobs that run
in thread workers, and what several screens share (the selection, cached vector matrices)."""

from __future__ import annotations

import gc
import importlib
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Any

import duckdb
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from panoptui.core import store
from panoptui.core.models.base import ModelError
from panoptui.core.query import VectorMatrix
from panoptui.tui.images import Drawing
from panoptui.tui.jobs import Job, JobChanged, throttled
from panoptui.tui.screens.dialogs import ConfirmDialog
from panoptui.tui.screens.help import HelpScreen
from panoptui.tui.screens.project import ProjectScreen
from panoptui.tui.screens.results import ResultsScreen
from panoptui.tui.screens.settings import SettingsScreen
from panoptui.tui.screens.tags import TagsScreen
from panoptui.tui.screens.vectors import VectorsScreen

# The screens a key (and the command palette) switches between: (mode, key, title).
SCREENS = (
    ("project", "1", "Project"),
    ("vectors", "2", "Vectors"),
    ("results", "3", "Results"),
    ("tags", "4", "Tags"),
    ("settings", "5", "Settings"),
)


class PanoptuiApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "panoptui"
    MODES = {
        "project": ProjectScreen,
        "vectors": VectorsScreen,
        "results": ResultsScreen,
        "tags": TagsScreen,
        "settings": SettingsScreen,
    }
    BINDINGS = [
        # The screens' keys show in the bar at the top of every screen (NavBar), not the footer.
        *(Binding(key, f"screen('{mode}')", title, show=False) for mode, key, title in SCREENS),
        Binding("question_mark,f1", "help", "Help"),
        Binding("q,ctrl+q", "quit", "Quit"),
    ]

    def __init__(
        self,
        project: str | Path,
        *,
        drawing: Drawing | None = None,
        start: str = "results",
        con: duckdb.DuckDBPyConnection | None = None,
        folder: str | None = None,
    ) -> None:
        super().__init__()
        # Textual replaces sys.stderr by an object without a file descriptor, and multiprocessing
        # cannot start its resource tracker from inside the app (import and decoding workers
        # would fail with "bad value(s) in fds_to_keep"): start it now, while stderr is real.
        resource_tracker.ensure_running()
        self.project = Path(project).expanduser().absolute()
        # ``folder``: a folder of images that is no project yet; the app offers to make one.
        self.folder = folder
        # DuckDB serves one call at a time per connection, and refuses (rather than waits) when
        # two threads meet on one: the event loop has a connection of its own (``db``), every
        # worker thread takes another (``cursor()``), made from a root connection used for that
        # only, under a lock.
        self._root: duckdb.DuckDBPyConnection | None = None
        self._cursor_lock = threading.Lock()
        self.db: duckdb.DuckDBPyConnection = None  # type: ignore[assignment]
        if con is not None or not folder:
            self._open(con if con is not None else store.open_project(self.project))
        self.drawing = drawing or Drawing("halfcell")
        self.start_mode = start
        self.jobs: dict[str, Job] = {}
        self.selection: set[int] = set()
        self._matrices: dict[tuple[int, int], VectorMatrix] = {}
        self._matrix_lock = threading.Lock()
        self._embedders: dict[int, Any] = {}
        self._warming_up = False
        self.sub_title = str(self.project)

    def _open(self, root: duckdb.DuckDBPyConnection) -> None:
        self._root = root
        self.db = root.cursor()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection for a worker thread (close it when done)."""
        with self._cursor_lock:
            assert self._root is not None
            return self._root.cursor()

    def on_mount(self) -> None:
        # Everything imported and built so far lives as long as the app: out of the garbage
        # collector's way, so that its full collections (measured: up to ~90 ms each while
        # paging) stay short.
        gc.freeze()
        if self.folder is None:
            self.switch_mode(self.start_mode)
            return
        question = (
            f"{self.folder} is not a panoptui project. Make one for it at {self.project} and "
            "import its images?"
        )
        self.push_screen(
            ConfirmDialog(question, yes="Create and import", no="Quit"), self._create_project
        )

    def _create_project(self, yes: bool | None) -> None:
        if not yes:
            self.exit()
            return
        try:
            self._open(store.open_project(self.project, create=True))
        except store.ProjectError as exc:
            self.exit(return_code=1, message=f"panoptui: {exc}")
            return
        from panoptui.tui.screens.project import start_import

        self.switch_mode("project")
        start_import(self, [self.folder])

    # --- screens ---------------------------------------------------------------------------

    def action_screen(self, mode: str) -> None:
        if self.db is None:
            return  # no project yet: the folder's question is still open
        if self.current_mode != mode:
            self.switch_mode(mode)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        if self.db is None:  # no project yet
            yield SystemCommand("Quit", "quit panoptui (q)", self.action_quit)
            return
        for mode, key, title in SCREENS:
            yield SystemCommand(
                f"{title} screen", f"switch to the {title} screen ({key})", self._switcher(mode)
            )
        # Every action of the screen showing now, under its footer description.
        for binding in getattr(screen, "BINDINGS", []):
            if isinstance(binding, Binding) and binding.description:
                action = binding.action
                yield SystemCommand(
                    binding.description,
                    f"{binding.key_display or binding.key}: {binding.tooltip or action}",
                    self._runner(screen, action),
                )
        yield SystemCommand("Help", "every key of every screen (?)", self.action_help)
        yield SystemCommand("Quit", "quit panoptui (q)", self.action_quit)

    def _switcher(self, mode: str) -> Callable[[], None]:
        return lambda: self.action_screen(mode)

    def _runner(self, screen: Screen, action: str) -> Callable[[], Any]:
        return lambda: self.run_action(action, screen)

    # --- jobs ------------------------------------------------------------------------------

    def running_jobs(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.running]

    def start_job(
        self,
        kind: str,
        label: str,
        work: Callable[[duckdb.DuckDBPyConnection, Job], Any],
        done: Callable[[Job], None] | None = None,
    ) -> Job | None:
        """Run ``work(cursor, job)`` in a thread worker owned by the App (navigation never stops
        it). ``done(job)`` runs on the event loop once it has finished, failed or was cancelled.
        One job of a kind at a time."""
        current = self.jobs.get(kind)
        if current is not None and current.running:
            self.notify(f"{current.label} is still running", severity="warning")
            return None
        job = Job(kind, label)
        self.jobs[kind] = job
        self.run_worker(
            lambda: self._job_thread(job, work, done),
            name=f"job:{kind}",
            group="jobs",
            thread=True,
            exit_on_error=False,
        )
        self.post_message(JobChanged(job))
        return job

    def _job_thread(
        self,
        job: Job,
        work: Callable[[duckdb.DuckDBPyConnection, Job], Any],
        done: Callable[[Job], None] | None,
    ) -> None:
        cursor = self.cursor()
        try:
            job.result = work(cursor, job)
            job.state = "cancelled" if job.cancel.is_set() else "done"
        except (store.ProjectError, ModelError, duckdb.Error, OSError, ValueError) as exc:
            job.state, job.message = "failed", str(exc).splitlines()[0] if str(exc) else repr(exc)
        except Exception as exc:  # a bug: say so, keep the app alive, keep the trace in the log
            job.state, job.message = "failed", f"{type(exc).__name__}: {exc}"
            self.log.error(traceback.format_exc())
        finally:
            cursor.close()
            job.finished.set()
        self.call_from_thread(self._job_finished, job, done)

    def _job_finished(self, job: Job, done: Callable[[Job], None] | None) -> None:
        if job.state == "failed":
            self.notify(job.message, title=f"{job.label} failed", severity="error", timeout=10)
        if done is not None:
            try:
                done(job)
            except (store.ProjectError, duckdb.Error) as exc:
                self.notify(str(exc), severity="error")
        self.post_message(JobChanged(job))

    def job_reporter(self, job: Job) -> Callable[[Any], None]:
        return throttled(job, self.post_message)

    def on_job_changed(self, message: JobChanged) -> None:
        # Screens draw jobs when shown; the one on top hears of changes as they come.
        for screen in self.screen_stack:
            handler = getattr(screen, "job_changed", None)
            if handler is not None:
                handler(message.job)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Jobs catch their own errors; anything else that escapes a worker is a bug to show.
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.notify(str(event.worker.error), title="error", severity="error")

    def _handle_exception(self, error: Exception) -> None:
        # A problem the user can cause (a project error, a model that cannot load, a database
        # refusal) raised by a key's handler is a notification, not the end of the session.
        # Anything else is a bug: Textual's own handling shows it and exits.
        if isinstance(error, (store.ProjectError, ModelError, duckdb.Error)):
            self.notify(str(error).splitlines()[0], severity="error", timeout=10)
            return
        super()._handle_exception(error)

    # --- shared data -----------------------------------------------------------------------

    def matrix(self, cursor: duckdb.DuckDBPyConnection, set_id: int, count: int) -> VectorMatrix:
        """A vector set's matrix, loaded once per state of the set (``count`` vectors)."""
        with self._matrix_lock:
            cached = self._matrices.get((set_id, count))
        if cached is not None:
            return cached
        matrix = VectorMatrix.load(cursor, set_id)
        with self._matrix_lock:
            self._matrices = {k: v for k, v in self._matrices.items() if k[0] != set_id}
            self._matrices[(set_id, count)] = matrix
        return matrix

    def text_embedder(self, vector_set: Any, device: str) -> Any:
        """The model of a set, loaded once, to embed search texts."""
        embedder = self._embedders.get(vector_set.id)
        if embedder is None:
            from panoptui.core.models import load_embedder

            embedder = load_embedder(vector_set.model, vector_set.weights, device)
            self._embedders[vector_set.id] = embedder
        return embedder

    def open_results(self, source: Any, came_from: Callable[[], Screen] | None = None) -> None:
        """Show images on the Results screen (from a tag, a cluster, a map cell...).
        ``came_from`` makes the screen they came from again when the user goes back (Escape)."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if self.current_mode != "results":
            self.switch_mode("results")
        self.call_after_refresh(self._show_on_results, source, came_from)

    def _show_on_results(self, source: Any, came_from: Callable[[], Screen] | None) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, ResultsScreen):
                screen.show(source, came_from=came_from)

    def show_found(self, screen: Screen) -> None:
        """A job's findings (clusters, duplicates, a map) open over the Results screen, wherever
        the user is when the job ends."""
        if self.current_mode != "results":
            self.switch_mode("results")
        self.push_screen(screen)

    def run_export(self, values: dict[str, Any] | None) -> None:
        """Export (the values of the export dialog) as a job."""
        if not values:
            return
        from panoptui.core.export import export

        def work(cur: duckdb.DuckDBPyConnection, job: Job) -> int:
            return export(cur, values["file"], values["set_id"], values["force"])

        def done(job: Job) -> None:
            if job.state == "done":
                self.notify(f"wrote {job.result} rows to {values['file']}")

        self.start_job("export", f"export to {values['file']}", work, done)

    def warm_up_models(self) -> None:
        """Import torch in the background while the user fills in a form. Its import holds the
        interpreter lock for about half a second (loading its libraries): a hitch while a form
        is read, rather than a freeze once the job runs."""
        if "torch" in sys.modules or self._warming_up:
            return
        self._warming_up = True
        threading.Thread(target=importlib.import_module, args=("torch",), daemon=True).start()

    # --- quitting --------------------------------------------------------------------------

    async def action_quit(self) -> None:
        running = self.running_jobs()
        if not running:
            self.exit()
            return
        names = ", ".join(j.label for j in running)

        def answered(stop: bool | None) -> None:
            if stop:
                self._stop_jobs_and_exit()

        self.push_screen(
            ConfirmDialog(
                f"{names} still running. Quit anyway? What is done so far is kept; a vector set "
                "can be resumed later (Vectors screen, or panoptui vectors resume).",
                yes="Stop and quit",
                no="Keep working",
            ),
            answered,
        )

    def _stop_jobs_and_exit(self) -> None:
        jobs = self.running_jobs()
        for job in jobs:
            job.cancel.set()
        self.notify("stopping: waiting for the running work to reach a safe point…", timeout=30)

        def wait() -> None:
            for job in jobs:
                job.finished.wait()
            self.call_from_thread(self.exit)

        self.run_worker(wait, thread=True, name="quit", exit_on_error=False)

    async def on_unmount(self) -> None:
        for job in self.running_jobs():
            job.cancel.set()
        # Every worker (jobs, page loads) is done with the database before it closes.
        self.workers.cancel_all()
        await self.workers.wait_for_complete()
        for job in list(self.jobs.values()):
            job.finished.wait(timeout=60)
        if self._root is not None:
            self.db.close()
            self._root.close()
            # Dropped too: a logging handler made while torch was imported can keep the App
            # alive until the interpreter exits, and the closed connections with it.
            self.db = self._root = None  # type: ignore[assignment]
        gc.unfreeze()  # what on_mount froze can go, now that the app does
