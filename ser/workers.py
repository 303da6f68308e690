"""Worker processes that end with the process that started them.

A ``ser train`` or ``ser predict`` stopped from outside (``kill``, a closed terminal, a CI timeout) used to
leave its feature or prediction workers computing for the rest of the work queue they had been handed.
:func:`die_with_parent` runs first in every such worker (a pool ``initializer``): on Linux the kernel sends
the worker SIGKILL the moment its parent ends, however it ends (SIGKILL included); elsewhere the parent's
own clean-up (``shutdown`` of the pool on Ctrl-C or SIGTERM) is what ends them.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")

_PR_SET_PDEATHSIG = 1  # prctl(2) option: the signal this process gets when its parent thread ends


def die_with_parent(parent_pid: int) -> None:
    """Make this worker process end when process ``parent_pid`` (its parent) ends.

    Ctrl-C is left to the parent (which cancels the queued work and shuts the pool down), so a worker ignores
    SIGINT. On Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; if the parent ended before that took effect, the
    worker exits at once.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl in this libc: the parent's shutdown has to do
            pass
    if os.getppid() != parent_pid:  # orphaned already (re-parented to init or a subreaper)
        os._exit(1)


def one_per_process(factory: Callable[[], _T]) -> Callable[[], _T]:
    """``factory()`` called once per process (a pre-trained network's loader), even when the first calls come from
    several threads; the same object after that."""
    lock = threading.Lock()
    cached = functools.cache(factory)

    def get() -> _T:
        with lock:
            return cached()

    return get
