"""Outward-link throughput: the https sink through nginx mTLS, and the odoo sink into the stand-in.

Usage::

    .venv/bin/python bench/bench_sinks.py [--seconds 6] [--concurrency 32]

Starts (on free 127.0.0.1 ports, stopped at the end) a trivial HTTP backend,
nginx requiring client certificates in front of it (test PKI from trustme),
and the Odoo stand-in.  Each phase runs for at most ``--seconds`` seconds and
reports messages per second; references are measured in the same run:

1. ``HttpsSink.deliver`` with ``--concurrency`` deliveries in flight over one
   long-lived client (HTTP/2, then HTTP/1.1 keep-alive pool);
2. reference A: a plain sequential httpx loop over one keep-alive client;
3. reference B: a plain sequential loop with a new client (new TCP + TLS
   handshake) per request, what a naive sink would do;
4. ``OdooSink`` (real odoorpc, purchase_order → sale.order with its lookups)
   into the stand-in directly, and through nginx mTLS (odoorpc sends
   ``Connection: close``, so every RPC pays a handshake there).

The backend is Python's ``http.server``: it bounds every figure, so read the
ratios, not the absolute numbers.  The total run stays under about 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from tests.support.backend import RecordingBackend
from tests.support.nginx import Nginx, NginxSettings
from tests.support.odoo_standin import OdooStandin
from tests.support.pki import make_pki

BODY_DOC = {"order_number": "PO-0", "parties": [{"role": "BY", "id": "0614141000005"}],
            "lines": [{"line_number": str(i), "product": {"gtin": "00012345678905"}, "quantity": "4",
                       "unit_price": "2.50"} for i in range(1, 6)]}


def _delivery(n: int, document: dict[str, object] | None = None) -> Delivery:
    doc = dict(document or BODY_DOC)
    doc["order_number"] = f"PO-{n}"
    envelope = {"idempotency_key": f"ACME:{n}:1:0001:bench", "partner": "acme", "document_type": "purchase_order",
                "source": {"transport": "sftp", "standard": "x12"}, "document": doc}
    return Delivery(delivery_id=n, idempotency_key=envelope["idempotency_key"], partner="acme",  # type: ignore[arg-type]
                    document_type="purchase_order", envelope=envelope, body=json.dumps(envelope).encode())


async def _run_for(seconds: float, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Run ``one(n)`` with ``concurrency`` workers until ``seconds`` pass; return messages/s."""
    counter = iter(range(10**9))
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await one(next(counter))
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - start)


async def _bench_https(url: str, identity: TlsIdentity, seconds: float, concurrency: int) -> dict[str, float]:
    results: dict[str, float] = {}
    for label, http2 in (("sink HTTP/2", True), ("sink HTTP/1.1 keep-alive", False)):
        sink = HttpsSink(HttpsSinkConfig(name="bench", url=url, http2=http2, max_connections=concurrency),
                         identity=identity)
        try:
            await sink.deliver(_delivery(0))  # warm-up: handshake outside the measurement
            results[label] = await _run_for(seconds, concurrency, lambda n: sink.deliver(_delivery(n)))
        finally:
            await sink.aclose()

    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(verify=identity.context, trust_env=False) as client:
        async def keepalive(n: int) -> None:
            d = _delivery(n)
            response = await client.post(url, content=d.body, headers={**headers, "Idempotency-Key": d.idempotency_key})
            response.raise_for_status()

        await keepalive(0)
        results["ref A: plain httpx loop, keep-alive"] = await _run_for(seconds, 1, keepalive)

    async def fresh(n: int) -> None:
        d = _delivery(n)
        async with httpx.AsyncClient(verify=identity.context, trust_env=False) as one_shot:
            response = await one_shot.post(url, content=d.body,
                                           headers={**headers, "Idempotency-Key": d.idempotency_key})
            response.raise_for_status()

    results["ref B: plain loop, new connection each"] = await _run_for(seconds, 1, fresh)
    return results


async def _bench_odoo(port: int, identity: TlsIdentity | None, seconds: float, concurrency: int) -> float:
    settings = OdooRpcSettings(host="127.0.0.1", port=port, database="edi", login="gateway", secret="s3cret",
                               use_tls=identity is not None, timeout=30, workers=concurrency)
    sink = OdooSink(OdooSinkConfig(name="bench", default_options=OdooMappingOptions(partner_ref="ACME01")),
                    OdooRpcTransport(settings, identity=identity))
    offset = 10**6 if identity is not None else 0  # distinct orders per phase: every delivery creates
    try:
        await sink.healthcheck()

        async def one(n: int) -> None:
            outcome = await sink.deliver_with_outcome(_delivery(offset + n))
            if outcome.action != "created":
                raise RuntimeError(f"expected a new order, got {outcome}")

        return await _run_for(seconds, concurrency, one)
    finally:
        await sink.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="duration of each phase (6 phases)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--odoo-concurrency", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="edigate-bench-") as tmp:
        pki = make_pki(Path(tmp))
        identity = TlsIdentity(cert_file=pki.client.cert, key_file=pki.client.key, ca_file=pki.cloud_ca)
        with RecordingBackend(record=False) as backend, Nginx(NginxSettings(
                server_cert=pki.server.cert, server_key=pki.server.key, client_ca=pki.site_ca,
                upstream_port=backend.port)) as nginx:
            https = asyncio.run(_bench_https(f"{nginx.url}/ingest", identity, args.seconds, args.concurrency))

        standin = OdooStandin().start()
        standin.seed("res.partner", name="ACME Retail", ref="ACME01")
        standin.seed("product.product", name="Widget", barcode="00012345678905")
        try:
            with Nginx(NginxSettings(server_cert=pki.server.cert, server_key=pki.server.key, client_ca=pki.site_ca,
                                     upstream_port=standin.port, http2=False)) as proxy:
                odoo_direct = asyncio.run(_bench_odoo(standin.port, None, args.seconds, args.odoo_concurrency))
                odoo_mtls = asyncio.run(_bench_odoo(proxy.port, identity, args.seconds, args.odoo_concurrency))
        finally:
            standin.stop()

    fresh = https["ref B: plain loop, new connection each"]
    plain = https["ref A: plain httpx loop, keep-alive"]
    print(f"https sink through nginx mTLS (concurrency {args.concurrency}, {args.seconds:g} s per phase)")
    for label, rate in https.items():
        print(f"  {label:<42} {rate:9.0f} msg/s   x{rate / fresh:5.1f} vs new-connection   "
              f"x{rate / plain:5.2f} vs keep-alive loop")
    print(f"odoo sink, purchase_order -> sale.order (real odoorpc, concurrency {args.odoo_concurrency})")
    print(f"  {'into the stand-in directly':<42} {odoo_direct:9.0f} msg/s")
    print(f"  {'through nginx mTLS':<42} {odoo_mtls:9.0f} msg/s   x{odoo_mtls / odoo_direct:5.2f} vs direct")


if __name__ == "__main__":
    main()
