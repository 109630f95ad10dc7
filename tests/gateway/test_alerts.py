"""Alerts: pure evaluation under a fake clock, then one real mail and one real webhook."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from pydantic import ValidationError

from gateway.alerts import Alerter, AlertsSection, Kind, Notification, send

MIN = 60.0
T0 = 1_800_000_000.0


def summary(*, failed=0, sink="up", backlog=0, cert_days=None, below_floor=False, acks=None):
    s = {
        "partners": [{"partner": "acme", "failed_total": failed, "acks_overdue": acks}],
        "sinks": [{"name": "odoo", "state": sink, "backlog": backlog}],
        "certificates": [] if cert_days is None else [{"owner": "source as2", "days_left": cert_days}],
        "disk": {"free_bytes": 10 * 2**20, "floor_bytes": 20 * 2**20, "below_floor": below_floor},
    }
    return s


def kinds(notes):
    return [(n.kind.value, n.key) for n in notes]


@pytest.fixture
def alerter():
    cfg = AlertsSection(
        webhook_url="http://127.0.0.1:9/hook", reminder_minutes=60, reminder_backoff=2, sink_down_minutes=15
    )
    return Alerter(cfg, site="dc1")


def test_fires_once_reminds_with_backoff_and_resolves(alerter):
    assert kinds(alerter.evaluate(summary(failed=2), T0)) == [("firing", "dead_letters")]
    assert alerter.evaluate(summary(failed=2), T0 + 30 * MIN) == []
    assert kinds(alerter.evaluate(summary(failed=3), T0 + 60 * MIN)) == [("reminder", "dead_letters")]
    # the next reminder comes twice as late (120 min after the first one)
    assert alerter.evaluate(summary(failed=3), T0 + 179 * MIN) == []
    assert kinds(alerter.evaluate(summary(failed=3), T0 + 180 * MIN)) == [("reminder", "dead_letters")]
    notes = alerter.evaluate(summary(failed=0), T0 + 181 * MIN)
    assert kinds(notes) == [("resolved", "dead_letters")]
    assert notes[0].since == T0 and "3 failed" in notes[0].summary
    assert alerter.evaluate(summary(failed=0), T0 + 500 * MIN) == []


def test_sink_down_only_after_the_grace_period(alerter):
    assert alerter.evaluate(summary(sink="down", backlog=4), T0) == []
    assert alerter.evaluate(summary(sink="down", backlog=4), T0 + 14 * MIN) == []
    notes = alerter.evaluate(summary(sink="down", backlog=5), T0 + 15 * MIN)
    assert kinds(notes) == [("firing", "sink_down:odoo")]
    assert "down for 15 min" in notes[0].summary and "5 document(s)" in notes[0].summary
    assert kinds(alerter.evaluate(summary(sink="up"), T0 + 16 * MIN)) == [("resolved", "sink_down:odoo")]
    # a flap restarts the clock
    assert alerter.evaluate(summary(sink="down"), T0 + 17 * MIN) == []
    assert alerter.evaluate(summary(sink="down"), T0 + 31 * MIN) == []


def test_certificates_disk_and_acks(alerter):
    notes = alerter.evaluate(summary(cert_days=5, below_floor=True, acks=2), T0)
    assert kinds(notes) == [
        ("firing", "acks_overdue:acme"),
        ("firing", "cert:source as2"),
        ("firing", "disk_below_floor"),
    ]
    assert alerter.evaluate(summary(cert_days=30), T0 + MIN)[0].kind is Kind.RESOLVED
    expired = Alerter(AlertsSection(webhook_url="http://127.0.0.1:9/"), site="dc1")
    assert "has expired" in expired.evaluate(summary(cert_days=-1), T0)[0].summary


def test_acks_unknown_is_not_an_alert(alerter):
    assert alerter.evaluate(summary(acks=None), T0) == []
    assert alerter.evaluate(summary(acks=0), T0) == []


def test_failed_sends_are_retried(alerter):
    (note,) = alerter.evaluate(summary(failed=1), T0)
    alerter.failed(note)
    (again,) = alerter.evaluate(summary(failed=1), T0 + MIN)
    assert again.kind is Kind.FIRING and again.since == T0
    assert alerter.evaluate(summary(failed=1), T0 + 2 * MIN) == []
    (resolved,) = alerter.evaluate(summary(), T0 + 3 * MIN)
    alerter.failed(resolved)
    assert kinds(alerter.evaluate(summary(), T0 + 4 * MIN)) == [("resolved", "dead_letters")]
    assert alerter.evaluate(summary(), T0 + 5 * MIN) == []


def test_disabled_conditions_stay_quiet():
    a = Alerter(AlertsSection(webhook_url="http://127.0.0.1:9/", dead_letters=False, disk_floor=False))
    assert a.evaluate(summary(failed=3, below_floor=True), T0) == []


def test_config_validation():
    assert not AlertsSection().enabled
    with pytest.raises(ValidationError):
        AlertsSection(mail_to=["ops@example.com"])
    with pytest.raises(ValidationError):
        AlertsSection(mail_relay="127.0.0.1:25", mail_to=["a@b"], mail_username="u")
    with pytest.raises(ValidationError):
        AlertsSection(nonsense=1)


# ---------------------------------------------------------------------- real peers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _note() -> Notification:
    return Notification(
        kind=Kind.FIRING,
        key="sink_down:odoo",
        summary="destination odoo has been down for 20 min",
        since=T0,
        at=T0 + 1200,
        site="dc1",
    )


def test_mail_reaches_a_real_smtp_server():
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    port = _free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        cfg = AlertsSection(
            mail_relay=f"127.0.0.1:{port}", mail_from="gw@site.example", mail_to=["ops@site.example"]
        )
        failures = asyncio.run(send(cfg, [_note()]))
    finally:
        controller.stop()
    assert failures == []
    (env,) = received
    assert env.mail_from == "gw@site.example" and env.rcpt_tos == ["ops@site.example"]
    text = env.content.decode()
    assert "Subject: [edigate dc1] PROBLEM: destination odoo has been down for 20 min" in text


def test_webhook_reaches_a_real_http_server():
    bodies = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            bodies.append(
                (
                    self.path,
                    self.headers["Content-Type"],
                    self.rfile.read(int(self.headers["Content-Length"])),
                )
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hooks/secret-token"
        failures = asyncio.run(send(AlertsSection(webhook_url=url), [_note()]))
    finally:
        server.shutdown()
        server.server_close()
    assert failures == []
    ((path, ctype, raw),) = bodies
    assert path == "/hooks/secret-token" and ctype == "application/json"
    assert json.loads(raw) == {
        "source": "edigate",
        "site": "dc1",
        "kind": "firing",
        "key": "sink_down:odoo",
        "summary": "destination odoo has been down for 20 min",
        "since": "2027-01-15T08:00:00+00:00",
        "at": "2027-01-15T08:20:00+00:00",
    }


def test_unreachable_channels_report_failures_without_leaking_the_url():
    port = _free_port()  # nothing listens there
    cfg = AlertsSection(
        mail_relay=f"127.0.0.1:{port}",
        mail_to=["ops@x"],
        webhook_url=f"http://127.0.0.1:{port}/t/secret-token",
    )
    failures = asyncio.run(send(cfg, [_note()]))
    assert len(failures) == 1
    (note, error) = failures[0]
    assert note.key == "sink_down:odoo"
    assert "mail via" in error and "webhook to 127.0.0.1" in error
    assert "secret-token" not in error


def test_daemon_posts_a_dead_letter_alert(tmp_path):
    from tests.harness import GatewayProcess, write_config

    bodies = []
    got = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            got.set()
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cfg = write_config(
        tmp_path,
        extra=(
            f'\n[alerts]\nwebhook_url = "http://127.0.0.1:{server.server_port}/hook"\n'
            "evaluate_seconds = 0.5\n"
        ),
    )
    gw = GatewayProcess(cfg)
    gw.start()
    try:
        (tmp_path / "inbox" / "acme" / "junk.edi").write_bytes(b"not EDI at all")
        gw.wait_settled(1)
        assert got.wait(60), gw.log.read_text()[-2000:]
    finally:
        gw.stop()
        server.shutdown()
        server.server_close()
    first = bodies[0]
    assert (first["kind"], first["key"]) == ("firing", "dead_letters")
    assert "1 failed document(s)" in first["summary"]
    # de-duplicated: one firing notification, however many evaluations ran
    assert [b["kind"] for b in bodies] == ["firing"]
