"""Downlink end to end: Odoo documents → partner EDI over real SFTP (OpenSSH sshd) and AS2 (openssl cms).

Pickings, invoices and confirmed orders created in the Odoo stand-in are
pulled with the real ``odoorpc`` client, journaled, rendered as X12
855/856/810 for an X12 partner and ORDRSP/DESADV/INVOIC for an EDIFACT
partner, pushed to a real ``sshd`` (internal-sftp, chroot) and POSTed as
signed+encrypted AS2 to a receiver made of ``openssl cms`` that answers a
signed MDN with the MIC.  Then the export flag is set in Odoo, and the
partners' 997 and CONTRL, fed back in as inbound files, mark the
interchanges accepted.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import partners
from agent.delivery import DeliveryEngine, RetryPolicy
from agent.odoo import OdooRpcSettings, OdooRpcTransport
from agent.partner import build_partner_sink
from agent.pull import OdooPull, PullSettings
from gateway import acktrack
from gateway.journal import Intake, Journal, JournalOptions
from gateway.outbound import OutboundProcessor, as2_codec_for, partner_sink_name
from gateway.pipeline import Pipeline
from tests.support import odoo_outbound as ob
from tests.support.odoo_standin import OdooStandin
from tests.support.partner_peers import OpensslAs2Receiver, Sshd, make_pki
from translators import translate


def _profiles(folder: Path, sshd: Sshd, as2_url: str, pki) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sftp = f"""[delivery]
transport = "sftp"
host = "127.0.0.1"
port = {sshd.port}
user = "nobody"
key = "{sshd.client_key}"
known_hosts = "{sshd.known_hosts}"
remote_dir = "/inbound"
"""
    (folder / "acme.toml").write_text(ob.x12_profile(delivery=sftp))
    as2 = f"""[delivery]
transport = "as2"
url = "{as2_url}"
as2_from = "GATEWAY"
as2_to = "PARTNER"
sign = true
encrypt = true
mdn = "sync"
mdn_signed = true

[certificates]
as2_partner = "{pki.partner_cert}"
as2_ours = "{pki.gateway_cert}"
as2_ours_key = "{pki.gateway_key}"
"""
    (folder / "nord.toml").write_text(ob.edifact_profile(delivery=as2))


def _x12_997(group_control: str, icn: int) -> bytes:
    segs = [
        "ISA*00*          *00*          *ZZ*ACMERETAIL     *ZZ*OURWAREHOUSE   *261129*1200*U*00401*"
        f"{icn:09d}*0*P*>",
        f"GS*FA*ACMERETAIL*OURWAREHOUSE*20261129*1200*{icn}*X*004010",
        "ST*997*0001",
        f"AK1*SH*{group_control}",
        "AK2*856*0002",
        "AK5*A",
        "AK9*A*1*1*1",
        "SE*6*0001",
        f"GE*1*{icn}",
        f"IEA*1*{icn:09d}",
    ]
    return ("~\n".join(segs) + "~\n").encode()


def _contrl(interchange: str, ref: int) -> bytes:
    segs = [
        f"UNB+UNOC:3+4000000000001:14+4000000000002:14+261129:1200+{ref}",
        "UNH+1+CONTRL:D:3:UN",
        f"UCI+{interchange}+4000000000002:14+4000000000001:14+7",
        "UNT+3+1",
        f"UNZ+1+{ref}",
    ]
    return ("UNA:+.? '\n" + "'\n".join(segs) + "'\n").encode()


def test_odoo_documents_reach_partners_over_sftp_and_as2_and_acks_settle_them(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    with (
        Sshd(tmp_path / "sshd") as sshd,
        OpensslAs2Receiver(pki, tmp_path) as receiver,
        OdooStandin() as odoo,
    ):
        acme = ob.seed_customer(odoo, "ACME01", "ACME Retail")
        nord = ob.seed_customer(odoo, "NORD01", "Nordwaren")
        ob.seed_customer(odoo, "OTHER", "Not an EDI partner")
        seeded = [
            ob.seed_downlink(odoo, partner=acme, po="PO-100", n=1),
            ob.seed_downlink(odoo, partner=nord, po="PO-200", n=2),
        ]
        _profiles(tmp_path / "partners.d", sshd, receiver.url, pki)
        registry, errors = partners.load_registry(tmp_path / "partners.d")
        assert errors == []
        asyncio.run(_scenario(tmp_path, registry, odoo, sshd, receiver, seeded))


async def _scenario(tmp_path, registry, odoo, sshd, receiver, seeded) -> None:
    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
    sinks = {}
    for profile in registry.profiles:
        name = partner_sink_name(profile.id)
        codec = as2_codec_for(profile) if profile.model.delivery.transport == "as2" else None
        sinks[name] = build_partner_sink(
            name, profile.model.delivery.model_dump(), profile.resolve_path, as2_codec=codec
        )
    engine = DeliveryEngine(
        journal, sinks, ordered=set(sinks), seed=1, policy=RetryPolicy(backoff_initial=0.05, backoff_max=0.2)
    )
    processor = OutboundProcessor(
        journal,
        registry=lambda: registry,
        on_queued=lambda d, s, p, m: engine.enqueue(d, s, partner=p, message_id=m),
        known_sinks=lambda: frozenset(sinks),
    )
    transport = OdooRpcTransport(
        OdooRpcSettings(
            host="127.0.0.1", port=odoo.port, database="edi", login="gateway", secret="s3cret", use_tls=False
        )
    )
    pull = OdooPull(
        transport,
        journal,
        PullSettings(partner_refs={"ACME01": "acme", "NORD01": "nord"}),
        on_appended=processor.submit,
    )
    tasks = [asyncio.create_task(processor.run()), asyncio.create_task(engine.run())]
    try:
        assert await pull.poll_once() == 6
        assert await pull.poll_once() == 0, "a second poll inside the overlap window must not re-send"
        await processor.idle()
        async with asyncio.timeout(60):
            while engine.backlog():
                await asyncio.sleep(0.05)
        states = journal.read_sync(
            lambda c: dict(
                c.execute(
                    "SELECT state, COUNT(*) FROM messages WHERE transport = 'odoo' GROUP BY state"
                ).fetchall()
            )
        )
        assert states == {"delivered": 6}, (states, sshd.log()[-2000:], receiver.state.errors)

        # SFTP: three X12 interchanges under their final names, no temp files, readable back.
        files = sorted(sshd.inbound.iterdir())
        assert [f.suffix for f in files] == [".x12"] * 3, files
        kinds = {}
        for f in files:
            data = f.read_bytes()
            assert data.startswith(b"ISA*00*          *00*          *ZZ*OURWAREHOUSE   *ZZ*ACMERETAIL     *")
            result = translate(data)
            assert not result.errors and len(result.documents) == 1
            doc = result.documents[0]
            kinds[doc.document_type] = doc
        assert set(kinds) == {"order_response", "ship_notice", "invoice"}
        assert kinds["ship_notice"].document["orders"][0]["order_number"] == "PO-100"
        assert kinds["invoice"].document["invoice_number"] == "INV/2026/00001"
        icns = sorted(int(k.envelope.interchange_control) for k in kinds.values())
        assert icns == [1, 2, 3], "control numbers come from the journal counters, in order"

        # AS2: three EDIFACT messages decrypted and verified by openssl, MDN MIC accepted.
        assert receiver.state.errors == []
        got = {}
        for item in receiver.received:
            result = translate(item.payload)
            assert result.documents, item.payload[:200]
            got[result.documents[0].document_type] = result.documents[0]
        assert set(got) == {"order_response", "ship_notice", "invoice"}
        assert got["ship_notice"].document["shipment_id"] == "WH/OUT/00002"
        assert b"UNB+UNOC:3+4000000000002:14+4000000000001:14" in receiver.received[0].payload

        # Export flags only now, after the partners have the documents.
        assert await pull.mark_exported() == 6
        for s in seeded:
            assert odoo.records("stock.picking", [["id", "=", s.picking]])[0]["x_edi_exported"] is True
            assert odoo.records("account.move", [["id", "=", s.invoice]])[0]["x_edi_exported"] is True
            assert odoo.records("sale.order", [["id", "=", s.order]])[0]["x_edi_exported"] is True
        assert await pull.mark_exported() == 0
        assert await pull.poll_once() == 0

        # Acks: waiting until the partners answer; a 997 and a CONTRL fed in as inbound files settle them.
        overview = journal.read_sync(acktrack.ack_overview)
        assert overview["counts"] == {"waiting": 6}
        tracked = journal.read_sync(lambda c: [dict(r) for r in c.execute("SELECT * FROM outbound_acks")])
        asn_x12 = next(t for t in tracked if t["partner"] == "acme" and t["document_type"] == "ship_notice")
        desadv = next(t for t in tracked if t["partner"] == "nord" and t["document_type"] == "ship_notice")
        pipeline = Pipeline(
            journal,
            registry=lambda: registry,
            default_sinks=["local"],
            on_queued=lambda pairs: None,
            translate_fn=partners.translate_with_profile,
        )
        for data, partner in (
            (_x12_997(asn_x12["group_control"], 900), "acme"),
            (_contrl(desadv["interchange_control"], 901), "nord"),
        ):
            appended = await journal.append(
                Intake(transport="sftp", data=data, partner=partner, file_name="ack.edi")
            )
            await pipeline.process(int(appended.message_id))
            row = await journal.message_row(int(appended.message_id))
            assert row["state"] == "queued", row["reason"]
        assert await journal._run(acktrack.apply_acks) == 2
        assert await journal._run(acktrack.apply_acks) == 0
        states_by_msg = journal.read_sync(
            lambda c: {
                (r[0], r[1]): r[2]
                for r in c.execute("SELECT partner, document_type, state FROM outbound_acks")
            }
        )
        assert states_by_msg[("acme", "ship_notice")] == "accepted"
        assert states_by_msg[("nord", "ship_notice")] == "accepted"
        assert states_by_msg[("acme", "invoice")] == "waiting"
        late = journal.read_sync(lambda c: acktrack.ack_overview(c, now=4e9))
        assert len(late["overdue"]) == 4 and "has not acknowledged" in late["overdue"][0]["reason"]
        body = json.loads(
            journal.read_sync(
                lambda c: c.execute(
                    "SELECT envelope FROM documents WHERE document_type = 'functional_ack' LIMIT 1"
                ).fetchone()[0]
            )
        )
        assert body["document"]["status"] == "A"
    finally:
        engine.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sink in engine.lanes.values():
            await sink.sink.aclose()
        await transport.aclose()
        journal.close()


def test_the_daemon_wires_pull_render_and_partner_delivery(tmp_path: Path) -> None:
    """``edigate run`` with an odoo sink: pull at start, render, drop for the partner, flag in Odoo."""
    from tests.harness import GatewayProcess

    with OdooStandin() as odoo:
        acme = ob.seed_customer(odoo, "ACME01", "ACME Retail")
        seeded = ob.seed_downlink(odoo, partner=acme, po="PO-300", n=3)
        (tmp_path / "partners.d").mkdir()
        drop = f'[delivery]\ntransport = "directory"\npath = "{tmp_path / "to-acme"}"\n'
        (tmp_path / "partners.d" / "acme.toml").write_text(
            ob.x12_profile(delivery=drop).replace('sinks = ["local"]', 'sinks = ["odoo"]')
        )
        (tmp_path / "secret").write_text("s3cret\n")
        (tmp_path / "secret").chmod(0o600)
        cfg = tmp_path / "edigate.toml"
        cfg.write_text(f"""
[gateway]
state_dir = "state"
partners_dir = "partners.d"

[journal]
min_free_mb = 1

[pipeline]
processes = 0

[[sinks]]
name = "odoo"
kind = "odoo"
url = "http://127.0.0.1:{odoo.port}"
database = "edi"
login = "gateway"
secret_file = "{tmp_path / "secret"}"

[sinks.options.acme]
partner_ref = "ACME01"
""")
        gateway = GatewayProcess(cfg)
        gateway.start()
        try:
            end = time.monotonic() + 60
            while time.monotonic() < end:
                flagged = [
                    odoo.records(model, [["id", "=", rid]])[0]["x_edi_exported"]
                    for model, rid in (
                        ("stock.picking", seeded.picking),
                        ("account.move", seeded.invoice),
                        ("sale.order", seeded.order),
                    )
                ]
                if all(flagged) and len(list((tmp_path / "to-acme").glob("*.x12"))) == 3:
                    break
                time.sleep(0.1)
            files = sorted(p.name for p in (tmp_path / "to-acme").glob("*"))
            assert [f.split("-")[1] for f in files] == ["810", "855", "856"], (
                files,
                gateway.log.read_text()[-3000:],
            )
            assert odoo.records("account.move", [["id", "=", seeded.invoice]])[0]["x_edi_exported"] is True
            assert gateway.states() == {"delivered": 3}
            assert gateway.stop() == 0
        finally:
            gateway.kill()
