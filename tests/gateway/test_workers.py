"""The translation pool (workers start, translators imported, before the first file) and the byte budget."""

from __future__ import annotations

import asyncio
import gc
import inspect
import subprocess
import sys
from typing import Any, cast

import pytest

from gateway.workers import translation_pool, warm


def _translators_loaded() -> bool:
    return "translators.x12" in sys.modules and "partners" in sys.modules


def _collector() -> tuple[tuple[int, int, int], int]:
    return gc.get_threshold(), gc.get_freeze_count()


def test_warm_starts_every_worker_with_the_translators_imported() -> None:
    pool = translation_pool(2)
    try:

        async def main() -> tuple[set[int], list[bool], list[tuple[tuple[int, int, int], int]]]:
            pids = await warm(pool, 2)
            loop = asyncio.get_running_loop()
            calls = [loop.run_in_executor(pool, _translators_loaded) for _ in range(4)]
            loaded = await asyncio.gather(*calls)
            collectors = await asyncio.gather(*(loop.run_in_executor(pool, _collector) for _ in range(4)))
            return pids, list(loaded), list(collectors)

        pids, loaded, collectors = asyncio.run(main())
        assert len(pids) == 2, "each call should have landed on its own worker"
        assert loaded == [True] * 4
        for threshold, frozen in collectors:
            assert threshold == (50_000, 20, 20)
            assert frozen > 10_000, "the imported modules' objects should be frozen"
    finally:
        pool.shutdown()


def test_the_byte_budget_holds_back_a_worker_until_bytes_are_freed() -> None:
    from gateway.pipeline import _ByteBudget

    async def main() -> list[str]:
        budget = _ByteBudget(100)
        order: list[str] = []
        release = asyncio.Event()

        async def big(name: str, size: int) -> None:
            async with budget.hold(size):
                order.append(f"{name} in ({budget.used})")
                await release.wait()
            order.append(f"{name} out")

        first = asyncio.create_task(big("a", 70))
        await asyncio.sleep(0)
        second = asyncio.create_task(big("b", 70))  # 140 > 100: must wait for a
        third = asyncio.create_task(big("c", 30))  # 100 fits next to a
        await asyncio.sleep(0.05)
        assert order == ["a in (70)", "c in (100)"]
        release.set()
        await asyncio.gather(first, second, third)
        alone = _ByteBudget(10)
        async with alone.hold(500):  # one file bigger than the budget still goes through
            order.append("huge alone")
        return order

    order = asyncio.run(main())
    b_in = next(i for i, o in enumerate(order) if o.startswith("b in"))
    assert b_in > order.index("a out")
    assert order[-1] == "huge alone"


def test_settle_collector_freezes_what_exists_and_raises_the_threshold() -> None:
    # In a child: freezing pytest's own heap would keep this session's garbage forever.
    code = (
        "import gc; from gateway.workers import settle_collector; settle_collector(); "
        "print(gc.get_threshold(), gc.get_freeze_count())"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    threshold, frozen = out.rsplit(")", 1)
    assert threshold + ")" == "(50000, 20, 20)"
    assert int(frozen) > 10_000, "the daemon's modules should be frozen out of collections"


def test_the_edigate_run_daemon_settles_its_collector_and_embedded_ones_do_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gateway.daemon as daemon_module

    assert inspect.signature(daemon_module.Daemon.__init__).parameters["tune_collector"].default is False
    made: list[bool] = []

    class Recorder(daemon_module.Daemon):
        def __init__(self, config: Any, *, tune_collector: bool = False) -> None:
            made.append(tune_collector)

        async def serve(self) -> int:
            return 0

    monkeypatch.setattr(daemon_module, "Daemon", Recorder)
    assert daemon_module.run(cast(Any, None)) == 0
    assert made == [True]
