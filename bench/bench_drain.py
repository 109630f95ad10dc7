"""Drain rate after an outage: the delivery engine emptying a journal backlog into a sink.

Usage::

    .venv/bin/python bench/bench_drain.py [--https 5000] [--odoo 1000] [--concurrency N] [--connections N]
        [--pipelining 32] [--pipelined-connections 4] [--pipelined-concurrency 256]

What it does (free 127.0.0.1 ports, everything stopped at the end):

1. queues ``--https`` deliveries in a fresh journal (as if the link had been
   down: nothing delivered yet), then starts a :class:`DeliveryEngine` with
   the HTTPS sink pointing at nginx requiring client certificates (nginx
   answers 200 itself, so the figure is the gateway's cost: journal reads,
   the mTLS POST, the journal commits); once with the sink's default client
   (aiohttp keep-alive pool), once with HTTP/1.1 pipelining (``--pipelining``
   requests ahead per connection; 0 skips that run);
2. in the same run, the references: plain sequential loops of the same POSTs
   (same bodies, same headers, one keep-alive connection) with httpx and
   with aiohttp — no journal, no retries;
3. the same for the Odoo stand-in with the real ``odoorpc`` (``--odoo``
   purchase orders → sale orders with their lookups), unordered and with
   per-partner ordering over 4 partners (what the daemon does for odoo sinks).

A null sink (accepts at once) gives the ceiling the engine and the journal
allow by themselves.  Prints messages/s, this process's CPU milliseconds per
message (all threads; steadier than the rate when other processes compete for
the cores), the ratios to the plain loops, and the load average (other
processes skew everything on a 2-core box).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import httpx

from agent.delivery import DeliveryEngine, RetryPolicy
from agent.odoo import OdooMappingOptions, OdooRpcSettings, OdooRpcTransport
from agent.sinks.base import Delivery, Sink
from agent.sinks.https import HttpsSink, HttpsSinkConfig
from agent.sinks.odoo import OdooSink, OdooSinkConfig
from agent.tls import TlsIdentity
from gateway.journal import DocumentRecord, Intake, Journal, JournalOptions
from tests.support.nginx import Nginx, NginxSettings
from tests.support.odoo_standin import OdooStandin
from tests.support.pki import make_pki

PARTNERS = ("p1", "p2", "p3", "p4")


def _envelope(n: int, partner: str) -> dict[str, object]:
    return {
        "idempotency_key": f"{partner}:{n}:bench",
        "partner": partner,
        "document_type": "purchase_order",
        "source": {"transport": "sftp", "standard": "x12"},
        "document": {
            "order_number": f"{partner.upper()}-PO-{n:06d}",
            "lines": [{"line_number": "1", "product": {"gtin": "00012345678905"}, "quantity": "4"}],
        },
    }


async def _backlog(journal: Journal, count: int, sink: str, offset: int) -> list[tuple[int, str]]:
    """Queue ``count`` deliveries (batches share commits, as concurrent intake does)."""
    out: list[tuple[int, str]] = []

    async def one(n: int) -> list[tuple[int, str]]:
        partner = PARTNERS[n % len(PARTNERS)]
        r = await journal.append(Intake(transport="bench", data=b"po %d" % n, partner=partner))
        env = _envelope(offset + n, partner)
        ids = await journal.store_translation(
            int(r.message_id),
            partner=partner,
            standard="x12",
            sinks=[sink],
            documents=[
                DocumentRecord(
                    idempotency_key=str(env["idempotency_key"]),
                    document_type="purchase_order",
                    envelope_json=json.dumps(env),
                )
            ],
        )
        return [(d, partner) for d in ids]

    for start in range(0, count, 256):
        for part in await asyncio.gather(*(one(n) for n in range(start, min(count, start + 256)))):
            out += part
    return out


async def _drain(
    state: Path,
    make_sink: Callable[[], Sink],
    count: int,
    concurrency: int,
    *,
    ordered: bool,
    offset: int = 0,
) -> tuple[float, int, float, int]:
    """Seconds to drain ``count`` queued deliveries, failed attempts, CPU ms per message, lane width."""
    journal = Journal.open(state, JournalOptions(min_free_bytes=0))
    sink = make_sink()  # built and closed on this event loop (its client is bound to it)
    try:
        queued = await _backlog(journal, count, sink.name, offset)
        engine = DeliveryEngine(
            journal,
            {sink.name: sink},
            concurrency=concurrency,
            policy=RetryPolicy(backoff_initial=0.05, backoff_max=0.5, breaker_failures=10_000),
            ordered={sink.name} if ordered else (),
        )
        start, cpu = time.perf_counter(), time.process_time()
        for d, partner in queued:
            engine.enqueue(d, sink.name, partner=partner)
        task = asyncio.create_task(engine.run())
        lane = engine.lanes[sink.name]
        while lane.delivered < count:
            await asyncio.sleep(0.005)
        seconds = time.perf_counter() - start
        cpu_ms = (time.process_time() - cpu) * 1000 / count
        engine.stop()
        await task
        return seconds, lane.failed, cpu_ms, lane.concurrency
    finally:
        await sink.aclose()
        journal.close()


def _request(n: int) -> tuple[bytes, dict[str, str]]:
    env = _envelope(n, PARTNERS[n % len(PARTNERS)])
    headers = {"Content-Type": "application/json", "Idempotency-Key": str(env["idempotency_key"])}
    return json.dumps(env).encode(), headers


async def _plain_httpx_loop(url: str, identity: TlsIdentity, count: int) -> tuple[float, float]:
    """A reference: the same POSTs, one after another, one keep-alive httpx client."""
    async with httpx.AsyncClient(verify=identity.context, trust_env=False) as client:
        start, cpu = time.perf_counter(), time.process_time()
        for n in range(count):
            body, headers = _request(n)
            response = await client.post(url, content=body, headers=headers)
            response.raise_for_status()
        return time.perf_counter() - start, (time.process_time() - cpu) * 1000 / count


async def _plain_aiohttp_loop(url: str, identity: TlsIdentity, count: int) -> tuple[float, float]:
    """A reference: the same POSTs, one after another, one keep-alive aiohttp connection."""
    connector = aiohttp.TCPConnector(ssl=identity.context, limit=1)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        start, cpu = time.perf_counter(), time.process_time()
        for n in range(count):
            body, headers = _request(n)
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                response.raise_for_status()
        return time.perf_counter() - start, (time.process_time() - cpu) * 1000 / count


class NullSink:
    """Accepts everything at once: the engine's and the journal's own cost per delivery."""

    name = "null"

    async def healthcheck(self) -> None:
        """Always healthy."""

    async def deliver(self, delivery: Delivery) -> None:
        """Accept."""

    async def aclose(self) -> None:
        """Nothing to close."""


def _odoo_sink(port: int, workers: int) -> OdooSink:
    settings = OdooRpcSettings(
        host="127.0.0.1",
        port=port,
        database="edi",
        login="gateway",
        secret="s3cret",
        use_tls=False,
        workers=workers,
    )
    options = {p: OdooMappingOptions(partner_ref=p.upper()) for p in PARTNERS}
    return OdooSink(OdooSinkConfig(name="odoo", options=options), OdooRpcTransport(settings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--https", type=int, default=5000, help="messages for the HTTPS drain")
    parser.add_argument("--odoo", type=int, default=1000, help="messages for each Odoo drain")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="https deliveries in flight (default: the sink's own)"
    )
    parser.add_argument(
        "--connections", type=int, default=None, help="https keep-alive connections (default: the sink's)"
    )
    parser.add_argument(
        "--pipelining", type=int, default=32, help="pipelined run: requests ahead per connection"
    )
    parser.add_argument("--pipelined-connections", type=int, default=4)
    parser.add_argument("--pipelined-concurrency", type=int, default=256)
    parser.add_argument("--odoo-concurrency", type=int, default=8)
    args = parser.parse_args()
    load_before = f"{os.getloadavg()[0]:.2f}"
    rows: list[tuple[str, int, float, float, str]] = []
    https_options: dict[str, int] = {}
    if args.concurrency is not None:
        https_options["concurrency"] = args.concurrency
    if args.connections is not None:
        https_options["max_connections"] = args.connections
    with tempfile.TemporaryDirectory(prefix="edigate-drain-") as tmp:
        root = Path(tmp)
        seconds, _, cpu_ms, width = asyncio.run(
            _drain(root / "j0", NullSink, args.https, args.concurrency or 64, ordered=False)
        )
        rows.append(
            (
                f"null sink: engine + journal only (concurrency {width})",
                args.https,
                args.https / seconds,
                cpu_ms,
                "",
            )
        )
        pki = make_pki(root)
        identity = TlsIdentity(cert_file=pki.client.cert, key_file=pki.client.key, ca_file=pki.cloud_ca)
        settings = NginxSettings(
            server_cert=pki.server.cert,
            server_key=pki.server.key,
            client_ca=pki.site_ca,
            upstream_port=None,
        )
        with Nginx(settings) as nginx:
            url = f"{nginx.url}/ingest"
            config = HttpsSinkConfig(name="cloud", url=url, **https_options)  # type: ignore[arg-type]
            seconds, failed, cpu_ms, width = asyncio.run(
                _drain(
                    root / "j1",
                    lambda: HttpsSink(config, identity=identity),
                    args.https,
                    32,
                    ordered=False,
                )
            )
            pipelined: tuple[float, int, float, int] | None = None
            if args.pipelining:
                piped = HttpsSinkConfig(
                    name="cloud",
                    url=url,
                    pipelining=args.pipelining,
                    max_connections=args.pipelined_connections,
                    concurrency=args.pipelined_concurrency,
                )
                pipelined = asyncio.run(
                    _drain(
                        root / "j2",
                        lambda: HttpsSink(piped, identity=identity),
                        args.https,
                        32,
                        ordered=False,
                    )
                )
            plain_httpx, httpx_cpu = asyncio.run(_plain_httpx_loop(url, identity, args.https))
            plain_aiohttp, aiohttp_cpu = asyncio.run(_plain_aiohttp_loop(url, identity, args.https))
        https_rate = args.https / seconds
        httpx_rate, aiohttp_rate = args.https / plain_httpx, args.https / plain_aiohttp
        client = (
            "httpx HTTP/2" if config.http2 else f"aiohttp, {config.max_connections} keep-alive connections"
        )
        rows.append(
            (
                f"https sink, engine drain (concurrency {width}, {client})",
                args.https,
                https_rate,
                cpu_ms,
                f"{failed} failed attempts",
            )
        )
        piped_rate = None
        if pipelined is not None:
            seconds, failed, cpu_ms, width = pipelined
            piped_rate = args.https / seconds
            rows.append(
                (
                    f"https sink, engine drain (concurrency {width}, pipelining {args.pipelining}"
                    f" x {args.pipelined_connections} connections)",
                    args.https,
                    piped_rate,
                    cpu_ms,
                    f"{failed} failed attempts",
                )
            )
        rows.append(
            ("reference: plain sequential httpx loop, keep-alive", args.https, httpx_rate, httpx_cpu, "")
        )
        rows.append(
            (
                "reference: plain sequential aiohttp loop, keep-alive",
                args.https,
                aiohttp_rate,
                aiohttp_cpu,
                "",
            )
        )

        standin = OdooStandin().start()
        for p in PARTNERS:
            standin.seed("res.partner", name=f"Partner {p}", ref=p.upper())
        standin.seed("product.product", name="Widget", barcode="00012345678905")
        try:
            for ordered in (False, True):
                seconds, failed, cpu_ms, width = asyncio.run(
                    _drain(
                        root / f"j-odoo-{ordered}",
                        lambda: _odoo_sink(standin.port, args.odoo_concurrency),
                        args.odoo,
                        args.odoo_concurrency,
                        ordered=ordered,
                        offset=10**6 if ordered else 0,  # new orders in both runs
                    )
                )
                label = "odoo sink, per-partner ordered (4 partners)" if ordered else "odoo sink, unordered"
                label += f", creating sale orders (concurrency {width})"
                rows.append((label, args.odoo, args.odoo / seconds, cpu_ms, f"{failed} failed attempts"))
        finally:
            standin.stop()
    print(f"load average before: {load_before}, after: {os.getloadavg()[0]:.2f}, cores: {os.cpu_count()}")
    for label, n, rate, cpu_ms, note in rows:
        print(f"{label:<78} {n:>6} msgs {rate:>8.1f} msgs/s {cpu_ms:6.3f} CPU ms/msg  {note}")
    print(
        f"ratio https drain / plain loop: {https_rate / httpx_rate:.2f} (httpx), {https_rate / aiohttp_rate:.2f} (aiohttp)"
    )
    if piped_rate is not None:
        print(
            f"ratio pipelined https drain / plain loop: {piped_rate / httpx_rate:.2f} (httpx),"
            f" {piped_rate / aiohttp_rate:.2f} (aiohttp)"
        )


if __name__ == "__main__":
    main()
