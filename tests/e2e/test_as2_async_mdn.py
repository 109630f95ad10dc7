"""AS2 send with an asynchronous MDN, end to end against a partner made of ``openssl cms`` + ``curl``.

Our partner transport POSTs a signed+encrypted message asking for an
asynchronous MDN (Receipt-Delivery-Option = our AS2 listener on 127.0.0.1);
the partner answers 200 with no MDN, then signs an MDN with ``openssl cms
-sign`` and POSTs it with ``curl`` to our listener, which verifies it against
the partner's certificate, matches Original-Message-ID and the MIC, and marks
the message accepted or rejected (journal, ``messages trace``, status).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

import partners
from agent.partner import build_partner_sink
from agent.sinks.base import Delivery
from gateway import acktrack, report, status_view
from gateway.journal import DocumentRecord, Intake, Journal, JournalOptions
from gateway.outbound import FILE_SCHEMA, as2_codec_for, partner_sink_name
from gateway.sources.as2 import As2Source, As2SourceConfig, RegistryAs2Partners
from tests.support.partner_peers import OpensslAs2Receiver, make_pki

EDI = b"UNB+UNOC:3+4000000000002:14+4000000000001:14+261129:1200+1'UNH+1+INVOIC:D:96A:UN'UNT+2+1'UNZ+1+1'"


def _profile(folder: Path, url: str, pki: Any, *, within_minutes: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nord.toml").write_text(
        f"""id = "nord"
name = "Nordwaren"

# No [identities] as2_name: a partner we only send to still posts its MDNs to our listener.
[delivery]
transport = "as2"
url = "{url}"
as2_from = "GATEWAY"
as2_to = "PARTNER"
mdn = "async"
async_mdn_within_minutes = {within_minutes}

[certificates]
as2_partner = "{pki.partner_cert}"
as2_ours = "{pki.gateway_cert}"
as2_ours_key = "{pki.gateway_key}"
"""
    )


async def _queue_file(journal: Journal, sink: str) -> tuple[int, Delivery]:
    """An outbound message with one partner-file delivery, as gateway.outbound would queue it."""
    appended = await journal.append(Intake(transport="odoo", data=b'{"doc": 1}', partner="nord"))
    mid = int(appended.message_id)
    envelope = {
        "schema": FILE_SCHEMA,
        "partner": "nord",
        "document_type": "invoice",
        "standard": "edifact",
        "file_name": f"nord-INVOIC-{mid}.edi",
        "content_type": "application/edifact",
        "interchange_control": str(mid),
        "group_control": None,
        "sha256": hashlib.sha256(EDI).hexdigest(),
        "size": len(EDI),
        "content_b64": base64.b64encode(EDI).decode(),
    }
    ids = await journal.store_translation(
        mid,
        partner="nord",
        standard="edifact",
        documents=[
            DocumentRecord(
                idempotency_key=f"out:nord:{mid}", document_type="invoice", envelope_json=json.dumps(envelope)
            )
        ],
        sinks=[sink],
    )
    delivery = Delivery(
        delivery_id=ids[0],
        idempotency_key=f"out:nord:{mid}",
        partner="nord",
        document_type="invoice",
        envelope=envelope,
        body=json.dumps(envelope).encode(),
    )
    return mid, delivery


def _receipt(journal: Journal, mid: int) -> dict[str, Any] | None:
    row = journal.read_sync(
        lambda c: c.execute("SELECT * FROM as2_receipts WHERE message_id = ?", (mid,)).fetchone()
    )
    return None if row is None else dict(row)


def _events(journal: Journal, kind: str) -> list[dict[str, Any]]:
    return [
        json.loads(r[0])
        for r in journal.read_sync(
            lambda c: c.execute("SELECT detail FROM events WHERE kind = ? ORDER BY id", (kind,)).fetchall()
        )
    ]


async def _until(predicate: Any, what: str) -> None:
    # A wait for an outcome, not a timing threshold: the deadline only stops a hung test.
    async with asyncio.timeout(60):
        while not predicate():
            await asyncio.sleep(0.02)


async def _scenario(
    tmp_path: Path, receiver: OpensslAs2Receiver, pki: Any, *, within_minutes: float, sends: int = 1
) -> tuple[Journal, list[int]]:
    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
    folder = tmp_path / "partners.d"
    _profile(folder, receiver.url, pki, within_minutes=within_minutes)
    registry, errors = partners.load_registry(folder)
    assert errors == []
    source = As2Source(
        As2SourceConfig(
            host="127.0.0.1",
            port=0,
            as2_names=["GATEWAY"],
            decryption_keys=[],
        ),
        RegistryAs2Partners(lambda: registry),
    )
    ready = asyncio.Event()
    task = asyncio.create_task(source.run(journal, ready))
    await asyncio.wait_for(ready.wait(), 10)
    profile = registry.get("nord")
    sink_name = partner_sink_name("nord")
    codec = as2_codec_for(profile, async_mdn_url=f"http://127.0.0.1:{source.bound_port}/as2", journal=journal)
    sink = build_partner_sink(
        sink_name, profile.model.delivery.model_dump(), profile.resolve_path, as2_codec=codec
    )
    mids = []
    try:
        for _ in range(sends):
            mid, delivery = await _queue_file(journal, sink_name)
            await sink.deliver(delivery)
            await journal.delivery_succeeded(delivery.delivery_id)
            mids.append(mid)
        if receiver.state.async_mode == "send":
            await _until(lambda: len(receiver.state.async_posts) >= sends, "the partner's MDN POSTs")
    finally:
        await sink.aclose()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return journal, mids


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _run(
    tmp_path: Path, pki: Any, *, within_minutes: float = 60, **state: Any
) -> tuple[Any, Journal, list[int]]:
    with OpensslAs2Receiver(pki, tmp_path) as receiver:
        for k, v in state.items():
            setattr(receiver.state, k, v)
        journal, mids = asyncio.run(_scenario(tmp_path, receiver, pki, within_minutes=within_minutes))
    return receiver, journal, mids


def _status(journal: Journal, *, text: bool = False) -> Any:
    out: dict[str, Any] = journal.read_sync(
        lambda c: status_view.collect(
            code=status_view.NOT_RUNNING,
            live=None,
            conn=c,
            now=time.time(),
            state_dir=Path("/"),
            disk_floor_bytes=0,
            configured_sinks=[],
            free_bytes=lambda _p: 1 << 40,
        )
    )
    return status_view.render(out, color=False) if text else out["summary"]


def test_processed_mdn_marks_the_message_accepted(tmp_path: Path, pki: Any) -> None:
    receiver, journal, [mid] = _run(tmp_path, pki)
    try:
        assert receiver.state.errors == []
        assert [code for code, _ in receiver.state.async_posts] == [200]
        assert len(receiver.received) == 1 and receiver.received[0].payload.startswith(b"UNB+UNOC:3")
        row = _receipt(journal, mid)
        assert row is not None and row["state"] == acktrack.ACCEPTED, row
        assert b"multipart/signed" in row["mdn"]  # the signed MDN is kept as evidence
        trace = journal.read_sync(lambda c: report.message_trace(c, mid))
        assert trace["state"] == "delivered"
        assert any("MIC matched" in (h["reason"] or "") for h in trace["history"])
        # An MDN is never journaled as an inbound file.
        assert (
            journal.read_sync(
                lambda c: c.execute("SELECT COUNT(*) FROM messages WHERE transport = 'as2'").fetchone()[0]
            )
            == 0
        )
        summary = _status(journal)
        assert summary["acks_overdue"] == [] and summary["mdn_rejected"] == []
    finally:
        journal.close()


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ({"negative": True}, "the partner refused the message"),
        ({"corrupt_mic": True}, "MIC mismatch"),
    ],
)
def test_negative_or_mismatched_mdn_marks_it_rejected_with_the_reason(
    tmp_path: Path, pki: Any, state: dict[str, Any], words: str
) -> None:
    receiver, journal, [mid] = _run(tmp_path, pki, **state)
    try:
        assert [code for code, _ in receiver.state.async_posts] == [200]
        row = _receipt(journal, mid)
        assert row is not None and row["state"] == acktrack.REJECTED, row
        assert words in row["detail"]
        trace = journal.read_sync(lambda c: report.message_trace(c, mid))
        assert words in (trace["reason"] or "")
        assert any(words in (h["reason"] or "") for h in trace["history"])
        summary = _status(journal)
        assert [r["message_id"] for r in summary["mdn_rejected"]] == [mid]
        assert any("refused by the partner's MDN" in line for line in summary["attention"])
        assert "MDN refused: AS2 MDN from nord" in _status(journal, text=True)
        assert [e["message_id"] for e in _events(journal, "as2_mdn_rejected")] == [mid]
    finally:
        journal.close()


def test_mdn_with_a_bad_signature_is_refused_and_marks_nothing(tmp_path: Path, pki: Any) -> None:
    receiver, journal, [mid] = _run(tmp_path, pki, mdn_signer="gateway")
    try:
        assert [code for code, _ in receiver.state.async_posts] == [403]
        row = _receipt(journal, mid)
        assert row is not None and row["state"] == acktrack.WAITING and row["mdn"] is None
        refused = _events(journal, "as2_mdn_refused")
        assert len(refused) == 1 and refused[0]["partner"] == "nord" and refused[0]["reason"]
        assert _events(journal, "as2_mdn_accepted") == _events(journal, "as2_mdn_rejected") == []
    finally:
        journal.close()


def test_mdn_for_an_unknown_message_is_recorded_as_unmatched(tmp_path: Path, pki: Any) -> None:
    receiver, journal, [mid] = _run(tmp_path, pki, original_id="<never-sent@edigate>")
    try:
        assert [code for code, _ in receiver.state.async_posts] == [200]
        unmatched = _events(journal, "as2_mdn_unmatched")
        assert [e["original_message_id"] for e in unmatched] == ["<never-sent@edigate>"]
        row = _receipt(journal, mid)
        assert row is not None and row["state"] == acktrack.WAITING
        assert (
            journal.read_sync(
                lambda c: c.execute("SELECT COUNT(*) FROM messages WHERE transport = 'as2'").fetchone()[0]
            )
            == 0
        )
    finally:
        journal.close()


def test_missing_mdn_is_flagged_overdue_after_the_deadline(tmp_path: Path, pki: Any) -> None:
    # Deadline 0: the MDN is overdue as soon as the partner has answered the POST.
    receiver, journal, [mid] = _run(tmp_path, pki, within_minutes=0, async_mode="hold")
    try:
        assert receiver.state.async_posts == [] and len(receiver.received) == 1
        row = _receipt(journal, mid)
        assert row is not None and row["state"] == acktrack.WAITING
        summary = _status(journal)
        assert [o["message_id"] for o in summary["acks_overdue"]] == [mid]
        assert "has not sent the AS2 MDN" in summary["acks_overdue"][0]["reason"]
        assert {p["partner"]: p["acks_overdue"] for p in summary["partners"]}.get("nord") == 1
        assert "ack overdue: nord has not sent the AS2 MDN" in _status(journal, text=True)
    finally:
        journal.close()


def test_waiting_mdn_within_its_deadline_is_not_overdue(tmp_path: Path, pki: Any) -> None:
    _receiver, journal, [mid] = _run(tmp_path, pki, within_minutes=60, async_mode="hold")
    try:
        assert _receipt(journal, mid)["state"] == acktrack.WAITING
        assert _status(journal)["acks_overdue"] == []
    finally:
        journal.close()
