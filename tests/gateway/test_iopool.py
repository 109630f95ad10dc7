"""The I/O pool: results, exceptions, cancellation and shutdown waiting."""

from __future__ import annotations

import asyncio
import queue
import threading

import pytest

from gateway.iopool import IoPool


def test_results_and_exceptions_come_back_to_their_callers() -> None:
    pool = IoPool(size=4)

    def square(x: int) -> int:
        if x == 7:
            raise ValueError("seven")
        return x * x

    async def main() -> list[object]:
        return await asyncio.gather(*(pool.run(square, i) for i in range(50)), return_exceptions=True)

    out = asyncio.run(main())
    assert [o for i, o in enumerate(out) if i != 7] == [i * i for i in range(50) if i != 7]
    assert isinstance(out[7], ValueError) and str(out[7]) == "seven"
    assert len(pool._threads) <= 4
    assert pool.wait_idle(1)


def test_calls_run_in_parallel() -> None:
    # Calls that each wait for all of them to have started: only parallel
    # threads can finish them (a pool that lets a call queue behind a busy
    # thread breaks the barrier).  Repeated, since the race is in spawning.
    for _ in range(20):
        pool = IoPool(size=6)
        barrier = threading.Barrier(6, timeout=10)

        async def main(pool: IoPool = pool, barrier: threading.Barrier = barrier) -> list[int]:
            await pool.run(int)  # one idle thread now exists: it must not count for six calls
            return await asyncio.gather(*(pool.run(barrier.wait) for _ in range(6)))

        assert sorted(asyncio.run(main())) == [0, 1, 2, 3, 4, 5]


def test_a_cancelled_caller_leaves_the_call_running_and_wait_idle_waits_for_it() -> None:
    pool = IoPool(size=2)
    release = threading.Event()
    finished: list[bool] = []

    def slow() -> None:
        release.wait(10)
        finished.append(True)

    async def main() -> None:
        task = asyncio.create_task(pool.run(slow))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert not pool.wait_idle(0.05), "the call is still running"
    threading.Timer(0.1, release.set).start()
    assert pool.wait_idle(10)
    assert finished == [True]


def test_a_closed_loop_does_not_kill_the_worker() -> None:
    pool = IoPool(size=1)
    gate = threading.Event()

    async def start() -> None:
        pool_task = asyncio.ensure_future(pool.run(gate.wait, 10))
        await asyncio.sleep(0.05)
        pool_task.cancel()

    asyncio.run(start())  # the loop is closed while the call still runs
    gate.set()
    assert pool.wait_idle(10)

    async def again() -> int:
        return await pool.run(lambda: 42)

    assert asyncio.run(again()) == 42
    assert len(pool._threads) == 1


def test_no_outcome_is_lost_between_a_hand_over_and_the_next() -> None:
    # Many short calls finishing on many threads at once: an outcome queued
    # while a hand-over is scheduled must ride with it or schedule the next
    # one.  A lost wake-up leaves a future pending and trips the timeout.
    pool = IoPool(size=16)

    async def main() -> list[int]:
        out: list[int] = []
        for _ in range(30):
            out += await asyncio.wait_for(asyncio.gather(*(pool.run(abs, -i) for i in range(300))), 30)
        return out

    assert asyncio.run(main()) == list(range(300)) * 30
    assert pool.wait_idle(1)


def test_calls_of_a_closed_loop_are_all_forgotten_once_they_finish() -> None:
    pool = IoPool(size=8)
    gate = threading.Event()

    async def start() -> None:
        calls = [asyncio.ensure_future(pool.run(gate.wait, 10)) for _ in range(40)]
        await asyncio.sleep(0.05)
        assert not any(c.done() for c in calls)

    asyncio.run(start())  # closes the loop with 40 calls queued or running
    assert not pool.wait_idle(0.05)
    gate.set()
    assert pool.wait_idle(10), "every finished call of the closed loop must be counted out"


def test_an_outcome_queued_after_the_last_drain_schedules_its_own_hand_over() -> None:
    # The race the stress test above can only hit by luck, made to happen:
    # a thread queues an outcome just after the loop found the queue empty.
    # Its hand-over flag must be free by then, or nothing ever settles it.
    from gateway.iopool import _LoopState

    pool = IoPool(size=1)
    state = _LoopState()
    scheduled: list[bool] = []
    loop = asyncio.new_event_loop()
    late: asyncio.Future[int] = loop.create_future()

    class _Done(queue.SimpleQueue):  # type: ignore[type-arg]
        raced = False

        def get_nowait(self) -> object:
            try:
                return super().get_nowait()
            except queue.Empty:
                if not self.raced:
                    self.raced = True
                    self.put((late, 7, None))  # what a pool thread does...
                    scheduled.append(state.flag.acquire(blocking=False))  # ...then this
                raise

    state.done = _Done()
    state.busy = 1
    assert state.flag.acquire(blocking=False)  # a hand-over is scheduled
    pool._settle(state)
    assert scheduled == [True], "the late outcome found the flag taken: it would never be settled"
    pool._settle(state)  # the hand-over it scheduled
    assert late.result() == 7
    assert state.busy == 0
    loop.close()
