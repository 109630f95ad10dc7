"""Daemon lifecycle with a real process: SIGTERM, SIGHUP reload, rejection and replay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.harness import GatewayProcess, inbox_files, make_850, sink_envelopes, write_config


def edigate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, check=False, timeout=120
    )


def test_sigterm_during_a_burst_loses_nothing(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    gw = GatewayProcess(cfg)
    gw.start()
    inbox = tmp_path / "inbox" / "acme"
    try:
        for i in range(1, 201):
            tmp = inbox / f".f{i}"
            tmp.write_bytes(make_850(i, f"PO{i}"))
            os.replace(tmp, inbox / f"f{i}.edi")
            if i == 100:
                gw.signal(signal.SIGTERM)
        code = gw.proc.wait(60) if gw.proc else None
        assert code == 0, gw.log.read_text()[-2000:]
        gw.start()
        states = gw.wait_settled(200, timeout=120)
        assert states == {"delivered": 200}, states
        assert len(sink_envelopes(tmp_path)) == 200
        status = json.loads(edigate("status", "--config", str(cfg), "--json").stdout)
        assert status["running"] is True
        assert status["journal"]["totals"]["delivered"] == 200
    finally:
        gw.kill()


def test_unknown_partner_and_format_are_rejected_and_replayable(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    (tmp_path / "inbox" / "stranger").mkdir()
    gw = GatewayProcess(cfg)
    gw.start()
    try:
        (tmp_path / "inbox" / "acme" / "notes.txt").write_bytes(b"just some text\n")
        (tmp_path / "inbox" / "stranger" / "po.edi").write_bytes(make_850(9, "PO9", sender="STRANGER"))
        states = gw.wait_settled(2, timeout=60)
        assert states == {"rejected": 2}
        dead = json.loads(edigate("dead", "list", "--config", str(cfg), "--json").stdout)
        reasons = {d["file_name"]: d["reason"] for d in dead}
        assert "not X12 or EDIFACT" in reasons["notes.txt"] or "unrecognised format" in reasons["notes.txt"]
        assert "unknown partner" in reasons["po.edi"] and "STRANGER" in reasons["po.edi"]
        status = json.loads(edigate("status", "--config", str(cfg), "--json").stdout)
        partners = {p["partner"]: p for p in status["journal"]["partners"]}
        assert "unknown partner" in partners["stranger"]["last_error"]
        # the admin adds the partner's profile; the reload picks it up; replay delivers
        (tmp_path / "partners.d" / "stranger.toml").write_text(
            'id = "stranger"\nname = "New partner"\n[identities]\ninbox = "stranger"\n', encoding="utf-8"
        )
        gw.signal(signal.SIGHUP)
        time.sleep(1.0)
        mid = next(d["id"] for d in dead if d["file_name"] == "po.edi")
        r = edigate("dead", "replay", str(mid), "--config", str(cfg))
        assert r.returncode == 0, r.stdout + r.stderr
        deadline = time.monotonic() + 30
        while gw.states().get("delivered") != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gw.states() == {"delivered": 1, "rejected": 1}
        trace = json.loads(edigate("messages", "trace", str(mid), "--config", str(cfg), "--json").stdout)
        assert [h["state"] for h in trace["history"]] == [
            "received",
            "rejected",
            "received",
            "translated",
            "queued",
            "delivered",
        ]
        assert trace["canonical"][0]["partner"] == "stranger"
        assert trace["raw"].startswith("ISA")
        assert trace["deliveries"][0]["attempts_log"][0]["ok"] is True
    finally:
        gw.kill()


def test_broken_profile_on_reload_keeps_the_previous_one(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    gw = GatewayProcess(cfg)
    gw.start()
    try:
        profile = tmp_path / "partners.d" / "acme.toml"
        profile.write_text(profile.read_text() + "\nnot_a_key = 1\n", encoding="utf-8")
        gw.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        errors: list[str] = []
        while time.monotonic() < deadline and not errors:
            errors = gw.control({"command": "status"})["profiles"]["errors"]
            time.sleep(0.1)
        assert errors and "not_a_key" in errors[0]
        # still serving acme with its previous version
        (tmp_path / "inbox" / "acme" / "po.edi").write_bytes(make_850(3, "PO3"))
        assert gw.wait_settled(1, timeout=30) == {"delivered": 1}
        assert not inbox_files(tmp_path)
    finally:
        gw.kill()


def test_ready_is_sent_to_systemd_only_once_listening(tmp_path: Path) -> None:
    import socket

    cfg = write_config(tmp_path)
    notify = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    sock.settimeout(60)
    env = dict(os.environ, NOTIFY_SOCKET=str(notify), WATCHDOG_USEC="400000")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "run", "--config", str(cfg)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        messages = []
        while not any(m.startswith("READY=1") for m in messages):
            messages.append(sock.recv(4096).decode())
        # once READY arrived, the control socket answers and the inbox is watched
        from gateway.control import request

        status = request(tmp_path / "state" / "edigate.sock", {"command": "status"})
        assert status["ready"] is True
        assert status["sources"][0]["listening"].endswith("inbox")
        watchdog = sock.recv(4096).decode()
        assert watchdog.startswith("WATCHDOG=1") and "STATUS=" in watchdog
        proc.send_signal(signal.SIGTERM)
        tail = []
        while not any(m.startswith("STOPPING=1") for m in tail):
            tail.append(sock.recv(4096).decode())
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()


def test_out_of_sequence_interchanges_are_processed_and_reported(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    gw = GatewayProcess(cfg)
    gw.start()
    inbox = tmp_path / "inbox" / "acme"
    try:
        for n, icn in enumerate((101, 102, 105)):
            (inbox / f"po{icn}.edi").write_bytes(make_850(icn, f"PO{icn}"))
            gw.wait_settled(n + 1, timeout=60)
        assert gw.states() == {"delivered": 3}
        status = json.loads(edigate("status", "--config", str(cfg), "--json").stdout)
        assert status["journal"]["events_24h"].get("out_of_sequence") == 1
        rows = json.loads(edigate("messages", "list", "--config", str(cfg), "--json").stdout)
        ids = {r["file_name"]: r["id"] for r in rows}

        def history_text(name: str) -> str:
            trace = json.loads(
                edigate("messages", "trace", str(ids[name]), "--config", str(cfg), "--json").stdout
            )
            return " ".join(h["reason"] or "" for h in trace["history"])

        assert "out of sequence: expected 000000103 after 000000102" in history_text("po105.edi")
        assert "out of sequence" not in history_text("po102.edi")
    finally:
        gw.kill()
