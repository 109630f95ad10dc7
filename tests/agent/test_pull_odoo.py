"""The Odoo pull: keyset cursor with overlap, de-duplication, journal first, export mark last."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from agent.errors import DeliveryError
from agent.odoo import OdooRpcSettings, OdooRpcTransport
from agent.pull import PULLING, OdooPull, PullSettings, pull_status
from gateway.journal import Journal, JournalOptions
from tests.support import odoo_outbound as ob
from tests.support.odoo_standin import OdooStandin


@pytest.fixture
def odoo():
    with OdooStandin() as standin:
        yield standin


def _pull(
    odoo: OdooStandin, journal: Journal, seen: list[int] | None = None, **kw
) -> tuple[OdooPull, OdooRpcTransport]:
    transport = OdooRpcTransport(
        OdooRpcSettings(
            host="127.0.0.1",
            port=odoo.port,
            database="edi",
            login="gateway",
            secret="s3cret",
            use_tls=False,
            timeout=5,
        )
    )
    settings = PullSettings(partner_refs={"ACME01": "acme"}, **kw)
    return OdooPull(
        transport, journal, settings, on_appended=None if seen is None else seen.append
    ), transport


def _messages(journal: Journal) -> list[dict]:
    return journal.read_sync(
        lambda c: [
            dict(r)
            for r in c.execute("SELECT id, partner, external_id, state, transport FROM messages ORDER BY id")
        ]
    )


def test_documents_are_journaled_once_with_their_origin_and_only_for_edi_partners(
    tmp_path: Path, odoo
) -> None:
    acme = ob.seed_customer(odoo, "ACME01", "ACME")
    other = ob.seed_customer(odoo, "OTHER", "Someone else")
    ob.seed_downlink(odoo, partner=acme, po="PO-1", n=1)
    ob.seed_downlink(odoo, partner=other, po="PO-2", n=2)
    odoo.seed(
        "stock.picking", partner_id=acme, state="assigned", picking_type_code="outgoing", x_edi_exported=False
    )
    journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))

    async def main() -> None:
        seen: list[int] = []
        pull, transport = _pull(odoo, journal, seen)
        flags: list[bool] = []
        journal.on_received = lambda mid: flags.append(PULLING.get())
        try:
            assert await pull.poll_once() == 3
            assert await pull.poll_once() == 0
            assert len(seen) == 3 and flags == [True, True, True]
        finally:
            await transport.aclose()

    asyncio.run(main())
    rows = _messages(journal)
    assert {r["partner"] for r in rows} == {"acme"} and {r["transport"] for r in rows} == {"odoo"}
    assert sorted(r["external_id"].split(":")[0] for r in rows) == [
        "account.move",
        "sale.order",
        "stock.picking",
    ]
    body = json.loads(
        journal.read_sync(
            lambda c: bytes(
                journal.spool.read(
                    c.execute(
                        "SELECT sha256 FROM messages WHERE external_id LIKE 'stock.picking:%'"
                    ).fetchone()[0]
                )
            )
        )
    )
    assert body["document_type"] == "ship_notice" and body["document"]["orders"][0]["order_number"] == "PO-1"
    assert body["origin"]["model"] == "stock.picking"
    journal.close()


def test_cursor_survives_a_restart_and_the_overlap_window_catches_late_commits(tmp_path: Path, odoo) -> None:
    acme = ob.seed_customer(odoo, "ACME01", "ACME")
    ob.seed_downlink(odoo, partner=acme, po="PO-1", n=1)
    journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))

    async def first() -> None:
        pull, transport = _pull(odoo, journal, kinds=("ship_notice",))
        try:
            assert await pull.poll_once() == 1
        finally:
            await transport.aclose()

    asyncio.run(first())
    cursor = journal.read_sync(pull_status)["cursors"]["ship_notice"]
    journal.close()
    # A long Odoo transaction commits a picking whose write_date is 2 minutes before the cursor,
    # and a genuinely old one (before the overlap) is not expected to appear.
    late = odoo.seed(
        "stock.picking",
        partner_id=acme,
        state="done",
        picking_type_code="outgoing",
        name="WH/OUT/LATE",
        x_edi_exported=False,
    )
    ancient = odoo.seed(
        "stock.picking",
        partner_id=acme,
        state="done",
        picking_type_code="outgoing",
        name="WH/OUT/OLD",
        x_edi_exported=False,
    )
    with odoo._lock:
        odoo._data["stock.picking"][late]["write_date"] = _minus(cursor["write_date"], 120)
        odoo._data["stock.picking"][ancient]["write_date"] = _minus(cursor["write_date"], 3600)
    journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))

    async def second() -> None:
        pull, transport = _pull(odoo, journal, kinds=("ship_notice",), overlap_seconds=300)
        try:
            assert await pull.poll_once() == 1
        finally:
            await transport.aclose()

    asyncio.run(second())
    names = [
        json.loads(journal.spool.read(r[0]))["origin"]["name"]
        for r in journal.read_sync(lambda c: c.execute("SELECT sha256 FROM messages ORDER BY id").fetchall())
    ]
    journal.close()
    assert names == ["WH/OUT/00001", "WH/OUT/LATE"]


def _minus(stamp: str, seconds: int) -> str:
    import datetime as dt

    at = dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S") - dt.timedelta(seconds=seconds)
    return at.strftime("%Y-%m-%d %H:%M:%S")


def test_an_edit_before_export_does_not_send_the_document_twice(tmp_path: Path, odoo) -> None:
    acme = ob.seed_customer(odoo, "ACME01", "ACME")
    d = ob.seed_downlink(odoo, partner=acme, po="PO-1", n=1)
    journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))

    async def main() -> None:
        pull, transport = _pull(odoo, journal, kinds=("invoice",))
        try:
            assert await pull.poll_once() == 1
            await transport.call("account.move", "write", [[d.invoice], {"ref": "edited later"}])
            assert await pull.poll_once() == 0
            assert pull.stats.skipped_duplicates >= 1
        finally:
            await transport.aclose()

    asyncio.run(main())
    assert len(_messages(journal)) == 1
    journal.close()


def test_export_flag_is_written_only_after_the_partner_has_the_document(tmp_path: Path, odoo) -> None:
    acme = ob.seed_customer(odoo, "ACME01", "ACME")
    d = ob.seed_downlink(odoo, partner=acme, po="PO-1", n=1)
    journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))

    async def main() -> None:
        pull, transport = _pull(odoo, journal, kinds=("ship_notice",))
        try:
            await pull.poll_once()
            assert await pull.mark_exported() == 0, "journaled is not delivered"
            assert odoo.records("stock.picking", [["id", "=", d.picking]])[0]["x_edi_exported"] is False
            mid = _messages(journal)[0]["id"]
            ids = await journal.store_translation(
                mid, partner="acme", standard="x12", sinks=["partner:acme"], documents=[_doc()]
            )
            assert await pull.mark_exported() == 0, "queued is not delivered"
            await journal.delivery_succeeded(ids[0])
            assert await pull.mark_exported() == 1
            assert await pull.mark_exported() == 0
        finally:
            await transport.aclose()

    asyncio.run(main())
    assert odoo.records("stock.picking", [["id", "=", d.picking]])[0]["x_edi_exported"] is True
    journal.close()


def _doc():
    from gateway.journal import DocumentRecord

    return DocumentRecord(idempotency_key="out:acme:1", document_type="ship_notice", envelope_json="{}")


def test_odoo_down_raises_and_moves_nothing(tmp_path: Path) -> None:
    odoo = OdooStandin().start()
    port = odoo.port
    odoo.stop()
    journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))

    async def main() -> None:
        transport = OdooRpcTransport(
            OdooRpcSettings(
                host="127.0.0.1",
                port=port,
                database="edi",
                login="gateway",
                secret="s3cret",
                use_tls=False,
                timeout=2,
            )
        )
        pull = OdooPull(transport, journal, PullSettings(partner_refs={"ACME01": "acme"}))
        try:
            with pytest.raises(DeliveryError, match=r"cannot reach Odoo|connection"):
                await pull.poll_once()
        finally:
            await transport.aclose()

    asyncio.run(main())
    assert _messages(journal) == []
    assert journal.read_sync(pull_status)["cursors"] == {}
    journal.close()
