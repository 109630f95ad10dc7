"""The I/O pool: results, exceptions, cancellation and shutdown waiting."""

from __future__ import annotations

import asyncio
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
