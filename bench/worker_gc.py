"""The translation workers' collector setting, for the benchmarks' "workers' GC" rows.

A gateway translation worker (``gateway/workers.py``) freezes everything its
imports built out of every collection, raises the young generation's
threshold, and pauses the collector while it translates and encodes one
file.  The benchmarks time the same work under the same setting with
:func:`timed_as_worker`, and under Python's defaults on the other rows.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from gateway.workers import collector_paused, settle_collector

#: what the rows marked "workers' GC" ran under, for the benchmarks' output
DESCRIPTION = (
    "as gateway/workers.py runs a file: gc.freeze() after the imports, gc.set_threshold(50000, 20, 20), "
    "collector paused while the file is translated and encoded"
)


def timed_as_worker(fn: Callable[[], object]) -> float:
    """CPU seconds of ``fn()`` (one file's translation and encoding) as a worker runs it.

    Python's defaults are restored afterwards, and the result is freed
    before they are: the collection that follows is the worker's too, but
    after its file, outside the timing.
    """
    saved = gc.get_threshold()
    settle_collector()
    try:
        with collector_paused():
            start = time.process_time()
            result = fn()
            elapsed = time.process_time() - start
            del result
    finally:
        gc.set_threshold(*saved)
        gc.unfreeze()
    return elapsed
