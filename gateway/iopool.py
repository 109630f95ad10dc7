"""Threads for the blocking file work of intake, acknowledgments and sinks.

``asyncio.to_thread`` costs the event loop about 60 µs of CPU per call (a
context copy, a thread-safe future with its lock, a chained loop future and
one loop wake-up per call).  A gateway makes several such calls per file, and
under a burst that overhead, paid while holding the GIL, starves the threads
doing the real work.  This pool settles loop futures directly and wakes each
loop once per burst of finished calls, for about a third of the cost.

Calls run in parallel on up to ``size`` threads: the work is mostly fsync,
whose latency overlaps across files.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")

_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]
_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class IoPool:
    """A fixed set of threads running blocking calls for event loops."""

    def __init__(self, size: int = 64, name: str = "edigate-io") -> None:
        self.size = size
        self.name = name
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        #: calls put on the queue and not yet taken by a thread
        self._queued = 0
        #: finished calls waiting for their loop to pick them up, per loop
        self._done: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        self._busy = 0
        self._quiet = threading.Condition(self._lock)

    async def run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(*args)`` on a pool thread; its result or exception comes back here."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[_T] = loop.create_future()
        with self._lock:
            self._busy += 1
            self._queued += 1
            # A thread for every queued call, up to the size: an idle thread
            # may already be promised to a call queued just before this one.
            if self._queued > self._idle and len(self._threads) < self.size:
                name = f"{self.name}-{len(self._threads)}"
                thread = threading.Thread(target=self._work, name=name, daemon=True)
                self._threads.append(thread)
                thread.start()
        self._queue.put((loop, fut, fn, args))
        return await fut

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no call is running (shutdown: let an fsync or rename finish)."""
        with self._quiet:
            return self._quiet.wait_for(lambda: self._busy == 0, timeout)

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            item = self._queue.get()
            with self._lock:
                self._idle -= 1
                if item is not None:
                    self._queued -= 1
            if item is None:
                return
            loop, fut, fn, args = item
            try:
                outcome: _Outcome = (fut, fn(*args), None)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                outcome = (fut, None, exc)
            with self._lock:
                pending = self._done.setdefault(loop, [])
                pending.append(outcome)
                wake = len(pending) == 1
            if wake:
                try:
                    loop.call_soon_threadsafe(self._settle, loop)
                except RuntimeError:
                    # The loop closed while the call ran: nobody waits for it.
                    with self._lock:
                        self._busy -= len(self._done.pop(loop, []))
                        self._quiet.notify_all()

    def _settle(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            outcomes = self._done.pop(loop, [])
            self._busy -= len(outcomes)
            self._quiet.notify_all()
        for fut, value, error in outcomes:
            if fut.done():  # the caller was cancelled; the call itself completed
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(value)


#: the process's pool for blocking file work
io_pool = IoPool()


async def run_blocking(fn: Callable[..., _T], *args: Any) -> _T:
    """Run ``fn(*args)`` on the shared I/O pool."""
    return await io_pool.run(fn, *args)


__all__ = ["IoPool", "io_pool", "run_blocking"]
