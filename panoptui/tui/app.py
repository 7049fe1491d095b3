"""The App: one open project, its screens (as modes, so each keeps its state), the jobs that run
in thread workers, and what several screens share (the selection, cached vector matrices).

What must hold, whatever the project or the user does:
- A problem a user can cause (a project error, a model that cannot load, a database refusal,
  the project file damaged under the app) is a notification, and the app stays responsive.
  Textual ends the message loop of whatever raised (the App's own for keys and callbacks), so
  these errors are caught where they happen (``on_event`` here and in AppScreen), never left
  to ``_handle_exception``.
- Every notification is literal text (see literal.py); ctrl+q quits from anywhere.
- A read-only project is opened read-only: writes are refused with one line (``refuse_write``).
- The database closes last: after every thread holding a cursor of it is done (``on_unmount``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import duckdb
import numpy as np
from rich.text import Text
from textual import events, on
from textual.app import App, SystemCommand
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.command import CommandPalette
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, OptionList
from textual.worker import Worker, WorkerState

from panoptui.core import settings, store
from panoptui.core.cluster import Cluster
from panoptui.core.progress import Cancelled, Progress, check_cancel
from panoptui.core.query import VectorMatrix
from panoptui.core.text import shown
from panoptui.core.workers import start_resource_tracker
from panoptui.tui.images import Drawing
from panoptui.tui.job import Done, Job, JobChanged, Work, current_job, running_in, throttled
from panoptui.tui.jobs import start_export, start_import
from panoptui.tui.screens.base import USER_ERRORS, AppScreen
from panoptui.tui.screens.dialogs import ConfirmDialog
from panoptui.tui.screens.explore import ClustersScreen, DuplicatesScreen, MapScreen
from panoptui.tui.screens.help import HelpScreen, key_text
from panoptui.tui.screens.project import ProjectScreen
from panoptui.tui.screens.results import ResultsScreen
from panoptui.tui.screens.settings import SettingsScreen
from panoptui.tui.screens.tags import TagsScreen
from panoptui.tui.screens.vectors import VectorsScreen
from panoptui.tui.widgets.navbar import SCREENS

# How long quitting waits for running jobs to stop at a safe point, then for threads whose
# query was interrupted, before the database closes (seconds).
JOB_STOP_WAIT = 30.0
INTERRUPTED_WAIT = 5.0


class GuardedCommandPalette(CommandPalette):
    """Textual's command palette, dismissed once. Enter twice fast selects the command twice
    (the second key is queued before the first closes the palette), and Textual 8.2.8 then
    dismisses twice (ScreenStackError) and would run the command twice."""

    _dismissed = False

    def dismiss(self, result: Any = None) -> AwaitComplete:
        if self._dismissed or not self.is_current:
            return AwaitComplete.nothing()
        self._dismissed = True
        return super().dismiss(result)

    @on(Input.Submitted)
    @on(OptionList.OptionSelected)
    def _once(self, event: Input.Submitted | OptionList.OptionSelected) -> None:
        # Handlers of this class run before CommandPalette's; prevent_default skips those.
        if self._dismissed:
            event.stop()
            event.prevent_default()


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
        Binding("q", "quit", "Quit"),
        # Annotation changes (tags, values, properties), as `panoptui undo` takes them back.
        Binding("ctrl+z", "undo", "Undo", show=False),
        Binding("ctrl+shift+z,ctrl+y", "redo", "Redo", show=False),
        # A priority binding: heard by the App first, whatever the screen or widget in focus.
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        project: str | Path,
        *,
        drawing: Drawing | None = None,
        start: str = "results",
        con: duckdb.DuckDBPyConnection | None = None,
        folder: str | None = None,
        read_only: bool = False,
    ) -> None:
        super().__init__()
        # Textual replaces sys.stderr by an object without a file descriptor, and multiprocessing
        # cannot start its resource tracker from inside the app (import and decoding workers
        # would fail with "bad value(s) in fds_to_keep"): start it now, while stderr is real.
        start_resource_tracker()
        self.project = Path(project).expanduser().absolute()
        # ``folder``: a folder of images that is no project yet; the app offers to make one.
        self.folder = folder
        # DuckDB serves one call at a time per connection, and refuses (rather than waits) when
        # two threads meet on one: the event loop has a connection of its own (``db``), every
        # worker thread takes another (``cursor()``), made from a root connection used for that
        # only, under a lock.
        self._root: duckdb.DuckDBPyConnection | None = None
        self._cursor_lock = threading.Lock()
        # Cursors handed to threads and not closed yet (True: a job's), closed before the root.
        self._cursors: dict[duckdb.DuckDBPyConnection, bool] = {}
        self._db: duckdb.DuckDBPyConnection | None = None  # None: no project (yet, or any more)
        # ``read_only``: the project was opened read-only (the caller's ``con`` too).
        self.read_only = read_only
        if con is not None or not folder:
            if con is None:
                con = store.open_project(self.project, read_only=read_only)
            self._open(con)
        self.drawing = drawing or Drawing("halfcell")
        self.start_mode = start
        self.jobs: dict[str, Job] = {}
        self.selection: set[int] = set()
        self._matrices: dict[tuple[int, int], VectorMatrix] = {}
        self._matrix_lock = threading.Lock()
        self._embedders: dict[int, Any] = {}
        self._warming_up = False
        self._warnings_shown: set[str] = set()
        self._closing = False
        self._quit_question: ConfirmDialog | None = None
        self._showwarning: Any = None
        self.sub_title = shown(self.project) + (" (read-only)" if read_only else "")

    def _open(self, root: duckdb.DuckDBPyConnection) -> None:
        self._root = root
        self._db = root.cursor()

    @property
    def db(self) -> duckdb.DuckDBPyConnection:
        """The event loop's connection to the project."""
        if self._db is None:
            raise store.ProjectError("the project is closed")
        return self._db

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of the caller's own (closed by it before the app ends); threads of the
        app use ``using_cursor``, which quitting knows about."""
        with self._cursor_lock:
            assert self._root is not None
            return self._root.cursor()

    @contextlib.contextmanager
    def using_cursor(self, job: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for a worker thread, closed when the block ends (``job``: a job's,
        which quitting lets finish; other threads only read, and are interrupted at once)."""
        with self._cursor_lock:
            if self._root is None:
                raise store.ProjectError("the project is closed")
            cursor = self._root.cursor()
            self._cursors[cursor] = job
        try:
            yield cursor
        finally:
            with self._cursor_lock:
                self._cursors.pop(cursor, None)
            cursor.close()

    def on_mount(self) -> None:
        # Everything imported and built so far lives as long as the app: out of the garbage
        # collector's way, so that its full collections (measured: up to ~90 ms each while
        # paging) stay short.
        gc.freeze()
        self._route_warnings()
        if self.drawing.note:  # said on stderr too, which the user sees only after the app
            self.notify(self.drawing.note, title="pictures", severity="warning", timeout=8)
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
            self.exit(return_code=1, message=Text(f"panoptui: {shown(exc)}"))
            return
        self.switch_mode("project")
        start_import(self, [str(self.folder)])  # asked about because there is a folder

    # --- screens ---------------------------------------------------------------------------

    def action_screen(self, mode: str) -> None:
        if self._db is None:
            return  # no project yet: the folder's question is still open
        if self.current_mode != mode:
            self.switch_mode(mode)
        elif not isinstance(self.screen, ModalScreen):
            # Its own key on a screen opened over it (clusters, duplicates, a map, groups):
            # back to the screen itself, as the key says. A dialog stays.
            self._close_pushed_screens()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_command_palette(self) -> None:
        # Textual 8.2.8 types is_open's argument App[object], which an App[None] is not.
        if self.use_command_palette and not CommandPalette.is_open(cast("App[object]", self)):
            self.push_screen(GuardedCommandPalette(id="--command-palette"))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette: every screen, and every action of every screen, whichever is shown.
        The actions of the screen shown go by their own names; another screen's carry its
        title ("Tags: Delete") and, run, switch to it and run there."""
        if self._db is None:  # no project yet
            yield SystemCommand("Quit", "quit panoptui (q)", self.action_quit)
            return
        for mode, key, title in SCREENS:
            yield SystemCommand(
                f"{title} screen", f"switch to the {title} screen ({key})", self._switcher(mode)
            )
        # The actions of the screen showing now, under their footer descriptions.
        for binding in self._actions(type(screen)):
            yield SystemCommand(
                binding.description, self._about(binding), self._runner(screen, binding.action)
            )
        # Every other screen's: its title first, so that two "Delete"s are told apart.
        for mode, _, title in SCREENS:
            cls = self.MODES[mode]
            if not isinstance(cls, type) or isinstance(screen, cls):
                continue
            for binding in self._actions(cls):
                if binding.action.startswith("app."):
                    continue  # the App's own (closing a screen): nothing to run elsewhere
                yield SystemCommand(
                    f"{title}: {binding.description}",
                    f"on the {title} screen, {self._about(binding)}",
                    self._runner_on(mode, binding.action),
                )
        yield SystemCommand("Help", "every key of every screen (?)", self.action_help)
        yield SystemCommand("Quit", "quit panoptui (q)", self.action_quit)

    @staticmethod
    def _actions(cls: type[Screen]) -> list[Binding]:
        return [b for b in cls.BINDINGS if isinstance(b, Binding) and b.description]

    @staticmethod
    def _about(binding: Binding) -> str:
        # Keys as typed ("+", not "plus"); an action's own name ("tile(1)") says nothing.
        keys = binding.key_display or key_text(binding)
        return f"{keys}: {binding.tooltip}" if binding.tooltip else f"key {keys}"

    def _switcher(self, mode: str) -> Callable[[], None]:
        return lambda: self.action_screen(mode)

    def _runner(self, screen: Screen, action: str) -> Callable[[], Any]:
        return lambda: self.run_action(action, screen)

    def _runner_on(self, mode: str, action: str) -> Callable[[], None]:
        """Switch to a screen (closing what is open over it: the action is its own) and run
        one of its actions there, once it shows (a screen never shown is made first)."""

        def run() -> None:
            self._close_pushed_screens()
            self.action_screen(mode)
            self._close_pushed_screens()
            self.call_after_refresh(self._run_on_mode, mode, action)

        return run

    async def _run_on_mode(self, mode: str, action: str) -> None:
        if self.current_mode == mode:  # else the user went on elsewhere meanwhile
            await self.run_action(action, self.screen_stack[0])

    # --- jobs ------------------------------------------------------------------------------

    def running_jobs(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.running]

    def start_job(
        self,
        kind: str,
        label: str,
        work: Work,
        done: Done | None = None,
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
        work: Work,
        done: Done | None,
    ) -> None:
        try:
            with self.using_cursor(job=True) as cursor, running_in(job):
                job.result = work(cursor, job)
            job.state = "cancelled" if job.cancel.is_set() else "done"
        except Cancelled:  # stopped at a check of its cancel event, nothing saved
            job.state, job.result = "cancelled", None
        except (*USER_ERRORS, OSError, ValueError) as exc:
            job.state, job.message = "failed", str(exc).splitlines()[0] if str(exc) else repr(exc)
        except Exception as exc:  # a bug: say so, keep the app alive, keep the trace in the log
            job.state, job.message = "failed", f"{type(exc).__name__}: {exc}"
            self.log.error(traceback.format_exc())
        finally:
            job.finished.set()
        if not self._closing:  # else the app is closing: no one to tell
            with contextlib.suppress(RuntimeError):  # it closed in between
                self.call_from_thread(self._job_finished, job, done)

    def _job_finished(self, job: Job, done: Done | None) -> None:
        if job.state == "failed":  # a long message in a dialog to read whole, else a toast
            from panoptui.tui.screens.report import show_failure

            show_failure(self, f"{job.label} failed", job.message)
        if done is not None:
            try:
                done(job)
            except USER_ERRORS as exc:
                self.report(exc)
        self.post_message(JobChanged(job))

    def job_reporter(self, job: Job) -> Callable[[Progress], None]:
        return throttled(job, self.post_message)

    def cancel_jobs(self, kinds: Iterable[str]) -> list[Job]:
        """Ask the running jobs of these kinds to stop (each at its next check; a model that is
        loading, once loaded: its result is then thrown away), and say so; returns them."""
        jobs = [j for j in self.running_jobs() if j.kind in kinds and not j.cancel.is_set()]
        for job in jobs:
            job.cancel.set()
            self.post_message(JobChanged(job))  # its line says "cancelling…" at once
        if jobs:
            self.notify("cancelling " + ", ".join(j.label for j in jobs))
        elif not any(j.kind in kinds for j in self.running_jobs()):
            self.notify("no job to cancel here", severity="warning")
        return jobs

    def on_job_changed(self, message: JobChanged) -> None:
        # Screens draw jobs when shown; those of the mode shown hear of changes as they come,
        # each in its own handler (on_job_changed), where AppScreen says a user's error.
        for screen in self.screen_stack:
            screen.post_message(JobChanged(message.job))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Jobs catch their own errors; anything else that escapes a worker is a bug to show.
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            text = str(event.worker.error).strip() or repr(event.worker.error)
            self.notify(text.splitlines()[0], title="error", severity="error")

    # --- errors, notifications, read-only ---------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        # Keys (and so every action), callbacks of dialogs and of the palette run here. An
        # exception would end the App's message loop and leave it deaf to every key: a user's
        # error is said instead. (Bugs still end the app, with Textual's traceback.)
        try:
            await super().on_event(event)
        except USER_ERRORS as exc:
            self.report(exc)

    def report(self, error: BaseException) -> None:
        """A user's error (USER_ERRORS), in one line."""
        text = str(error).strip()
        line = shown(text.splitlines()[0] if text else repr(error))
        if any(n.message == line for n in self._notifications):
            return  # one failure seen by two handlers: said once
        self.notify(line, severity="error", timeout=10)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification is plain text, shown literally, whatever ``markup`` says: the
        messages name files, tags and searches."""
        super().notify(
            shown(message), title=shown(title), severity=severity, timeout=timeout, markup=False
        )

    def action_help_quit(self) -> None:
        # ctrl+c (Textual's binding: it copies in a text box) says how to quit, in plain text.
        self.notify("press q (or ctrl+q, from anywhere) to quit panoptui")

    def action_undo(self) -> None:
        self._undo(redo=False)

    def action_redo(self) -> None:
        self._undo(redo=True)

    def _undo(self, redo: bool) -> None:
        """Take back the last annotation change, or make the last one undone again (the core
        call of `panoptui undo`); the screen shown reads the project again. Not under a dialog:
        the change it is about would be taken back under it."""
        from panoptui.core import journal

        what = "redo" if redo else "undo"
        if not isinstance(self.screen, AppScreen) or self.refuse_write(what):
            return
        try:
            done = journal.redo(self.db) if redo else journal.undo(self.db)
        except USER_ERRORS as exc:
            self.report(exc)
            return
        if not done:
            self.notify(f"nothing to {what}")
            return
        self.notify(f"{'redid' if redo else 'undid'}: {done[0]}")
        self.screen.resumed()

    def refuse_write(self, what: str) -> bool:
        """True (and a notification saying so) when the project is read-only: the caller that
        would write (``what``: what it would do) stops there."""
        if self.read_only:
            self.notify(
                f"read-only project: cannot {what} (no permission to write {self.project})",
                severity="warning",
            )
        return self.read_only

    def _route_warnings(self) -> None:
        """Python warnings raised while the app runs (in jobs, sklearn's and numpy's among
        them) become notifications, each text once: written to stderr, they would be lost
        under the app at best, and drawn over it by anything that still holds the terminal."""
        self._showwarning = warnings.showwarning

        def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
            text = f"{category.__name__}: {message}"
            if text in self._warnings_shown:
                return
            self._warnings_shown.add(text)
            self.notify(text, severity="warning")  # thread-safe

        warnings.showwarning = show

    def _handle_exception(self, error: Exception) -> None:
        # The last resort, for a user's error raised where no handler caught it (a widget's
        # own handler): said, and the app goes on (ctrl+q, a priority binding, still quits).
        # Anything else is a bug: Textual's own handling shows it and exits.
        if isinstance(error, USER_ERRORS):
            self.report(error)
            return
        super()._handle_exception(error)

    # --- shared data -----------------------------------------------------------------------

    def matrix(
        self,
        cursor: duckdb.DuckDBPyConnection,
        set_id: int,
        count: int,
        job: Job | None = None,
    ) -> VectorMatrix:
        """A vector set's matrix, loaded once per state of the set (``count`` vectors); the
        reading is ``job``'s progress (default: the job of the calling thread, if any), and
        stops when it is cancelled."""
        with self._matrix_lock:
            cached = self._matrices.get((set_id, count))
        if cached is not None:
            return cached
        job = job or current_job()
        if job is None:
            matrix = VectorMatrix.load(cursor, set_id)
        else:
            matrix = VectorMatrix.load(cursor, set_id, self.job_reporter(job), job.cancel)
        with self._matrix_lock:
            self._matrices = {k: v for k, v in self._matrices.items() if k[0] != set_id}
            self._matrices[(set_id, count)] = matrix
        return matrix

    def text_embedder(self, vector_set: Any, device: str) -> Any:
        """The model of a set, loaded once, to embed search texts. Called in a query job (the
        first text query of a set waits on the load, 12-23 s for CLIP on a CPU): the job's line
        says so, and a cancel asked meanwhile is heard once the model is loaded (a load cannot
        be interrupted; the model is kept for the next query, the query is dropped)."""
        embedder = self._embedders.get(vector_set.id)
        if embedder is None:
            from panoptui.core.models import load_embedder

            job = current_job()
            if job is not None:
                self.job_reporter(job)(Progress(f"loading the model {vector_set.model}", 0, 0))
            embedder = load_embedder(vector_set.model, vector_set.weights, device)
            self._embedders[vector_set.id] = embedder
            if job is not None:
                check_cancel(job.cancel)
        return embedder

    def open_results(self, source: Any, came_from: Callable[[], Screen] | None = None) -> None:
        """Show images on the Results screen (from a tag, a cluster, a map cell...).
        ``came_from`` makes the screen they came from again when the user goes back (Escape).
        What is open over the Results screen (a cluster list, a map) closes first, or it would
        stay on top of the images asked for."""
        self._close_pushed_screens()
        if self.current_mode != "results":
            self.switch_mode("results")
            self._close_pushed_screens()  # the Results mode's own stack, current now
        self.call_after_refresh(self._show_on_results, source, came_from)

    def _close_pushed_screens(self) -> None:
        """Back to the current mode's own screen."""
        while len(self.screen_stack) > 1:
            self.pop_screen()

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

    def show_clusters(self, name: str, clusters: list[Cluster]) -> None:
        self.show_found(ClustersScreen(name, clusters))

    def show_duplicates(self, groups: list[list[int]], set_id: int, threshold: float) -> None:
        self.show_found(DuplicatesScreen(groups, set_id, threshold))

    def show_map(
        self,
        ids: np.ndarray,
        points: np.ndarray,
        labels: np.ndarray,
        title: str,
        set_id: int | None = None,
    ) -> None:
        self.show_found(MapScreen(ids, points, labels, title=title, set_id=set_id))

    def run_export(self, values: dict[str, Any] | None) -> None:
        """Export (the values of the export dialog) as a job: the selected images (a copy: the
        user may change the selection while the job runs), the view shown, or all."""
        if values:
            scope = values.get("scope", "selection" if self.selection else "all")
            chosen = frozenset(self.selection) if scope == "selection" else None
            job = start_export(
                self, values["file"], values["set_id"], values["force"], chosen,
                view=values.get("view"), panoptic=values.get("format") == "panoptic",
            )  # fmt: skip
            if job is not None and not self.read_only:  # the next export's dialog proposes it
                settings.remember_export_path(self.db, values["file"])

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
        if self.screen is self._quit_question:
            return  # q pressed again while asked: one question
        names = ", ".join(j.label for j in running)

        def answered(stop: bool | None) -> None:
            if stop:
                self._stop_jobs_and_exit()

        self._quit_question = ConfirmDialog(
            f"{names} still running. Quit anyway? What is done so far is kept; a vector set "
            "can be resumed later (Vectors screen, or panoptui vectors resume).",
            yes="Stop and quit",
            no="Keep working",
        )
        self.push_screen(self._quit_question, answered)

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
        self._closing = True
        if self._showwarning is not None:
            warnings.showwarning = self._showwarning
        for job in self.running_jobs():
            job.cancel.set()
        self.workers.cancel_all()
        # DuckDB refuses to close a connection while a cursor made from it runs a query
        # (ResourceInUseException): every thread holding one is done before the root closes.
        # Reads (pages, details) are interrupted at once; jobs stop at their next safe point,
        # and are interrupted only if they do not within JOB_STOP_WAIT.
        self._interrupt(jobs=False)
        await self._wait_for_cursors(JOB_STOP_WAIT)
        self._interrupt(jobs=True)
        await self._wait_for_cursors(INTERRUPTED_WAIT)
        if self._root is not None:
            with self._cursor_lock:
                busy = list(self._cursors)
                root, db = self._root, self._db
                # Dropped too: a logging handler made while torch was imported can keep the
                # App alive until the interpreter exits, and the closed connections with it.
                self._db = self._root = None
            try:
                if db is not None:
                    db.close()
                if not busy:
                    root.close()
            except duckdb.Error as exc:  # never a traceback on the way out
                self.log.error(f"closing the project: {exc}")
            if busy:  # a thread still in a query: the process's exit closes the file
                self.log.error(f"{len(busy)} database cursors still busy at exit")
        gc.unfreeze()  # what on_mount froze can go, now that the app does

    def _interrupt(self, jobs: bool) -> None:
        """Interrupt the queries of the cursors still open (the jobs' too, with ``jobs``)."""
        with self._cursor_lock:
            cursors = [c for c, is_job in self._cursors.items() if jobs or not is_job]
        for cursor in cursors:
            with contextlib.suppress(duckdb.Error):
                cursor.interrupt()

    async def _wait_for_cursors(self, seconds: float) -> None:
        """Wait (without blocking the event loop) until no thread holds a cursor."""
        deadline = time.monotonic() + seconds
        while self._cursors and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
