"""Threads for the blocking file work of intake, acknowledgments and sinks.

``asyncio.to_thread`` costs the event loop about 60 µs of CPU per call (a
context copy, a thread-safe future with its lock, a chained loop future and
one loop wake-up per call).  A gateway makes several such calls per file, and
under a burst that overhead, paid while holding the GIL, starves the threads
doing the real work.  This pool settles loop futures directly and wakes each
loop once per burst of finished calls, for about a third of the cost.

No lock is taken per call: a lock shared by the event loop and dozens of
threads convoys (its holder waits for the GIL while every other taker waits
for the lock), and profiles showed the loop blocked there.  The threads all
start with the first call, so no call can queue behind a busy thread for
want of a spawned one, and finished calls reach their loop through a queue
and a one-shot flag.

Calls run in parallel on up to ``size`` threads: the work is mostly fsync,
whose latency overlaps across files.  A few threads are enough for that;
every extra one is another contender for the GIL (measured on a burst of
2,000 files: 64 threads made half again as many context switches as 8, and
the extra system time came out of the throughput).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")

_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


class _LoopState:
    """What the pool keeps per event loop."""

    __slots__ = ("busy", "done", "flag")

    def __init__(self) -> None:
        #: finished calls not yet handed to their futures
        self.done: queue.SimpleQueue[_Outcome] = queue.SimpleQueue()
        #: held while a hand-over is scheduled on the loop (a one-shot wake-up)
        self.flag = threading.Lock()
        #: calls started and not yet handed over; changed on the loop's thread
        #: only, or under the pool's lock once the loop is closed
        self.busy = 0


_Call = tuple[
    _LoopState, asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]
]


class IoPool:
    """A fixed set of threads running blocking calls for event loops."""

    def __init__(self, size: int = 8, name: str = "edigate-io") -> None:
        self.size = size
        self.name = name
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._last: tuple[asyncio.AbstractEventLoop, _LoopState] | None = None

    async def run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(*args)`` on a pool thread; its result or exception comes back here."""
        loop = asyncio.get_running_loop()
        last = self._last
        state = last[1] if last is not None and last[0] is loop else self._register(loop)
        fut: asyncio.Future[_T] = loop.create_future()
        state.busy += 1
        self._queue.put((state, loop, fut, fn, args))
        return await fut

    def _register(self, loop: asyncio.AbstractEventLoop) -> _LoopState:
        with self._lock:
            state = self._loops.get(loop)
            if state is None:
                state = self._loops[loop] = _LoopState()
            self._last = (loop, state)
            while len(self._threads) < self.size:
                name = f"{self.name}-{len(self._threads)}"
                thread = threading.Thread(target=self._work, name=name, daemon=True)
                self._threads.append(thread)
                thread.start()
        return state

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no call is running (shutdown: let an fsync or rename finish)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                busy = any(state.busy for state in list(self._loops.values()))
            if not busy:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            state, loop, fut, fn, args = item
            try:
                outcome: _Outcome = (fut, fn(*args), None)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                outcome = (fut, None, exc)
            del item, fn, args
            state.done.put(outcome)
            del outcome
            # Whoever takes the flag wakes the loop; the others' outcomes go with it.
            if state.flag.acquire(blocking=False):
                try:
                    loop.call_soon_threadsafe(self._settle, state)
                except RuntimeError:
                    # The loop closed while the call ran: nobody waits for it.
                    self._drop_closed(state)

    def _settle(self, state: _LoopState) -> None:
        # Released before draining: an outcome queued from here on wakes the
        # loop again, and every one queued before is drained below.
        state.flag.release()
        settled = 0
        while True:
            try:
                fut, value, error = state.done.get_nowait()
            except queue.Empty:
                break
            settled += 1
            if fut.done():  # the caller was cancelled; the call itself completed
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(value)
        state.busy -= settled

    def _drop_closed(self, state: _LoopState) -> None:
        """Forget the outcomes of a closed loop (the flag is held on entry)."""
        while True:
            dropped = 0
            while True:
                try:
                    state.done.get_nowait()
                except queue.Empty:
                    break
                dropped += 1
            with self._lock:
                state.busy -= dropped
            state.flag.release()
            # An outcome queued while the flag was held found it taken: take it
            # back and drain again, or that outcome would never be counted.
            if state.done.empty() or not state.flag.acquire(blocking=False):
                return


#: the process's pool for blocking file work
io_pool = IoPool()
#: the journal's reads on threads: they share one reader connection (and its lock), so two
#: threads are enough; apart from the file pool, a report query never holds up a rename
read_pool = IoPool(size=2, name="edigate-read")


async def run_blocking(fn: Callable[..., _T], *args: Any) -> _T:
    """Run ``fn(*args)`` on the shared I/O pool."""
    return await io_pool.run(fn, *args)


__all__ = ["IoPool", "io_pool", "read_pool", "run_blocking"]
