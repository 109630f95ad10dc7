"""X12 <-> canonical maps: corpus files, segment accounting, round trips and partner options."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from translators.errors import LocalTranslationError, RemoteSyntaxError
from translators.models import DOCUMENT_MODELS, SCHEMA_VERSIONS, MappedDocument
from translators.options import ControlNumbers, TranslatorOptions
from translators.x12 import write_interchange
from translators.x12.maps import (
    MAPPED_SETS,
    OUTBOUND_SETS,
    MapContext,
    from_canonical,
    map_segments,
    to_canonical,
)
from translators.x12.maps import validate as validate_set
from translators.x12.maps import values as v
from translators.x12.reader import X12Reader
from translators.x12.syntax import NEED_DATA, Delimiters, TransactionSet

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "x12"


def read_sets(data: bytes) -> list[TransactionSet]:
    reader = X12Reader()
    reader.receive_data(data)
    reader.receive_data(b"")
    out: list[TransactionSet] = []
    while True:
        try:
            event = reader.next_event()
        except RemoteSyntaxError:
            continue
        if event is NEED_DATA:
            return out
        if isinstance(event, TransactionSet):
            out.append(event)


def corpus_sets(name: str) -> list[TransactionSet]:
    return read_sets((CORPUS / name).read_bytes())


def mapped(name: str) -> list[MappedDocument]:
    return [to_canonical(tx) for tx in corpus_sets(name) if tx.set_id in MAPPED_SETS]


def validated(doc: MappedDocument) -> dict[str, Any]:
    """The document after a pass through its model (defaults dropped)."""
    model = DOCUMENT_MODELS[doc.document_type].model_validate(doc.document)
    return model.model_dump(mode="json", exclude_defaults=True)


def make_tx(text: str, *, version: str = "004010", component: str = ">") -> TransactionSet:
    """A transaction set from '*'/'~' text (ST..SE), for hand-made cases."""
    segs = tuple(tuple(s.strip().split("*")) for s in text.strip().split("~") if s.strip())
    return TransactionSet(
        set_id=segs[0][1],
        control=segs[0][2],
        segments=segs,
        version=version,
        group_control="1",
        interchange_control="1",
        delimiters=Delimiters(component=component),
    )


MAPPED_FILES = [
    "node-x12__850.edi",
    "node-x12__850_fat.edi",
    "bots-plugins__850-02.x12",
    "bots-plugins__850_01.x12",
    "bots-plugins__850-004010.13.x12",
    "OopFactory-X12__850_Example1_PGWGlass.txt",
    "staedi__invoice810_po850_dual.edi",
    "stupidedi__004010_PR855_pass_1.edi",
    "bots-plugins__855-004010UCS-01.x12",
    "staedi__multi-tx-transaction-type.edi",
    "node-x12__856.edi",
    "EdiEngine__856.Crossdock.OK.edi",
    "bots-plugins__856_1.x12",
    "OopFactory-X12__856_Example4.txt",
    "stupidedi__002001_SH856_fail_1.edi",
    "stupidedi__004010_IN810_pass_1.edi",
    "EDI.Net__x12.810a.edi",
    "EdiEngine__940.OK.edi",
    "OopFactory-X12__940_simplot.txt",
    "EdiEngine__MultipleInterchangesAndGroups.edi",
    "OopFactory-X12__945_inter-americanproducts.txt",
    "stupidedi__004010_AR943_pass_1.edi",
    "stupidedi__004010_RE944_pass_1.edi",
    "OopFactory-X12__846_Example1.txt",
    "EDI.Net__214-MGCTLYST-SAMPLE.EDI",
    "staedi__ts214_ellipses_segterm.edi",
    "EDI.Net__204-MGCTLYST-SAMPLE.EDI",
    "stupidedi__004010_SM204_case_1.edi",
    "EDI.Net__990-MGCTLYST-SAMPLE.EDI",
    "staedi__ts210_80char.edi",
    "stupidedi__004010_FA997_pass_1.edi",
    "bots-plugins__997-004010VICS-01.x12",
    "staedi__simple997-multiple-interchanges.edi",
    "staedi__simple999.edi",
    "staedi__invalid999.edi",
    "pyx12__834_ls_le_ls_5010.999.txt",
    "OopFactory-X12__999_DHS_Wisconsin_Sample.txt",
]


# -- every corpus set maps, validates, and accounts for every segment --------------------------------


@pytest.mark.parametrize("name", MAPPED_FILES)
def test_corpus_maps_validate_and_keep_every_segment(name: str) -> None:
    sets = [tx for tx in corpus_sets(name) if tx.set_id in MAPPED_SETS]
    assert sets, f"no mapped transaction set in {name}"
    for tx in sets:
        ctx = MapContext(tx.set_id, component=tx.delimiters.component)
        doc, ctx = map_segments(tx.set_id, tx.segments, ctx=ctx)
        assert doc.document_type == MAPPED_SETS[tx.set_id]
        assert doc.schema_version == SCHEMA_VERSIONS[doc.document_type]
        DOCUMENT_MODELS[doc.document_type].model_validate(doc.document)
        unplaced = doc.extensions.get("unmapped_segments", [])
        # ST and SE belong to the envelope; every other segment is placed or kept verbatim.
        assert ctx.placed + len(unplaced) == len(tx.segments) - 2
        for item in unplaced:
            assert list(tx.segments[item["position"] - 1]) == item["segment"]
        for item in doc.extensions.get("unmapped_elements", []):
            seg = tx.segments[item["position"] - 1]
            assert seg[0] == item["tag"]
            assert all(seg[int(i)] == value for i, value in item["elements"].items())


def test_850_vics_sample_values() -> None:
    (doc,) = mapped("node-x12__850.edi")
    d = doc.document
    assert d["order_number"] == "08292233294"
    assert d["purpose"] == "00" and d["order_type"] == "SA"
    assert d["order_date"] == "2010-11-27"
    assert len(d["lines"]) == 6
    first = d["lines"][0]
    assert first["quantity"] == "120" and first["unit"] == "EA" and first["unit_price"] == "9.25"
    assert first["product"]["buyer_part"] == "065322-117"
    assert first["product"]["vendor_part"] == "AB3542"
    assert first["description"] == "SMALL WIDGET"
    assert first["packaging"]["pack"] == "4"
    assert [line["quantity"] for line in d["lines"]] == ["120", "220", "126", "76", "72", "696"]
    assert d["totals"] == {"line_count": 6, "amount": "13045.94"}
    ship_to = d["parties"][0]
    assert ship_to["role"] == "ST" and ship_to["id"] == "0003947268292"
    assert ship_to["address"] == {
        "lines": ["31875 SOLON RD"],
        "city": "SOLON",
        "state": "OH",
        "postal_code": "44139",
    }
    assert d["dates"] == [{"qualifier": "002", "date": "2010-12-14"}]
    # The two PKG segments have no place in the purchase order: kept verbatim with their position.
    assert doc.extensions["unmapped_segments"] == [
        {"position": 7, "segment": ["PKG", "F", "68", "", "", "PALLETIZE SHIPMENT"]},
        {"position": 8, "segment": ["PKG", "F", "66", "", "", "REGULAR"]},
    ]


def test_850_several_sets_per_group() -> None:
    docs = mapped("bots-plugins__850-02.x12")
    assert [d.document["order_number"] for d in docs] == ["12345678", "12345678", "12456777", "11223344"]
    assert [len(d.document["lines"]) for d in docs] == [5, 2, 1, 11]
    assert docs[0].document["lines"][0]["product"] == {"upc": "999999999991"}
    assert docs[3].document["totals"] == {"line_count": 11, "quantity": "2691"}
    fat = mapped("node-x12__850_fat.edi")
    assert len(fat) == 2 and all(d.document["order_number"] for d in fat)


def test_850_n9_msg_and_sublines() -> None:
    (pgw,) = mapped("OopFactory-X12__850_Example1_PGWGlass.txt")
    line2 = pgw.document["lines"][1]
    assert line2["references"] == [
        {
            "qualifier": "ZZ",
            "value": "Detail text",
            "text": ["LAMP, MAXLITE 35873, 200W,", "277V, 5000K, E39, HPE", "MODEL NO. SKO200EA250"],
        }
    ]
    assert pgw.document["purpose"] == "05" and pgw.document["currency"] == "USD"
    (assort,) = mapped("bots-plugins__850-004010.13.x12")
    line = assort.document["lines"][0]
    assert [s["product"]["upc"] for s in line["sublines"]] == ["499565910792", "499565910808"]
    assert [s["quantity"] for s in line["sublines"]] == ["4", "2"]
    assert line["sublines"][0]["description"] == "PRINTED ZIP ROBE LAVENDR S"
    tags = [u["segment"][0] for u in assort.extensions["unmapped_segments"]]
    assert tags == ["CSH", "CTP"]


def test_850_version_003010_six_digit_dates() -> None:
    docs = mapped("staedi__invoice810_po850_dual.edi")
    assert [d.document_type for d in docs] == ["invoice", "invoice", "purchase_order"]
    po = docs[2].document
    assert po["order_number"] == "S115921858"
    assert po["order_date"] == "2004-03-17"
    assert [d.document["totals"]["amount"] for d in docs[:2]] == ["2554.38", "2554.38"]


def test_855_values() -> None:
    (ack,) = mapped("stupidedi__004010_PR855_pass_1.edi")
    d = ack.document
    assert (d["order_number"], d["acknowledgment_type"], d["response_number"]) == ("1D711419", "AT", "338093")
    assert d["order_date"] == "2017-05-02" and d["response_date"] == "2017-04-25"
    assert d["lines"][0]["product"] == {"buyer_part": "C000900237"}
    assert ack.extensions["unmapped_elements"] == [{"position": 2, "tag": "BAK", "elements": {"10": "CJ"}}]
    six = mapped("bots-plugins__855-004010UCS-01.x12")
    assert len(six) == 6
    assert len(six[0].document["lines"]) == 26
    assert six[0].document["totals"] == {"line_count": 26, "weight": "39657", "weight_unit": "LB"}
    two = mapped("staedi__multi-tx-transaction-type.edi")
    assert [d.document["order_number"] for d in two] == ["ORDER1", "ORDER2"]


def test_856_pick_pack_with_sscc() -> None:
    (asn,) = mapped("EdiEngine__856.Crossdock.OK.edi")
    d = asn.document
    assert d["shipment_id"] == "000009"
    assert d["bill_of_lading"] == "000001" and d["tracking_number"] == "0000000008741"
    assert [o["order_number"] for o in d["orders"]] == ["POREF00", "POREF01"]
    packs = d["orders"][0]["packs"]
    # MAN*GM carries AI 00 + SSCC-18; the canonical SSCC is the 18 digits.
    assert [p["sscc"] for p in packs] == [
        "000715670002152360",
        "000715670002152377",
        "000715670002152384",
        "000715670002152391",
    ]
    assert all(len(p["sscc"]) == 18 for p in packs)
    assert [p["items"][0]["quantity"] for p in packs] == ["12", "12", "12", "12"]
    assert packs[1]["items"][0]["product"] == {"gtin": "0000000000831"}
    assert d["orders"][1]["packs"][0]["sscc"] == "000715670002152111"
    assert d["carriers"] == [
        {
            "id_qualifier": "2",
            "scac": "OVNT",
            "name": "OVERNITE",
            "equipment_type": "TL",
            "equipment_number": "1234567890",
        }
    ]


def test_856_standard_and_inferred_hierarchies() -> None:
    (simple,) = mapped("node-x12__856.edi")
    order = simple.document["orders"][0]
    assert order["order_number"] == "99999817" and order["order_date"] == "2011-12-05"
    assert [(i["product"]["upc"], i["quantity"]) for i in order["items"]] == [
        ("999999310145", "24"),
        ("999999311746", "6"),
    ]
    (big,) = mapped("bots-plugins__856_1.x12")
    packs = big.document["orders"][0]["packs"]
    assert len(packs) == 3
    assert sum(len(p["items"]) for p in packs) == 58
    assert packs[0]["sscc"] == "0000123456781234567892"  # 22 digits: not an AI-prefixed SSCC, kept as sent
    (no_parents,) = mapped("OopFactory-X12__856_Example4.txt")  # HL02 left empty: parents inferred
    orders = no_parents.document["orders"]
    assert len(orders) == 1 and orders[0]["order_number"] == "PO NUMBER"
    assert [i["product"]["sku"] for i in orders[0]["items"]][:2] == ["100014544", "100014545"]
    assert len(orders[0]["items"]) == 7
    first, second = mapped("stupidedi__002001_SH856_fail_1.edi")
    tares = first.document["orders"][0]["tares"]
    assert len(tares) == 3
    assert tares[0]["items"][0]["quantity"] == "1000"
    assert [p["quantity"] for p in tares[1]["items"][0]["packs"]] == ["76", "100"]
    assert [i["quantity"] for i in second.document["orders"][0]["items"]] == ["234", "25"]


def test_810_values() -> None:
    (inv,) = mapped("stupidedi__004010_IN810_pass_1.edi")
    d = inv.document
    assert d["invoice_number"] == "00237058" and d["order_number"] == "0691-0014403"
    assert d["totals"]["amount"] == "285.66"  # TDS01 is N2: 28566 -> 285.66
    assert [line["product"]["gtin"] for line in d["lines"]] == ["9781501331978", "9780316154680"]
    (ariba,) = mapped("EDI.Net__x12.810a.edi")
    a = ariba.document
    assert a["invoice_number"] == "DO091003TESTINV01" and len(a["lines"]) == 2
    assert len(a["payment_terms"]) == 5
    remit = a["parties"][1]
    assert remit["role"] == "RI" and remit["references"][0] == {"qualifier": "AP", "value": "00000-11111"}
    assert a["parties"][0]["contacts"][0]["email"] == "aaronc@musicinsurance.com"
    assert a["lines"][0]["allowances_charges"][1] == {"indicator": "C", "code": "G830", "amount": "3.00"}


def test_warehouse_sets_values() -> None:
    (order,) = mapped("EdiEngine__940.OK.edi")
    o = order.document
    assert o["depositor_order_number"] == "538686" and len(o["lines"]) == 3
    assert o["lines"][0]["lot_number"] == "19991205"
    assert o["lines"][0]["product"]["upc"] == "000100000010"
    assert o["totals"] == {
        "quantity": "56",
        "weight": "500",
        "weight_unit": "LB",
        "volume": "24",
        "volume_unit": "CF",
    }
    assert len(mapped("EdiEngine__MultipleInterchangesAndGroups.edi")) == 6
    (simplot,) = mapped("OopFactory-X12__940_simplot.txt")
    assert simplot.document["lines"][0]["product"]["gtin"] == "10071179009894"
    (advice,) = mapped("OopFactory-X12__945_inter-americanproducts.txt")
    a = advice.document
    assert a["shipment_id"] == "2144" and a["shipment_date"] == "2002-09-16"
    assert [(ln["quantity"], ln["lot_number"]) for ln in a["lines"]] == [
        ("120", "19284"),
        ("400", "82943"),
        ("400", "930345"),
    ]
    assert a["totals"]["quantity"] == "920"
    (transfer,) = mapped("stupidedi__004010_AR943_pass_1.edi")
    assert transfer.document["lines"][0]["product"] == {"vendor_part": "ITEM123"}
    (receipt,) = mapped("stupidedi__004010_RE944_pass_1.edi")
    r = receipt.document
    assert r["receipt_number"] == "WR12345" and r["lines"][0]["lot_number"] == "LOT456"
    assert r["totals"] == {"quantity": "100"}


def test_inventory_status_tender_freight_values() -> None:
    (inv,) = mapped("OopFactory-X12__846_Example1.txt")
    item = inv.document["items"][0]
    assert item["quantities"][0] == {"qualifier": "34", "quantity": "5250", "unit": "EA"}
    assert len(item["quantities"]) == 4
    (status,) = mapped("EDI.Net__214-MGCTLYST-SAMPLE.EDI")
    event = status.document["events"][0]
    assert event["status_code"] == "D1"
    assert event["date"] == {"qualifier": "AT7", "date": "2016-07-26", "time": "12:30", "time_zone": "LT"}
    assert event["location"] == {"city": "BRATTLEBORO", "state": "VT"}
    (ellipsis,) = mapped("staedi__ts214_ellipses_segterm.edi")
    assert [e["status_code"] for e in ellipsis.document["events"]] == ["AG", "AF"]
    assert ellipsis.document["events"][1]["lading_quantity"] == "5"
    (tender,) = mapped("stupidedi__004010_SM204_case_1.edi")
    stops = tender.document["stops"]
    assert [s["reason"] for s in stops] == ["LD", "UL"]
    assert [len(s["orders"]) for s in stops] == [2, 2]
    assert stops[0]["orders"][0]["purchase_order_number"] == "9999999-01"
    (catalyst,) = mapped("EDI.Net__204-MGCTLYST-SAMPLE.EDI")
    assert catalyst.document["totals"] == {"weight": "5472", "amount": "557.21", "quantity": "5472"}
    (response,) = mapped("EDI.Net__990-MGCTLYST-SAMPLE.EDI")
    assert response.document == {"shipment_id": "75027674", "scac": "SCAC", "action": "A"}
    (bill,) = mapped("staedi__ts210_80char.edi")
    b = bill.document
    assert b["amount_due"] == "124.17" and len(b["lines"]) == 3
    assert b["lines"][1]["charge"] == "-449.49" and b["lines"][2]["charge_code"] == "FUE"


def test_functional_acks() -> None:
    (fa,) = mapped("stupidedi__004010_FA997_pass_1.edi")
    assert fa.document == {
        "ack_type": "997",
        "functional_id": "AG",
        "group_control_number": "160",
        "transactions": [{"control_number": "0160", "set_id": "824", "status": "A"}],
        "status": "A",
        "transactions_included": 1,
        "transactions_received": 1,
        "transactions_accepted": 1,
    }
    rejected = mapped("staedi__simple997-multiple-interchanges.edi")
    assert len(rejected) == 3
    seg_err = rejected[0].document["transactions"][0]["segment_errors"][0]
    assert seg_err == {
        "segment_tag": "NM1",
        "position": 8,
        "error_code": "8",
        "element_errors": [{"position": 8, "element_reference": "66", "error_code": "7", "bad_value": "MI"}],
    }
    (ik,) = mapped("staedi__simple999.edi")
    txs = ik.document["transactions"]
    assert [t["status"] for t in txs] == ["A", "R", "R"]
    assert txs[1]["segment_errors"][0]["context"] == ["CLM01:123456789"]
    assert ik.document["status"] == "P" and ik.document["version"] == "005010X222"
    (broken,) = mapped("staedi__invalid999.edi")  # IK5 before AK2: kept, not guessed
    assert [u["segment"][0] for u in broken.extensions["unmapped_segments"]] == ["IK5", "IK5"]


# -- canonical -> X12 -> canonical -----------------------------------------------------------------


ROUND_TRIP_FILES = [
    ("node-x12__850.edi", "850"),
    ("bots-plugins__850-004010.13.x12", "850"),
    ("OopFactory-X12__850_Example1_PGWGlass.txt", "850"),
    ("stupidedi__004010_PR855_pass_1.edi", "855"),
    ("bots-plugins__855-004010UCS-01.x12", "855"),
    ("node-x12__856.edi", "856"),
    ("EdiEngine__856.Crossdock.OK.edi", "856"),
    ("bots-plugins__856_1.x12", "856"),
    ("stupidedi__002001_SH856_fail_1.edi", "856"),
    ("OopFactory-X12__856_Example4.txt", "856"),
    ("EDI.Net__x12.810a.edi", "810"),
    ("staedi__invoice810_po850_dual.edi", "810"),
    ("EdiEngine__940.OK.edi", "940"),
    ("OopFactory-X12__940_simplot.txt", "940"),
    ("OopFactory-X12__945_inter-americanproducts.txt", "945"),
    ("stupidedi__004010_AR943_pass_1.edi", "943"),
    ("stupidedi__004010_RE944_pass_1.edi", "944"),
    ("OopFactory-X12__846_Example1.txt", "846"),
    ("EDI.Net__214-MGCTLYST-SAMPLE.EDI", "214"),
    ("staedi__ts214_ellipses_segterm.edi", "214"),
    ("EDI.Net__204-MGCTLYST-SAMPLE.EDI", "204"),
    ("stupidedi__004010_SM204_case_1.edi", "204"),
    ("EDI.Net__990-MGCTLYST-SAMPLE.EDI", "990"),
    ("staedi__ts210_80char.edi", "210"),
    ("staedi__simple997-multiple-interchanges.edi", "997"),
    ("staedi__simple999.edi", "999"),
]


@pytest.mark.parametrize(("name", "set_id"), ROUND_TRIP_FILES)
def test_canonical_x12_canonical_round_trip(name: str, set_id: str) -> None:
    sets = [tx for tx in corpus_sets(name) if tx.set_id == set_id]
    assert sets
    for tx in sets:
        first = to_canonical(tx)
        segments = from_canonical(first.document_type, first.document, set_id=set_id, control=tx.control)
        assert segments[0][:3] == ("ST", set_id, tx.control)
        assert segments[-1] == ("SE", str(len(segments)), tx.control)
        again = to_canonical(dataclasses.replace(tx, segments=segments))
        assert validated(again) == validated(first)
        # What we write, we place entirely.
        assert "unmapped_segments" not in again.extensions


def test_round_trip_through_writer_and_reader() -> None:
    """ship notice -> 856 bytes (X12-core writer) -> reader -> ship notice."""
    (asn,) = mapped("EdiEngine__856.Crossdock.OK.edi")
    segments = from_canonical("ship_notice", asn.document, control="0042")
    data = write_interchange(
        [list(segments)],
        sender=("ZZ", "WAREHOUSE"),
        receiver=("ZZ", "RETAILER"),
        control_numbers=ControlNumbers(interchange=7, group=7),
        version="004010",
        now=dt.datetime(2026, 11, 29, 10, 30, tzinfo=dt.UTC),
    )
    (tx,) = read_sets(data)
    assert tx.set_id == "856"  # the writer numbers ST02 itself
    assert validated(to_canonical(tx)) == validated(asn)


def hand_made(document_type: str) -> dict[str, Any]:
    """Outbound documents as Odoo would hand them over (no corpus behind them)."""
    docs: dict[str, dict[str, Any]] = {
        "order_response": {
            "purpose": "00",
            "acknowledgment_type": "AC",
            "order_number": "PO-1",
            "order_date": "2026-11-20",
            "response_number": "SO-9",
            "response_date": "2026-11-21",
            "currency": "EUR",
            "parties": [{"role": "SU", "id": "4012345000009", "id_qualifier": "UL", "name": "Warehouse One"}],
            "lines": [
                {
                    "line_number": "1",
                    "product": {"gtin": "04012345000011", "buyer_part": "B-1"},
                    "quantity": "24",
                    "unit": "EA",
                    "unit_price": "2.50",
                    "statuses": [
                        {
                            "status": "IA",
                            "quantity": "20",
                            "unit": "EA",
                            "scheduled": [{"qualifier": "068", "date": "2026-11-25"}],
                        },
                        {"status": "IB", "quantity": "4", "unit": "EA"},
                    ],
                }
            ],
            "totals": {"line_count": 1, "quantity": "24"},
        },
        "warehouse_shipping_advice": {
            "status": "F",
            "depositor_order_number": "SO-9",
            "shipment_date": "2026-11-29",
            "shipment_id": "SHP-1",
            "purchase_order_number": "PO-1",
            "bill_of_lading": "BOL-7",
            "tracking_number": "1Z999",
            "carriers": [{"transport_method": "M", "scac": "ODFL", "payment_method": "PP"}],
            "parties": [
                {
                    "role": "ST",
                    "name": "Store 7",
                    "address": {
                        "lines": ["1 Main St"],
                        "city": "Gent",
                        "postal_code": "9000",
                        "country": "BE",
                    },
                }
            ],
            "lines": [
                {
                    "line_number": "1",
                    "status": "CL",
                    "quantity_ordered": "24",
                    "quantity": "24",
                    "unit": "EA",
                    "product": {"upc": "012345678905", "vendor_part": "V-1"},
                    "lot_number": "L1",
                    "sscc": ["340123450000000024"],
                    "measures": [{"kind": "weight", "qualifier": "G", "value": "12.5", "unit": "KG"}],
                },
            ],
            "totals": {"quantity": "24", "weight": "12.5", "weight_unit": "KG"},
        },
        "receiving_advice": {
            "status": "F",
            "receipt_date": "2026-11-29",
            "receipt_number": "R-1",
            "depositor_order_number": "TR-1",
            "lines": [
                {
                    "line_number": "1",
                    "quantity": "10",
                    "unit": "CA",
                    "product": {"gtin": "10012345000017"},
                    "lot_number": "L9",
                    "exceptions": [{"condition": "DM", "quantity": "1", "unit": "CA"}],
                }
            ],
            "totals": {"quantity": "10"},
        },
        "load_tender_response": {
            "scac": "ODFL",
            "shipment_id": "LOAD-1",
            "date": "2026-11-29",
            "action": "D",
            "decline_reason": "TRK",
            "references": [{"qualifier": "CN", "value": "123"}],
        },
        "shipment_status": {
            "carrier_reference": "PRO-1",
            "shipment_id": "LOAD-1",
            "scac": "ODFL",
            "references": [{"qualifier": "PO", "value": "PO-1"}],
            "events": [
                {
                    "sequence": "1",
                    "status_code": "X3",
                    "status_reason": "NS",
                    "date": {"qualifier": "AT7", "date": "2026-11-29", "time": "10:30", "time_zone": "UT"},
                    "location": {"city": "Gent", "country": "BE"},
                    "equipment_number": "TRL-9",
                },
                {
                    "sequence": "1",
                    "status_code": "AF",
                    "status_reason": "NS",
                    "date": {"qualifier": "AT7", "date": "2026-11-29", "time": "11:00"},
                },
            ],
        },
        "functional_ack": {
            "ack_type": "997",
            "functional_id": "PO",
            "group_control_number": "17",
            "status": "E",
            "transactions_included": 1,
            "transactions_received": 1,
            "transactions_accepted": 1,
            "transactions": [
                {
                    "set_id": "850",
                    "control_number": "0001",
                    "status": "E",
                    "error_codes": ["5"],
                    "segment_errors": [
                        {
                            "segment_tag": "BEG",
                            "position": 2,
                            "error_code": "8",
                            "element_errors": [
                                {
                                    "position": 5,
                                    "element_reference": "373",
                                    "error_code": "8",
                                    "bad_value": "20261340",
                                }
                            ],
                        }
                    ],
                }
            ],
        },
        "warehouse_shipping_order": {
            "status": "N",
            "depositor_order_number": "SO-9",
            "purchase_order_number": "PO-1",
            "references": [{"qualifier": "BM", "value": "BOL-7"}],
            "dates": [{"qualifier": "10", "date": "2026-12-01"}],
            "carriers": [
                {"payment_method": "PP", "transport_method": "M", "name": "BEST WAY", "scac": "ODFL"}
            ],
            "lines": [
                {
                    "line_number": "1",
                    "quantity": "24",
                    "unit": "EA",
                    "product": {"upc": "012345678905", "vendor_part": "V-1"},
                    "description": "Widget",
                }
            ],
            "totals": {"quantity": "24"},
        },
    }
    return docs[document_type]


@pytest.mark.parametrize(
    "document_type",
    [
        "order_response",
        "warehouse_shipping_advice",
        "receiving_advice",
        "load_tender_response",
        "shipment_status",
        "functional_ack",
        "warehouse_shipping_order",
    ],
)
def test_hand_made_outbound_round_trip(document_type: str) -> None:
    doc = hand_made(document_type)
    set_id = OUTBOUND_SETS[document_type]
    segments = from_canonical(document_type, doc, control="0007")
    tx = make_tx("~".join("*".join(s) for s in segments), component=">")
    back = to_canonical(tx)
    assert back.extensions == {}
    expected = (
        DOCUMENT_MODELS[document_type].model_validate(doc).model_dump(mode="json", exclude_defaults=True)
    )
    assert validated(back) == expected
    assert tx.set_id == set_id


def test_999_written_with_ik_segments() -> None:
    doc = hand_made("functional_ack") | {"ack_type": "999", "version": "005010"}
    segments = from_canonical("functional_ack", doc, set_id="999", implementation_ref="005010X231A1")
    tags = [s[0] for s in segments]
    assert tags == ["ST", "AK1", "AK2", "IK3", "IK4", "IK5", "AK9", "SE"]
    assert segments[0] == ("ST", "999", "0001", "005010X231A1")


# -- failures, options, values ----------------------------------------------------------------------


def test_set_without_its_beginning_segment_is_rejected() -> None:
    tx = make_tx("ST*850*0001~PO1*1*2*EA~SE*3*0001")
    with pytest.raises(RemoteSyntaxError) as info:
        to_canonical(tx)
    assert info.value.ack_hint == "AK3:3" and info.value.scope == "transaction"
    assert info.value.location.segment_tag == "BEG"


def test_bad_values_are_kept_raw_with_a_warning() -> None:
    tx = make_tx("ST*850*0001~BEG*00*SA*PO1**20261340~PO1*1*x2*EA~SE*4*0001")
    doc = to_canonical(tx)
    assert "order_date" not in doc.document
    assert doc.extensions["invalid_values"] == [
        {"position": 2, "tag": "BEG", "element": 5, "value": "20261340"},
        {"position": 3, "tag": "PO1", "element": 2, "value": "x2"},
    ]
    assert len(doc.warnings) == 2 and "BEG05" in doc.warnings[0]
    DOCUMENT_MODELS["purchase_order"].model_validate(doc.document)


def test_partner_options() -> None:
    text = (
        "ST*850*0001~BEG*00*SA*PO9**112926~REF*ST*0042~REF*DP*7~N1*BY*Buyer*92*B1~"
        "PO1*1*5*CT*1.5**CB*123*VA*STYLE9~SE*8*0001"
    )
    options = TranslatorOptions(
        map_options={
            "850": {
                "store_reference": "ST",
                "date_format": "MMDDYY",
                "unit_codes": {"CT": "CA"},
                "product_qualifiers": {"VA": "vendor_part"},
            }
        }
    )
    doc = to_canonical(make_tx(text), options).document
    assert doc["store_number"] == "0042"
    assert doc["references"] == [{"qualifier": "DP", "value": "7"}]
    assert doc["order_date"] == "2026-11-29"
    line = doc["lines"][0]
    assert line["unit"] == "CA"
    assert line["product"] == {"buyer_part": "123", "vendor_part": "STYLE9"}
    # Without the options the same bytes read as sent.
    plain = to_canonical(make_tx(text)).document
    assert "store_number" not in plain and plain["lines"][0]["unit"] == "CT"
    assert plain["lines"][0]["product"]["other"] == [{"qualifier": "VA", "value": "STYLE9"}]
    # The store can also come from a party's id; outbound units go back to the partner's code.
    by_party = TranslatorOptions(map_options={"850": {"store_party_role": "BY"}})
    assert to_canonical(make_tx(text), by_party).document["store_number"] == "B1"
    segments = from_canonical("purchase_order", doc, options=options)
    po1 = next(s for s in segments if s[0] == "PO1")
    assert po1[3] == "CT"
    assert ("REF", "ST", "0042") in segments
    beg = next(s for s in segments if s[0] == "BEG")
    assert beg[5] == "112926"  # the partner's date format, outbound too


def test_unknown_map_options_are_reported() -> None:
    options = TranslatorOptions(map_options={"850": {"store_refrence": "ST", "date_format": "DDMMYY"}})
    doc = to_canonical(make_tx("ST*850*0001~BEG*00*SA*PO9**20261129~SE*3*0001"), options)
    assert doc.warnings == (
        "map options for 850 not understood and ignored: store_refrence",
        "map option date_format 'DDMMYY' is not one of CCYYMMDD, YYMMDD, MMDDYY, MMDDCCYY, DDMMCCYY",
    )


def test_outbound_rejects_invalid_documents() -> None:
    with pytest.raises(LocalTranslationError):
        from_canonical("invoice", {"invoice_number": "1", "bogus": True})
    with pytest.raises(LocalTranslationError):
        from_canonical("invoice", {"invoice_number": "1"})  # TDS01 is mandatory
    with pytest.raises(LocalTranslationError):
        from_canonical("invoice", {"invoice_number": "1", "totals": {"amount": "1.234"}})  # N2
    with pytest.raises(LocalTranslationError):
        from_canonical("purchase_order", {"order_number": "1"}, set_id="856")


def test_outbound_refuses_to_drop_data() -> None:
    doc = {
        "order_number": "PO-1",
        "lines": [{"line_number": "1", "quantity": "1", "notes": [{"text": "fragile"}]}],
    }
    with pytest.raises(LocalTranslationError, match=r"purchase_order\.lines\[0\]\.notes"):
        from_canonical("purchase_order", doc)
    # the caller may accept the loss explicitly
    segments = from_canonical("purchase_order", doc, lossless=False)
    assert [s[0] for s in segments] == ["ST", "BEG", "PO1", "SE"]
    # a W12 carries the UPC and two more product ids, not four
    advice = {
        "lines": [
            {
                "product": {
                    "upc": "1",
                    "gtin": "04012345000011",
                    "sku": "S",
                    "vendor_part": "V",
                    "buyer_part": "B",
                }
            }
        ]
    }
    with pytest.raises(LocalTranslationError, match="identifiers"):
        from_canonical("warehouse_shipping_advice", advice)


def test_value_conversions() -> None:
    assert v.iso_date("20240229") == "2024-02-29"
    assert v.iso_date("20230229") is None
    assert v.iso_date("991231") == "1999-12-31" and v.iso_date("040317") == "2004-03-17"
    assert v.iso_date("112926", "MMDDYY") == "2026-11-29"
    assert v.iso_time("1230") == "12:30" and v.iso_time("142428") == "14:24:28" and v.iso_time("2460") is None
    assert v.decimal(".5") == "0.5" and v.decimal("5.") == "5" and v.decimal("+7") == "7"
    assert v.decimal("1e3") == "1000" and v.decimal("abc") is None
    assert v.implied("28566", 2) == "285.66" and v.implied("-5", 2) == "-0.05" and v.implied("7", 0) == "7"
    assert v.x12_implied("285.66", 2) == "28566" and v.x12_implied("-0.05", 2) == "-5"
    with pytest.raises(ValueError, match="decimal places"):
        v.x12_implied("1.234", 2)


def _date_oracle(value: str, fmt: str | None) -> str | None:
    # datetime's reading of each layout, the century of two-digit years by the same pivot.
    layouts = {"CCYYMMDD": "%Y%m%d", "MMDDCCYY": "%m%d%Y", "DDMMCCYY": "%d%m%Y"}
    if fmt in (None, "CCYYMMDD", "YYMMDD"):
        # X12's own layouts are told apart by length, whichever of them the partner names
        fmt = {8: "CCYYMMDD", 6: "YYMMDD"}.get(len(value))
        if fmt is None:
            return None
    if not (value.isascii() and value.isdigit()):
        return None
    if fmt in ("YYMMDD", "MMDDYY"):
        if len(value) != 6:
            return None
        yy = value[:2] if fmt == "YYMMDD" else value[4:]
        century = "20" if int(yy) < v.CENTURY_PIVOT else "19"
        value = century + value if fmt == "YYMMDD" else value[:4] + century + yy
        fmt = "CCYYMMDD" if fmt == "YYMMDD" else "MMDDCCYY"
    if len(value) != 8:
        return None
    # strptime wants four-digit years from 1 up; year 0 is no date, and neither is it here.
    try:
        return dt.datetime.strptime(value, layouts[fmt]).date().isoformat()
    except ValueError:
        return None


_DATE_TEXT = st.one_of(
    st.dates().map(lambda d: d.strftime("%Y%m%d").zfill(8)),
    st.dates().map(lambda d: d.strftime("%m%d%y")),
    st.dates().map(lambda d: d.strftime("%d%m%Y").zfill(8)),
    st.text(alphabet="0123456789", min_size=0, max_size=9),
    st.text(alphabet="01239-. \xb2", min_size=0, max_size=9),
)


@given(value=_DATE_TEXT, fmt=st.sampled_from([None, *v.DATE_FORMATS]))
@settings(max_examples=3_000, deadline=None)
def test_iso_date_agrees_with_datetime(value: str, fmt: str | None) -> None:
    assert v.iso_date(value, fmt) == _date_oracle(value, fmt)
    if fmt is None:
        # the memo the validation and the maps share answers the same, hit or miss
        assert v.memo_iso_date(value) == (_date_oracle(value, None) or "")
        assert v.memo_iso_date(value) == (_date_oracle(value, None) or "")


def test_every_outbound_document_type_has_a_set() -> None:
    assert set(OUTBOUND_SETS) == set(DOCUMENT_MODELS)
    for document_type, set_id in OUTBOUND_SETS.items():
        assert MAPPED_SETS[set_id] == document_type


# -- robustness: mutated corpus sets map, validate and render without any other exception -----------


_SAMPLE_SETS = [tx for name in MAPPED_FILES for tx in corpus_sets(name) if tx.set_id in MAPPED_SETS]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(min_value=0),
    edits=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=400),
            st.integers(min_value=0, max_value=30),
            st.sampled_from(
                ["", "0", "-1.5", "20261340", "ZZ", "x" * 90, "\x01", "1>2>3", "HL", "PO1", "99999"]
            ),
            st.sampled_from(["set", "drop", "dup", "cut"]),
        ),
        max_size=6,
    ),
)
def test_mutated_sets_never_raise_anything_else(index: int, edits: list[tuple[int, int, str, str]]) -> None:
    tx = _SAMPLE_SETS[index % len(_SAMPLE_SETS)]
    segs = [list(s) for s in tx.segments]
    for seg_no, el_no, value, op in edits:
        k = 1 + seg_no % max(1, len(segs) - 2)
        if k >= len(segs) - 1:
            continue
        if op == "drop":
            del segs[k]
        elif op == "dup":
            segs.insert(k, list(segs[k]))
        elif op == "cut":
            segs[k] = segs[k][: 1 + el_no % len(segs[k])]
        else:
            seg = segs[k]
            i = el_no % (len(seg) + 2)
            if i == 0:
                continue
            seg.extend([""] * (i + 1 - len(seg)))
            seg[i] = value
    mutated = dataclasses.replace(tx, segments=tuple(tuple(s) for s in segs))
    for error in validate_set(mutated):
        assert error.ack_hint and error.ack_hint[:3] in ("AK3", "AK4", "AK5")
    try:
        doc = to_canonical(mutated)
    except RemoteSyntaxError as exc:
        assert exc.scope == "transaction"
        return
    DOCUMENT_MODELS[doc.document_type].model_validate(doc.document)
    with contextlib.suppress(LocalTranslationError):  # refusing to render is fine; crashing is not
        from_canonical(doc.document_type, doc.document, set_id=tx.set_id)


# -- the 850's direct dispatch does what its handler table says ----------------------------------------


def _table_walk_850(segments: tuple[tuple[str, ...], ...], ctx: MapContext) -> dict[str, Any]:
    """An 850 read the generic way: context.run over purchase_order.TABLE."""
    from translators.x12.maps import purchase_order as po
    from translators.x12.maps.context import missing, run
    from translators.x12.maps.walker import finish_totals

    doc: dict[str, Any] = {"order_number": "", "lines": []}
    state = po._PO(ctx, doc)
    run(segments, po.TABLE, state, ctx)
    if not state.seen:
        raise missing("850", "BEG", "the purchase order number")
    finish_totals(state)
    if not doc["lines"]:
        del doc["lines"]
    return doc


_850_EXTRA = [
    "SLN*1**I*2*EA*3.5***UP*12345*VN*X",
    "SAC*A*C310***500**5",
    "TXI*ST*12.5*6",
    "AMT*TT*100",
    "AMT*ZZ*5",
    "NTE*GEN*HELLO",
    "N9*L1*X",
    "MSG*TEXT",
    "N2*NAME2*NAME3",
    "PER*IC*BOB*EM*a@b*TE*1*FX*2",
    "TD3*TL**123",
    "DTM*002*240115*1230",
    "DTM*002*20241399",
    "PO4*1*2*EA*PKG*G*3*LB*4*CF*1*2*3*IN*5",
    "PO4*1**EA************IN",
    "REF*ZZ*Q*DESC*EXTRA",
    "N1*BY*X*92*9*EXTRA",
    "N3*A*B*C",
    "N4*C*S*P*US*EXTRA",
    "TD5*B*2*SCAC*M*NAME******CG",
    "ITD*01*3*2*20241399*30*20240101*60*150**X**TEXT",
    "CUR*BY*USD*2",
    "FOB*PP*EXTRA",
    "CTT*3*10*5*LB*2*CF",
    "PID*F****DESC*EXTRA",
    "PO1*9*X*EA*abc**UP*1*UP*2*ZZ*3",
    "BEG*00*SA*PO9**20241399*C*EXTRA",
    "ZZZ*1",
    "MEA*PD*WT*5*LB",
]


def _850_variants() -> list[tuple[tuple[str, ...], ...]]:
    import random

    base = [tx.segments for name in MAPPED_FILES for tx in corpus_sets(name) if tx.set_id == "850"]
    rng = random.Random(850)
    out = list(base)
    for _ in range(300):
        segs = list(rng.choice(base))
        for _ in range(rng.randint(1, 6)):
            k = rng.randint(1, len(segs) - 1)
            extra = tuple(rng.choice(_850_EXTRA).split("*"))
            if rng.random() < 0.3 and 1 <= k < len(segs) - 1:
                segs[k] = extra
            else:
                segs.insert(k, extra)
        out.append(tuple(segs))
    return out


@pytest.mark.parametrize(
    "options",
    [{}, {"store_reference": "DP", "unit_codes": {"EA": "EACH"}, "store_party_role": "BY"}],
    ids=["defaults", "partner"],
)
def test_850_direct_dispatch_matches_the_table(options: dict[str, Any]) -> None:
    from translators.x12.maps import purchase_order as po

    assert set(po._DIRECT) <= set(po.TABLE)
    for segments in _850_variants():
        fast_ctx = MapContext("850", options=options)
        table_ctx = MapContext("850", options=options)
        try:
            fast = po.read(segments, fast_ctx)
        except RemoteSyntaxError as exc:
            with pytest.raises(RemoteSyntaxError, match=re.escape(str(exc))):
                _table_walk_850(segments, table_ctx)
            continue
        assert fast == _table_walk_850(segments, table_ctx)
        assert fast_ctx.extensions == table_ctx.extensions
        assert fast_ctx.warnings == table_ctx.warnings
        assert fast_ctx.placed == table_ctx.placed


def test_850_direct_codes_match_the_tag_list() -> None:
    """_code's identity tests and its lookup agree with _DIRECT_TAGS, for interned tags and others."""
    import sys

    from translators.x12.maps import purchase_order as po

    for code, tag in enumerate(po._DIRECT_TAGS):
        assert po._code(sys.intern(tag)) == code
        assert po._code("".join(list(tag))) == code  # an equal string that is not the interned one
    assert po._code("SLN") == -1


def test_product_field_table_matches_the_qualifier_dict() -> None:
    """MapContext.product_field answers as a lookup of its product_fields dict, for any qualifier."""
    import itertools
    import string

    from translators.x12.maps.context import DEFAULT_PRODUCT_QUALIFIERS

    chars = string.digits + string.ascii_uppercase + string.ascii_lowercase + "/:;<=>?@[`{"
    quals = ["", "U", "UPC", "é1", *("".join(p) for p in itertools.product(chars, repeat=2))]
    default = MapContext("850")
    partner = MapContext("850", options={"product_qualifiers": {"ZZ": "sku", "UP": "other"}})
    for qual in quals:
        assert default.product_field(qual) == DEFAULT_PRODUCT_QUALIFIERS.get(qual), qual
        assert partner.product_field(qual) == partner.product_fields.get(qual), qual
