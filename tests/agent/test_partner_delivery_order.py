"""Per-partner ordering in the delivery engine (ordered sinks)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.delivery import DeliveryEngine, RetryPolicy
from agent.errors import TransientDeliveryError
from agent.sinks.base import Delivery
from gateway.journal import DocumentRecord, Intake, Journal, JournalOptions


class SlowStartSink:
    """Fails each partner's first delivery twice, accepts everything else; records order and overlap."""

    name = "partner-out"

    def __init__(self) -> None:
        self.accepted: dict[str, list[int]] = {}
        self.failed_once: dict[int, int] = {}
        self.first: dict[str, int] = {}
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}

    async def healthcheck(self) -> None:
        return None

    async def deliver(self, delivery: Delivery) -> None:
        p = delivery.partner
        self.in_flight[p] = self.in_flight.get(p, 0) + 1
        self.max_in_flight[p] = max(self.max_in_flight.get(p, 0), self.in_flight[p])
        try:
            await asyncio.sleep(0.001)
            seq = int(delivery.envelope["seq"])
            first = self.first.setdefault(p, seq)
            if seq == first and self.failed_once.get(seq, 0) < 2:
                self.failed_once[seq] = self.failed_once.get(seq, 0) + 1
                raise TransientDeliveryError("partner server busy")
            self.accepted.setdefault(p, []).append(seq)
        finally:
            self.in_flight[p] -= 1

    async def aclose(self) -> None:
        return None


async def _queue(journal: Journal, per_partner: int, partners: list[str]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for i in range(per_partner):
        for p in partners:
            seq = len(out)
            r = await journal.append(Intake(transport="odoo", data=b"%s-%d" % (p.encode(), i), partner=p))
            ids = await journal.store_translation(
                int(r.message_id),
                partner=p,
                standard="x12",
                sinks=["partner-out"],
                documents=[
                    DocumentRecord(
                        idempotency_key=f"{p}-{i}",
                        document_type="ship_notice",
                        envelope_json=f'{{"seq": {seq}}}',
                    )
                ],
            )
            out += [(d, p) for d in ids]
    return out


def _run(tmp_path: Path, ordered: bool, *, pass_partner: bool) -> SlowStartSink:
    async def main() -> SlowStartSink:
        journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
        sink = SlowStartSink()
        engine = DeliveryEngine(
            journal,
            {"partner-out": sink},
            concurrency=8,
            seed=3,
            policy=RetryPolicy(backoff_initial=0.02, backoff_max=0.05, breaker_failures=1000),
            ordered={"partner-out"} if ordered else (),
        )
        queued = await _queue(journal, 20, ["acme", "nord", "zeta"])
        for d, p in queued:
            engine.enqueue(d, "partner-out", partner=p if pass_partner else None)
        task = asyncio.create_task(engine.run())
        async with asyncio.timeout(30):
            while sum(len(v) for v in sink.accepted.values()) < len(queued):
                await asyncio.sleep(0.01)
        engine.stop()
        await asyncio.wait_for(task, 5)
        journal.close()
        return sink

    return asyncio.run(main())


def test_ordered_sink_keeps_each_partners_order_through_retries(tmp_path: Path) -> None:
    sink = _run(tmp_path, ordered=True, pass_partner=True)
    for partner, seqs in sink.accepted.items():
        assert seqs == sorted(seqs), f"{partner} received out of order: {seqs}"
        assert len(seqs) == 20
    assert set(sink.max_in_flight.values()) == {1}


def test_ordered_sink_looks_up_the_partner_when_the_caller_does_not_know_it(tmp_path: Path) -> None:
    sink = _run(tmp_path, ordered=True, pass_partner=False)
    for partner, seqs in sink.accepted.items():
        assert seqs == sorted(seqs), f"{partner} received out of order: {seqs}"
    assert set(sink.accepted) == {"acme", "nord", "zeta"}


def test_unordered_sink_lets_later_documents_overtake_a_retry(tmp_path: Path) -> None:
    # The control experiment: without ordering the same failures reorder the partner's documents.
    sink = _run(tmp_path, ordered=False, pass_partner=True)
    assert any(seqs != sorted(seqs) for seqs in sink.accepted.values())
