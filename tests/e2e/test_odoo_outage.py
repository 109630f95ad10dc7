"""Odoo outage: a backlog queued while Odoo is down drains once it returns, exactly once, in order.

The backlog is journaled by the real pipeline (X12 850s from several
partners, routed to the ``odoo`` sink) before the gateway starts; the
gateway runs as a child process (``edigate run``) with the odoo sink
pointing at a stopped Odoo stand-in.  The stand-in starts on the same port,
the drain begins, the gateway is killed with SIGKILL half-way and started
again.  Afterwards every message is delivered, each purchase order exists
exactly once as a sale order, and each partner's orders were created in
the order they were received.

Size: 5,000 messages (4 partners x 1,250), as the issue asks; about four
minutes on 2 idle cores.  ``EDIGATE_QUICK=1`` runs 1,000 for a fast local loop.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

import partners
from gateway.journal import Intake, Journal, JournalOptions
from gateway.pipeline import Pipeline
from tests.harness import GatewayProcess, make_850
from tests.support.odoo_standin import OdooStandin
from tests.support.partner_peers import free_port

PARTNERS = ("p1", "p2", "p3", "p4")
TOTAL = 1000 if os.environ.get("EDIGATE_QUICK") == "1" else 5000


def _setup(root: Path, odoo_port: int) -> Path:
    (root / "partners.d").mkdir(parents=True)
    for i, p in enumerate(PARTNERS, 1):
        (root / "partners.d" / f"{p}.toml").write_text(
            f'id = "{p}"\nname = "Partner {p}"\n\n[[identities.x12]]\nqualifier = "ZZ"\nid = "SENDER{i}"\n\n'
            '[acks]\nfunctional_ack = "never"\n\n[routing]\nsinks = ["odoo"]\n'
        )
    (root / "odoo.secret").write_text("s3cret\n")
    (root / "odoo.secret").chmod(0o600)
    options = "".join(f'\n[sinks.options.{p}]\npartner_ref = "{p.upper()}"\n' for p in PARTNERS)
    cfg = root / "edigate.toml"
    cfg.write_text(
        f"""
[gateway]
state_dir = "state"
partners_dir = "partners.d"

[journal]
min_free_mb = 1

[pipeline]
processes = 0

[delivery]
backoff_initial_seconds = 0.05
backoff_max_seconds = 0.3
breaker_failures = 1000
max_attempts = 1000
concurrency = 16

[[sinks]]
name = "odoo"
kind = "odoo"
url = "http://127.0.0.1:{odoo_port}"
database = "edi"
login = "gateway"
secret_file = "odoo.secret"
timeout = 10
workers = 8
{options}
"""
    )
    return cfg


async def _queue_backlog(root: Path) -> None:
    """Journal and translate TOTAL purchase orders (the pipeline, no delivery engine)."""
    registry, errors = partners.load_registry(root / "partners.d")
    assert errors == []
    journal = Journal.open(root / "state", JournalOptions(min_free_bytes=0))
    pipeline = Pipeline(
        journal,
        registry=lambda: registry,
        default_sinks=[],
        on_queued=lambda pairs: None,
        translate_fn=partners.translate_with_profile,
    )
    try:
        per = TOTAL // len(PARTNERS)
        for start in range(0, per, 50):
            ids: list[int] = []
            for n in range(start, min(per, start + 50)):
                for i, p in enumerate(PARTNERS, 1):
                    data = make_850(10_000 + n, f"{p.upper()}-PO-{n:05d}", sender=f"SENDER{i}", lines=1)
                    result = await journal.append(Intake(transport="directory", data=data, partner=p))
                    ids.append(int(result.message_id))
            await asyncio.gather(*(pipeline.process(mid) for mid in ids))
        states = journal.read_sync(
            lambda c: dict(c.execute("SELECT state, COUNT(*) FROM messages GROUP BY state").fetchall())
        )
        assert states == {"queued": TOTAL}, states
    finally:
        journal.close()


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.timeout(1800)  # 5,000 serial-per-partner drains: about 4 min idle, more on a busy CI box
def test_backlog_drains_exactly_once_in_partner_order_across_an_outage_and_a_sigkill(tmp_path: Path) -> None:
    port = free_port()
    odoo = OdooStandin()
    for p in PARTNERS:
        odoo.seed("res.partner", name=f"Partner {p}", ref=p.upper())
    odoo.seed("product.product", name="Widget", barcode="000123456781", default_code="SKU-1", uom_id=1)
    cfg = _setup(tmp_path, port)
    asyncio.run(_queue_backlog(tmp_path))
    gateway = GatewayProcess(cfg)
    gateway.start()
    try:
        # Odoo is down: attempts fail and are rescheduled, nothing is lost or dead-lettered.
        def failed_attempts() -> int:
            with gateway.db() as c:
                return int(c.execute("SELECT COUNT(*) FROM attempts WHERE ok = 0").fetchone()[0])

        _wait(lambda: failed_attempts() >= 20, 60, "failed attempts while Odoo is down")
        assert gateway.states() == {"queued": TOTAL}
        odoo.start(port)
        _wait(lambda: len(odoo.records("sale.order")) >= TOTAL // 3, TOTAL * 0.24, "a third of the drain")
        gateway.kill()
        created_at_kill = len(odoo.records("sale.order"))
        assert created_at_kill < TOTAL, "the kill must land during the drain"
        gateway.start()
        _wait(lambda: gateway.states().get("delivered", 0) == TOTAL, TOTAL * 0.3, "the drain to finish")
        assert gateway.stop() == 0
    finally:
        gateway.kill()
        odoo.stop()
    orders = odoo.records("sale.order")
    refs = [o["client_order_ref"] for o in orders]
    assert len(orders) == TOTAL and len(set(refs)) == TOTAL, "each purchase order exactly once"
    for p in PARTNERS:
        mine = [r for r in refs if r.startswith(f"{p.upper()}-PO-")]  # records() is in id (creation) order
        assert mine == sorted(mine), f"{p}: orders created out of order"
        assert len(mine) == TOTAL // len(PARTNERS)
