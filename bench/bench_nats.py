"""NATS JetStream fan-in throughput: the nats sink (alone and through the DeliveryEngine) next to bare nats-py.

Usage::

    .venv/bin/python bench/bench_nats.py [--seconds 6] [--concurrency 32] [--docs 3000]

Starts a real ``nats-server -js`` on a free 127.0.0.1 port with TLS client
verification and a file-backed stream (the test fixture of
``tests/support/nats.py``), and measures acknowledged publishes per second,
all in the same run and over the same kind of mTLS connection:

1. reference A: a bare nats-py loop, one ``js.publish`` at a time, each ack awaited;
2. reference B: bare nats-py pipelined (``publish_async``, up to ``--window``
   acks outstanding): what the server and the client library can do at best;
3. ``NatsSink.deliver`` with ``--concurrency`` deliveries in flight, no engine;
4. the DeliveryEngine (``--concurrency`` per sink) draining ``--docs`` queued
   deliveries from a real journal into the sink: what the gateway does, with
   its per-delivery journal bookkeeping (fsynced, group-committed).

Phases 1 to 3 run for ``--seconds`` each; phase 4 until its queue is empty
(capped at 60 s).  Every message carries a unique ``Nats-Msg-Id``, so none
is dropped by the duplicate window.  The total stays around 60 s with the
defaults.  The load average is printed because other processes skew
everything on a small box: read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nats

from agent.delivery import DeliveryEngine
from agent.sinks.base import Delivery
from agent.sinks.nats import NatsSink, NatsSinkConfig
from agent.tls import TlsSettings
from gateway.journal import DocumentRecord, Intake, Journal, JournalOptions
from tests.support.nats import NatsServer, create_streams, make_nats_pki

SUBJECT = "edigate.alpha.acme.purchase_order"
ENGINE_CAP = 60.0


def _envelope(key: str) -> dict[str, object]:
    # About the size of a translated 850 envelope (1.5 KB).
    return {
        "schema": "edigate.envelope/1",
        "idempotency_key": key,
        "partner": "acme",
        "document_type": "purchase_order",
        "source": {"transport": "sftp", "standard": "x12", "interchange_control": "000000001"},
        "document": {
            "order_number": "PO-1",
            "lines": [
                {"line_number": str(i), "product": {"gtin": "00012345678905"}, "quantity": "4"}
                for i in range(1, 16)
            ],
        },
    }


def _delivery(key: str) -> Delivery:
    env = _envelope(key)
    return Delivery(
        delivery_id=0,
        idempotency_key=key,
        partner="acme",
        document_type="purchase_order",
        envelope=env,
        body=json.dumps(env).encode(),
    )


async def _bare_sequential(server: NatsServer, tls_ctx: object, seconds: float) -> float:
    nc = await nats.connect(server.url, tls=tls_ctx)
    try:
        js = nc.jetstream()
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            body = json.dumps(_envelope(f"seq-{count}")).encode()
            await js.publish(SUBJECT, body, headers={"Nats-Msg-Id": f"seq-{count}"})
            count += 1
        return count / (time.perf_counter() - start)
    finally:
        await nc.close()


async def _bare_pipelined(server: NatsServer, tls_ctx: object, seconds: float, window: int) -> float:
    nc = await nats.connect(server.url, tls=tls_ctx)
    try:
        js = nc.jetstream(publish_async_max_pending=window)
        futures = []
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            body = json.dumps(_envelope(f"pipe-{count}")).encode()
            futures.append(await js.publish_async(SUBJECT, body, headers={"Nats-Msg-Id": f"pipe-{count}"}))
            count += 1
        acks = await asyncio.gather(*futures)
        elapsed = time.perf_counter() - start
        assert len(acks) == count and not any(a.duplicate for a in acks)
        return count / elapsed
    finally:
        await nc.close()


async def _sink_direct(config: NatsSinkConfig, seconds: float, concurrency: int) -> float:
    sink = NatsSink(config)
    counter = 0
    start = time.perf_counter()

    async def worker() -> None:
        nonlocal counter
        while time.perf_counter() - start < seconds:
            counter += 1
            await sink.deliver(_delivery(f"sink-{counter}"))

    try:
        await sink.healthcheck()
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        rate = counter / (time.perf_counter() - start)
        assert sink.duplicates == 0
        return rate
    finally:
        await sink.aclose()


async def _engine(config: NatsSinkConfig, state: Path, docs: int, concurrency: int) -> tuple[float, int]:
    journal = Journal.open(state, JournalOptions(min_free_bytes=0))
    sink = NatsSink(config)
    try:

        async def queue_one(i: int) -> None:
            key = f"engine-{i}"
            result = await journal.append(Intake(transport="directory", partner="acme", data=key.encode()))
            envelope_json = json.dumps(_envelope(key))
            await journal.store_translation(
                int(result.message_id),
                partner="acme",
                standard="x12",
                documents=[
                    DocumentRecord(
                        idempotency_key=key, document_type="purchase_order", envelope_json=envelope_json
                    )
                ],
                sinks=["cloud"],
            )

        for first in range(0, docs, 500):
            await asyncio.gather(*(queue_one(i) for i in range(first, min(docs, first + 500))))
        await sink.healthcheck()
        engine = DeliveryEngine(journal, {"cloud": sink}, concurrency=concurrency)
        await engine.load_pending()
        lane = engine.lanes["cloud"]
        start = time.perf_counter()
        task = asyncio.create_task(engine.run())
        while lane.delivered < docs and time.perf_counter() - start < ENGINE_CAP:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - start
        delivered = lane.delivered
        engine.stop()
        await engine.drain(timeout=10)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return delivered / elapsed, delivered
    finally:
        await sink.aclose()
        journal.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="time per fixed-time phase (3 phases)")
    parser.add_argument("--concurrency", type=int, default=32, help="deliveries in flight (sink, engine)")
    parser.add_argument("--window", type=int, default=256, help="outstanding acks in the pipelined reference")
    parser.add_argument("--docs", type=int, default=3000, help="deliveries queued for the engine phase")
    args = parser.parse_args()

    load_before = f"{os.getloadavg()[0]:.2f}"
    with tempfile.TemporaryDirectory(prefix="edigate-bench-nats-") as tmp:
        root = Path(tmp)
        pki = make_nats_pki(root)
        with NatsServer(root / "nats", pki) as server:
            asyncio.run(create_streams(server))
            ident = pki.sites["alpha"]
            tls_ctx = server.client_context(ident)
            config = NatsSinkConfig.model_validate(
                {
                    "name": "cloud",
                    "servers": [server.url],
                    "site": "alpha",
                    "tls": TlsSettings(cert_file=ident.cert, key_file=ident.key, ca_file=pki.server_ca),
                }
            )
            seq = asyncio.run(_bare_sequential(server, tls_ctx, args.seconds))
            pipe = asyncio.run(_bare_pipelined(server, tls_ctx, args.seconds, args.window))
            sink = asyncio.run(_sink_direct(config, args.seconds, args.concurrency))
            engine, delivered = asyncio.run(_engine(config, root / "state", args.docs, args.concurrency))

    print(f"load average before/after: {load_before} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print("NATS JetStream publish with acks, file storage, mTLS on loopback (nats-server -js, one node)")
    rows = [
        ("ref A: bare nats-py, sequential awaited acks", seq),
        (f"ref B: bare nats-py, pipelined (window {args.window})", pipe),
        (f"NatsSink.deliver, {args.concurrency} in flight", sink),
        (f"DeliveryEngine -> NatsSink, concurrency {args.concurrency} ({delivered} docs)", engine),
    ]
    for label, rate in rows:
        print(f"  {label:<62} {rate:8.0f} msg/s   x{rate / seq:5.2f} vs A   x{rate / pipe:5.2f} vs B")
    if delivered < args.docs:
        print(f"  note: the engine delivered {delivered} of {args.docs} within {ENGINE_CAP:g} s")


if __name__ == "__main__":
    main()
