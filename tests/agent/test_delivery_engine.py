"""The delivery engine: retries with backoff, dead-letter, circuit breaker, restart."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

from agent.delivery import BreakerState, DeliveryEngine, RetryPolicy, SuccessLog
from agent.errors import PermanentDeliveryError, TransientDeliveryError
from agent.sinks.base import Delivery
from gateway.errors import JournalWriteError, UnknownMessageError
from gateway.journal import DocumentRecord, Intake, Journal, JournalOptions


class FlakySink:
    """Fails the first ``failures`` attempts of each key, then accepts."""

    def __init__(
        self,
        name: str = "flaky",
        failures: int = 0,
        permanent: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.name = name
        self.failures = failures
        self.permanent = permanent
        self.retry_after = retry_after
        self.attempts: dict[str, int] = {}
        self.accepted: list[str] = []
        self.down = False

    async def healthcheck(self) -> None:
        return None

    async def deliver(self, delivery: Delivery) -> None:
        n = self.attempts.get(delivery.idempotency_key, 0) + 1
        self.attempts[delivery.idempotency_key] = n
        if self.permanent:
            raise PermanentDeliveryError("400 Bad Request: order has no lines")
        if self.down or n <= self.failures:
            raise TransientDeliveryError("503 Service Unavailable", retry_after=self.retry_after)
        self.accepted.append(delivery.idempotency_key)

    async def aclose(self) -> None:
        return None


async def _queue(journal: Journal, n: int, sinks: list[str]) -> list[int]:
    ids: list[int] = []
    for i in range(n):
        r = await journal.append(Intake(transport="t", data=b"doc%d" % i, partner="p"))
        ids += await journal.store_translation(
            int(r.message_id),
            partner="p",
            standard="x12",
            sinks=sinks,
            documents=[
                DocumentRecord(
                    idempotency_key=f"k{i}",
                    document_type="purchase_order",
                    envelope_json=json.dumps({"n": i}),
                )
            ],
        )
    return ids


def _breaker(engine: DeliveryEngine) -> BreakerState:
    return engine.lanes["flaky"].breaker


async def _run_until(
    engine: DeliveryEngine,
    done: asyncio.Future[bool] | None = None,
    *,
    predicate: Callable[[], bool],
    timeout: float = 20,
) -> None:
    task = asyncio.create_task(engine.run())
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)
    finally:
        engine.stop()
        await asyncio.wait_for(task, 5)


def test_transient_failures_are_retried_until_delivered(tmp_path: Path) -> None:
    async def main() -> None:
        journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
        sink = FlakySink(failures=2)
        engine = DeliveryEngine(
            journal,
            {"flaky": sink},
            seed=1,
            policy=RetryPolicy(backoff_initial=0.01, backoff_max=0.05, breaker_failures=100),
        )
        for d in await _queue(journal, 5, ["flaky"]):
            engine.enqueue(d, "flaky")
        await _run_until(engine, predicate=lambda: len(sink.accepted) == 5)
        await asyncio.sleep(0.1)
        states = journal.read_sync(
            lambda c: dict(c.execute("SELECT state, COUNT(*) FROM messages GROUP BY state").fetchall())
        )
        attempts = journal.read_sync(lambda c: c.execute("SELECT COUNT(*) FROM attempts").fetchone()[0])
        journal.close()
        assert sorted(sink.accepted) == [f"k{i}" for i in range(5)]
        assert all(n == 3 for n in sink.attempts.values())
        assert states == {"delivered": 5}
        assert attempts == 15

    asyncio.run(main())


def test_permanent_refusal_dead_letters_with_the_reason(tmp_path: Path) -> None:
    async def main() -> None:
        journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
        sink = FlakySink(permanent=True)
        engine = DeliveryEngine(journal, {"flaky": sink}, seed=1)
        for d in await _queue(journal, 2, ["flaky"]):
            engine.enqueue(d, "flaky")
        await _run_until(engine, predicate=lambda: engine.lanes["flaky"].dead == 2)
        await asyncio.sleep(0.1)
        rows = journal.read_sync(
            lambda c: [tuple(r) for r in c.execute("SELECT state, reason FROM messages")]
        )
        journal.close()
        assert all(s == "dead" and "order has no lines" in r for s, r in rows), rows
        assert all(n == 1 for n in sink.attempts.values()), "a permanent refusal must not be retried"

    asyncio.run(main())


def test_attempt_limit_dead_letters(tmp_path: Path) -> None:
    async def main() -> None:
        journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
        sink = FlakySink(failures=100)
        engine = DeliveryEngine(
            journal,
            {"flaky": sink},
            seed=1,
            policy=RetryPolicy(
                max_attempts=4, backoff_initial=0.001, backoff_max=0.01, breaker_failures=1000
            ),
        )
        for d in await _queue(journal, 1, ["flaky"]):
            engine.enqueue(d, "flaky")
        await _run_until(engine, predicate=lambda: engine.lanes["flaky"].dead == 1)
        await asyncio.sleep(0.1)
        reason = journal.read_sync(lambda c: c.execute("SELECT reason FROM messages").fetchone()[0])
        journal.close()
        assert sink.attempts == {"k0": 4}
        assert "gave up after 4 attempts" in reason and "503" in reason

    asyncio.run(main())


def test_breaker_opens_and_backlog_drains_when_sink_returns(tmp_path: Path) -> None:
    async def main() -> None:
        journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
        sink = FlakySink()
        sink.down = True
        engine = DeliveryEngine(
            journal,
            {"flaky": sink},
            seed=1,
            concurrency=4,
            policy=RetryPolicy(backoff_initial=0.01, backoff_max=0.05, breaker_failures=3, breaker_reset=0.3),
        )
        for d in await _queue(journal, 50, ["flaky"]):
            engine.enqueue(d, "flaky")
        task = asyncio.create_task(engine.run())
        async with asyncio.timeout(10):
            while _breaker(engine) is not BreakerState.OPEN:
                await asyncio.sleep(0.01)
        before = sum(sink.attempts.values())
        await asyncio.sleep(0.2)
        during = sum(sink.attempts.values())
        assert during - before <= 4, "an open breaker must stop attempts"
        status = engine.status()[0]
        assert status["healthy"] is False and status["backlog"] == 50
        sink.down = False
        async with asyncio.timeout(20):
            while len(sink.accepted) < 50:
                await asyncio.sleep(0.01)
        engine.stop()
        await asyncio.wait_for(task, 5)
        assert _breaker(engine) is BreakerState.CLOSED
        journal.close()

    asyncio.run(main())


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    async def main() -> None:
        journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
        sink = FlakySink(failures=1, retry_after=30)
        engine = DeliveryEngine(journal, {"flaky": sink}, seed=1, policy=RetryPolicy(backoff_initial=0.001))
        (d,) = await _queue(journal, 1, ["flaky"])
        engine.enqueue(d, "flaky")
        task = asyncio.create_task(engine.run())
        await asyncio.sleep(0.5)
        engine.stop()
        await asyncio.wait_for(task, 5)
        next_at = journal.read_sync(
            lambda c: c.execute("SELECT next_at - updated_at FROM deliveries").fetchone()[0]
        )
        journal.close()
        assert sink.attempts == {"k0": 1}
        assert next_at >= 29.9

    asyncio.run(main())


def test_pending_deliveries_survive_a_restart(tmp_path: Path) -> None:
    async def main() -> None:
        journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
        await _queue(journal, 3, ["a", "b"])
        journal.close()
        journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
        a, b = FlakySink("a"), FlakySink("b")
        engine = DeliveryEngine(journal, {"a": a, "b": b}, seed=1)
        assert await engine.load_pending() == 6
        await _run_until(engine, predicate=lambda: len(a.accepted) == 3 and len(b.accepted) == 3)
        await asyncio.sleep(0.1)
        states = journal.read_sync(
            lambda c: dict(c.execute("SELECT state, COUNT(*) FROM messages GROUP BY state").fetchall())
        )
        journal.close()
        assert states == {"delivered": 3}

    asyncio.run(main())


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy(backoff_initial=1.0, backoff_max=60.0)
    rng = random.Random(3)
    waits = [policy.backoff(attempt, rng) for attempt in range(1, 30) for _ in range(20)]
    assert min(waits) >= 0 and max(waits) <= 60.0
    assert max(policy.backoff(1, rng) for _ in range(200)) <= 1.0
    assert max(policy.backoff(10, rng) for _ in range(200)) > 30.0


def test_link_wide_refusal_keeps_messages_queued(tmp_path: Path) -> None:
    class LinkRefused(PermanentDeliveryError):
        link_wide = True

    class RefusingSink(FlakySink):
        async def deliver(self, delivery: Delivery) -> None:
            self.attempts[delivery.idempotency_key] = self.attempts.get(delivery.idempotency_key, 0) + 1
            if self.down:
                raise LinkRefused("client certificate rejected by server: certificate expired")
            self.accepted.append(delivery.idempotency_key)

    async def main() -> None:
        journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
        sink = RefusingSink()
        sink.down = True
        engine = DeliveryEngine(journal, {"flaky": sink}, seed=1, policy=RetryPolicy(breaker_reset=0.3))
        for d in await _queue(journal, 3, ["flaky"]):
            engine.enqueue(d, "flaky")
        task = asyncio.create_task(engine.run())
        async with asyncio.timeout(10):
            while _breaker(engine) is not BreakerState.OPEN:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        states = journal.read_sync(
            lambda c: dict(c.execute("SELECT state, COUNT(*) FROM messages GROUP BY state").fetchall())
        )
        assert states == {"queued": 3}, "a refused link must not dead-letter the messages"
        assert "certificate expired" in (engine.status()[0]["last_error"] or "")
        sink.down = False
        async with asyncio.timeout(20):
            while len(sink.accepted) < 3:
                await asyncio.sleep(0.01)
        engine.stop()
        await asyncio.wait_for(task, 5)
        await asyncio.sleep(0.1)
        states = journal.read_sync(
            lambda c: dict(c.execute("SELECT state, COUNT(*) FROM messages GROUP BY state").fetchall())
        )
        journal.close()
        assert states == {"delivered": 3}

    asyncio.run(main())


class SteppedWall:
    """The wall clock, shifted by ``offset`` seconds (an NTP or operator step)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class FixedClocks:
    """A wall and a monotonic clock that move only when told to."""

    def __init__(self) -> None:
        self.wall = 1_800_000_000.0
        self.mono = 1_000.0


def test_a_wall_clock_step_back_does_not_stall_a_scheduled_retry(tmp_path: Path) -> None:
    async def main() -> None:
        journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
        sink = FlakySink(failures=1)
        wall = SteppedWall()
        engine = DeliveryEngine(
            journal,
            {"flaky": sink},
            seed=1,
            clock=wall,
            policy=RetryPolicy(backoff_initial=0.3, backoff_max=0.3, breaker_failures=100),
        )
        (d,) = await _queue(journal, 1, ["flaky"])
        engine.enqueue(d, "flaky")
        task = asyncio.create_task(engine.run())
        async with asyncio.timeout(10):
            while engine.lanes["flaky"].failed < 1:
                await asyncio.sleep(0.001)
        stepped_at = time.time()
        wall.offset = -2 * 3600.0  # the retry is scheduled; now the clock steps back 2 h
        async with asyncio.timeout(10):  # the wall-clock schedule would wait 2 h here
            while not sink.accepted:
                await asyncio.sleep(0.01)
        engine.stop()
        await asyncio.wait_for(task, 5)
        next_at = journal.read_sync(lambda c: c.execute("SELECT next_at FROM deliveries").fetchone()[0])
        journal.close()
        assert sink.attempts == {"k0": 2}
        # The journal keeps a wall-clock retry time (for people and restarts), not a monotonic one.
        assert stepped_at - 5 <= next_at <= stepped_at + 5

    asyncio.run(main())


def test_a_wall_clock_step_back_does_not_hold_an_open_breaker(tmp_path: Path) -> None:
    async def main() -> None:
        journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
        sink = FlakySink()
        sink.down = True
        wall = SteppedWall()
        engine = DeliveryEngine(
            journal,
            {"flaky": sink},
            seed=1,
            clock=wall,
            policy=RetryPolicy(backoff_initial=0.01, backoff_max=0.01, breaker_failures=1, breaker_reset=0.3),
        )
        (d,) = await _queue(journal, 1, ["flaky"])
        engine.enqueue(d, "flaky")
        task = asyncio.create_task(engine.run())
        async with asyncio.timeout(10):
            while _breaker(engine) is not BreakerState.OPEN:
                await asyncio.sleep(0.001)
        wall.offset = -2 * 3600.0
        sink.down = False
        async with asyncio.timeout(10):
            while not sink.accepted:
                await asyncio.sleep(0.01)
        engine.stop()
        await asyncio.wait_for(task, 5)
        journal.close()
        assert _breaker(engine) is BreakerState.CLOSED

    asyncio.run(main())


def test_journal_next_at_is_converted_to_the_monotonic_schedule(tmp_path: Path) -> None:
    async def main() -> None:
        journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
        clocks = FixedClocks()
        engine = DeliveryEngine(
            journal,
            {"a": FlakySink("a"), "b": FlakySink("b")},
            clock=lambda: clocks.wall,
            monotonic=lambda: clocks.mono,
            ordered={"b"},
        )
        engine.enqueue(1, "a", clocks.wall + 60, partner="p", message_id=1)
        engine.enqueue(2, "b", clocks.wall + 90, partner="p", message_id=2)
        engine.enqueue(3, "a", clocks.wall - 86_400, partner="p", message_id=3)  # stepped forward a day
        assert engine.lanes["a"].heap[0] == (clocks.mono, 3), "an overdue retry is due now, once"
        assert (clocks.mono + 60, 1) in engine.lanes["a"].heap
        assert engine.lanes["b"].due[2] == clocks.mono + 90
        clocks.wall -= 2 * 3600  # the wall clock steps back: the schedule does not move
        clocks.mono += 10
        a, b = engine.status()
        assert a["next_attempt_in"] == 0.0
        assert b["next_attempt_in"] == 80.0
        journal.close()

    asyncio.run(main())


def test_max_age_survives_a_created_at_in_the_future(tmp_path: Path) -> None:
    # After a step back the journal's created_at can lie ahead of the wall clock: no negative age.
    async def main() -> None:
        journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
        sink = FlakySink(failures=100)
        wall = SteppedWall()
        wall.offset = -2 * 3600.0
        engine = DeliveryEngine(
            journal,
            {"flaky": sink},
            seed=1,
            clock=wall,
            policy=RetryPolicy(
                max_attempts=2, backoff_initial=0.001, backoff_max=0.001, breaker_failures=100
            ),
        )
        (d,) = await _queue(journal, 1, ["flaky"])
        engine.enqueue(d, "flaky")
        await _run_until(engine, predicate=lambda: engine.lanes["flaky"].dead == 1)
        await asyncio.sleep(0.1)
        reason = journal.read_sync(lambda c: c.execute("SELECT reason FROM messages").fetchone()[0])
        journal.close()
        assert "gave up after 2 attempts over 0 s" in reason

    asyncio.run(main())


def test_successes_finishing_together_share_one_journal_commit(tmp_path: Path) -> None:
    """Attempts that finish in the same turn of the loop are recorded in one transaction."""

    async def main() -> None:
        journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
        sink = FlakySink()
        engine = DeliveryEngine(journal, {"flaky": sink}, seed=1, concurrency=64)
        for d in await _queue(journal, 50, ["flaky"]):
            engine.enqueue(d, "flaky")
        commits, ops = journal.commits, journal.ops_committed
        await _run_until(engine, predicate=lambda: engine.lanes["flaky"].delivered == 50)
        states = journal.read_sync(
            lambda c: dict(c.execute("SELECT state, COUNT(*) FROM messages GROUP BY state").fetchall())
        )
        assert (journal.commits - commits, journal.ops_committed - ops) == (1, 1), "one operation for 50"
        journal.close()
        assert states == {"delivered": 50}, "delivered counts only what is committed"

    asyncio.run(main())


def test_a_sink_may_set_its_own_concurrency(tmp_path: Path) -> None:
    class WideSink(FlakySink):
        concurrency = 200

    journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
    engine = DeliveryEngine(journal, {"wide": WideSink("wide"), "plain": FlakySink("plain")}, concurrency=8)
    journal.close()
    assert engine.lanes["wide"].concurrency == 200
    assert engine.lanes["plain"].concurrency == 8


def test_success_log_hands_each_waiter_its_own_outcome() -> None:
    """One batch: an id the journal lacks fails alone; a failed commit fails every waiter of its batch."""

    class FakeJournal:
        def __init__(self) -> None:
            self.batches: list[list[int]] = []
            self.broken = False

        async def deliveries_succeeded(self, ids: list[int]) -> set[int]:
            self.batches.append(list(ids))
            await asyncio.sleep(0)
            if self.broken:
                raise JournalWriteError("disk full")
            return {i for i in ids if i >= 100}

    async def main() -> None:
        journal = FakeJournal()
        log = SuccessLog(journal)  # type: ignore[arg-type]
        results = await asyncio.gather(*(log.record(i) for i in (1, 2, 100, 3)), return_exceptions=True)
        assert results[:2] == [None, None] and results[3] is None
        assert isinstance(results[2], UnknownMessageError)
        assert journal.batches == [[1, 2, 100, 3]]
        journal.broken = True
        failed = await asyncio.gather(*(log.record(i) for i in (4, 5)), return_exceptions=True)
        assert all(isinstance(f, JournalWriteError) for f in failed)
        journal.broken = False
        await log.record(6)  # a failed batch does not stop the next one
        assert journal.batches[1:] == [[4, 5], [6]]

    asyncio.run(main())


def test_the_directory_sink_is_a_wide_lane_unless_configured(tmp_path: Path) -> None:
    """Local writes: the lane is wider than the engine's default, and an operator may narrow it."""
    from agent.sinks.directory import DirectorySink, DirectorySinkConfig

    wide = DirectorySink(DirectorySinkConfig(name="out", path=tmp_path / "out"))
    narrow = DirectorySink(DirectorySinkConfig(name="slow", path=tmp_path / "nfs", concurrency=4))
    journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
    engine = DeliveryEngine(journal, {"out": wide, "slow": narrow}, concurrency=32)
    journal.close()
    assert engine.lanes["out"].concurrency == 128
    assert engine.lanes["slow"].concurrency == 4
