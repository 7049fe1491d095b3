"""Worker processes: how every pool of panoptui's starts its workers."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Iterator

PR_SET_PDEATHSIG = 1


def init_worker(*_: object) -> None:
    """Initialiser for worker processes (also usable as a DataLoader worker_init_fn).

    Ctrl-C is the parent's to handle (it stops the pool and keeps what was committed), so workers
    ignore it. And a worker must not outlive its parent: after a SIGKILL of the parent it would
    wait forever on its pipe, holding the terminal's output open; on Linux the kernel kills it.
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


@contextlib.contextmanager
def children_ignore_interrupts() -> Iterator[None]:
    """Start worker processes inside this block: they inherit an ignored SIGINT from the start
    (an ignored signal stays ignored across exec, and Python keeps it so), which closes the
    window before their initialiser runs, when a Ctrl-C would print a traceback per worker.
    Only the main thread can change signal handling; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
