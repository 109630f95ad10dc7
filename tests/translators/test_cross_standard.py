"""One business document, two standards: X12 and EDIFACT must read back alike.

Each test writes the same canonical document as an X12 transaction set (with
the X12 maps' ``from_canonical`` and ``write_interchange``) and as an
EDIFACT message (with the EDIFACT maps' ``from_canonical`` and the core
writer's ``render_segment``), reads both byte streams back with the real
readers and maps, and compares the canonical JSON.  Codes the models keep
"as sent" (party roles, qualifiers) are written verbatim by both sides, so
the documents below use codes that are meaningful in both standards.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from translators.edifact.maps import from_canonical as edifact_from_canonical
from translators.edifact.maps import to_canonical as edifact_to_canonical
from translators.edifact.reader import EdifactReader
from translators.edifact.syntax import NEED_DATA as EDIFACT_NEED_DATA
from translators.edifact.syntax import Delimiters, Message
from translators.edifact.writer import render_segment
from translators.models import DOCUMENT_MODELS, MappedDocument
from translators.options import ControlNumbers, TranslatorOptions
from translators.x12 import write_interchange
from translators.x12.maps import from_canonical as x12_from_canonical
from translators.x12.maps import to_canonical as x12_to_canonical
from translators.x12.reader import X12Reader
from translators.x12.syntax import NEED_DATA as X12_NEED_DATA
from translators.x12.syntax import TransactionSet

NOW = dt.datetime(2026, 11, 29, 10, 25, tzinfo=dt.UTC)


def via_x12(document_type: str, doc: dict[str, Any]) -> MappedDocument:
    segments = x12_from_canonical(document_type, doc, control="0001")
    data = write_interchange(
        [list(segments)],
        sender=("ZZ", "WAREHOUSE"),
        receiver=("ZZ", "PARTNER"),
        control_numbers=ControlNumbers(),
        version="004010",
        now=NOW,
    )
    reader = X12Reader()
    reader.receive_data(data)
    reader.receive_data(b"")
    sets: list[TransactionSet] = []
    while (event := reader.next_event()) is not X12_NEED_DATA:
        if isinstance(event, TransactionSet):
            sets.append(event)
    assert len(sets) == 1
    return x12_to_canonical(sets[0], TranslatorOptions())


def via_edifact(document_type: str, doc: dict[str, Any]) -> MappedDocument:
    segments = edifact_from_canonical(document_type, doc, control="1", association="EAN005")
    d = Delimiters()
    text = d.una() + render_segment(
        ("UNB", ("UNOC", "3"), ("WAREHOUSE", "14"), ("PARTNER", "14"), ("261129", "1025"), "7"), d
    )
    text += "".join(render_segment(s, d) for s in segments) + render_segment(("UNZ", "1", "7"), d)
    reader = EdifactReader()
    reader.receive_data(text.encode("latin-1"))
    reader.receive_data(b"")
    msgs: list[Message] = []
    while (event := reader.next_event()) is not EDIFACT_NEED_DATA:
        if isinstance(event, Message):
            msgs.append(event)
    assert len(msgs) == 1
    result = edifact_to_canonical(msgs[0], TranslatorOptions())
    assert result is not None
    return result


def canonical(result: MappedDocument) -> dict[str, Any]:
    model = DOCUMENT_MODELS[result.document_type]
    dumped: dict[str, Any] = model.model_validate(result.document).model_dump(mode="json", exclude_none=True)
    return dumped


def assert_same_business_document(document_type: str, doc: dict[str, Any]) -> None:
    x12 = via_x12(document_type, doc)
    edi = via_edifact(document_type, doc)
    assert x12.document_type == edi.document_type == document_type
    expected = canonical(MappedDocument(document_type, "", doc))
    assert canonical(edi) == expected
    assert canonical(x12) == canonical(edi)


def ship_notice() -> dict[str, Any]:
    """Pick and pack: one order, a pallet with two SSCC-labelled cartons."""
    return {
        "shipment_id": "ASN-20261129-1",
        "shipment_date": "2026-11-29",
        "shipment_time": "10:25",
        "parties": [
            {"role": "ST", "id": "4012345000016", "id_qualifier": "UL", "name": "DC North"},
            {"role": "SF", "id": "4012345000009", "id_qualifier": "UL", "name": "Warehouse One"},
        ],
        "orders": [
            {
                "order_number": "PO-778",
                "tares": [
                    {
                        "sscc": "340123450000000017",
                        "packs": [
                            {
                                "sscc": "340123450000000024",
                                "items": [
                                    {
                                        "product": {"gtin": "04012345000011", "vendor_part": "V-1"},
                                        "quantity": "12",
                                        "unit": "EA",
                                    },
                                ],
                            },
                            {
                                "sscc": "340123450000000031",
                                "items": [
                                    {"product": {"gtin": "04012345000028"}, "quantity": "6", "unit": "EA"},
                                ],
                            },
                        ],
                    }
                ],
            }
        ],
    }


def ship_notice_two_orders() -> dict[str, Any]:
    """Pick and pack for two purchase orders in one shipment (S/O/P/I twice)."""
    doc = ship_notice()
    doc["orders"].append(
        {
            "order_number": "PO-779",
            "packs": [
                {
                    "sscc": "340123450000000048",
                    "items": [{"product": {"gtin": "04012345000035"}, "quantity": "3", "unit": "EA"}],
                }
            ],
        }
    )
    return doc


def invoice() -> dict[str, Any]:
    return {
        "invoice_number": "INV-5501",
        "invoice_date": "2026-11-29",
        "order_number": "PO-778",
        "currency": "EUR",
        "parties": [
            {"role": "BY", "id": "4012345000016", "id_qualifier": "UL", "name": "Buyer GmbH"},
            {"role": "SE", "id": "4012345000009", "id_qualifier": "UL", "name": "Warehouse One"},
        ],
        "lines": [
            {
                "line_number": "1",
                "product": {"gtin": "04012345000011"},
                "quantity": "12",
                "unit": "EA",
                "unit_price": "2.50",
            },
            {
                "line_number": "2",
                "product": {"vendor_part": "V-2"},
                "quantity": "6",
                "unit": "EA",
                "unit_price": "4.00",
            },
        ],
        "totals": {"amount": "54.00"},
    }


def purchase_order() -> dict[str, Any]:
    return {
        "order_number": "PO-778",
        "order_date": "2026-11-20",
        "parties": [
            {"role": "BY", "id": "4012345000016", "id_qualifier": "UL", "name": "Buyer GmbH"},
            {"role": "ST", "id": "4012345000023", "id_qualifier": "UL", "name": "Store 7"},
        ],
        "lines": [
            {
                "line_number": "1",
                "product": {"gtin": "04012345000011", "buyer_part": "B-1"},
                "quantity": "24",
                "unit": "EA",
                "unit_price": "2.50",
                # a kit component: X12 SLN, EDIFACT sub-line LIN (C829)
                "sublines": [
                    {
                        "line_number": "1.1",
                        "relationship": "I",
                        "product": {"gtin": "04012345000028"},
                        "quantity": "2",
                        "unit": "EA",
                        "unit_price": "1.00",
                    }
                ],
            },
        ],
    }


def order_response() -> dict[str, Any]:
    return {
        "purpose": "00",
        "acknowledgment_type": "AC",
        "order_number": "PO-778",
        "order_date": "2026-11-20",
        "response_date": "2026-11-21",
        "parties": [{"role": "BY", "id": "4012345000016", "id_qualifier": "UL", "name": "Buyer GmbH"}],
        "lines": [
            {
                "line_number": "1",
                "product": {"gtin": "04012345000011"},
                "quantity": "24",
                "unit": "EA",
                "unit_price": "2.50",
                "statuses": [
                    {
                        "status": "IA",
                        "quantity": "24",
                        "unit": "EA",
                        "scheduled": [{"qualifier": "068", "date": "2026-12-03"}],
                    }
                ],
            },
            {
                "line_number": "2",
                "product": {"vendor_part": "V-2"},
                "quantity": "5",
                "unit": "EA",
                "statuses": [{"status": "IR", "quantity": "5", "unit": "EA"}],
            },
        ],
    }


def inventory_advice() -> dict[str, Any]:
    return {
        "report_number": "INV-1",
        "report_date": "2026-11-29",
        "items": [
            {
                "line_number": "1",
                "product": {"gtin": "04012345000011"},
                "quantities": [{"qualifier": "33", "quantity": "120", "unit": "EA"}],
            }
        ],
    }


def test_ship_notice_856_and_desadv_read_back_alike() -> None:
    assert_same_business_document("ship_notice", ship_notice())


def test_ship_notice_with_two_orders_856_and_desadv_read_back_alike() -> None:
    assert_same_business_document("ship_notice", ship_notice_two_orders())


def test_invoice_810_and_invoic_read_back_alike() -> None:
    assert_same_business_document("invoice", invoice())


def test_purchase_order_850_and_orders_read_back_alike() -> None:
    assert_same_business_document("purchase_order", purchase_order())


def test_order_response_855_and_ordrsp_read_back_alike() -> None:
    assert_same_business_document("order_response", order_response())


def test_inventory_advice_846_and_invrpt_read_back_alike() -> None:
    assert_same_business_document("inventory_advice", inventory_advice())
