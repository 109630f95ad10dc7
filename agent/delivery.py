"""The delivery engine: from queued deliveries to sinks, with retries.

Strategy:

* Durable truth is the journal's ``deliveries`` table; this engine keeps an
  in-memory schedule (a heap per sink ordered by next attempt time, then
  delivery id) that is rebuilt from the journal at start, so a crash loses
  no delivery and at worst repeats one attempt (which the idempotency key
  makes harmless downstream).
* Backoff is exponential with full jitter (AWS architecture blog, "Exponential
  Backoff And Jitter"); a peer's ``Retry-After`` wins when it is longer.
* A delivery is dead-lettered after ``max_attempts`` attempts, after
  ``max_age`` since it was queued, or at once on a permanent refusal.
* A circuit breaker per sink stops hammering a sink that is down: after
  ``breaker_failures`` consecutive transient failures it opens for
  ``breaker_reset`` seconds, then lets one probe through (half-open).
  Messages simply wait on disk meanwhile.
* Ordered sinks (``ordered=`` at construction) keep each partner's
  deliveries in the order the messages were received (journal message id;
  the pipeline translates in parallel, so delivery ids alone are not
  receipt order): per (sink, partner) FIFO, at most one attempt
  in flight per partner, and a delivery waiting for its retry holds back the
  partner's later ones (an order reaches the partner before its ship
  notice).  Partners still proceed in parallel.  A dead-lettered delivery
  releases the ones behind it; it stays visible for replay.
* Two clocks.  The in-memory schedule and the breaker run on a monotonic
  clock, so an NTP or operator step of the wall clock neither stalls retries
  (a step back) nor fires them all at once (a step forward).  The journal
  keeps wall-clock ``next_at`` for people and restarts; it is converted at
  the boundary, in :meth:`DeliveryEngine.enqueue` (wall to monotonic, as
  ``mono_now + max(0, next_at - wall_now)``) and when a retry is written
  back (monotonic wait to wall ``retry_at``).  Ages against the journal's
  ``created_at`` stay on the wall clock and are clamped at zero.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import logging
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import UnknownMessageError
from gateway.journal import DeliveryPayload, Journal

from .errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from .sinks.base import Delivery, Sink

log = logging.getLogger("edigate.delivery")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """When to try again and when to give up."""

    max_attempts: int = 25
    max_age: float = 72 * 3600.0
    backoff_initial: float = 1.0
    backoff_max: float = 600.0
    breaker_failures: int = 5
    breaker_reset: float = 30.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after the ``attempt``-th failure (full jitter)."""
        ceiling = min(self.backoff_max, self.backoff_initial * (2 ** min(attempt - 1, 30)))
        return rng.uniform(0, ceiling)


class BreakerState(enum.Enum):
    """Circuit breaker of one sink."""

    #: deliveries flow
    CLOSED = "closed"
    #: the sink failed repeatedly; nothing is attempted until the reset time
    OPEN = "open"
    #: one probe is in flight to see whether the sink is back
    HALF_OPEN = "half-open"


@dataclass(slots=True)
class SinkLane:
    """Schedule and health of one sink."""

    sink: Sink
    concurrency: int
    #: (monotonic due time, delivery id)
    heap: list[tuple[float, int]] = field(default_factory=list)
    queued: set[int] = field(default_factory=set)
    in_flight: int = 0
    consecutive_failures: int = 0
    breaker: BreakerState = BreakerState.CLOSED
    #: monotonic time the breaker opened
    opened_at: float = 0.0
    last_error: str | None = None
    #: wall clock, for people
    last_success_at: float | None = None
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: per-partner FIFO (ordered sinks only): partner -> heap of (message id, delivery id)
    ordered: bool = False
    by_partner: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    #: delivery id -> monotonic due time (ordered sinks only)
    due: dict[int, float] = field(default_factory=dict)
    partner_of: dict[int, tuple[str, int]] = field(default_factory=dict)
    busy_partners: set[str] = field(default_factory=set)

    def status(self, now: float) -> dict[str, Any]:
        """Figures for ``edigate status``; ``now`` is the monotonic clock."""
        times = self.due.values() if self.ordered else (t for t, _ in self.heap)
        oldest = min(times, default=None)
        tls: dict[str, object] | None = None
        tls_status = getattr(self.sink, "tls_status", None)
        if tls_status is not None:
            found = tls_status()
            tls = found.as_dict() if found is not None else None
        return {
            "name": self.sink.name,
            "healthy": self.breaker is BreakerState.CLOSED and self.consecutive_failures == 0,
            "breaker": self.breaker.value,
            "backlog": len(self.queued) + self.in_flight,
            "in_flight": self.in_flight,
            "next_attempt_in": None if oldest is None else max(0.0, oldest - now),
            "delivered": self.delivered,
            "failed_attempts": self.failed,
            "dead": self.dead,
            "last_error": self.last_error,
            "tls": tls,
            "cert_not_after": None if tls is None else tls.get("not_after"),
            "last_success_at": self.last_success_at,
        }


def _concurrency(sink: Sink, default: int) -> int:
    own = getattr(sink, "concurrency", None)
    return own if isinstance(own, int) and own > 0 else default


class SuccessLog:
    """Records accepted deliveries in the journal, many per transaction.

    Every caller of :meth:`record` returns only once its mark is committed
    (durable), exactly as with one ``delivery_succeeded`` per delivery, but
    the marks of every attempt that finishes while a commit is in progress
    share the next one: one thread hop, one transaction and one fsync for
    the lot instead of one each.

    A crash before the commit loses those marks; the deliveries are then
    still pending in the journal and are attempted again after the restart.
    That repeat is harmless because every attempt carries the delivery's
    Idempotency-Key (or the sink's equivalent), so the destination makes a
    second delivery of the same key a no-op.
    """

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._pending: list[int] = []
        self._batch: asyncio.Future[set[int]] | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, delivery_id: int) -> None:
        """Mark one delivery delivered; return once that is committed.

        Raises:
            UnknownMessageError: the delivery is not in the journal.
            JournalWriteError: the commit failed.
        """
        if self._batch is None:
            self._batch = asyncio.get_running_loop().create_future()
            self._batch.add_done_callback(_retrieve)
        batch = self._batch
        self._pending.append(delivery_id)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        # Shielded: a cancelled attempt leaves its mark to be committed with the others.
        missing = await asyncio.shield(batch)
        if delivery_id in missing:
            raise UnknownMessageError(f"no delivery {delivery_id}")

    async def _flush(self) -> None:
        try:
            while self._pending:
                ids, batch = self._pending, self._batch
                self._pending, self._batch = [], None
                assert batch is not None
                try:
                    missing = await self._journal.deliveries_succeeded(ids)
                except Exception as exc:  # noqa: BLE001 - every waiter of this batch gets the failure
                    batch.set_exception(exc)
                    continue
                batch.set_result(missing)
        finally:
            self._flusher = None


def _retrieve(future: asyncio.Future[set[int]]) -> None:
    # Waiters may all have gone (shutdown); the outcome is then nobody's to report.
    if not future.cancelled():
        future.exception()


class DeliveryEngine:
    """Runs deliveries for every sink.

    Args:
        journal: the journal (durable state of every delivery).
        sinks: the sinks by name.
        policy: retry policy.
        concurrency: parallel attempts per sink, unless the sink sets its own
            (a ``concurrency`` attribute that is not None, e.g. ``[[sinks]] concurrency``).
        clock: wall clock (journal timestamps), injectable for tests.
        monotonic: the clock the schedule and breaker run on, injectable for tests.
        ordered: names of sinks whose deliveries keep journal order per partner.
    """

    def __init__(
        self,
        journal: Journal,
        sinks: dict[str, Sink],
        *,
        policy: RetryPolicy | None = None,
        concurrency: int = 8,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        seed: int | None = None,
        ordered: Collection[str] = (),
    ) -> None:
        self.journal = journal
        self.policy = policy or RetryPolicy()
        self.lanes = {
            name: SinkLane(sink=s, concurrency=_concurrency(s, concurrency), ordered=name in ordered)
            for name, s in sinks.items()
        }
        self._clock = clock
        self._mono = monotonic
        self._successes = SuccessLog(journal)
        self._rng = random.Random(seed)
        self._stopping = False

    def enqueue(
        self,
        delivery_id: int,
        sink: str,
        at: float | None = None,
        *,
        partner: str | None = None,
        message_id: int | None = None,
    ) -> None:
        """Schedule a delivery (called after the journal committed it).

        ``at`` is a wall-clock time (the journal's ``next_at``); ``None`` means
        now.  ``partner`` and ``message_id`` matter for ordered sinks only;
        what the caller does not know is read from the journal (one indexed row).
        """
        due = self._mono() if at is None else self._mono() + max(0.0, at - self._clock())
        self._schedule(delivery_id, sink, due, partner=partner, message_id=message_id)

    def _schedule(
        self,
        delivery_id: int,
        sink: str,
        due: float,
        *,
        partner: str | None = None,
        message_id: int | None = None,
    ) -> None:
        """Put a delivery on its lane at monotonic time ``due``."""
        lane = self.lanes.get(sink)
        if lane is None:
            log.error("delivery %s names unknown sink %r; it stays pending in the journal", delivery_id, sink)
            return
        if delivery_id in lane.queued:
            return
        lane.queued.add(delivery_id)
        if lane.ordered:
            known = lane.partner_of.get(delivery_id)
            if known is None:
                known = (
                    (partner, message_id)
                    if partner is not None and message_id is not None
                    else self._order_key(delivery_id)
                )
            lane.partner_of[delivery_id] = known
            lane.due[delivery_id] = due
            heapq.heappush(lane.by_partner.setdefault(known[0], []), (known[1], delivery_id))
        else:
            heapq.heappush(lane.heap, (due, delivery_id))
        lane.wake.set()

    def _order_key(self, delivery_id: int) -> tuple[str, int]:
        row = self.journal.read_sync(
            lambda c: c.execute(
                "SELECT m.partner, d.message_id FROM deliveries d JOIN messages m ON m.id = d.message_id"
                " WHERE d.id = ?",
                (delivery_id,),
            ).fetchone()
        )
        if row is None:
            return "", 0
        return str(row[0] or ""), int(row[1])

    async def load_pending(self) -> int:
        """Rebuild the schedule from the journal; returns how many deliveries wait."""
        pending = await self.journal.pending_deliveries()
        for p in pending:
            self.enqueue(p.delivery_id, p.sink, p.next_at, partner=p.partner or "", message_id=p.message_id)
        return len(pending)

    async def run(self) -> None:
        """Deliver until cancelled."""
        async with asyncio.TaskGroup() as tg:
            for lane in self.lanes.values():
                tg.create_task(self._run_lane(lane))

    def stop(self) -> None:
        """Stop starting new attempts; those in flight finish."""
        self._stopping = True
        for lane in self.lanes.values():
            lane.wake.set()

    async def drain(self, timeout: float) -> bool:
        """Wait until nothing is in flight (graceful shutdown)."""
        deadline = time.monotonic() + timeout
        while any(lane.in_flight for lane in self.lanes.values()):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def backlog(self) -> int:
        """Deliveries scheduled or in flight, over all sinks."""
        return sum(len(lane.queued) + lane.in_flight for lane in self.lanes.values())

    def status(self) -> list[dict[str, Any]]:
        """Per-sink figures."""
        now = self._mono()
        return [lane.status(now) for lane in self.lanes.values()]

    async def _run_lane(self, lane: SinkLane) -> None:
        tasks: set[asyncio.Task[None]] = set()
        while not self._stopping:
            now = self._mono()
            if lane.breaker is BreakerState.OPEN:
                if now - lane.opened_at < self.policy.breaker_reset:
                    await self._sleep(lane, self.policy.breaker_reset - (now - lane.opened_at))
                    continue
                lane.breaker = BreakerState.HALF_OPEN
            limit = 1 if lane.breaker is BreakerState.HALF_OPEN else lane.concurrency
            if lane.in_flight >= limit or not lane.queued:
                await self._sleep(lane, None if not lane.queued else 0.5)
                continue
            # Take every due delivery a free slot allows, and read their payloads in one go.
            picked: list[int] = []
            wait: float | None = None
            while lane.in_flight + len(picked) < limit:
                delivery_id, wait = self._next_ordered(lane, now) if lane.ordered else self._next(lane, now)
                if delivery_id is None:
                    break
                picked.append(delivery_id)
            if not picked:
                await self._sleep(lane, wait)
                continue
            lane.in_flight += len(picked)
            task = asyncio.create_task(self._attempt_batch(lane, picked))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def _next(lane: SinkLane, now: float) -> tuple[int | None, float | None]:
        if not lane.heap:
            return None, None
        at, delivery_id = lane.heap[0]
        if at > now:
            return None, at - now
        heapq.heappop(lane.heap)
        lane.queued.discard(delivery_id)
        return delivery_id, None

    @staticmethod
    def _next_ordered(lane: SinkLane, now: float) -> tuple[int | None, float | None]:
        # Only each partner's oldest delivery is eligible, and only when none of its own is in flight.
        best: tuple[float, int] | None = None
        soonest: float | None = None
        for partner, ids in lane.by_partner.items():
            if not ids or partner in lane.busy_partners:
                continue
            at = lane.due[ids[0][1]]
            if at <= now:
                if best is None or (at, ids[0][1]) < best:
                    best = (at, ids[0][1])
            elif soonest is None or at < soonest:
                soonest = at
        if best is None:
            return None, None if soonest is None else soonest - now
        delivery_id = best[1]
        partner = lane.partner_of[delivery_id][0]
        heapq.heappop(lane.by_partner[partner])
        if not lane.by_partner[partner]:
            del lane.by_partner[partner]
        del lane.due[delivery_id]
        lane.queued.discard(delivery_id)
        lane.busy_partners.add(partner)
        return delivery_id, None

    @staticmethod
    async def _sleep(lane: SinkLane, seconds: float | None) -> None:
        lane.wake.clear()
        try:
            await asyncio.wait_for(lane.wake.wait(), timeout=seconds)
        except TimeoutError:
            return

    async def _attempt_batch(self, lane: SinkLane, delivery_ids: list[int]) -> None:
        """Read the payloads of picked deliveries in one query, then attempt them side by side."""
        try:
            payloads = await self.journal.delivery_payloads(delivery_ids)
        except BaseException:
            for delivery_id in delivery_ids:
                self._release(lane, delivery_id, retrying=False)
            raise
        results = await asyncio.gather(
            *(self._attempt(lane, d, payloads.get(d)) for d in delivery_ids), return_exceptions=True
        )
        for delivery_id, result in zip(delivery_ids, results, strict=True):
            if isinstance(result, Exception):
                log.error("delivery %s to %s: attempt failed: %r", delivery_id, lane.sink.name, result)

    async def _attempt(self, lane: SinkLane, delivery_id: int, payload: DeliveryPayload | None) -> None:
        retrying = False
        try:
            if payload is None:
                raise UnknownMessageError(f"no delivery {delivery_id}")
            if payload.state != "pending":
                return
            body = payload.envelope_json.encode()
            delivery = Delivery(
                delivery_id=delivery_id,
                idempotency_key=payload.idempotency_key,
                partner=payload.partner,
                document_type=payload.document_type,
                body=body,
                attempt=payload.attempts + 1,
            )
            try:
                await lane.sink.deliver(delivery)
            except TransientDeliveryError as exc:
                retrying = await self._failed(
                    lane, payload.attempts + 1, payload.created_at, delivery_id, exc
                )
                return
            except PermanentDeliveryError as exc:
                if getattr(exc, "link_wide", False):
                    await self._link_down(lane, delivery_id, exc)
                    return
                lane.dead += 1
                lane.last_error = exc.message
                log.warning(
                    "delivery %s to %s refused permanently: %s",
                    delivery_id,
                    lane.sink.name,
                    exc.message,
                    extra={"message_id": payload.message_id},
                )
                await self.journal.delivery_failed(delivery_id, exc.message, retry_at=None)
                return
            lane.consecutive_failures = 0
            lane.breaker = BreakerState.CLOSED
            lane.last_success_at = self._clock()
            await self._successes.record(delivery_id)
            lane.delivered += 1
        finally:
            self._release(lane, delivery_id, retrying=retrying)

    @staticmethod
    def _release(lane: SinkLane, delivery_id: int, *, retrying: bool) -> None:
        """Free the attempt's slot (and, on ordered sinks, its partner)."""
        lane.in_flight -= 1
        if lane.ordered:
            key = lane.partner_of.get(delivery_id)
            if key is not None:
                lane.busy_partners.discard(key[0])
                if not retrying:
                    del lane.partner_of[delivery_id]
        lane.wake.set()

    async def _link_down(self, lane: SinkLane, delivery_id: int, exc: DeliveryError) -> None:
        """The link itself is refused (client certificate, untrusted server, revoked key).

        Retrying the message cannot help, but neither is the message at
        fault: it stays queued, the breaker opens, and a probe goes out every
        ``breaker_reset`` seconds until an operator fixes the link.
        """
        now = self._mono()
        lane.failed += 1
        lane.last_error = exc.message
        lane.consecutive_failures += 1
        if lane.breaker is not BreakerState.OPEN:
            log.error("sink %s: link refused, deliveries wait: %s", lane.sink.name, exc.message)
        lane.breaker = BreakerState.OPEN
        lane.opened_at = now
        wait = self.policy.breaker_reset
        await self.journal.delivery_failed(
            delivery_id, f"link refused: {exc.message}", retry_at=self._clock() + wait
        )
        self._schedule(delivery_id, lane.sink.name, now + wait)

    async def _failed(
        self, lane: SinkLane, attempt: int, created_at: float, delivery_id: int, exc: DeliveryError
    ) -> bool:
        """Record a transient failure; True when the delivery was scheduled again."""
        now = self._mono()
        # Wall clock against the journal's wall-clock created_at; a step back must not make it negative.
        age = max(0.0, self._clock() - created_at)
        lane.failed += 1
        lane.last_error = exc.message
        lane.consecutive_failures += 1
        if (
            lane.breaker is BreakerState.HALF_OPEN
            or lane.consecutive_failures >= self.policy.breaker_failures
        ):
            if lane.breaker is not BreakerState.OPEN:
                log.warning(
                    "sink %s: circuit opened after %d failures: %s",
                    lane.sink.name,
                    lane.consecutive_failures,
                    exc.message,
                )
            lane.breaker = BreakerState.OPEN
            lane.opened_at = now
        if attempt >= self.policy.max_attempts or age >= self.policy.max_age:
            lane.dead += 1
            reason = f"gave up after {attempt} attempts over {int(age)} s; last error: {exc.message}"
            await self.journal.delivery_failed(delivery_id, reason, retry_at=None)
            return False
        wait = self.policy.backoff(attempt, self._rng)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            wait = max(wait, float(retry_after))
        await self.journal.delivery_failed(delivery_id, exc.message, retry_at=self._clock() + wait)
        self._schedule(delivery_id, lane.sink.name, now + wait)
        return True


__all__ = ["BreakerState", "DeliveryEngine", "RetryPolicy", "SinkLane", "SuccessLog"]
