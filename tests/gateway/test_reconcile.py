"""``edigate reconcile``: the journal's deliveries against what the Odoo stand-in holds (real odoorpc)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.commands.reconcile import parse_since
from gateway.journal import DocumentRecord, Intake, Journal, JournalOptions
from tests.support.odoo_standin import OdooStandin


def _config(root: Path, port: int) -> Path:
    (root / "secret").write_text("s3cret\n")
    (root / "secret").chmod(0o600)
    cfg = root / "edigate.toml"
    cfg.write_text(
        f"""
[gateway]
state_dir = "state"

[[sinks]]
name = "odoo"
kind = "odoo"
url = "http://127.0.0.1:{port}"
database = "edi"
login = "gateway"
secret_file = "{root / "secret"}"
timeout = 5

[sinks.options.acme]
partner_ref = "ACME01"
"""
    )
    return cfg


def _deliver(root: Path, docs: list[tuple[str, dict]]) -> None:
    async def go() -> None:
        journal = Journal.open(root / "state", JournalOptions(min_free_bytes=0))
        for n, (kind, doc) in enumerate(docs):
            r = await journal.append(Intake(transport="sftp", partner="acme", data=b"edi %d" % n))
            env = {"document_type": kind, "document": doc}
            ids = await journal.store_translation(
                int(r.message_id),
                partner="acme",
                standard="x12",
                sinks=["odoo"],
                documents=[
                    DocumentRecord(idempotency_key=f"k{n}", document_type=kind, envelope_json=json.dumps(env))
                ],
            )
            await journal.delivery_succeeded(ids[0])
        journal.close()

    asyncio.run(go())


@pytest.fixture
def odoo():
    with OdooStandin() as standin:
        yield standin


def test_clean_journal_and_odoo_exit_0(tmp_path: Path, odoo, capsys) -> None:
    acme = odoo.seed("res.partner", name="ACME", ref="ACME01")
    odoo.seed("sale.order", partner_id=acme, client_order_ref="PO-1", state="sale")
    order = odoo.seed("sale.order", partner_id=acme, client_order_ref="PO-2", state="sale")
    odoo.seed("stock.picking", partner_id=acme, sale_id=order, state="done", picking_type_code="outgoing")
    odoo.seed("account.move", partner_id=acme, move_type="in_invoice", ref="BILL-7", state="posted")
    _deliver(
        tmp_path,
        [
            ("purchase_order", {"order_number": "PO-1"}),
            ("purchase_order", {"order_number": "PO-2"}),
            ("ship_notice", {"shipment_id": "S1", "orders": [{"order_number": "PO-2"}]}),
            ("invoice", {"invoice_number": "BILL-7"}),
            ("inventory_advice", {}),
        ],
    )
    code = main(["reconcile", "--config", str(_config(tmp_path, odoo.port))])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "checked 4 delivered document(s)" in out and "no gaps, no extras" in out
    assert "not checked: 1 inventory_advice" in out


def test_gaps_and_extras_are_listed_in_plain_words_and_exit_1(tmp_path: Path, odoo, capsys) -> None:
    acme = odoo.seed("res.partner", name="ACME", ref="ACME01")
    store = odoo.seed("res.partner", name="ACME store 42", parent_id=acme, type="delivery")
    odoo.seed("sale.order", partner_id=acme, client_order_ref="PO-1", state="sale")
    odoo.seed("sale.order", partner_id=store, client_order_ref="PO-2", state="sale")
    odoo.seed("sale.order", partner_id=acme, client_order_ref="PO-2", state="draft")  # a duplicate effect
    odoo.seed("sale.order", partner_id=acme, client_order_ref="PO-3", state="cancel")  # cancelled = gone
    odoo.seed("sale.order", partner_id=acme, client_order_ref="PO-HAND", state="sale")  # nobody sent it
    odoo.seed("stock.picking", partner_id=acme, state="assigned", picking_type_code="outgoing")
    _deliver(
        tmp_path,
        [("purchase_order", {"order_number": f"PO-{n}"}) for n in (1, 2, 3)]
        + [("ship_notice", {"shipment_id": "S9", "orders": [{"order_number": "PO-1"}]})],
    )
    code = main(["reconcile", "--config", str(_config(tmp_path, odoo.port)), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    gaps = {g["key"]: g["text"] for g in report["gaps"]}
    assert set(gaps) == {"PO-3", "PO-1"}
    assert "(acme purchase_order PO-3) was delivered, but Odoo has no sale order for it" in gaps["PO-3"]
    assert "has no validated picking" in gaps["PO-1"]
    extras = [e["text"] for e in report["extras"]]
    assert any("Odoo holds 2 sale orders for acme PO-2" in e for e in extras)
    assert any("PO-HAND, which no delivered message in this window explains" in e for e in extras)
    assert main(["reconcile", "--config", str(_config(tmp_path, odoo.port)), "--partner", "other"]) == 0


def test_odoo_unreachable_is_exit_69(tmp_path: Path, capsys) -> None:
    standin = OdooStandin().start()
    port = standin.port
    standin.stop()
    _deliver(tmp_path, [("purchase_order", {"order_number": "PO-1"})])
    assert main(["reconcile", "--config", str(_config(tmp_path, port))]) == 69
    assert "cannot reconcile" in capsys.readouterr().err


def test_since_accepts_relative_and_iso() -> None:
    assert parse_since("24h", now=100_000.0) == 100_000.0 - 86_400
    assert parse_since("2026-11-29T00:00") == parse_since("2026-11-29T00:00+00:00")
    with pytest.raises(ValueError):
        parse_since("yesterday")
