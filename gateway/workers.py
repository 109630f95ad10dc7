"""The translation process pool.

Translators are pure and CPU-bound, so the daemon spreads them over the
cores in worker processes.  Workers must never outlive the daemon: after a
``kill -9`` of the daemon, multiprocessing's queues would keep orphaned
workers blocked forever (each holds both ends of the call pipe).  So workers
are direct children (``spawn``) that ask the kernel to kill them when their
parent dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # The parent may have died before prctl took effect.
    if os.getppid() != parent_pid:
        os._exit(0)


def translation_pool(processes: int) -> ProcessPoolExecutor:
    """A pool of ``processes`` translation workers tied to this process's life."""
    ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        max_workers=processes, mp_context=ctx, initializer=_die_with_parent, initargs=(os.getpid(),)
    )


__all__ = ["translation_pool"]
