"""``edigate status`` for staff: golden text and JSON over a journal in every state.

The journal is built with the real :class:`~gateway.journal.Journal` API
under a fake clock, so every age and "today" figure is reproducible.  Set
``EDIGATE_UPDATE_GOLDEN=1`` to rewrite the golden files after an intended
change, then read the diff.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import time as real_time
from pathlib import Path
from typing import Any

import pytest

from gateway import acktrack, status_view
from gateway import journal as journal_mod
from gateway.acktrack import OutboundInterchange
from gateway.journal import DocumentRecord, Intake, Journal, connect
from tests.harness import REPO, write_config

GOLDEN = Path(__file__).parent / "data" / "status"
NOW = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC).timestamp()
HOUR = 3600.0
MiB = 1024 * 1024


class FakeTime:
    """Stands in for the ``time`` module inside ``gateway.journal``."""

    def __init__(self, at: float) -> None:
        self.at = at

    def time(self) -> float:
        return self.at

    def __getattr__(self, name: str) -> Any:
        return getattr(real_time, name)


def _doc(key: str) -> list[DocumentRecord]:
    return [DocumentRecord(idempotency_key=key, document_type="purchase_order", envelope_json="{}")]


def build_journal(state: Path, clock: FakeTime) -> None:
    """Messages in every state, for two partners and one unidentified sender."""

    async def go() -> None:
        j = Journal.open(state)
        try:

            async def take(at: float, partner: str | None, data: bytes, name: str) -> int:
                clock.at = at
                r = await j.append(Intake(transport="directory", data=data, partner=partner, file_name=name))
                return int(r.message_id)

            async def queue(at: float, mid: int, partner: str, key: str, sinks: list[str]) -> list[int]:
                clock.at = at
                return await j.store_translation(
                    mid, partner=partner, standard="x12", documents=_doc(key), sinks=sinks
                )

            # acme: delivered yesterday, delivered today, waiting on a failing sink, rejected today.
            m = await take(NOW - 30 * HOUR, "acme", b"acme-1", "po-1.edi")
            (d,) = await queue(NOW - 30 * HOUR + 5, m, "acme", "k1", ["local"])
            clock.at = NOW - 30 * HOUR + 6
            await j.delivery_succeeded(d)
            m = await take(NOW - 2 * HOUR, "acme", b"acme-2", "po-2.edi")
            (d,) = await queue(NOW - 2 * HOUR + 5, m, "acme", "k2", ["local"])
            clock.at = NOW - 2 * HOUR + 6
            await j.delivery_succeeded(d)
            m = await take(NOW - 0.5 * HOUR, "acme", b"acme-3", "po-3.edi")
            (d,) = await queue(NOW - 0.5 * HOUR + 5, m, "acme", "k3", ["odoo"])
            clock.at = NOW - 0.25 * HOUR
            await j.delivery_failed(d, "ConnectError: [Errno 111] Connection refused", retry_at=NOW + 60)
            m = await take(NOW - 1 * HOUR, "acme", b"acme-4", "po-4.edi")
            clock.at = NOW - 1 * HOUR + 1
            await j.reject(m, "ISA segment is truncated at byte 80")
            # globex: dead after the sink kept failing; a rejected file replayed today.
            m = await take(NOW - 3 * HOUR, "globex", b"globex-1", "ORD1.edi")
            (d,) = await queue(NOW - 3 * HOUR + 5, m, "globex", "k5", ["odoo"])
            clock.at = NOW - 1.5 * HOUR
            await j.delivery_failed(
                d,
                "gave up after 25 attempts over 5400 s; last error: HTTP 503 Service Unavailable",
                retry_at=None,
            )
            m = await take(NOW - 26 * HOUR, "globex", b"globex-2", "ORD2.edi")
            clock.at = NOW - 26 * HOUR + 1
            await j.reject(m, "no map for document 855 in profile globex")
            clock.at = NOW - 0.1 * HOUR
            await j.replay(m)
            # a sender nobody set up
            m = await take(NOW - 5 * HOUR, None, b"stranger", "hello.edi")
            clock.at = NOW - 5 * HOUR + 1
            await j.reject(m, "unknown partner: ISA sender ZZ/NOBODY")
            clock.at = NOW - 4 * HOUR
            await j.note_event("auth_failed", {"user": "mallory"})
            # two ship notices we sent acme: one overdue, one still within its deadline
            for mid, sent, hours in ((900, NOW - 5 * HOUR, 2), (901, NOW - 1 * HOUR, 48)):
                item = OutboundInterchange(
                    message_id=mid,
                    partner="acme",
                    standard="x12",
                    document_type="ship_notice",
                    interchange_control=f"{mid:09d}",
                    group_control=str(mid),
                    expect_within_hours=hours,
                )
                j.run_sync(lambda c, item=item, sent=sent: acktrack.record_sent(c, item, sent))
        finally:
            j.close()

    asyncio.run(go())


LIVE: dict[str, Any] = {
    "ok": True,
    "running": True,
    "pid": 4242,
    "version": "0.1.0",
    "ready": True,
    "started_at": NOW - 50 * HOUR,
    "uptime_seconds": 50 * HOUR,
    "sources": [
        {
            "name": "drop",
            "kind": "directory",
            "listening": "/var/spool/edigate/inbox",
            "taken": 7,
            "refused": 1,
            "waiting": [{"file": "acme/big.edi", "waiting_seconds": 600, "reason": "still being written"}],
        },
        {
            "name": "as2",
            "kind": "as2",
            "listening": "0.0.0.0:4080",
            "taken": 0,
            "refused": 0,
            "cert_not_after": NOW + 10 * 86400,
        },
    ],
    "sinks": [
        {
            "name": "local",
            "healthy": True,
            "breaker": "closed",
            "last_error": None,
            "last_success_at": NOW - 2 * HOUR + 6,
        },
        {
            "name": "odoo",
            "healthy": False,
            "breaker": "open",
            "last_error": "ConnectError: [Errno 111] Connection refused",
            "last_success_at": None,
            "cert_not_after": "2026-12-01T00:00:00Z",
        },
    ],
    "profiles": {"errors": [], "reloads": 0, "last_reload_error": None},
    "disk_free_bytes": 10 * 1024 * MiB,
    "disk_floor_bytes": 1024 * MiB,
}


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory) -> Path:
    state = tmp_path_factory.mktemp("status") / "state"
    mp = pytest.MonkeyPatch()
    clock = FakeTime(NOW)
    mp.setattr(journal_mod, "time", clock)
    try:
        build_journal(state, clock)
    finally:
        mp.undo()
    return state


def _collect(state: Path, *, code: int, live: dict[str, Any] | None, free: int = 512 * MiB) -> dict[str, Any]:
    conn = connect(state / "journal.sqlite", readonly=True)
    try:
        return status_view.collect(
            code=code,
            live=live,
            conn=conn,
            now=NOW,
            state_dir=state,
            disk_floor_bytes=1024 * MiB,
            configured_sinks=["local", "odoo"],
            free_bytes=lambda _p: free,
        )
    finally:
        conn.close()


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("EDIGATE_UPDATE_GOLDEN"):
        path.write_text(actual + "\n", encoding="utf-8")
    assert path.exists(), f"{path} missing; run with EDIGATE_UPDATE_GOLDEN=1 and review it"
    assert actual + "\n" == path.read_text(encoding="utf-8")


def test_running_text_matches_golden(state_dir):
    out = _collect(state_dir, code=0, live=LIVE)
    text = status_view.render(out, color=False, width=140, tz=dt.UTC)
    assert "\x1b" not in text
    _golden("running.txt", text)


def test_running_json_matches_golden(state_dir):
    out = _collect(state_dir, code=0, live=LIVE)
    _golden("running.json", json.dumps(out, indent=2, sort_keys=True, default=str))


def test_not_running_text_matches_golden(state_dir):
    out = _collect(state_dir, code=3, live=None)
    _golden("not_running.txt", status_view.render(out, color=False, width=140, tz=dt.UTC))


def test_figures_per_partner(state_dir):
    out = _collect(state_dir, code=0, live=LIVE)
    p = {row["partner"]: row for row in out["summary"]["partners"]}
    assert p["acme"] | {"last_problem_at": None} == {
        "partner": "acme",
        "in_today": 3,
        "out_today": 1,
        "waiting": 1,
        "oldest_waiting_seconds": 0.5 * HOUR,
        "failed_today": 1,
        "failed_total": 1,
        "last_problem": "ISA segment is truncated at byte 80",
        "last_problem_plain": "the file is not valid EDI",
        "last_problem_at": None,
        "acks_overdue": 1,
    }
    assert p["globex"]["acks_overdue"] is None  # nothing sent to globex is tracked
    assert [a["message_id"] for a in out["summary"]["acks_overdue"]] == [900]
    # the replayed message is waiting again, and no longer counts as failed
    assert (p["globex"]["waiting"], p["globex"]["failed_total"], p["globex"]["in_today"]) == (1, 1, 1)
    assert p["(unidentified)"]["last_problem_plain"] == "the sender is not set up as a partner"
    sinks = {s["name"]: s for s in out["summary"]["sinks"]}
    assert sinks["odoo"]["state"] == "down" and sinks["odoo"]["backlog"] == 1
    assert sinks["local"]["state"] == "up" and sinks["local"]["backlog"] == 0
    assert [c["owner"] for c in out["summary"]["certificates"]] == ["sink odoo", "source as2"]
    assert out["summary"]["disk"]["below_floor"] is False


def test_existing_json_keys_are_kept(state_dir):
    out = _collect(state_dir, code=0, live=LIVE)
    assert {"running", "exit_code", "daemon", "journal"} <= set(out)
    assert set(out["journal"]) == {"totals", "partners", "sinks", "events_24h"}


def test_disk_below_floor_when_not_running_is_flagged(state_dir):
    out = _collect(state_dir, code=3, live=None, free=10 * MiB)
    assert out["summary"]["disk"] == {
        "free_bytes": 10 * MiB,
        "floor_bytes": 1024 * MiB,
        "below_floor": True,
        "measured_by": "status",
    }
    assert "disk space is below the floor: new files are refused" in out["summary"]["attention"]
    # down sinks are "unknown" when nobody can ask the daemon
    assert {s["state"] for s in out["summary"]["sinks"]} == {"unknown"}


def test_colour_only_when_asked(state_dir):
    out = _collect(state_dir, code=0, live=LIVE)
    assert "\x1b[" in status_view.render(out, color=True, tz=dt.UTC)
    assert "\x1b[" not in status_view.render(out, color=False, tz=dt.UTC)


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("ConnectError: [Errno 111] Connection refused", "could not reach the system"),
        ("HTTP 401 Unauthorized", "our credentials were refused"),
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
            "the other side's certificate is not trusted",
        ),
        ("ReadTimeout: timed out", "the other system took too long to answer"),
        ("something nobody anticipated", None),
        (None, None),
    ],
)
def test_plain_reason(reason, words):
    assert status_view.plain_reason(reason) == words


def test_cli_piped_status_is_plain_text_and_keeps_exit_codes(tmp_path):
    cfg = write_config(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    run = [sys.executable, "-m", "gateway.cli", "status", "--config", str(cfg)]
    r = subprocess.run(run, capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 3, r.stderr
    assert "NOT RUNNING" in r.stdout and "\x1b" not in r.stdout
    r = subprocess.run([*run, "--json"], capture_output=True, text=True, env=env, check=False)
    out = json.loads(r.stdout)
    assert r.returncode == 3 and out["exit_code"] == 3 and out["running"] is False
    assert out["summary"]["disk"]["measured_by"] == "status"
