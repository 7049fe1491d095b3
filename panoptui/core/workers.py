"""Worker processes: how every pool of panoptui's starts its workers."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

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
