"""XML: XPath layouts both ways, and a parser that resolves, loads and fetches nothing."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partners import Registry, load_registry, translate_with_profile
from translators import LocalTranslationError, RemoteSyntaxError, TranslatorOptions
from translators.xml import XmlField, XmlLayout, XmlNode, parse_xml, read_xml, render_xml, xml_layout_problems

EXAMPLES = Path(__file__).resolve().parents[2] / "partners" / "examples"

ORDERS_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<Orders>
  <Order number="PO-1">
    <Date>2026-03-01</Date>
    <Currency>EUR</Currency>
    <ShipTo><Name>Store 12</Name><City>Gent</City><Zip>9000</Zip><Country>BE</Country></ShipTo>
    <Line no="1"><GTIN>05412345000013</GTIN><Text>Widget &amp; bolt</Text>
      <Qty unit="EA">12</Qty><Price>1.50</Price></Line>
    <Line no="2"><GTIN>05412345000020</GTIN><Qty unit="CT">3</Qty></Line>
  </Order>
  <Order number="PO-2"><Date>2026-03-02</Date></Order>
</Orders>
"""


@pytest.fixture(scope="module")
def examples() -> Registry:
    registry, errors = load_registry(EXAMPLES)
    assert errors == []
    return registry


def _layout(registry: Registry, partner: str, name: str) -> XmlLayout:
    profile = registry.get(partner)
    assert profile is not None
    layout = profile.layout(name)
    assert isinstance(layout, XmlLayout)
    return layout


def test_example_partner_orders(examples: Registry) -> None:
    translation = translate_with_profile(examples.get("webshop"), ORDERS_XML, TranslatorOptions())
    assert translation.standard == "xml" and translation.errors == ()
    first, second = (d.document for d in translation.documents)
    assert first["order_number"] == "PO-1" and first["order_date"] == "2026-03-01"
    assert first["parties"] == [
        {
            "role": "ST",
            "name": "Store 12",
            "address": {"city": "Gent", "postal_code": "9000", "country": "BE"},
        }
    ]
    assert first["lines"][0] == {
        "line_number": "1",
        "product": {"gtin": "05412345000013"},
        "description": "Widget & bolt",
        "quantity": "12",
        "unit": "EA",
        "unit_price": "1.50",
    }
    assert first["lines"][1]["unit"] == "CT"
    assert second == {"order_number": "PO-2", "order_date": "2026-03-02"}


def test_orders_round_trip(examples: Registry) -> None:
    layout = _layout(examples, "webshop", "orders_xml")
    first = [d.document for d in read_xml(ORDERS_XML, layout).documents]
    rendered = render_xml(first, layout)
    assert rendered.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<Orders>")
    assert [d.document for d in read_xml(rendered, layout).documents] == first


def test_ship_notice_outbound_round_trip(examples: Registry) -> None:
    layout = _layout(examples, "webshop", "asn_xml")
    notice: dict[str, Any] = {
        "shipment_id": "ASN-9",
        "shipment_date": "2026-03-04",
        "tracking_number": "1Z999",
        "orders": [
            {
                "order_number": "PO-1",
                "items": [
                    {
                        "line_number": "1",
                        "product": {"gtin": "05412345000013"},
                        "quantity": "12",
                        "unit": "EA",
                    },
                    {
                        "line_number": "2",
                        "product": {"gtin": "05412345000020"},
                        "quantity": "3",
                        "unit": "CT",
                    },
                ],
            },
            {"order_number": "PO-2"},
        ],
    }
    rendered = render_xml([notice], layout)
    assert b'<Shipment id="ASN-9">' in rendered and b'<Item line="2">' in rendered
    assert b'<Qty unit="CT">3</Qty>' in rendered
    (back,) = read_xml(rendered, layout).documents
    assert back.document == notice and back.document_type == "ship_notice"


NS_LAYOUT = XmlLayout(
    document_type="invoice",
    root="inv:Invoices",
    document_xpath="inv:Invoice",
    namespaces={"inv": "urn:example:invoice"},
    fields=(
        XmlField(path="invoice_number", xpath="inv:Header/inv:Number"),
        XmlField(path="invoice_date", xpath="inv:Header/@date", type="date", format="%Y%m%d"),
        XmlField(path="parties[role=BY].id", xpath="inv:Party[@role='BY']/inv:Id"),
        XmlField(path="parties[role=SU].id", xpath="inv:Party[@role='SU']/inv:Id"),
        XmlField(path="totals.amount", xpath="inv:Total", type="decimal", implied_decimals=2),
        XmlField(path="extensions.batch", xpath="@batch"),
    ),
    nodes=(
        XmlNode(
            xpath="inv:Line",
            collection="lines",
            fields=(
                XmlField(path="quantity", xpath="inv:Qty", type="decimal"),
                XmlField(path="product.buyer_part", xpath="inv:Item/@buyer"),
            ),
            nodes=(
                XmlNode(
                    xpath="inv:Charge",
                    collection="allowances_charges",
                    fields=(
                        XmlField(path="indicator", value="C"),
                        XmlField(path="amount", xpath=".", type="decimal"),
                    ),
                ),
            ),
        ),
    ),
)


def test_namespaces_predicates_and_implied_decimals_round_trip() -> None:
    assert xml_layout_problems(NS_LAYOUT, outbound=True) == []
    invoice: dict[str, Any] = {
        "invoice_number": "INV-1",
        "invoice_date": "2026-02-28",
        "parties": [{"role": "BY", "id": "111"}, {"role": "SU", "id": "222"}],
        "totals": {"amount": "1234.50"},
        "lines": [
            {
                "quantity": "2",
                "product": {"buyer_part": "B-1"},
                "allowances_charges": [{"indicator": "C", "amount": "5"}],
            },
            {"quantity": "1.5", "product": {"buyer_part": "B-2"}},
        ],
    }
    rendered = render_xml([{**invoice, "extensions": {"batch": "7"}}], NS_LAYOUT)
    assert b'xmlns:inv="urn:example:invoice"' in rendered and b"<inv:Total>123450</inv:Total>" in rendered
    (back,) = read_xml(rendered, NS_LAYOUT).documents
    assert back.document == invoice
    assert back.extensions == {"batch": "7"}


# -- hostile input --------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Orders><Order number="&lol4;"/></Orders>
"""


def test_external_entity_is_never_read(tmp_path: Path, examples: Registry) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    xxe = (
        f'<?xml version="1.0"?>\n<!DOCTYPE o [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        '<Orders><Order number="&x;"/></Orders>'
    ).encode()
    with pytest.raises(RemoteSyntaxError, match="DOCTYPE") as caught:
        translate_with_profile(examples.get("webshop"), xxe, TranslatorOptions())
    assert "TOP-SECRET" not in str(caught.value)


def test_billion_laughs_is_refused_without_expanding() -> None:
    with pytest.raises(RemoteSyntaxError, match="DOCTYPE"):
        parse_xml(BILLION_LAUGHS)


def test_plain_doctype_is_refused() -> None:
    with pytest.raises(RemoteSyntaxError, match="DOCTYPE"):
        parse_xml(b'<?xml version="1.0"?>\n<!doctype Orders SYSTEM "orders.dtd">\n<Orders/>')


def test_doctype_hidden_from_the_byte_scan_is_caught_after_parsing(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    text = f'<!DOCTYPE o [<!ENTITY x SYSTEM "file://{secret}">]><Orders><Order>&x;</Order></Orders>'
    data = b"\xff\xfe" + text.encode("utf-16-le")  # UTF-16 with BOM: no ASCII "<!DOCTYPE" in the bytes
    assert b"<!DOCTYPE" not in data
    with pytest.raises(RemoteSyntaxError, match="DOCTYPE is refused") as caught:
        parse_xml(data)
    assert "TOP-SECRET" not in str(caught.value)


def test_nothing_is_fetched_from_the_network() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        for data in (
            f'<?xml version="1.0"?><!DOCTYPE o SYSTEM "http://127.0.0.1:{port}/o.dtd"><Orders/>'.encode(),
            f'<!DOCTYPE o [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p">%p;]><Orders/>'.encode(),
        ):
            with pytest.raises(RemoteSyntaxError, match="DOCTYPE"):
                parse_xml(data)
        xinclude = f'<Orders xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="http://127.0.0.1:{port}/x"/></Orders>'
        root = parse_xml(xinclude.encode())  # XInclude is never processed: the element stays as it is
        assert root[0].get("href", "").endswith("/x")
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody ever connected
    finally:
        listener.close()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<Orders><Order number='1'></Orders>", "not well-formed XML"),
        (b"<Other/>", "root element is 'Other'"),
        (b"<Orders/>", "no document element"),
        (
            b'<Orders><Order number="1"><Date>01.03.2026</Date></Order></Orders>',
            "does not match the date format",
        ),
        (b"<Orders><Order><Date>2026-03-01</Date></Order></Orders>", "no document in the file is valid"),
    ],
)
def test_bad_xml_is_a_remote_syntax_error(examples: Registry, data: bytes, message: str) -> None:
    with pytest.raises(RemoteSyntaxError, match=message):
        read_xml(data, _layout(examples, "webshop", "orders_xml"))


def test_unwritable_layouts_are_reported() -> None:
    layout = XmlLayout(
        document_type="purchase_order",
        root="Orders",
        document_xpath="Order",
        fields=(
            XmlField(path="order_number", xpath="normalize-space(Header/No)"),
            XmlField(path="currency", xpath="Cur[["),
        ),
    )
    inbound = xml_layout_problems(layout, outbound=False)
    assert len(inbound) == 1 and "does not compile" in inbound[0]
    outbound = xml_layout_problems(layout, outbound=True)
    assert any("cannot be written" in p for p in outbound)
    readable = XmlLayout(
        document_type="purchase_order",
        root="Orders",
        document_xpath="Order",
        fields=(XmlField(path="order_number", xpath="normalize-space(Header/No)"),),
    )
    (doc,) = read_xml(
        b"<Orders><Order><Header><No>  PO 7 </No></Header></Order></Orders>", readable
    ).documents
    assert doc.document == {"order_number": "PO 7"}
    with pytest.raises(LocalTranslationError, match="not writable"):
        render_xml([{"order_number": "PO 7"}], readable)


def test_render_with_profile_picks_the_outbound_layout(examples: Registry) -> None:
    from partners import render_with_profile

    webshop = examples.get("webshop")
    assert webshop is not None
    data = render_with_profile(webshop, "ship_notice", [{"shipment_id": "ASN-1"}])
    assert b'<Shipment id="ASN-1"/>' in data
    with pytest.raises(LookupError, match="no outbound"):
        render_with_profile(webshop, "invoice", [{"invoice_number": "1"}])


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=300)
    | st.text(alphabet="<>/=\"' &;!-[]?OrdeLinumb DOCTYPEENTITY%x", max_size=200).map(str.encode)
)
def test_any_bytes_give_documents_or_a_remote_syntax_error(data: bytes) -> None:
    layout = XmlLayout(
        document_type="purchase_order",
        root="Orders",
        document_xpath="Order",
        fields=(XmlField(path="order_number", xpath="@number"),),
    )
    try:
        translation = read_xml(data, layout)
    except RemoteSyntaxError:
        return
    assert translation.documents


def test_utf16_xml_is_recognised(examples: Registry) -> None:
    text = ORDERS_XML.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    data = text.encode("utf-16")  # with BOM
    translation = translate_with_profile(examples.get("webshop"), data, TranslatorOptions())
    assert [d.document["order_number"] for d in translation.documents] == ["PO-1", "PO-2"]
