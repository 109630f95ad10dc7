"""EDIFACT business maps: corpus files in, canonical out, and back.

Corpus files are read in place from ``shared/corpus/edifact`` (beside the
repository folder) with the real :class:`EdifactReader`; every expected value
below was read off the corpus file named in the test.  Round trips render
the outbound segments to bytes with the core writer's ``render_segment`` and
read them back with the same reader, so they exercise the whole path.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from translators.edifact.maps import (
    MAP_OPTION_KEYS,
    OUTBOUND_MESSAGES,
    from_canonical,
    to_canonical,
    validate,
)
from translators.edifact.maps.values import edi_date_to_iso, edi_decimal, edi_period_to_iso, iso_to_edi_date
from translators.edifact.reader import EdifactReader
from translators.edifact.syntax import NEED_DATA, Delimiters, Message, Segment
from translators.edifact.writer import render_segment
from translators.errors import LocalTranslationError, RemoteSyntaxError
from translators.models import DOCUMENT_MODELS, MappedDocument
from translators.options import TranslatorOptions

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "edifact"


# -- helpers ---------------------------------------------------------------------------


def read_messages(data: bytes, *, truncated: bool = False) -> list[Message]:
    """Every Message event of ``data``; ``truncated`` allows a framing error after them."""
    reader = EdifactReader(TranslatorOptions(lenient_charset=True))
    reader.receive_data(data)
    reader.receive_data(b"")
    out: list[Message] = []
    try:
        while (event := reader.next_event()) is not NEED_DATA:
            if isinstance(event, Message):
                out.append(event)
    except RemoteSyntaxError:
        if not truncated:
            raise
    return out


def corpus(name: str, *, truncated: bool = False) -> list[Message]:
    path = CORPUS / name
    if not path.exists():
        pytest.fail(f"corpus file missing: {path}")
    return read_messages(path.read_bytes(), truncated=truncated)


def mapped(msg: Message, **map_options: Any) -> MappedDocument:
    """Map one message and validate the document against its model."""
    options = TranslatorOptions(map_options={msg.type: map_options} if map_options else {})
    result = to_canonical(msg, options)
    assert result is not None, f"no map for {msg.type}"
    DOCUMENT_MODELS[result.document_type].model_validate(result.document)
    assert "extensions" not in result.document
    return result


def unmapped_tags(result: MappedDocument) -> list[str]:
    return [entry["segment"][0] for entry in result.extensions.get("unmapped_segments", [])]


def render(segments: list[Segment], d: Delimiters | None = None) -> bytes:
    """A whole interchange around one message (UNOW: UTF-8, syntax 4; default service characters)."""
    d = d or Delimiters()
    body = "".join(render_segment(s, d) for s in segments)
    head = d.una() + render_segment(
        ("UNB", ("UNOW", "4"), ("SENDER", "14"), ("RECEIVER", "14"), ("261129", "1025"), "42"), d
    )
    return (head + body + render_segment(("UNZ", "1", "42"), d)).encode("utf-8")


def message_from(segments: list[Segment], d: Delimiters | None = None) -> Message:
    msgs = read_messages(render(segments, d))
    assert len(msgs) == 1
    return msgs[0]


def body(*text: str) -> list[Segment]:
    """Segments of a synthetic message from ``TAG+a:b+c`` strings (no release characters)."""
    out: list[Segment] = []
    for t in text:
        parts = t.split("+")
        out.append(tuple([parts[0]] + [tuple(p.split(":")) if ":" in p else p for p in parts[1:]]))
    return out


def synthetic(kind: str, *text: str, version: str = "D:96A:UN") -> Message:
    ident = tuple([kind, *version.split(":")])
    segs: list[Segment] = [("UNH", "1", ident), *body(*text)]
    segs.append(("UNT", str(len(segs) + 1), "1"))
    return message_from(segs)


def normal(document_type: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The document as its model dumps it: defaults filled, so shapes compare equal."""
    model = DOCUMENT_MODELS[document_type]
    dumped: dict[str, Any] = model.model_validate(doc).model_dump(mode="json", exclude_none=True)
    return dumped


def round_trip(result: MappedDocument, **kwargs: Any) -> MappedDocument:
    """canonical -> EDIFACT segments -> bytes -> reader -> canonical."""
    segments = from_canonical(result.document_type, result.document, control="77", **kwargs)
    assert segments[0][0] == "UNH" and segments[-1] == ("UNT", str(len(segments)), "77")
    again = mapped(message_from(segments))
    assert again.document_type == result.document_type
    return again


def assert_round_trip(result: MappedDocument, **kwargs: Any) -> None:
    again = round_trip(result, **kwargs)
    assert normal(again.document_type, again.document) == normal(result.document_type, result.document)
    # Everything the writer produced is placed again: nothing lands in extensions.
    assert again.extensions == {}
    assert again.warnings == ()


# -- value conversions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        ("20160726", "102", ("2016-07-26", None)),
        ("201508030000", "203", ("2015-08-03", "00:00")),
        ("20150803231559", "204", ("2015-08-03", "23:15:59")),
        ("990802", "101", ("1999-08-02", None)),
        ("0105022200", "201", ("2001-05-02", "22:00")),
        ("1430", "401", (None, "14:30")),
        ("19999715", "102", None),  # staedi D93A invoice: month 97
        ("199910060000", "102", None),  # pydifact invoice: 203 value labelled 102
        ("2015080", "102", None),
        ("20150803", "999", None),
    ],
)
def test_edi_dates_to_iso(value: str, fmt: str, expected: tuple[str | None, str | None] | None) -> None:
    assert edi_date_to_iso(value, fmt) == expected


def test_period_and_outbound_dates() -> None:
    assert edi_period_to_iso("20240101-20240131") == "2024-01-01/2024-01-31"
    assert edi_period_to_iso("20240101") is None
    assert iso_to_edi_date("2024-01-31", None) == ("20240131", "102")
    assert iso_to_edi_date("2024-01-31", "08:05") == ("202401310805", "203")
    assert iso_to_edi_date("2024-01-31", "08:05:09") == ("20240131080509", "204")
    with pytest.raises(ValueError):
        iso_to_edi_date("31/01/2024", None)


@pytest.mark.parametrize(
    ("value", "mark", "expected"),
    [
        ("19,9", ",", "19.9"),
        ("12.80", ".", "12.80"),
        (",5", ",", "0.5"),
        ("-.5", ".", "-0.5"),
        ("5.", ".", "5"),
        ("7,5", ".", "7.5"),
    ],
)
def test_decimals_use_point(value: str, mark: str, expected: str) -> None:
    assert edi_decimal(value, mark) == expected


# -- ORDERS ----------------------------------------------------------------------------


def test_orders_pydifact_eancom_d96a() -> None:
    # UNA with decimal comma and no UNZ (the file is truncated upstream).
    [msg] = corpus("pydifact__order.edi", truncated=True)
    result = mapped(msg)
    doc = result.document
    assert result.document_type == "purchase_order"
    assert doc["order_number"] == "801715918011"
    # 1001 '220' (order) only restates the message type: not copied
    assert "order_type" not in doc
    assert (doc["purpose"], doc["order_date"]) == ("9", "2015-08-03")
    assert {"qualifier": "2", "date": "2015-08-06", "time": "00:00"} in doc["dates"]
    assert [(p["role"], p["id"], p["id_qualifier"]) for p in doc["parties"]] == [
        ("SU", "5020436000004", "9"),
        ("BY", "8711576000012", "9"),
        ("DP", "8711576100019", "9"),
    ]
    assert doc["references"] == [{"qualifier": "PD", "value": "50515"}]
    assert [(ln["line_number"], ln["product"]["gtin"], ln["quantity"]) for ln in doc["lines"]] == [
        ("1", "5020436373085", "8"),
        ("2", "5020436373108", "8"),
    ]
    assert doc["lines"][0]["references"] == [{"qualifier": "PD", "value": "99"}]
    # BGM's code list agency (::9) and 4343 'NA' have no canonical field: kept whole.
    assert unmapped_tags(result) == ["BGM"]


def test_orders_bots_24_messages() -> None:
    msgs = corpus("bots-plugins__orders02.edi")
    assert len(msgs) == 24
    results = [mapped(m) for m in msgs]
    assert all(r.document_type == "purchase_order" for r in results)
    first = results[0].document
    assert first["order_number"] == "123"
    assert first["order_date"] == "1997-09-11"
    assert [ln["quantity"] for ln in first["lines"]] == ["50", "10", "5"]
    assert [ln["product"]["gtin"] for ln in first["lines"]] == [
        "8712345004002",
        "8712345005009",
        "8712345006006",
    ]
    # message 2 has document name 50E and an ultimate consignee party
    assert results[1].document["order_type"] == "50E"
    assert [p["role"] for p in results[1].document["parties"]] == ["BY", "SU", "DP", "UC"]
    # TOD (terms of delivery) has no canonical field: kept, with its position
    tod = [e for e in results[2].extensions["unmapped_segments"] if e["segment"][0] == "TOD"]
    assert tod == [{"position": 8, "scope": "header", "segment": ["TOD", "4"]}]
    # TAX+7+ACT++++E: a header tax whose category (E) is kept with the segment
    assert results[3].document["taxes"] == [{"type_code": "ACT"}]
    assert "TAX" in unmapped_tags(results[3])


def test_orders_d96b_with_pia_imd_pri() -> None:
    [msg] = corpus("staedi__orders-with-group.edi")
    result = mapped(msg)
    doc = result.document
    assert doc["order_number"] == "C1441747"
    assert doc["order_date"] == "2001-05-02"
    assert doc["notes"] == [{"qualifier": "PUR", "text": "THIS IS AN EXAMPLE OF EDIFACT FILE."}]
    [line] = doc["lines"]
    assert line["product"] == {"gtin": "5400111864181", "buyer_part": "8641800"}
    # PRI 5125 AAA is the default price basis: not copied
    assert (line["quantity"], line["unit_price"], line.get("price_basis")) == ("288", "12.80", None)
    assert line["description"] == "WIDGETS"
    # the supplier's name came as unstructured C058 (no C080)
    assert doc["parties"][1]["name"] == "COMPANY ABC"
    # coded IMD (C/CU), the second IMD, MEA, QTY 59, SCC and PRI's extra codes are kept
    tags = unmapped_tags(result)
    for tag in ("IMD", "MEA", "SCC", "PRI"):
        assert tag in tags
    assert tags.count("IMD") == 2 and tags.count("MEA") == 2
    assert ["QTY", ["59", "12"]] in [e["segment"] for e in result.extensions["unmapped_segments"]]


def test_orders_d03b_repeated_dates_and_contacts() -> None:
    [msg] = corpus("smooks-edi-cartridge__BAD_ORDERS_D.03B_Interchange.txt")
    result = mapped(msg)
    doc = result.document
    assert doc["order_number"] == "BKOD99" and doc["order_date"] == "2005-11-07"
    # the 35 further DTM+137 are not lost
    assert [d["qualifier"] for d in doc["dates"]] == ["137"] * 35
    assert doc["parties"][1]["contacts"][0]["function"] == "AA"
    assert doc["lines"][0]["product"]["other"] == [{"qualifier": "IB", "value": "0764569104"}]
    assert [ln["notes"][0]["text"] for ln in doc["lines"]] == [
        "Lord of the Rings",
        "The Hobbit",
        "The Silmarillion",
        "The Children of Hurin",
    ]
    assert doc["totals"]["line_count"] == 4
    assert unmapped_tags(result).count("QTY") == 4  # QTY+1 (discrete quantity) is not QTY 21
    # written out and read back, the 36 dates stay 1 + 35
    again = round_trip(result)
    assert normal("purchase_order", again.document) == normal("purchase_order", doc)


def test_orders_unknown_segments_are_kept_in_place() -> None:
    msg = synthetic(
        "ORDERS",
        "BGM+220+PO-1+9",
        "DTM+137:20240105:102",
        "ZZZ+header",
        "LIN+1++4000862141404:EN",
        "QTY+21:3",
        "ZZZ+line",
        "UNS+S",
        "ZZZ+summary",
    )
    result = mapped(msg)
    assert result.extensions["unmapped_segments"] == [
        {"position": 4, "scope": "header", "segment": ["ZZZ", "header"]},
        {"position": 7, "scope": "line", "segment": ["ZZZ", "line"], "line": "1"},
        {"position": 9, "scope": "summary", "segment": ["ZZZ", "summary"]},
    ]


def test_orders_period_and_bad_date() -> None:
    msg = synthetic(
        "ORDERS",
        "BGM+220+PO-2+9",
        "DTM+137:20240105:102",
        "DTM+273:20240101-20240131:718",
        "DTM+2:20241399:102",
    )
    result = mapped(msg)
    assert result.extensions["periods"] == [
        {"qualifier": "273", "period": "2024-01-01/2024-01-31", "scope": "header"}
    ]
    assert unmapped_tags(result) == ["DTM"]
    assert len(result.warnings) == 1 and "20241399" in result.warnings[0]


# -- partner options -------------------------------------------------------------------


def test_option_keys_documented() -> None:
    assert set(MAP_OPTION_KEYS) == {
        "product_id_preference",
        "product_id_types",
        "date_formats",
        "unit_codes",
        "store_number_reference",
    }


def test_option_store_number_reference_both_ways() -> None:
    msg = synthetic("ORDERS", "BGM+220+PO-4+9", "RFF+AKX:0815", "RFF+CT:K-9", "LIN+1++4000862141404:EN")
    assert "store_number" not in mapped(msg).document
    doc = mapped(msg, store_number_reference="AKX").document
    assert (doc["store_number"], doc["contract_number"]) == ("0815", "K-9")
    with pytest.raises(LocalTranslationError, match="store_number_reference"):
        from_canonical("purchase_order", doc, control="1")
    options = TranslatorOptions(map_options={"ORDERS": {"store_number_reference": "AKX"}})
    segments = from_canonical("purchase_order", doc, control="1", options=options)
    assert ("RFF", ("AKX", "0815")) in segments
    again = to_canonical(message_from(segments), options)
    assert again is not None and again.document["store_number"] == "0815"


def test_option_product_id_preference_and_types() -> None:
    msg = synthetic("ORDERS", "BGM+220+PO-3+9", "LIN+1++123:IN", "PIA+1+456:BP+789:MF", "QTY+21:1")
    default = mapped(msg).document["lines"][0]["product"]
    assert default == {
        "buyer_part": "123",
        "other": [{"qualifier": "BP", "value": "456"}, {"qualifier": "MF", "value": "789"}],
    }
    preferred = mapped(msg, product_id_preference=["BP", "IN"], product_id_types={"MF": "sku"})
    assert preferred.document["lines"][0]["product"] == {
        "buyer_part": "456",
        "sku": "789",
        "other": [{"qualifier": "IN", "value": "123"}],
    }


def test_option_unit_codes() -> None:
    [msg] = corpus("staedi__invoic_d97b_una.edi")
    plain = mapped(msg).document
    assert [ln["unit"] for ln in plain["lines"]] == ["EA", "EA"]
    translated = mapped(msg, unit_codes={"EA": "PCE"}).document
    assert [ln["unit"] for ln in translated["lines"]] == ["PCE", "PCE"]


def test_option_date_format_override() -> None:
    # pydifact's invoice labels a CCYYMMDDHHMM value as format 102
    [msg] = corpus("pydifact__invoice1.edi")
    plain = mapped(msg)
    assert "invoice_date" not in plain.document
    assert any("199910060000" in w for w in plain.warnings)
    assert plain.document["payment_terms"] == [{"type_code": "1", "net_due_date": "1999-10-31"}]  # DTM 140
    fixed = mapped(msg, date_formats={"102": "203"})
    assert fixed.document["invoice_date"] == "1999-10-06"
    assert {"qualifier": "137", "date": "1999-10-06", "time": "00:00"} in fixed.document["dates"]


# -- DESADV ----------------------------------------------------------------------------


def test_desadv_bots_eancom_hierarchy() -> None:
    msgs = corpus("bots-plugins__desadv1.edi")
    assert len(msgs) == 3
    first = mapped(msgs[0]).document
    assert (first["shipment_id"], first["shipment_date"], first["shipment_time"]) == (
        "1923",
        "2008-09-13",
        "00:00",
    )
    assert (first["lading_quantity"], first["packaging_code"]) == ("10", "BX")
    [order] = first["orders"]
    assert order["order_number"] == "ref1234"
    assert [(i["product"]["gtin"], i["quantity"]) for i in order["items"]] == [
        ("8717755680019", "48"),
        ("8717755620071", "192"),
    ]

    second = mapped(msgs[1])
    doc = second.document
    assert doc["shipment_id"] == "DOCNUM"
    assert len(doc["measures"]) == 5 and doc["measures"][0] == {
        "kind": "weight",
        "qualifier": "AAD",
        "value": "123",
        "unit": "KGM",
    }
    packs = doc["orders"][0]["packs"]
    assert [p["sscc"] for p in packs] == ["354123450000000014"] * 3
    assert [len(p.get("items", [])) for p in packs] == [2, 0, 2]
    item = packs[0]["items"][0]
    assert item["product"] == {"gtin": "8712345678906", "vendor_part": "SUART", "buyer_part": "BYART"}
    assert (item["lot_number"], item["serial_numbers"], item["quantity"], item["quantity_ordered"]) == (
        "BATCHNUMBER",
        ["SERIALNUMBER"],
        "123",
        "123",
    )
    assert item["description"] == "DESC"
    # the batch number in GIN+BX differs from PIA's NB: kept, not overwritten
    assert ["GIN", "BX", "BATCHNUMBERPAC"] in [e["segment"] for e in second.extensions["unmapped_segments"]]
    roles = [p["role"] for p in doc["parties"]]
    assert roles == ["BY", "SU", "DP", "UC", "IV", "SF", "SH", "lsp", "mf"]
    assert doc["parties"][0]["address"] == {
        "lines": ["BYSTREET", "BYSTREET", "BYSTREET"],
        "city": "BYCITY",
        "postal_code": "1234AA",
        "country": "NL",
    }
    assert doc["parties"][0]["additional_names"] == ["BYNAME"]


def test_desadv_php_d96a_version_zero() -> None:
    [msg] = corpus("php-edifact__D96ADESADV.edi")
    result = mapped(msg)
    doc = result.document
    assert doc["shipment_id"] == "Y02197250"
    assert doc["dates"] == [{"qualifier": "11", "date": "2016-07-26"}]
    [order] = doc["orders"]
    assert order["order_number"] == "6877871"
    assert [i["product"]["other"][0]["value"] for i in order["items"]] == ["9780738507330", "9781568361871"]
    assert [i["description"] for i in order["items"]] == ["MUNCIE THE MIDDLE", "ROADS TO SATA A 2"]
    assert order["items"][1]["references"] == [
        {"qualifier": "LI", "value": "6905456"},
        {"qualifier": "ON", "value": "6905456"},
    ]


def _ship_notice() -> dict[str, Any]:
    """A pick-and-pack ship notice: one order, a pallet of two cartons, and a loose carton."""
    item = {
        "line_number": "1",
        "product": {"gtin": "04012345000011", "vendor_part": "V-1", "buyer_part": "B-1"},
        "description": "Widget, blue",
        "quantity": "12",
        "unit": "PCE",
        "quantity_ordered": "24",
        "unit_ordered": "PCE",
        "lot_number": "LOT7",
        "expiry_date": "2027-01-31",
    }
    return {
        "purpose": "9",
        "shipment_id": "ASN-1001",
        "shipment_date": "2026-11-29",
        "shipment_time": "10:25",
        "bill_of_lading": "BOL-55",
        "dates": [{"qualifier": "11", "date": "2026-11-29"}, {"qualifier": "17", "date": "2026-12-01"}],
        "references": [{"qualifier": "AAK", "value": "DN-9"}],
        "parties": [
            {"role": "SU", "id": "4012345000009", "id_qualifier": "9"},
            {
                "role": "DP",
                "id": "4012345000016",
                "id_qualifier": "9",
                "name": "DC North",
                "address": {
                    "lines": ["1 Dock Road"],
                    "city": "Hamburg",
                    "postal_code": "20457",
                    "country": "DE",
                },
            },
        ],
        "carriers": [{"scac": "DHLX", "name": "DHL Freight", "transport_method": "30"}],
        "packaging_code": "CT",
        "lading_quantity": "3",
        "measures": [{"kind": "weight", "qualifier": "AAD", "value": "41.5", "unit": "KGM"}],
        "orders": [
            {
                "order_number": "PO-778",
                "order_date": "2026-11-20",
                "tares": [
                    {
                        "sscc": "340123450000000017",
                        "packaging_code": "201",
                        "packs": [
                            {"sscc": "340123450000000024", "packaging_code": "CT", "items": [item]},
                            {
                                "sscc": "340123450000000031",
                                "packaging_code": "CT",
                                "items": [
                                    {
                                        **item,
                                        "line_number": "2",
                                        "product": {"gtin": "04012345000028"},
                                        "lot_number": None,
                                        "expiry_date": None,
                                        "serial_numbers": ["S1", "S2"],
                                    }
                                ],
                            },
                        ],
                    }
                ],
                "packs": [
                    {
                        "sscc": "340123450000000048",
                        "packaging_code": "CT",
                        "lading_quantity": "1",
                        "measures": [{"kind": "weight", "qualifier": "AAB", "value": "2.5", "unit": "KGM"}],
                        "marks": [{"qualifier": "AW", "value": "MARK-1"}],
                        "items": [
                            {
                                "line_number": "3",
                                "product": {"gtin": "04012345000035"},
                                "quantity": "1",
                                "packs": [{"sscc": "340123450000000048"}],
                            }
                        ],
                    },
                ],
            }
        ],
        "totals": {"line_count": 3, "quantity": "25"},
    }


def test_desadv_from_canonical_hierarchy_round_trip() -> None:
    doc = _ship_notice()
    segments = from_canonical("ship_notice", doc, control="5", association="EAN005")
    assert segments[0] == ("UNH", "5", ("DESADV", "D", "96A", "UN", "EAN005"))
    assert segments[-1] == ("UNT", str(len(segments)), "5")
    cps = [s for s in segments if s[0] == "CPS"]
    # root consignment, pallet under it, two cartons under the pallet, a loose carton
    assert cps == [("CPS", "1"), ("CPS", "2", "1"), ("CPS", "3", "2"), ("CPS", "4", "2"), ("CPS", "5", "1")]
    gin = [s for s in segments if s[0] == "GIN" and s[1] == "BJ"]
    assert [g[2] for g in gin] == [
        "340123450000000017",
        "340123450000000024",
        "340123450000000031",
        "340123450000000048",
        "340123450000000048",
    ]
    again = mapped(message_from(segments))
    assert normal("ship_notice", again.document) == normal("ship_notice", doc)
    assert again.extensions == {} and again.warnings == ()


def test_every_outbound_corpus_message_round_trips() -> None:
    """Each corpus message of a type we also write: mapped, written, read back, equal."""
    count = 0
    for path in sorted(CORPUS.iterdir()):
        try:
            msgs = read_messages(path.read_bytes(), truncated=True)
        except RemoteSyntaxError:
            continue
        for msg in msgs:
            if msg.type not in OUTBOUND_MESSAGES.values():
                continue
            result = to_canonical(msg, TranslatorOptions())
            assert result is not None
            again = round_trip(result)
            assert normal(result.document_type, again.document) == normal(
                result.document_type, result.document
            ), (
                path.name,
                msg.reference,
            )
            count += 1
    assert count >= 40


def test_desadv_round_trip_of_corpus_messages() -> None:
    for msg in corpus("bots-plugins__desadv1.edi")[:1]:
        assert_round_trip(mapped(msg))
    assert_round_trip(mapped(corpus("php-edifact__D96ADESADV.edi")[0]))


def test_desadv_several_orders_use_line_references() -> None:
    doc = _ship_notice()
    first = doc["orders"][0]
    first.pop("order_date")
    doc["orders"].append(
        {
            "order_number": "PO-779",
            "items": [{"line_number": "1", "product": {"gtin": "04012345000042"}, "quantity": "5"}],
        }
    )
    segments = from_canonical("ship_notice", doc, control="6")
    # no header order number; every LIN group names its order
    header = segments[: next(i for i, s in enumerate(segments) if s[0] == "CPS")]
    assert ("RFF", ("ON", "PO-778")) not in header
    refs = [s[1] for s in segments if s[0] == "RFF"]
    assert [r[1] for r in refs if isinstance(r, tuple) and r[0] == "ON"] == ["PO-778"] * 3 + ["PO-779"]
    again = mapped(message_from(segments))
    assert [o["order_number"] for o in again.document["orders"]] == ["PO-778", "PO-779"]
    assert normal("ship_notice", again.document) == normal("ship_notice", doc)
    assert again.extensions == {}


def test_desadv_mixed_pallet_stays_one_order() -> None:
    msg = synthetic(
        "DESADV",
        "BGM+351+D-1+9",
        "DTM+137:20240105:102",
        "CPS+1",
        "CPS+2+1",
        "PAC+1+3+201",
        "LIN+1++4000862141404:EN",
        "QTY+12:1",
        "RFF+ON:A",
        "LIN+2++4000862141411:EN",
        "QTY+12:1",
        "RFF+ON:B",
    )
    doc = mapped(msg).document
    [order] = doc["orders"]  # items of two orders on one pallet: not split
    assert "order_number" not in order
    assert [[r["value"] for r in i["references"]] for i in order["tares"][0]["items"]] == [["A"], ["B"]]


def test_desadv_refuses_what_it_cannot_carry() -> None:
    doc = _ship_notice()
    doc["structure_code"] = "0001"
    with pytest.raises(LocalTranslationError, match="structure_code"):
        from_canonical("ship_notice", doc, control="1")
    doc = _ship_notice()
    doc["orders"].append({"order_number": "PO-779", "order_date": "2026-11-21"})
    with pytest.raises(LocalTranslationError, match="order_date"):
        from_canonical("ship_notice", doc, control="1")
    doc = _ship_notice()
    doc["orders"][0]["parties"] = [{"role": "BY", "id": "1"}]
    with pytest.raises(LocalTranslationError, match="parties"):
        from_canonical("ship_notice", doc, control="1")


# -- INVOIC ----------------------------------------------------------------------------


def test_invoic_bots_eancom_d96a() -> None:
    msgs = corpus("bots-plugins__invoic01.edi")
    result = mapped(msgs[0])
    doc = result.document
    assert (doc["invoice_number"], doc["invoice_date"]) == ("20051098", "2005-08-29")
    assert "transaction_type" not in doc  # 380 commercial invoice is implied by INVOIC
    assert doc["order_number"] == "4500094576"
    assert doc["currency"] == "EUR"
    assert [p["role"] for p in doc["parties"]] == ["IV", "BY", "DP", "UC", "SU"]
    assert doc["parties"][0]["references"] == [{"qualifier": "VA", "value": "NL00XXXXXXXXXXXX"}]
    assert doc["payment_terms"][0] == {
        "type_code": "22",
        "basis_date_code": "5",
        "net_days": 30,
        "discount_percent": "5",
    }
    assert doc["allowances_charges"] == [
        {"indicator": "A", "code": "ABH", "amount": "600"},
        {"indicator": "C", "code": "ADO", "amount": "250"},
    ]
    assert len(doc["lines"]) == 3
    line = doc["lines"][0]
    assert (line["quantity"], line["amount"], line["unit_price"], line["price_basis"]) == (
        "2",
        "13",
        "6.5",
        "INV",
    )
    assert [a["amount"] for a in line["allowances_charges"]] == ["70", "50", "100"]
    assert doc["lines"][2]["allowances_charges"][0]["amount"] == "-75"
    assert doc["totals"]["amount"] == "286.2"
    assert doc["totals"]["amounts"] == [
        {"qualifier": "129", "value": "240.5"},
        {"qualifier": "176", "value": "45.7"},
        {"qualifier": "79", "value": "240.5"},
    ]
    assert [(t.get("percent"), t["amount"]) for t in doc["taxes"]] == [
        ("19", "11.11"),
        ("6", "22.2"),
        ("0", "33.3"),
        (None, "44.4"),
    ]
    # the taxable amounts (MOA 125) belong to their TAX group and have no field: kept
    kept = [e["segment"] for e in result.extensions["unmapped_segments"]]
    assert ["MOA", ["125", "1111.11"]] in kept
    assert ["QTY", ["12", "2"]] in kept


def test_invoic_d93a_decimal_comma() -> None:
    [msg] = corpus("staedi__invoic_d93a_una.edi")
    result = mapped(msg)
    doc = result.document
    assert doc["invoice_number"] == "9908001"
    assert doc["invoice_date"] == "1999-08-02"  # DTM 3 (invoice date) in D93A
    assert [ln["unit_price"] for ln in doc["lines"]] == ["750", "19.9", "2.5"]
    assert [ln["description"] for ln in doc["lines"]] == [
        "Fahrrad, Damen",
        "Luftpumpe, Stand-",
        "Ersatzventil",
    ]
    assert doc["parties"][0]["name"] == "Fahrradhandel Pedal"
    assert doc["parties"][0]["address"]["city"] == "München"
    assert {"qualifier": "79", "value": "777.4"} in doc["totals"]["amounts"]
    assert any("19999715" in w for w in result.warnings)


def test_invoic_d03b_and_d97b() -> None:
    [d03b] = corpus("smooks-edi-cartridge__INVOIC_D.03B_Interchange_with_UNA.txt")
    doc = mapped(d03b).document
    assert doc["invoice_number"] == "539602"
    assert (
        doc["lines"][0]["description"]
        == "Collectors edition of The Hobbit with Tolkien's original colours on sleeve"
    )
    assert doc["totals"]["amount"] == "362"
    [d97b] = corpus("staedi__invoic_d97b_una.edi")
    doc = mapped(d97b).document
    assert (doc["invoice_number"], doc["currency"], doc["totals"]["amount"]) == ("342459", "USD", "2137.58")
    # summary ALC+C (with its allowance number ABG kept) and MOA 8
    assert doc["allowances_charges"] == [{"indicator": "C", "amount": "525"}]
    assert [(ln["product"]["buyer_part"], ln["quantity"], ln["amount"]) for ln in doc["lines"]] == [
        ("157870", "1020", "1202.58"),
        ("157871", "20", "410"),
    ]


def test_invoic_round_trip_of_corpus_messages() -> None:
    for msg in corpus("bots-plugins__invoic01.edi"):
        result = mapped(msg)
        again = round_trip(result)
        assert normal("invoice", again.document) == normal("invoice", result.document)
    assert_round_trip(mapped(corpus("staedi__invoic_d97b_una.edi")[0]))


# -- ORDRSP ----------------------------------------------------------------------------


def test_ordrsp_d10a_one_line() -> None:
    [msg] = corpus("EDI.Net__edifact.ORDRSP.edi")
    result = mapped(msg)
    doc = result.document
    assert result.document_type == "order_response"
    assert doc["response_number"] == "IM20U000000000CNF"
    assert doc["response_date"] == "2016-03-21"
    assert doc["order_number"] == "00001672"
    assert doc["order_date"] == "2015-10-23"
    assert doc["currency"] == "EUR"
    [line] = doc["lines"]
    assert line["product"] == {"other": [{"qualifier": "Z01", "value": "9900010000649"}]}
    assert (line["unit_price"], line["price_basis"]) == ("50.5", "CAL")
    assert doc["parties"][0]["contacts"] == [
        {
            "function": "IC",
            "name": "Spiderman, Clack",
            "phone": "+49 123 45678 8652",
            "email": "marktpartner@something.de",
        },
    ]
    assert "BGM" in unmapped_tags(result)  # document name Z12 is not 231


def test_ordrsp_from_canonical_statuses_round_trip() -> None:
    doc: dict[str, Any] = {
        "purpose": "4",
        "acknowledgment_type": "AC",
        "order_number": "PO-778",
        "order_date": "2026-11-20",
        "response_number": "SO-12",
        "response_date": "2026-11-21",
        "parties": [{"role": "BY", "id": "4012345000009", "id_qualifier": "9"}],
        "lines": [
            {
                "line_number": "1",
                "product": {"gtin": "04012345000011"},
                "quantity": "24",
                "unit": "PCE",
                "unit_price": "3.10",
                "price_basis": "AAB",
                "statuses": [
                    {
                        "status": "3",
                        "quantity": "20",
                        "unit": "PCE",
                        "scheduled": [{"qualifier": "2", "date": "2026-12-03"}],
                    }
                ],
            },
            {
                "line_number": "2",
                "product": {"vendor_part": "V-2"},
                "quantity": "5",
                "statuses": [{"status": "5"}],
            },
            {
                "line_number": "3",
                "product": {"gtin": "04012345000028"},
                "quantity": "1",
                "dates": [{"qualifier": "2", "date": "2026-12-04"}],
            },
        ],
        "totals": {"line_count": 3},
    }
    segments = from_canonical("order_response", doc, control="9", directory="D01B", association="EAN008")
    assert segments[0] == ("UNH", "9", ("ORDRSP", "D", "01B", "UN", "EAN008"))
    assert ("LIN", "1", "3", ("04012345000011", "SRV")) in segments  # EANCOM 2002 GTIN code
    again = mapped(message_from(segments))
    assert normal("order_response", again.document) == normal("order_response", doc)
    assert again.extensions == {}
    # a second status of line 1 (part back-ordered) travels as a sub-line
    doc["lines"][0]["statuses"].append(
        {
            "status": "7",
            "quantity": "4",
            "unit": "PCE",
            "scheduled": [{"qualifier": "2", "date": "2027-01-10"}],
        }
    )
    segments = from_canonical("order_response", doc, control="9")
    assert ("LIN", "1.1", "7", "", ("1", "1")) in segments
    again = mapped(message_from(segments))
    assert normal("order_response", again.document) == normal("order_response", doc)
    assert again.extensions == {}
    doc["lines"][1]["statuses"].append({"status": "7"})
    doc["lines"][1].pop("line_number")
    with pytest.raises(LocalTranslationError, match="needs a line number"):
        from_canonical("order_response", doc, control="9")


def test_ordrsp_round_trip_of_corpus_message() -> None:
    result = mapped(corpus("EDI.Net__edifact.ORDRSP.edi")[0])
    again = round_trip(result)
    assert normal("order_response", again.document) == normal("order_response", result.document)


# -- ORDERS outbound ---------------------------------------------------------------------


def test_orders_round_trip_of_corpus_messages() -> None:
    for msg in corpus("bots-plugins__orders02.edi"):
        result = mapped(msg)
        again = round_trip(result)
        assert normal("purchase_order", again.document) == normal("purchase_order", result.document)
    assert_round_trip(mapped(corpus("pydifact__order.edi", truncated=True)[0]))


def test_orders_from_canonical_full_header() -> None:
    doc = {
        "order_type": "226",  # call-off order
        "order_number": "PO-9",
        "purpose": "9",
        "order_date": "2026-11-28",
        "contract_number": "K-1",
        "currency": "EUR",
        "references": [{"qualifier": "PD", "value": "PROMO"}],
        "notes": [{"qualifier": "AAI", "text": "line one\nline two"}],
        "parties": [
            {
                "role": "BY",
                "id": "4012345000009",
                "id_qualifier": "9",
                "name": "Buyer GmbH",
                "additional_names": ["Einkauf"],
                "contacts": [
                    {
                        "function": "OC",
                        "name": "A. Buyer",
                        "phone": "+49 40 1",
                        "email": "a@b.de",
                        "other": [{"qualifier": "XF", "value": "x"}],
                    }
                ],
                "references": [{"qualifier": "VA", "value": "DE123"}],
            },
        ],
        "payment_terms": [
            {
                "type_code": "1",
                "basis_date_code": "5",
                "net_days": 30,
                "net_due_date": "2026-12-28",
                "discount_percent": "2",
            }
        ],
        "carriers": [{"scac": "DHLX", "id_qualifier": "172", "transport_method": "30"}],
        "allowances_charges": [{"indicator": "A", "code": "DI", "percent": "3", "amount": "12.00"}],
        "taxes": [{"type_code": "VAT", "percent": "19", "amount": "7.60"}],
        "lines": [
            {
                "line_number": "1",
                "product": {"gtin": "04012345000011", "upc": "012345678905", "sku": "SKU-1"},
                "description": "A description that is longer than thirty-five characters in total",
                "quantity": "2.5",
                "unit": "KGM",
                "unit_price": "4.00",
                "price_basis": "AAB",
                "dates": [{"qualifier": "2", "date": "2026-12-02", "time": "08:00"}],
                "references": [{"qualifier": "LI", "value": "9"}],
                "parties": [{"role": "DP", "id": "4012345000016", "id_qualifier": "9"}],
                "taxes": [{"type_code": "VAT", "percent": "7"}],
                "allowances_charges": [{"indicator": "C", "code": "FC", "amount": "1.50"}],
            },
        ],
        "totals": {"amount": "10.00", "line_count": 1, "quantity": "2.5"},
    }
    segments = from_canonical("purchase_order", doc, control="3")
    assert segments[1] == ("BGM", "226", "PO-9", "9")
    again = mapped(message_from(segments))
    assert normal("purchase_order", again.document) == normal("purchase_order", doc)
    assert again.extensions == {} and again.warnings == ()


def test_writer_states_the_implied_codes() -> None:
    segments = from_canonical(
        "purchase_order",
        {
            "order_number": "PO-1",
            "lines": [
                {
                    "line_number": "1",
                    "product": {"gtin": "04012345000011"},
                    "quantity": "1",
                    "unit_price": "2",
                }
            ],
        },
        control="1",
    )
    assert ("BGM", "220", "PO-1") in segments  # 1001 220 order
    assert ("PRI", ("AAA", "2")) in segments  # 5125 AAA calculation net


def test_orders_sub_lines_round_trip() -> None:
    msg = synthetic(
        "ORDERS",
        "BGM+220+PO-5+9",
        "DTM+137:20240105:102",
        "LIN+10++4000862141404:EN",
        "QTY+21:1",
        "LIN+11+I+4000862141411:EN+1:10",
        "QTY+21:2:PCE",
        "PRI+AAA:1.5",
        "PRI+AAB:2",
        "LIN+12+++1:99",
        "QTY+21:3",
    )
    result = mapped(msg)
    lines = result.document["lines"]
    assert [ln["line_number"] for ln in lines] == ["10", "12"]
    assert lines[0]["sublines"] == [
        {
            "product": {"gtin": "4000862141411"},
            "line_number": "11",
            "relationship": "I",
            "quantity": "2",
            "unit": "PCE",
            "unit_price": "1.5",
        }
    ]
    kept = [e["segment"] for e in result.extensions["unmapped_segments"]]
    # a sub-line has no price basis; a C829 naming an unknown parent stays a line
    assert ["PRI", ["AAB", "2"]] in kept and ["LIN", "12", "", "", ["1", "99"]] in kept
    again = round_trip(result)
    assert normal("purchase_order", again.document) == normal("purchase_order", result.document)


def test_from_canonical_rejects_bad_input() -> None:
    with pytest.raises(LocalTranslationError, match="no EDIFACT outbound map"):
        from_canonical("warehouse_shipping_order", {}, control="1")
    with pytest.raises(LocalTranslationError, match="does not validate"):
        from_canonical("invoice", {"invoice_number": "1", "lines": [{"quantity": "many"}]}, control="1")
    with pytest.raises(LocalTranslationError, match="description"):
        from_canonical(
            "invoice",
            {"invoice_number": "1", "references": [{"qualifier": "ON", "value": "1", "description": "x"}]},
            control="1",
        )


# -- acknowledgments ---------------------------------------------------------------------


def test_aperak_maps_to_functional_ack() -> None:
    [accepted] = corpus("pydifact__v4_aperak.edi")
    [rejected] = corpus("pydifact__v3_aperak_rejected.edi")
    ok = mapped(accepted)
    bad = mapped(rejected)
    assert ok.document_type == bad.document_type == "functional_ack"
    assert ok.document["ack_type"] == "APERAK"
    assert [t["control_number"] for t in bad.document["transactions"]] == ["PO123456"]
    assert bad.document["error_codes"] == ["12"]
    texts = bad.extensions["application_errors"]["errors"][0]["texts"]
    assert texts == ["Order rejected due to invalid product code"]


def test_unmapped_message_type_gives_none() -> None:
    msgs = corpus("php-edifact__D95BCOARRI.edi")
    assert [m.type for m in msgs] == ["COARRI"] * len(msgs) and msgs
    assert all(to_canonical(m, TranslatorOptions()) is None for m in msgs)


def test_every_corpus_message_maps_or_is_declined() -> None:
    """Whatever the corpus holds, a map either returns a valid document or None."""
    seen: set[str] = set()
    for path in sorted(CORPUS.iterdir()):
        try:
            msgs = read_messages(path.read_bytes(), truncated=True)
        except RemoteSyntaxError:
            continue
        for msg in msgs:
            result = to_canonical(msg, TranslatorOptions())
            if result is None:
                continue
            DOCUMENT_MODELS[result.document_type].model_validate(result.document)
            seen.add(msg.type)
    assert {"ORDERS", "ORDRSP", "DESADV", "INVOIC", "APERAK", "RECADV", "IFTMIN"} <= seen


def test_outbound_messages_listed() -> None:
    assert OUTBOUND_MESSAGES["ship_notice"] == "DESADV"
    assert OUTBOUND_MESSAGES["invoice"] == "INVOIC"
    assert OUTBOUND_MESSAGES["order_response"] == "ORDRSP"
    assert OUTBOUND_MESSAGES["purchase_order"] == "ORDERS"


def test_documents_are_not_shared_between_runs() -> None:
    [msg] = corpus("staedi__orders-with-group.edi")
    first = mapped(msg)
    snapshot = copy.deepcopy(first.document)
    second = mapped(msg)
    second.document["lines"][0]["quantity"] = "0"
    assert first.document == snapshot


def test_validate_clean_order() -> None:
    [msg] = corpus("staedi__orders-with-group.edi")
    assert validate(msg) == []


# -- validate ------------------------------------------------------------------------------


def test_validate_accepts_corpus_orders_and_invoices() -> None:
    for name in (
        "bots-plugins__invoic01.edi",
        "staedi__invoic_d93a_una.edi",
        "staedi__orders-with-group.edi",
    ):
        for msg in corpus(name):
            assert validate(msg) == [], name
    flagged = {m.reference: validate(m) for m in corpus("bots-plugins__orders02.edi") if validate(m)}
    # the one order without any LIN group (ALI+++NUL) is reported, nothing else
    assert list(flagged) == ["I1L0401100000T"]
    [error] = flagged["I1L0401100000T"]
    assert (error.ack_hint, error.location.segment_tag, error.scope) == ("13", "LIN", "transaction")


def test_validate_reports_missing_repeated_and_invalid() -> None:
    msg = synthetic("ORDERS", "BGM+220+PO-1+9", "BGM+220+PO-2+9", "NAD+BY+1::9", "QTY+21:12A")
    errors = validate(msg)
    summary = [(e.ack_hint, e.location.segment_tag, e.location.segment_position, e.scope) for e in errors]
    assert summary == [
        ("35", "BGM", 3, "transaction"),
        ("12", "QTY", 5, "transaction"),
        ("13", "DTM", None, "transaction"),
        ("13", "LIN", None, "transaction"),
    ]
    assert errors[0].location.transaction == "1"


def test_validate_document_date_and_number() -> None:
    msg = synthetic("DESADV", "BGM+351", "RFF+ON:1", "DTM+171:20240101:102")
    codes = [(e.ack_hint, e.location.segment_tag, e.location.element_position) for e in validate(msg)]
    assert codes == [("13", "BGM", 2), ("13", "DTM", None)]


def test_validate_ignores_unmapped_types() -> None:
    msgs = corpus("php-edifact__D95BCOARRI.edi")
    assert all(validate(m) == [] for m in msgs)


# -- RECADV, IFTSTA, INVRPT, IFTMIN ------------------------------------------------------


def test_recadv_d01b_eancom() -> None:
    [msg] = corpus("smooks-edi-cartridge__recadv.txt")
    result = mapped(msg)
    doc = result.document
    assert result.document_type == "receiving_advice"
    assert (doc["receipt_number"], doc["status"], doc["receipt_date"]) == (
        "20220808112809950",
        "9",
        "2022-08-23",
    )
    assert doc["dates"] == [{"qualifier": "137", "date": "2022-08-08"}]
    assert doc["references"] == [{"qualifier": "ALO", "value": "0017128652"}]
    # UTF-8 Chinese in a UNOA interchange (read leniently) survives as text
    assert doc["parties"][1]["name"] == "报文测试天津有限公司"
    assert doc["parties"][2]["name"] == "CSP test d'This is also a test section"
    [line] = doc["lines"]
    assert (line["line_number"], line["quantity"], line["unit"]) == ("900001", "200", "PCE")
    assert line["product"] == {"buyer_part": "1000629"}
    assert [d["qualifier"] for d in line["dates"]] == ["36", "94"]
    assert doc["totals"] == {"line_count": 1}
    kept = [e["segment"] for e in result.extensions["unmapped_segments"]]
    assert ["RFF", ["VN", "5502284066", "000010"]] in kept  # 1156 line number has no field


def test_recadv_from_canonical_round_trip() -> None:
    doc = {
        "receipt_number": "GR-1",
        "status": "9",
        "receipt_date": "2026-11-29",
        "shipment_id": "ASN-1001",
        "depositor_order_number": "PO-778",
        "parties": [{"role": "DP", "id": "4012345000016", "id_qualifier": "9"}],
        "lines": [
            {
                "line_number": "1",
                "product": {"gtin": "04012345000011"},
                "quantity": "10",
                "unit": "PCE",
                "quantity_expected": "12",
                "lot_number": "LOT7",
                "exceptions": [{"condition": "CP", "quantity": "2", "reason": "AUE"}],
            },
        ],
        "totals": {"line_count": 1},
    }
    segments = from_canonical("receiving_advice", doc, control="4", directory="D01B", association="EAN007")
    assert ("QVR", "2", "CP", "AUE") in segments
    again = mapped(message_from(segments))
    assert normal("receiving_advice", again.document) == normal("receiving_advice", doc)
    assert again.extensions == {}


def test_iftsta_round_trip() -> None:
    doc = {
        "carrier_reference": "PRO-88",
        "shipment_id": "ASN-1001",
        "scac": "DHLX",
        "references": [{"qualifier": "CU", "value": "C-1"}],
        "events": [
            {
                "status_code": "21",
                "status_reason": "1",
                "date": {"qualifier": "334", "date": "2026-11-29", "time": "14:05"},
                "parties": [{"role": "5", "id": "DEHAM", "id_qualifier": "6", "name": "Hamburg"}],
                "order_references": [{"qualifier": "ON", "value": "PO-778"}],
            },
            {
                "status_code": "29",
                "date": {"qualifier": "334", "date": "2026-11-30"},
                "parties": [{"role": "CN", "id": "4012345000016", "id_qualifier": "9", "name": "DC North"}],
            },
        ],
    }
    segments = from_canonical("shipment_status", doc, control="8")
    assert [s[0] for s in segments].count("STS") == 2
    again = mapped(message_from(segments))
    assert again.document_type == "shipment_status"
    assert normal("shipment_status", again.document) == normal("shipment_status", doc)
    assert again.extensions == {}


def test_invrpt_round_trip() -> None:
    doc = {
        "report_type": "35",
        "report_number": "INV-1",
        "report_date": "2026-11-29",
        "report_time": "06:00",
        "parties": [{"role": "WH", "id": "4012345000030", "id_qualifier": "9"}],
        "items": [
            {
                "line_number": "1",
                "product": {"gtin": "04012345000011"},
                "unit_price": "2.50",
                "parties": [{"role": "18", "id": "BIN-4"}],
                "quantities": [
                    {"qualifier": "145", "quantity": "120", "unit": "PCE"},
                    {
                        "qualifier": "198",
                        "quantity": "100",
                        "dates": [{"qualifier": "179", "date": "2026-11-29"}],
                    },
                ],
            },
        ],
    }
    segments = from_canonical("inventory_advice", doc, control="2")
    again = mapped(message_from(segments))
    expected = normal("inventory_advice", doc)
    expected.pop("report_type")  # 35 (inventory report) is implied by INVRPT
    assert normal("inventory_advice", again.document) == expected
    assert again.extensions == {}


def test_iftmin_and_interleaved_messages() -> None:
    msgs = corpus("EDI.Net__edifact.Issue188.edi")
    assert [m.type for m in msgs] == ["IFTMIN", "INVOIC", "IFTMIN", "INVOIC"]
    results = [mapped(m) for m in msgs]
    assert [r.document_type for r in results] == ["load_tender", "invoice", "load_tender", "invoice"]
    assert results[0].document["dates"] == [{"qualifier": "137", "date": "2021-03-19"}]
    assert results[3].document["invoice_date"] == "2021-03-23"
    assert all(r.warnings for r in results)  # none of them has a BGM document number


def test_invoic_deliberately_bad_values_are_kept_not_mapped() -> None:
    [msg] = corpus("staedi__invoic_d97b_bad.edi")
    result = mapped(msg)
    first = result.document["lines"][0]
    assert "quantity" not in first and "unit_price" not in first
    kept = [e["segment"] for e in result.extensions["unmapped_segments"]]
    assert ["QTY", ["47", "1020A", "EA"]] in kept and ["PRI", ["INV", "$1.179"]] in kept
    assert sum("is not a number" in w for w in result.warnings) == 2


def test_from_canonical_refuses_extensions_anywhere() -> None:
    doc = {"invoice_number": "1", "lines": [{"line_number": "1", "extensions": {"x12": {"IT106": "VP"}}}]}
    with pytest.raises(LocalTranslationError, match=r"invoice\.lines\[0\]"):
        from_canonical("invoice", doc, control="1")


# -- invariant: any message either maps to a valid document or to None ----------------------

_TAGS = [
    "BGM",
    "DTM",
    "RFF",
    "NAD",
    "CTA",
    "COM",
    "CUX",
    "PAT",
    "PCD",
    "TDT",
    "ALC",
    "MOA",
    "TAX",
    "FTX",
    "LIN",
    "PIA",
    "IMD",
    "QTY",
    "PRI",
    "UNS",
    "CNT",
    "CPS",
    "PAC",
    "PCI",
    "GIN",
    "MEA",
    "QVR",
    "CNI",
    "STS",
    "LOC",
    "INV",
    "ZZZ",
]
_VALUES = st.sampled_from(
    [
        "",
        "1",
        "2",
        "3",
        "9",
        "12",
        "21",
        "33E",
        "137",
        "102",
        "203",
        "718",
        "20240131",
        "202401311200",
        "20240101-20240131",
        "EN",
        "SA",
        "BJ",
        "ON",
        "3,5",
        "-.5",
        "x",
        "12A",
    ]
)
_ELEMENT = st.one_of(_VALUES, st.lists(_VALUES, min_size=2, max_size=5).map(tuple))
_SEGMENT = st.tuples(st.sampled_from(_TAGS), st.lists(_ELEMENT, max_size=6)).map(lambda t: (t[0], *t[1]))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["ORDERS", "ORDRSP", "DESADV", "INVOIC", "RECADV", "IFTSTA", "INVRPT", "IFTMIN"]),
    segments=st.lists(_SEGMENT, max_size=25),
)
def test_any_segments_map_to_a_valid_document(kind: str, segments: list[Segment]) -> None:
    body_segments: list[Segment] = [("UNH", "1", (kind, "D", "96A", "UN")), *segments]
    body_segments.append(("UNT", str(len(body_segments) + 1), "1"))
    msg = Message(
        type=kind,
        version="D",
        release="96A",
        agency="UN",
        association=None,
        reference="1",
        segments=tuple(body_segments),
        delimiters=Delimiters(),
        interchange_ref="1",
        group_ref=None,
        byte_offset=0,
        index=1,
    )
    result = to_canonical(msg, TranslatorOptions())
    assert result is not None
    DOCUMENT_MODELS[result.document_type].model_validate(result.document)
    placed_or_kept = {e["position"] for e in result.extensions.get("unmapped_segments", [])}
    # every unknown tag is kept, at its own position
    for position, seg in enumerate(body_segments, start=1):
        if seg[0] == "ZZZ":
            assert position in placed_or_kept
    for error in validate(msg):
        assert error.ack_hint in ("12", "13", "35") and error.scope == "transaction"
