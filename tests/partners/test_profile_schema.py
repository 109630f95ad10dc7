"""Profile schema: examples validate; errors name file, line and field, all at once."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from partners import load_profile, load_registry, profile_json_schema
from translators import ControlNumbers

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "partners" / "examples"

BROKEN = """\
id = "broken"
name = "Broken partner"
colour = "blue"

[identities]
x12 = [{ qualifier = "ZZZ", id = "ACME" }]
mail_senders = ["not-an-address"]

[[documents]]
type = "850"
standard = "x12"
direction = "inbound"

[[documents]]
type = "856"
standard = "x12"

[[documents]]
type = "purchase_order"
standard = "csv"
direction = "inbound"
layout = "nowhere"

[duplicates]
policy = "ignore"
window_days = 0

[delivery]
transport = "sftp"
port = 70000
user = "me"
key = "k"
known_hosts = "kh"
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_example_profile_validates() -> None:
    registry, errors = load_registry(EXAMPLES)
    assert errors == []
    ids = {p.id for p in registry.profiles}
    assert ids == {"acme-retail", "nordwaren", "fastfreight", "legacy-wms", "webshop"}
    standards = {d.standard for p in registry.profiles for d in p.model.documents}
    assert standards == {"x12", "edifact", "csv", "fixed", "xml"}


def test_all_errors_at_once_with_file_line_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.toml", BROKEN)
    profile, errors = load_profile(path)
    assert profile is None
    found = {(e.field, e.line) for e in errors}
    assert all(e.file == path for e in errors)
    expected = {
        ("colour", 3),
        ("identities.x12[0].qualifier", 6),
        ("identities.mail_senders[0]", 7),
        ("documents[1].direction", 14),  # missing: reported at its table
        ("duplicates.policy", 25),
        ("duplicates.window_days", 26),
        ("delivery.host", 28),  # missing inside the tagged union: the [delivery] table
        ("delivery.port", 30),
    }
    assert expected <= found, sorted(found - expected, key=str)
    by_field = {e.field: e for e in errors}
    assert "unknown key" in by_field["colour"].reason
    assert "ignore" in by_field["duplicates.policy"].reason
    assert str(by_field["delivery.port"]).startswith(f"{path}:30: delivery.port: ")


def test_cross_reference_errors_are_located(tmp_path: Path) -> None:
    text = BROKEN.replace('colour = "blue"\n', "").replace('qualifier = "ZZZ"', 'qualifier = "ZZ"')
    text = text.replace('mail_senders = ["not-an-address"]', 'mail_senders = ["edi@acme.example"]')
    text = text.replace(
        'type = "856"\nstandard = "x12"\n', 'type = "856"\nstandard = "x12"\ndirection = "outbound"\n'
    )
    text = text.split("[duplicates]")[0]
    path = _write(tmp_path, "xref.toml", text)
    profile, errors = load_profile(path)
    assert profile is None
    assert [(e.field, e.line) for e in errors] == [("documents[2].layout", 22)]
    assert "'nowhere' is not defined" in errors[0].reason


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "syntax.toml", 'id = "x"\nname = "y"\n[identities\n')
    profile, errors = load_profile(path)
    assert profile is None and len(errors) == 1
    assert errors[0].line == 3
    assert "not valid TOML" in errors[0].reason


def test_layout_problems_are_reported_at_the_layout(tmp_path: Path) -> None:
    text = """\
id = "flat"
name = "Flat"

[[documents]]
type = "purchase_order"
standard = "fixed"
direction = "inbound"
layout = "orders"

[layouts.orders]
format = "fixed"
document_type = "purchase_order"

[[layouts.orders.records]]
name = "line"
tag = "LIN"
parent = "header"
fields = [{ path = "quantity", start = 1 }]
"""
    profile, errors = load_profile(_write(tmp_path, "flat.toml", text))
    assert profile is None
    assert len(errors) == 1
    assert errors[0].field == "layouts.orders" and errors[0].line == 10
    assert "unknown parent 'header'" in errors[0].reason
    assert "need start and length" in errors[0].reason


def test_json_schema_is_published() -> None:
    schema = profile_json_schema()
    json.dumps(schema)
    assert schema["$id"].startswith("edigate.partner_profile/")
    assert {"id", "name", "identities", "documents", "acks", "duplicates", "delivery", "layouts"} <= set(
        schema["properties"]
    )
    assert schema["additionalProperties"] is False


def test_translator_options_carry_the_profile_policy() -> None:
    registry, _ = load_registry(EXAMPLES)
    acme = registry.get("acme-retail")
    assert acme is not None
    now = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)
    numbers = ControlNumbers(interchange=42, group=7, transaction=1)
    options = acme.translator_options(now=now, control_numbers=numbers)
    assert options.now == now and options.control_numbers == numbers
    assert options.x12_ack == "997" and options.functional_ack == "always" and options.ta1 == "on_error"
    assert options.our_ids == ("ZZ", "OURWAREHOUSE")
    assert options.map_options["850"]["references"] == {"store_number": "DP"}
    assert options.map_options["850"]["unit_codes"] == {"CS": "CA"}
    assert options.map_options["856"]["product_id_preference"] == ["upc"]
    assert "855" not in options.map_options  # no deviations, no entry
    assert acme.sinks == ("odoo",)
    assert (acme.duplicate_policy, acme.duplicate_window_days) == ("reject", 60)
    nordwaren = registry.get("nordwaren")
    assert nordwaren is not None
    assert nordwaren.sinks == ()
    assert nordwaren.translator_options(now=now, control_numbers=numbers).our_ids == ("14", "4098765000001")


@pytest.mark.parametrize(
    ("snippet", "field"),
    [
        ('[identities]\nsftp = { user = "acme" }\n', "identities.sftp"),
        (
            '[identities]\nsftp = { user = "acme", password_hash = "secret" }\n',
            "identities.sftp.password_hash",
        ),
        ('[delivery]\ntransport = "as2"\nurl = "ftp://x"\nas2_from = "a"\nas2_to = "b"\n', "delivery.url"),
        (
            # an async MDN URL with a synchronous MDN is a mistake in the profile
            '[delivery]\ntransport = "as2"\nurl = "https://x"\nas2_from = "a"\nas2_to = "b"\nmdn = "sync"\n'
            'async_mdn_url = "https://gw.example/as2"\n',
            "delivery",
        ),
        (
            '[delivery]\ntransport = "as2"\nurl = "https://x"\nas2_from = "a"\nas2_to = "b"\nmdn = "async"\n'
            "async_mdn_within_minutes = -1\n",
            "delivery.async_mdn_within_minutes",
        ),
        ('[delivery]\ntransport = "carrier-pigeon"\n', "delivery"),
        ('[[documents]]\ntype = "ORDERS"\nstandard = "x12"\ndirection = "inbound"\n', "documents[0]"),
    ],
)
def test_shapes_are_checked(tmp_path: Path, snippet: str, field: str) -> None:
    profile, errors = load_profile(_write(tmp_path, "p.toml", f'id = "p"\nname = "P"\n{snippet}'))
    assert profile is None
    assert field in {e.field for e in errors}, [str(e) for e in errors]
    assert all(e.line is not None and e.line >= 3 for e in errors)


def test_outbound_xml_layout_must_be_writable(tmp_path: Path) -> None:
    text = """\
id = "xml"
name = "XML"

[[documents]]
type = "invoice"
standard = "xml"
direction = "outbound"
layout = "inv"

[layouts.inv]
format = "xml"
document_type = "invoice"
root = "Invoices"
document_xpath = "Invoice"
fields = [{ path = "invoice_number", xpath = "string(Number)" }]
"""
    profile, errors = load_profile(_write(tmp_path, "xml.toml", text))
    assert profile is None
    assert [(e.field, e.line) for e in errors] == [("layouts.inv", 10)]
    assert "cannot be written" in errors[0].reason
    inbound = text.replace('direction = "outbound"', 'direction = "inbound"')
    profile, errors = load_profile(_write(tmp_path, "xml.toml", inbound))
    assert profile is not None and errors == []
