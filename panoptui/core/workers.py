"""Worker processes: how every pool of panoptui's starts, stops and stays quiet.

- Workers ignore Ctrl-C (the parent handles it) and die with their parent.
- Workers write nothing on the terminal: Python warnings are ignored, and the C libraries'
  messages (libtiff, libjpeg) go to /dev/null; their failures come back as results or exceptions.
- multiprocessing's resource tracker is started with its stderr on /dev/null: after a SIGKILL of
  the parent it would print "leaked semaphore objects" over the shell or the TUI.
- A pool is stopped by terminating its processes, not by waiting for the work in flight.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import Executor

PR_SET_PDEATHSIG = 1
_deferring = False  # inside deferred_interrupts (main thread only)


def _silence_stderr() -> None:
    """Point file descriptor 2 of this process at /dev/null."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, 2)
    finally:
        os.close(devnull)


def init_worker(*_: object) -> None:
    """Initialiser for worker processes (also usable as a DataLoader worker_init_fn).

    Ctrl-C is the parent's to handle (it stops the pool and keeps what was committed), so workers
    ignore it. And a worker must not outlive its parent: after a SIGKILL of the parent it would
    wait forever on its pipe, holding the terminal's output open; on Linux the kernel kills it.
    Warnings of Pillow, numpy and scikit-learn (and the C decoders' messages) would be written
    over the TUI or the CLI's progress: workers are silent.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)
    warnings.simplefilter("ignore")
    _silence_stderr()


@contextlib.contextmanager
def children_ignore_interrupts() -> Iterator[None]:
    """Start worker processes inside this block: they start with SIGINT blocked (a signal mask
    is inherited through fork and exec), which closes the window before their initialiser
    ignores it, when a Ctrl-C would print a traceback per worker.

    Blocking, not ignoring: this thread's Ctrl-C is not lost (ignoring it here dropped a Ctrl-C
    that came while a chunk was submitted). Another thread of the process takes it, so it is
    also deferred to the end of the block: raised half-way through starting a process (after
    the exec, before the child was sent its start-up data), it left a child that printed an
    EOFError traceback."""
    with deferred_interrupts():
        if not hasattr(signal, "pthread_sigmask"):
            yield
            return
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Run a block that must finish (stopping workers, a last commit) even on Ctrl-C: a Ctrl-C
    during it is held back and raised as KeyboardInterrupt when it ends. Main thread only;
    elsewhere (where no KeyboardInterrupt arrives anyway) this does nothing."""
    global _deferring
    if _deferring or threading.current_thread() is not threading.main_thread():
        yield  # nested: the outer block raises once everything is done
        return
    interrupted: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    _deferring = True
    try:
        yield
    finally:
        _deferring = False
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        raise KeyboardInterrupt


def stop_pool(executor: Executor) -> None:
    """Stop a process pool now: cancel what waits, terminate the processes (a chunk in flight
    can take seconds, a hostile file much longer), and reap them."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(5)


def start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (if it is not running) with its stderr on
    /dev/null. It outlives a SIGKILLed parent and then reports the pool's semaphores as leaked
    (it cleans them up all the same): a warning nobody can act on, printed over the shell.
    Call it before the first pool is made; it is cheap when the tracker runs already."""
    from multiprocessing import resource_tracker

    try:
        saved = os.dup(2)
    except OSError:
        resource_tracker.ensure_running()
        return
    try:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        _silence_stderr()
        resource_tracker.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def available_memory() -> int | None:
    """Bytes of memory available to new work, or None when unknown: Linux's MemAvailable, and
    no more than a container's (cgroup v2) limit leaves."""
    found: int | None = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    found = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        with contextlib.suppress(ValueError, OSError, AttributeError):
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        with (
            open("/sys/fs/cgroup/memory.max") as limit,
            open("/sys/fs/cgroup/memory.current") as current,
        ):
            text = limit.read().strip()
            if text != "max":
                left = max(0, int(text) - int(current.read().strip()))
                found = left if found is None else min(found, left)
    except (OSError, ValueError):
        pass
    return found
