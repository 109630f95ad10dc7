"""Flat files: every corpus flat file through a profile written for it, round trips, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partners import Registry, load_registry, translate_with_profile
from translators import LocalTranslationError, RemoteSyntaxError, TranslatorOptions
from translators.flatfile import (
    CsvLayout,
    FieldSpec,
    FixedLayout,
    RecordSpec,
    get_path,
    layout_problems,
    parse_value,
    read_flat,
    render_flat,
    set_path,
)
from translators.flatfile.values import format_value

CORPUS_FLAT = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "flat"
PROFILES = Path(__file__).resolve().parents[1] / "partners" / "data" / "flat"

# (corpus file, partner profile written for it, layout name, number of documents)
CASES = [
    ("bots-plugins__060101.fix", "bots-orders-fixed", "orders", 4),
    ("bots-plugins__desadv96.inh", "bots-desadv-fixed", "desadv", 8),
    ("bots-plugins__inhouse_test01.inh", "bots-inhouse-invoice", "invoice", 1),
    ("bots-plugins__invoic96.inh", "bots-invoic-fixed", "invoic", 1),
    ("bots-plugins__alto_ETRHDR.csv", "bots-alto-csv", "headers", 4),
    ("bots-plugins__alto_ETRDTL.csv", "bots-alto-csv", "details", 4),
    ("bots-plugins__orders_test.csv", "bots-orders-csv", "orders", 4),
    ("smooks-examples__pipelines_input-message.csv", "smooks-orders-csv", "order_lines", 3),
]


@pytest.fixture(scope="module")
def registry() -> Registry:
    loaded, errors = load_registry(PROFILES)
    assert errors == []
    return loaded


def _with_extensions(translation: Any) -> list[dict[str, Any]]:
    return [
        {**d.document, **({"extensions": d.extensions} if d.extensions else {})}
        for d in translation.documents
    ]


def test_every_corpus_flat_file_has_a_case() -> None:
    assert {p.name for p in CORPUS_FLAT.iterdir()} == {c[0] for c in CASES}


@pytest.mark.parametrize(("name", "partner", "layout", "count"), CASES)
def test_corpus_file_translates_through_its_profile(
    registry: Registry, name: str, partner: str, layout: str, count: int
) -> None:
    profile = registry.get(partner)
    assert profile is not None
    translation = translate_with_profile(profile, (CORPUS_FLAT / name).read_bytes(), TranslatorOptions())
    assert translation.errors == () and not translation.rejected
    assert len(translation.documents) == count
    kind = profile.layout(layout).document_type
    assert {d.document_type for d in translation.documents} == {kind}
    assert all(d.envelope.standard == translation.standard for d in translation.documents)


@pytest.mark.parametrize(("name", "partner", "layout", "count"), CASES)
def test_corpus_file_round_trips(
    registry: Registry, name: str, partner: str, layout: str, count: int
) -> None:
    profile = registry.get(partner)
    assert profile is not None
    spec = profile.layout(layout)
    assert isinstance(spec, CsvLayout | FixedLayout)
    first = _with_extensions(read_flat((CORPUS_FLAT / name).read_bytes(), spec))
    rendered = render_flat(first, spec)
    again = _with_extensions(read_flat(rendered, spec))
    assert again == first
    assert render_flat(again, spec) == rendered


def _docs(registry: Registry, partner: str, name: str) -> list[dict[str, Any]]:
    profile = registry.get(partner)
    assert profile is not None
    translation = translate_with_profile(profile, (CORPUS_FLAT / name).read_bytes(), TranslatorOptions())
    return _with_extensions(translation)


def test_fixed_width_orders_values(registry: Registry) -> None:
    docs = _docs(registry, "bots-orders-fixed", "bots-plugins__060101.fix")
    assert [d["order_number"] for d in docs] == [f"01-450000000{i}" for i in range(1, 5)]
    first = docs[0]
    assert first["order_date"] == "2005-08-19"
    assert get_path(first, "parties[role=BY].id") == "8712345000710"
    assert get_path(first, "dates[qualifier=2].date") == "2005-08-29"
    assert [(line["line_number"], line["product"]["gtin"], line["quantity"]) for line in first["lines"]] == [
        ("000001", "8712345873151", "1.000"),
        ("000002", "8712345873182", "1.000"),
        ("000003", "8712345873151", "1.000"),
    ]
    assert first["extensions"]["message_type"] == "ORDERSD96AUNEAN008"


def test_fixed_width_invoice_nesting_and_signs(registry: Registry) -> None:
    (doc,) = _docs(registry, "bots-invoic-fixed", "bots-plugins__invoic96.inh")
    assert [(a["indicator"], a["code"], a["amount"]) for a in doc["allowances_charges"]] == [
        ("A", "ABH", "600.000"),
        ("C", "ADO", "250.000"),
    ]
    assert [len(line["allowances_charges"]) for line in doc["lines"]] == [3, 3, 2]
    third = doc["lines"][2]["allowances_charges"]
    assert [(a["code"], a["amount"]) for a in third] == [("RAD", "-75.000"), ("SH", "-15.000")]
    assert doc["totals"]["amount"] == "286.200"
    assert [t["percent"] for t in doc["taxes"]] == ["19.0000", "6.0000", "0.0000", "0.0000"]
    assert doc["lines"][0]["unit_price"] == "6.5000"


def test_fixed_width_ship_notice_time_and_items(registry: Registry) -> None:
    docs = _docs(registry, "bots-desadv-fixed", "bots-plugins__desadv96.inh")
    assert docs[0]["shipment_id"] == "VERZENDVB8"
    assert (docs[0]["shipment_date"], docs[0]["shipment_time"]) == ("1998-11-02", "10:30")
    assert [len(d["orders"][0]["items"]) for d in docs] == [12, 2, 2, 2, 2, 2, 2, 2]
    assert docs[0]["orders"][0]["items"][-1]["quantity"] == "121212121212.121"


def test_csv_grouping_of_denormalised_rows(registry: Registry) -> None:
    docs = _docs(registry, "bots-orders-csv", "bots-plugins__orders_test.csv")
    assert [(d["order_number"], len(d["lines"])) for d in docs] == [
        ("BGMREF", 4),
        ("1-4500094289", 2),
        ("1-4500094290", 1),
        ("1-4500094291", 1),
    ]
    assert docs[0]["lines"][1]["references"] == [{"qualifier": "PD", "value": "ACTIENUMMER"}]
    assert docs[3]["lines"][0]["quantity"] == "9.000"


def test_csv_header_row_by_name(registry: Registry) -> None:
    docs = _docs(registry, "smooks-orders-csv", "smooks-examples__pipelines_input-message.csv")
    second = docs[1]
    assert second["order_number"] == "128577" and second["order_date"] == "2002-08-30"
    assert get_path(second, "parties[role=BY].address.city") == "Innsbruck"
    assert get_path(second, "parties[role=BY].address.state") is None  # empty column: not set
    assert second["lines"] == [
        {
            "line_number": "2",
            "product": {"gtin": "4000862141405"},
            "quantity": "2",
            "unit_price": "55",
            "unit": "KGM",
        }
    ]


def test_two_layouts_pick_the_one_that_fits(registry: Registry) -> None:
    headers = _docs(registry, "bots-alto-csv", "bots-plugins__alto_ETRHDR.csv")
    details = _docs(registry, "bots-alto-csv", "bots-plugins__alto_ETRDTL.csv")
    assert headers[0]["totals"]["amount"] == "379.37" and "lines" not in headers[0]
    assert [len(d["lines"]) for d in details] == [1, 1, 1, 2]
    assert [d["invoice_number"] for d in headers] == [d["invoice_number"] for d in details]


def test_byte_identical_where_the_layout_covers_everything(registry: Registry) -> None:
    for partner, layout, name in [
        ("bots-inhouse-invoice", "invoice", "bots-plugins__inhouse_test01.inh"),
        ("bots-orders-csv", "orders", "bots-plugins__orders_test.csv"),
    ]:
        profile = registry.get(partner)
        assert profile is not None
        spec = profile.layout(layout)
        assert isinstance(spec, CsvLayout | FixedLayout)
        data = (CORPUS_FLAT / name).read_bytes()
        assert render_flat(_with_extensions(read_flat(data, spec)), spec) == data


# -- errors in the partner's file --------------------------------------------------

ORDERS = FixedLayout(
    document_type="purchase_order",
    records=(
        RecordSpec(
            name="H",
            tag="H",
            fields=(
                FieldSpec(path="order_number", start=2, length=10),
                FieldSpec(path="order_date", start=12, length=8, type="date", format="%Y%m%d"),
            ),
        ),
        RecordSpec(
            name="L",
            tag="L",
            parent="H",
            collection="lines",
            fields=(
                FieldSpec(path="product.gtin", start=2, length=14),
                FieldSpec(path="quantity", start=16, length=8, type="decimal", implied_decimals=2),
            ),
        ),
    ),
)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"HPO1       20240102\nX junk\n", "line 2: unknown record type"),
        (b"L04012345678901000012\n", "line 1: L record before any H record"),
        (
            b"HPO1       20240102\nL0401234567890100001x2\n",
            "line 2, L field quantity: '00001x2' is not a number",
        ),
        (b"HPO1       20241302\n", "line 1, H field order_date: '20241302' does not match the date format"),
        (b"HPO1       2024\xff102\n", "line 1: byte 0xff is not valid utf-8"),
        (b"\n\n", "the file holds no document"),
        (b"H          20240102\n", "no document in the file is valid"),
    ],
)
def test_bad_fixed_width_input_names_the_line(data: bytes, message: str) -> None:
    with pytest.raises(RemoteSyntaxError, match=message.replace("(", r"\(")):
        read_flat(data, ORDERS)


def test_implied_decimals_both_ways() -> None:
    translation = read_flat(b"HPO1       20240102\nL04012345678901000012\n", ORDERS)
    (doc,) = translation.documents
    assert doc.document["lines"] == [{"product": {"gtin": "04012345678901"}, "quantity": "0.12"}]
    assert render_flat([doc.document], ORDERS) == b"HPO1       20240102\nL0401234567890100000012\n"


def test_one_bad_document_does_not_sink_its_siblings() -> None:
    translation = read_flat(b"HPO1       20240102\nH          20240102\nHPO3\n", ORDERS)
    assert [d.document["order_number"] for d in translation.documents] == ["PO1", "PO3"]
    assert len(translation.errors) == 1 and translation.errors[0].scope == "transaction"
    assert "document 2 starting at line 2" in str(translation.errors[0])


def test_csv_errors() -> None:
    layout = CsvLayout(
        document_type="purchase_order",
        header_row=True,
        records=(RecordSpec(name="o", fields=(FieldSpec(path="order_number", name="PO"),)),),
    )
    with pytest.raises(RemoteSyntaxError, match="header row lacks column"):
        read_flat(b"ORDER\n1\n", layout)
    strict = CsvLayout(
        document_type="purchase_order",
        records=(RecordSpec(name="o", fields=(FieldSpec(path="order_number", column=1),)),),
    )
    with pytest.raises(RemoteSyntaxError, match="not valid CSV"):
        read_flat(b'"PO1"x,2\n', strict)
    dated = CsvLayout(
        document_type="purchase_order",
        records=(
            RecordSpec(
                name="o",
                fields=(
                    FieldSpec(path="order_number", column=1),
                    FieldSpec(path="order_date", column=2, type="date", format="%Y%m%d"),
                ),
            ),
        ),
    )
    # the quoted field spans two physical lines: the bad date is on line 3, not row 2
    with pytest.raises(RemoteSyntaxError, match="line 3, o field order_date"):
        read_flat(b'"PO\n1",20240101\nPO2,2024-01-01\n', dated)
    with pytest.raises(RemoteSyntaxError, match="exceeds the limit"):
        read_flat(b"PO1\n" * 400, strict, TranslatorOptions(max_interchange_bytes=1024))


# -- outbound ------------------------------------------------------------------------


def test_writer_refuses_what_does_not_fit() -> None:
    with pytest.raises(LocalTranslationError, match="longer than 10"):
        render_flat([{"order_number": "PO-0123456789"}], ORDERS)
    with pytest.raises(LocalTranslationError, match="more than 2 decimals"):
        render_flat([{"order_number": "PO1", "lines": [{"quantity": "1.005"}]}], ORDERS)
    with pytest.raises(LocalTranslationError, match="not an ISO date"):
        render_flat([{"order_number": "PO1", "order_date": "02.01.2024"}], ORDERS)
    allowances = FixedLayout(
        document_type="invoice",
        records=(
            RecordSpec(name="H", tag="H", fields=(FieldSpec(path="invoice_number", start=2, length=5),)),
            RecordSpec(
                name="A",
                tag="A",
                parent="H",
                collection="allowances_charges",
                fields=(FieldSpec(path="indicator", value="A"), FieldSpec(path="code", start=2, length=4)),
            ),
        ),
    )
    doc = {"invoice_number": "1", "allowances_charges": [{"indicator": "A", "code": "X"}, {"indicator": "C"}]}
    with pytest.raises(LocalTranslationError, match=r"allowances_charges\[1\] fits none of the records A"):
        render_flat([doc], allowances)


def test_layout_problems_are_found() -> None:
    broken = CsvLayout(
        document_type="purchase_order",
        records=(
            RecordSpec(name="l", parent="o", collection="lines[0]", fields=(FieldSpec(path="x[", column=1),)),
            RecordSpec(name="o", fields=(FieldSpec(path="order_date", column=0, type="date"),)),
        ),
        delimiter=";;",
    )
    problems = "\n".join(layout_problems(broken))
    for expected in (
        "listed before its parent",
        "ends with a list name",
        "bad field path",
        "needs a format",
        "columns count from 1",
        "delimiter must be one character",
    ):
        assert expected in problems


def test_values_and_paths() -> None:
    assert parse_value("  0001234 ", "decimal", implied_decimals=2) == "12.34"
    assert parse_value("12.50-", "decimal") == "-12.50"
    assert parse_value("1E3", "decimal") == "1000"
    assert parse_value("   ", "decimal") is None
    assert parse_value("0930", "time", fmt="%H%M") == "09:30"
    assert format_value("-75", "decimal", decimals=3) == "-75.000"
    assert format_value("12.34", "decimal", implied_decimals=2) == "1234"
    doc: dict[str, Any] = {}
    set_path(doc, "parties[role=BY].address.lines[0]", "Main St 1")
    set_path(doc, "parties[role=BY].id", "123")
    set_path(doc, "parties[role=ST].id", "456")
    assert doc == {
        "parties": [
            {"role": "BY", "address": {"lines": ["Main St 1"]}, "id": "123"},
            {"role": "ST", "id": "456"},
        ]
    }
    assert get_path(doc, "parties[role=ST].id") == "456"
    assert get_path(doc, "parties[role=SU].id") is None
    assert get_path(doc, "parties[5].id") is None


_TEXT = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-/.", min_size=1, max_size=10)
_QTY = st.decimals(min_value=0, max_value=999999, places=2, allow_nan=False).map(lambda d: format(d, "f"))


@settings(max_examples=60, deadline=None)
@given(
    orders=st.lists(
        st.fixed_dictionaries(
            {
                "order_number": _TEXT,
                "order_date": st.dates().map(lambda d: d.isoformat()),
                "lines": st.lists(
                    st.fixed_dictionaries(
                        {"product": st.fixed_dictionaries({"gtin": _TEXT}), "quantity": _QTY}
                    ),
                    max_size=4,
                ),
            }
        ),
        min_size=1,
        max_size=4,
    )
)
def test_round_trip_property(orders: list[dict[str, Any]]) -> None:
    for order in orders:
        if not order["lines"]:
            del order["lines"]
    fixed = [d.document for d in read_flat(render_flat(orders, ORDERS), ORDERS).documents]
    assert fixed == orders
    csv_layout = CsvLayout(
        document_type="purchase_order",
        records=(
            RecordSpec(
                name="H",
                tag="H",
                fields=(
                    FieldSpec(path="order_number", column=2),
                    FieldSpec(path="order_date", column=3, type="date", format="%d.%m.%Y"),
                ),
            ),
            RecordSpec(
                name="L",
                tag="L",
                parent="H",
                collection="lines",
                fields=(
                    FieldSpec(path="product.gtin", column=2),
                    FieldSpec(path="quantity", column=3, type="decimal"),
                ),
            ),
        ),
        record_column=1,
        delimiter=";",
    )
    csv_docs = [d.document for d in read_flat(render_flat(orders, csv_layout), csv_layout).documents]
    assert csv_docs == orders


def test_example_legacy_wms_layouts_both_ways() -> None:
    examples, errors = load_registry(Path(__file__).resolve().parents[2] / "partners" / "examples")
    assert errors == []
    wms = examples.get("legacy-wms")
    assert wms is not None
    shipments = (
        b"ORDER;SHIPPED;CARRIER;LINE;ITEM;QTY;UOM\n"
        b"SO-1;02.03.2026;UPSN;1;ITEM-A;5;EA\n"
        b"SO-1;02.03.2026;UPSN;2;ITEM-B;1.5;KG\n"
        b"SO-2;03.03.2026;DHL;1;ITEM-C;7;EA\n"
    )
    translation = translate_with_profile(wms, shipments, TranslatorOptions())
    assert [d.document_type for d in translation.documents] == ["warehouse_shipping_advice"] * 2
    first = translation.documents[0].document
    assert first["shipment_date"] == "2026-03-02" and first["carriers"] == [{"scac": "UPSN"}]
    assert [line["quantity"] for line in first["lines"]] == ["5", "1.5"]
    (layout,) = wms.layouts_for("fixed", direction="outbound")
    assert isinstance(layout, FixedLayout)
    order = {
        "depositor_order_number": "SO-1",
        "dates": [{"qualifier": "10", "date": "2026-03-05"}],
        "parties": [{"role": "ST", "name": "Store 12"}],
        "lines": [{"line_number": "1", "product": {"vendor_part": "ITEM-A"}, "quantity": "5", "unit": "EA"}],
    }
    rendered = render_flat([order], layout)
    lines = rendered.decode("latin-1").splitlines()
    assert [len(line) for line in lines] == [80, 80]  # record_length pads every record
    assert lines[1][27:39] == "000000005000"  # implied 3 decimals, zero-filled
    (back,) = read_flat(rendered, layout).documents
    assert back.document["lines"][0]["quantity"] == "5.000"
    assert {k: v for k, v in back.document.items() if k != "lines"} == {
        k: v for k, v in order.items() if k != "lines"
    }


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=300) | st.text(alphabet='HL0123456789 .-;"\n\r', max_size=200).map(str.encode))
def test_any_bytes_give_documents_or_a_remote_syntax_error(data: bytes) -> None:
    csv_layout = CsvLayout(
        document_type="purchase_order",
        records=(
            RecordSpec(name="H", tag="H", fields=(FieldSpec(path="order_number", column=2),)),
            RecordSpec(
                name="L",
                tag="L",
                parent="H",
                collection="lines",
                fields=(FieldSpec(path="quantity", column=2, type="decimal"),),
            ),
        ),
        record_column=1,
        delimiter=";",
    )
    for layout in (ORDERS, csv_layout):
        try:
            translation = read_flat(data, layout)
        except RemoteSyntaxError:
            continue
        assert translation.documents
