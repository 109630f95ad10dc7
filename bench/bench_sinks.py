"""Outward-link throughput: the https sink through nginx mTLS, and the odoo sink into the stand-in.

Usage::

    .venv/bin/python bench/bench_sinks.py [--seconds 6] [--concurrency 32]

Starts (on free 127.0.0.1 ports, stopped at the end) nginx requiring client
certificates (test PKI from trustme), first answering 200 by itself (what the
link and the client cost), then in front of a trivial Python HTTP backend,
then in front of one that takes ``--backend-ms`` per request (what concurrency
is for: on loopback there is no round trip to overlap); and the Odoo stand-in.  Each phase runs for at most ``--seconds`` seconds and
reports messages per second; references are measured in the same run:

1. ``HttpsSink.deliver`` with ``--concurrency`` deliveries in flight over one
   long-lived client (httpx HTTP/2, the default aiohttp HTTP/1.1 keep-alive
   pool, then HTTP/1.1 pipelining);
2. reference A: a plain sequential httpx loop over one keep-alive client;
3. reference B: a plain sequential loop with a new client (new TCP + TLS
   handshake) per request, what a naive sink would do;
4. ``OdooSink`` (real odoorpc, purchase_order → sale.order with its lookups)
   into the stand-in directly, and through nginx mTLS (odoorpc sends
   ``Connection: close``, so every RPC pays a handshake there).

Python's ``http.server`` backend bounds the second set of figures (one thread
per upstream connection), so read the ratios, not the absolute numbers; the
load average is printed because other processes skew everything on a small box.  The total run stays under about 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from agent.odoo import OdooMappingOptions, OdooRpcSettings, OdooRpcTransport
from agent.sinks.base import Delivery
from agent.sinks.https import HttpsSink, HttpsSinkConfig
from agent.sinks.odoo import OdooSink, OdooSinkConfig
from agent.tls import TlsIdentity
from tests.support.backend import RecordingBackend, Reply, SeenRequest
from tests.support.nginx import Nginx, NginxSettings
from tests.support.odoo_standin import OdooStandin
from tests.support.pki import make_pki

REF_KEEPALIVE = "ref A: plain httpx loop, keep-alive"
REF_FRESH = "ref B: plain loop, new connection each"
BODY_DOC = {
    "order_number": "PO-0",
    "parties": [{"role": "BY", "id": "0614141000005"}],
    "lines": [
        {"line_number": str(i), "product": {"gtin": "00012345678905"}, "quantity": "4", "unit_price": "2.50"}
        for i in range(1, 6)
    ],
}


def _delivery(n: int, document: dict[str, object] | None = None) -> Delivery:
    doc = dict(document or BODY_DOC)
    doc["order_number"] = f"PO-{n}"
    envelope = {
        "idempotency_key": f"ACME:{n}:1:0001:bench",
        "partner": "acme",
        "document_type": "purchase_order",
        "source": {"transport": "sftp", "standard": "x12"},
        "document": doc,
    }
    return Delivery(
        delivery_id=n,
        idempotency_key=f"ACME:{n}:1:0001:bench",
        partner="acme",
        document_type="purchase_order",
        envelope=envelope,
        body=json.dumps(envelope).encode(),
    )


async def _run_for(
    seconds: float, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> tuple[float, float]:
    """Run ``one(n)`` with ``concurrency`` workers until ``seconds`` pass.

    Returns messages/s and this process's CPU milliseconds per message (all threads: on a loaded
    machine CPU per message is steadier than wall-clock throughput).
    """
    counter = iter(range(10**9))
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await one(next(counter))
            done += 1

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - start), (time.process_time() - cpu) * 1000 / max(done, 1)


async def _bench_https(
    url: str, make_identity: Callable[[], TlsIdentity], seconds: float, concurrency: int, rounds: int
) -> dict[str, tuple[float, float]]:
    """Rates of the sink and the references, methods alternating within each round; medians."""
    headers = {"Content-Type": "application/json"}
    # One identity (TLS context) per client, as the daemon builds them: httpcore sets ALPN on the
    # context it is given, so an HTTP/2 client must not share it with the HTTP/1.1 ones.
    identity = make_identity()
    h2 = HttpsSink(HttpsSinkConfig(name="bench", url=url, http2=True), identity=make_identity())
    h1 = HttpsSink(HttpsSinkConfig(name="bench", url=url, http2=False), identity=make_identity())
    piped = HttpsSink(
        HttpsSinkConfig(name="bench", url=url, pipelining=32, max_connections=4), identity=make_identity()
    )
    plain = httpx.AsyncClient(verify=identity.context, trust_env=False)

    async def keepalive(n: int) -> None:
        d = _delivery(n)
        response = await plain.post(
            url, content=d.body, headers={**headers, "Idempotency-Key": d.idempotency_key}
        )
        response.raise_for_status()

    async def fresh(n: int) -> None:
        d = _delivery(n)
        async with httpx.AsyncClient(verify=identity.context, trust_env=False) as one_shot:
            response = await one_shot.post(
                url, content=d.body, headers={**headers, "Idempotency-Key": d.idempotency_key}
            )
            response.raise_for_status()

    methods: dict[str, tuple[int, Callable[[int], Awaitable[None]]]] = {
        "sink HTTP/2": (concurrency, lambda n: h2.deliver(_delivery(n))),
        "sink HTTP/1.1 aiohttp pool (16 conns)": (concurrency, lambda n: h1.deliver(_delivery(n))),
        "sink HTTP/1.1 pipelined (32 x 4 conns)": (concurrency, lambda n: piped.deliver(_delivery(n))),
        REF_KEEPALIVE: (1, keepalive),
        REF_FRESH: (1, fresh),
    }
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label in methods}
    try:
        for _, one in methods.values():
            await one(0)  # warm-up: the long-lived clients handshake outside the measurement
        for _ in range(rounds):
            for label, (workers, one) in methods.items():
                samples[label].append(await _run_for(seconds / rounds, workers, one))
    finally:
        await h2.aclose()
        await h1.aclose()
        await piped.aclose()
        await plain.aclose()
    return {
        label: (statistics.median(r for r, _ in runs), statistics.median(c for _, c in runs))
        for label, runs in samples.items()
    }


async def _bench_odoo(port: int, identity: TlsIdentity | None, seconds: float, concurrency: int) -> float:
    settings = OdooRpcSettings(
        host="127.0.0.1",
        port=port,
        database="edi",
        login="gateway",
        secret="s3cret",
        use_tls=identity is not None,
        timeout=30,
        workers=concurrency,
    )
    sink = OdooSink(
        OdooSinkConfig(name="bench", default_options=OdooMappingOptions(partner_ref="ACME01")),
        OdooRpcTransport(settings, identity=identity),
    )
    offset = 10**6 if identity is not None else 0  # distinct orders per phase: every delivery creates
    try:
        await sink.healthcheck()

        async def one(n: int) -> None:
            outcome = await sink.deliver_with_outcome(_delivery(offset + n))
            if outcome.action != "created":
                raise RuntimeError(f"expected a new order, got {outcome}")

        return (await _run_for(seconds, concurrency, one))[0]
    finally:
        await sink.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per method (17 methods)")
    parser.add_argument("--backend-ms", type=float, default=20.0, help="latency of the slow backend")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--odoo-concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="https phases alternate in this many rounds")
    args = parser.parse_args()

    load_before = f"{os.getloadavg()[0]:.2f}"
    with tempfile.TemporaryDirectory(prefix="edigate-bench-") as tmp:
        pki = make_pki(Path(tmp))

        def make_identity() -> TlsIdentity:
            return TlsIdentity(cert_file=pki.client.cert, key_file=pki.client.key, ca_file=pki.cloud_ca)

        identity = make_identity()
        https: dict[str, dict[str, tuple[float, float]]] = {}

        def slow(_request: SeenRequest) -> Reply:
            time.sleep(args.backend_ms / 1000)  # the cloud's own processing time (or a WAN round trip)
            return Reply()

        with RecordingBackend(record=False) as backend, RecordingBackend(slow, record=False) as slow_backend:
            for where, upstream in (
                ("nginx answers itself", None),
                ("python backend behind nginx", backend.port),
                (f"backend taking {args.backend_ms:g} ms per request", slow_backend.port),
            ):
                settings = NginxSettings(
                    server_cert=pki.server.cert,
                    server_key=pki.server.key,
                    client_ca=pki.site_ca,
                    upstream_port=upstream,
                )
                with Nginx(settings) as nginx:
                    https[where] = asyncio.run(
                        _bench_https(
                            f"{nginx.url}/ingest", make_identity, args.seconds, args.concurrency, args.rounds
                        )
                    )

        standin = OdooStandin().start()
        standin.seed("res.partner", name="ACME Retail", ref="ACME01")
        standin.seed("product.product", name="Widget", barcode="00012345678905")
        try:
            with Nginx(
                NginxSettings(
                    server_cert=pki.server.cert,
                    server_key=pki.server.key,
                    client_ca=pki.site_ca,
                    upstream_port=standin.port,
                    http2=False,
                )
            ) as proxy:
                odoo_direct = asyncio.run(
                    _bench_odoo(standin.port, None, args.seconds, args.odoo_concurrency)
                )
                odoo_mtls = asyncio.run(
                    _bench_odoo(proxy.port, identity, args.seconds, args.odoo_concurrency)
                )
        finally:
            standin.stop()

    print(f"load average before/after: {load_before} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for where, rates in https.items():
        fresh, plain = rates[REF_FRESH][0], rates[REF_KEEPALIVE][0]
        print(
            f"https sink through nginx mTLS, {where} (concurrency {args.concurrency}, "
            f"{args.seconds:g} s per method, median of {args.rounds} alternating rounds)"
        )
        for label, (rate, cpu_ms) in rates.items():
            print(
                f"  {label:<42} {rate:7.0f} msg/s {cpu_ms:6.2f} CPU ms/msg   x{rate / fresh:5.1f} vs new-connection"
                f"   x{rate / plain:5.2f} vs keep-alive loop"
            )
    print(f"odoo sink, purchase_order -> sale.order (real odoorpc, concurrency {args.odoo_concurrency})")
    print(f"  {'into the stand-in directly':<42} {odoo_direct:9.0f} msg/s")
    print(f"  {'through nginx mTLS':<42} {odoo_mtls:9.0f} msg/s   x{odoo_mtls / odoo_direct:5.2f} vs direct")


if __name__ == "__main__":
    main()
