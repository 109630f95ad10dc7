"""Outbound translation: canonical document + profile → partner EDI, control numbers, ack tracking."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest

import partners
from gateway import acktrack
from gateway.journal import Intake, Journal, JournalOptions
from gateway.outbound import OutboundNumbers, OutboundProcessor, outbound_message, render_outbound
from tests.support import odoo_outbound as ob
from translators import LocalTranslationError, translate

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
ASN = {
    "purpose": "00",
    "shipment_id": "WH/OUT/00042",
    "shipment_date": "2026-11-29",
    "shipment_time": "09:00",
    "orders": [
        {
            "order_number": "PO-42",
            "items": [
                {"line_number": "1", "product": {"gtin": "00012345678905"}, "quantity": "3", "unit": "EA"}
            ],
        }
    ],
}
INVOICE = {
    "invoice_number": "INV/2026/00042",
    "invoice_date": "2026-11-29",
    "order_number": "PO-42",
    "lines": [
        {
            "line_number": "1",
            "product": {"vendor_part": "SKU-1"},
            "quantity": "3",
            "unit": "EA",
            "unit_price": "1.25",
        }
    ],
    "totals": {"amount": "3.75"},
}


@pytest.fixture
def registry(tmp_path: Path):
    folder = tmp_path / "partners.d"
    folder.mkdir()
    drop = f'[delivery]\ntransport = "directory"\npath = "{tmp_path / "drop"}"\n'
    (folder / "acme.toml").write_text(ob.x12_profile(delivery=drop))
    (folder / "nord.toml").write_text(ob.edifact_profile(delivery=drop))
    (folder / "bare.toml").write_text('id = "bare"\nname = "No outbound documents"\n')
    reg, errors = partners.load_registry(folder)
    assert errors == []
    return reg


def test_x12_856_carries_the_profiles_envelope_ids_and_our_control_numbers(registry) -> None:
    out = render_outbound(
        registry.get("acme"),
        "ship_notice",
        ASN,
        numbers=OutboundNumbers(interchange=17, group=18, transaction=19),
        now=NOW,
    )
    assert out.standard == "x12" and out.interchange_control == "17" and out.group_control == "18"
    text = out.data.decode()
    assert text.startswith(
        "ISA*00*          *00*          *ZZ*OURWAREHOUSE   *ZZ*ACMERETAIL     *261129*1200*"
    )
    assert "*000000017*0*P*>~" in text and "GS*SH*OURWAREHOUSE*ACMERETAIL*20261129*1200*18*X*004010~" in text
    assert "ST*856*0019~" in text and text.rstrip().endswith("IEA*1*000000017~")
    back = translate(out.data)
    assert not back.errors
    assert back.documents[0].document["shipment_id"] == "WH/OUT/00042"
    assert out.file_name.startswith("acme-856-000000017-")


def test_edifact_invoic_uses_unb_reference_and_partner_ids(registry) -> None:
    out = render_outbound(
        registry.get("nord"),
        "invoice",
        INVOICE,
        numbers=OutboundNumbers(interchange=5, group=5, transaction=6),
        now=NOW,
    )
    text = out.data.decode()
    assert "UNB+UNOC:3+4000000000002:14+4000000000001:14+261129:1200+5'" in text
    assert "UNH+6+INVOIC:D:96A:UN'" in text and "UNZ+1+5'" in text
    back = translate(out.data)
    assert not back.errors and back.documents[0].document["invoice_number"] == "INV/2026/00042"


def test_a_document_the_profile_does_not_send_is_refused(registry) -> None:
    with pytest.raises(LookupError, match="declares no outbound document"):
        render_outbound(
            registry.get("bare"),
            "invoice",
            INVOICE,
            numbers=OutboundNumbers(interchange=1, group=1, transaction=1),
            now=NOW,
        )
    with pytest.raises(LocalTranslationError):
        render_outbound(
            registry.get("acme"),
            "invoice",
            {"invoice_number": "X", "lines": "not a list"},
            numbers=OutboundNumbers(interchange=1, group=1, transaction=1),
            now=NOW,
        )


def _append(journal: Journal, partner: str, kind: str, doc: dict, n: int) -> int:
    data = outbound_message(
        partner=partner, document_type=kind, document=doc, origin={"model": "stock.picking", "id": n}
    )
    result = journal.append_sync(Intake(transport="odoo", partner=partner, data=data, external_id=f"x:{n}:t"))
    return int(result.message_id)


def test_control_numbers_never_repeat_across_a_crash(tmp_path: Path, registry) -> None:
    async def run(journal: Journal, ids: list[int], crash_after_numbers: bool = False) -> list[str]:
        queued: list[int] = []
        proc = OutboundProcessor(
            journal, registry=lambda: registry, on_queued=lambda d, s, p, m: queued.append(d)
        )
        await journal._run(acktrack.ensure_schema)
        if crash_after_numbers:
            await proc._numbers("acme", "x12")  # drawn and committed, then the process "dies"
            return []
        for mid in ids:
            await proc.process(mid)
        assert len(queued) == len(ids)
        rows = journal.read_sync(
            lambda c: [json.loads(r[0]) for r in c.execute("SELECT envelope FROM documents ORDER BY id")]
        )
        return [r["interchange_control"] for r in rows]

    journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
    first = [_append(journal, "acme", "ship_notice", ASN, n) for n in range(3)]
    before = asyncio.run(run(journal, first))
    asyncio.run(run(journal, [], crash_after_numbers=True))
    journal.close()
    journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
    second = [_append(journal, "acme", "invoice", INVOICE, n) for n in range(3, 5)]
    after = asyncio.run(run(journal, second))
    journal.close()
    numbers = [int(x) for x in after]
    assert numbers == [1, 2, 3, 5, 6], "numbers after the crash skip the drawn one and never repeat"
    assert before == ["1", "2", "3"]


def test_outbound_message_for_an_unknown_or_unconfigured_partner_is_rejected_with_the_reason(
    tmp_path: Path, registry
) -> None:
    async def main() -> list[tuple]:
        journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
        proc = OutboundProcessor(
            journal,
            registry=lambda: registry,
            on_queued=lambda *a: None,
            known_sinks=lambda: frozenset({"partner:acme"}),
        )
        ids = [
            _append(journal, "ghost", "invoice", INVOICE, 1),
            _append(journal, "nord", "invoice", INVOICE, 2),
            _append(journal, "acme", "purchase_order", {"order_number": "1"}, 3),
        ]
        for mid in ids:
            assert await proc.process(mid) == []
        rows = journal.read_sync(
            lambda c: [tuple(r) for r in c.execute("SELECT state, reason FROM messages")]
        )
        journal.close()
        return rows

    rows = asyncio.run(main())
    assert [r[0] for r in rows] == ["rejected"] * 3
    assert "no partner profile 'ghost'" in rows[0][1]
    assert "nord has no [delivery] transport" in rows[1][1]
    assert "declares no outbound document for purchase_order" in rows[2][1]


def test_acks_settle_rejections_and_overdue_is_reported(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
    journal.run_sync(acktrack.ensure_schema)
    for mid, group in ((1, "7"), (2, "8")):
        item = acktrack.OutboundInterchange(
            message_id=mid,
            partner="acme",
            standard="x12",
            document_type="invoice",
            interchange_control=group,
            group_control=group,
            expect_within_hours=2,
        )
        journal.run_sync(lambda c, i=item: acktrack.record_sent(c, i, 1000.0))

    async def feed() -> None:
        r = await journal.append(Intake(transport="sftp", partner="acme", data=b"997"))
        env = {
            "document": {
                "ack_type": "997",
                "group_control_number": "000000007",
                "status": "R",
                "error_codes": ["5"],
            }
        }
        await journal.store_translation(
            int(r.message_id), partner="acme", standard="x12", sinks=[], documents=[acktrack_doc(env)]
        )

    def acktrack_doc(env: dict):
        from gateway.journal import DocumentRecord

        return DocumentRecord(
            idempotency_key="ack-1", document_type="functional_ack", envelope_json=json.dumps(env)
        )

    asyncio.run(feed())
    assert journal.run_sync(acktrack.apply_acks) == 1
    overview = journal.read_sync(lambda c: acktrack.ack_overview(c, now=1000.0 + 3 * 3600))
    journal.close()
    assert overview["counts"] == {"rejected": 1, "waiting": 1}
    assert "rejected our invoice (interchange 7): 997 status R, errors 5" in overview["rejected"][0]["reason"]
    assert [o["interchange_control"] for o in overview["overdue"]] == ["8"]


def test_flat_file_partner_gets_its_fixed_width_layout(tmp_path: Path) -> None:
    example = Path(partners.__file__).parent / "examples" / "legacy-wms.toml"
    profile, errors = partners.load_profile(example)
    assert profile is not None, errors
    order = {
        "depositor_order_number": "SO-77",
        "purchase_order_number": "PO-77",
        "lines": [{"line_number": "1", "product": {"vendor_part": "SKU-1"}, "quantity": "2", "unit": "EA"}],
    }
    out = render_outbound(
        profile,
        "warehouse_shipping_order",
        order,
        numbers=OutboundNumbers(interchange=3, group=3, transaction=1),
        now=NOW,
    )
    lines = out.data.decode("latin-1").splitlines()
    assert out.standard == "fixed" and out.file_name.endswith(".txt")
    assert lines[0].startswith("H") and "SO-77" in lines[0] and "PO-77" in lines[0]
    assert lines[1].startswith("D") and "SKU-1" in lines[1] and len(lines[1]) == 80


def test_our_documents_and_our_acks_never_share_an_interchange_number(tmp_path: Path, registry) -> None:
    async def main() -> list[int]:
        journal = Journal.open(tmp_path / "s", JournalOptions(min_free_bytes=0))
        proc = OutboundProcessor(journal, registry=lambda: registry, on_queued=lambda *a: None)
        await journal._run(acktrack.ensure_schema)
        numbers = [await journal.next_control_number("acme", "out", "ack")]  # a 997 the pipeline sent
        await proc.process(_append(journal, "acme", "ship_notice", ASN, 1))
        numbers.append(await journal.next_control_number("acme", "out", "ack"))  # the next 997
        rows = journal.read_sync(
            lambda c: [
                json.loads(r[0])["interchange_control"] for r in c.execute("SELECT envelope FROM documents")
            ]
        )
        journal.close()
        return numbers + [int(x) for x in rows]

    ack1, ack2, document = asyncio.run(main())
    assert len({ack1, ack2, document}) == 3 and ack1 < document < ack2
