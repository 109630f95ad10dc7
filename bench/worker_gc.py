"""One file translated as a gateway translation worker does it, for the benchmarks' "workers" rows.

A worker (``gateway/workers.py``, ``gateway/batcher.py``) freezes everything its imports built
out of every collection, raises the young generation's threshold, and for each file calls
``translate_one``: the partner translation with each document written as JSON the moment it is
made, the collector paused meanwhile.  :func:`translate_as_worker` times that very call, so the
benchmarks' figure cannot drift from what the workers run; the other rows time the library under
Python's defaults.
"""

from __future__ import annotations

import gc
import time

from gateway.batcher import translate_one
from gateway.workers import settle_collector
from partners.translate import translate_with_profile
from translators.options import TranslatorOptions

#: what the rows marked "as workers run it" ran, for the benchmarks' output
DESCRIPTION = (
    "gateway.batcher.translate_one, the workers' entry point: documents encoded as they are made, "
    "gc.freeze() after the imports, gc.set_threshold(50000, 20, 20), collector paused during the file"
)


def translate_as_worker(data: bytes) -> float:
    """CPU seconds a translation worker spends on ``data`` (one file, no partner profile).

    Python's defaults are restored afterwards, and the result is freed
    before they are: the collection that follows is the worker's too, but
    after its file, outside the timing.
    """
    saved = gc.get_threshold()
    settle_collector()
    try:
        start = time.process_time()
        result = translate_one(translate_with_profile, None, data, TranslatorOptions())
        elapsed = time.process_time() - start
        if result.translation.errors:
            raise SystemExit(f"benchmark input did not translate cleanly: {result.translation.reason}")
        del result
    finally:
        gc.set_threshold(*saved)
        gc.unfreeze()
    return elapsed
