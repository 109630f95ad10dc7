"""The translation process pool.

Translators are pure and CPU-bound, so the daemon spreads them over the
cores in worker processes.  Workers must never outlive the daemon: after a
``kill -9`` of the daemon, multiprocessing's queues would keep orphaned
workers blocked forever (each holds both ends of the call pipe).  So workers
are direct children (``spawn``) that ask the kernel to kill them when their
parent dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import importlib
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1
#: what a translation needs, imported when a worker starts
_PRELOAD = (
    "translators",
    "translators.x12",
    "translators.x12.maps",
    "translators.x12.definitions",
    "translators.edifact",
    "translators.edifact.maps",
    "partners",
)
#: the translation workers' collector thresholds (the benchmarks print theirs beside them)
_GC_THRESHOLDS = (50_000, 20, 20)


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to kill this process when the thread that started it ends."""
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # The parent may have died before prctl took effect.
    if os.getppid() != parent_pid:
        os._exit(0)


def _start_worker(parent_pid: int) -> None:
    die_with_parent(parent_pid)
    # Import the translators now, not on the first file: a spawned worker
    # starts from an empty interpreter, and the imports take a second or more.
    for module in _PRELOAD:
        importlib.import_module(module)
    settle_collector()


def settle_collector() -> None:
    """Freeze what exists now out of every collection and collect in larger batches.

    Called once the long-lived objects are built: in a worker after the
    imports, in the daemon once it is ready.  A translation builds tens of
    thousands of small containers that live until the document is returned:
    with the default gen-0 threshold (700) the collector ran dozens of times
    per large file, re-scanning the imported modules' objects each time
    (20-27 % of translation time in the X12 and EDIFACT benchmarks).  The
    daemon translates small files itself and had the same cost: a burst of
    3,000 files spent ~0.7 s in the collector, most of it in full
    collections walking every module, model and journal object.  Frozen
    objects are never scanned again; the higher threshold still collects
    cycles, just in larger batches.
    """
    gc.collect()  # garbage is freed, not frozen
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collection while one file is translated and encoded.

    A translation builds its documents from thousands of small containers
    that stay alive until they are encoded: every automatic collection in
    between scans them and frees nothing (a 10,000-set X12 file met 7 of
    them, ~15 % of its translation time, even at the workers' threshold).
    They form no cycles but for a few dozen objects per file (an error's
    traceback), which the next collection after the file frees.  Only
    workers use this: the collector is process-wide, and the daemon's
    event loop must keep its own.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def translation_pool(processes: int) -> ProcessPoolExecutor:
    """A pool of ``processes`` translation workers tied to this process's life."""
    ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        max_workers=processes, mp_context=ctx, initializer=_start_worker, initargs=(os.getpid(),)
    )


async def warm(pool: Executor, processes: int) -> set[int]:
    """Start every worker (imports included) and return their pids.

    ``ProcessPoolExecutor`` starts a worker per call that finds none idle,
    but the first worker up may take every queued call while the others are
    still importing; rounds of calls that each hold a worker briefly go on
    until every worker has answered.
    """
    loop = asyncio.get_running_loop()
    pids: set[int] = set()
    while len(pids) < processes:
        pids.update(await asyncio.gather(*(loop.run_in_executor(pool, _hold) for _ in range(processes))))
    return pids


def _hold() -> int:
    # Keep this worker busy for a moment so the next call needs another one.
    # A spin on the monotonic clock, not time.sleep: under a faked wall clock
    # (libfaketime, as the clock-step test runs us) sleep fails with EINVAL.
    until = time.monotonic() + 0.05
    while time.monotonic() < until:
        os.sched_yield()
    return os.getpid()


__all__ = ["collector_paused", "die_with_parent", "settle_collector", "translation_pool", "warm"]
