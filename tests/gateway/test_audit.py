"""The audit log: a hash chain that names the first record someone tampered with."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import pytest

from gateway.audit import GENESIS, AuditLog, canonical, record_hash, verify
from tests.harness import REPO, write_config


def _log(tmp_path, n: int = 4):
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    for i in range(n):
        log.append("replay", {"ids": [i]}, actor={"uid": 0, "user": "root"}, now=1_800_000_000 + i)
    return path


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_records_chain_and_verify(tmp_path):
    path = _log(tmp_path)
    records = [json.loads(line) for line in _lines(path)]
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert records[0]["prev"] == GENESIS
    for a, b in itertools.pairwise(records):
        assert b["prev"] == a["hash"]
    for r in records:
        assert r["hash"] == record_hash(r)
        assert set(r) == {"seq", "time", "actor", "action", "detail", "prev", "hash"}
    assert verify(path).ok and verify(path).records == 4


def test_canonical_json_is_key_order_independent():
    assert canonical({"b": 1, "a": {"y": 2, "x": 1}, "hash": "h"}) == b'{"a":{"x":1,"y":2},"b":1}'


def test_reopening_continues_the_chain(tmp_path):
    path = _log(tmp_path, 2)
    AuditLog(path).append("purge", {"messages": 3})
    result = verify(path)
    assert result.ok and result.records == 3


def test_empty_log_is_intact(tmp_path):
    assert verify(tmp_path / "audit.log").ok


def test_edited_record_is_named(tmp_path):
    path = _log(tmp_path)
    lines = _lines(path)
    lines[1] = lines[1].replace('"ids":[1]', '"ids":[9]')
    path.write_text("".join(lines), encoding="utf-8")
    r = verify(path)
    assert not r.ok and r.broken_at == 2 and "modified" in (r.reason or "")


def test_edited_record_with_recomputed_hash_breaks_the_next(tmp_path):
    path = _log(tmp_path)
    lines = _lines(path)
    rec = json.loads(lines[1])
    rec["detail"] = {"ids": [9]}
    rec["hash"] = record_hash(rec)
    lines[1] = json.dumps(rec) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    r = verify(path)
    assert not r.ok and r.broken_at == 3


def test_deleted_record_is_named(tmp_path):
    path = _log(tmp_path)
    lines = _lines(path)
    del lines[1]
    path.write_text("".join(lines), encoding="utf-8")
    r = verify(path)
    assert not r.ok and r.broken_at == 2


def test_reordered_records_are_named(tmp_path):
    path = _log(tmp_path)
    lines = _lines(path)
    lines[1], lines[2] = lines[2], lines[1]
    path.write_text("".join(lines), encoding="utf-8")
    r = verify(path)
    assert not r.ok and r.broken_at == 2


def test_truncated_tail_is_caught_by_the_head(tmp_path):
    path = _log(tmp_path)
    path.write_text("".join(_lines(path)[:3]), encoding="utf-8")
    r = verify(path)
    assert not r.ok and r.broken_at == 4 and "missing" in (r.reason or "")


def test_unknown_action_is_refused(tmp_path):
    with pytest.raises(ValueError):
        AuditLog(tmp_path / "audit.log").append("coffee", {})


def test_file_is_private(tmp_path):
    path = _log(tmp_path, 1)
    assert path.stat().st_mode & 0o777 == 0o600


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, env=env, check=False
    )


def test_cli_verify_exit_codes(tmp_path, capsys):
    from gateway.cli import main

    cfg = write_config(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    assert main(["audit", "verify", "--config", str(cfg)]) == 0
    path = _log(state)
    assert main(["audit", "verify", "--config", str(cfg)]) == 0
    assert "4 record(s)" in capsys.readouterr().out
    lines = _lines(path)
    lines[2] = lines[2].replace('"user":"root"', '"user":"alice"')
    path.write_text("".join(lines), encoding="utf-8")
    assert main(["audit", "verify", "--config", str(cfg)]) == 1
    assert "record 3" in capsys.readouterr().err
    assert main(["audit", "verify", "--config", str(cfg), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["broken_at"] == 3


def test_daemon_audits_reload_and_replay(tmp_path):
    import signal
    import time

    from tests.harness import GatewayProcess

    cfg = write_config(tmp_path)
    gw = GatewayProcess(cfg)
    gw.start()
    try:
        (tmp_path / "inbox" / "acme" / "junk.edi").write_bytes(b"not EDI")
        gw.wait_settled(1)
        (tmp_path / "partners.d" / "globex.toml").write_text(
            'id = "globex"\nname = "Globex"\n\n[identities]\ninbox = "globex"\n', encoding="utf-8"
        )
        gw.signal(signal.SIGHUP)
        r = _cli("dead", "replay", "--all", "--config", str(cfg))
        assert r.returncode in (0, 1), r.stderr  # the junk is rejected again; the replay itself is audited
        path = tmp_path / "state" / "audit.log"
        deadline = time.monotonic() + 60
        actions: list[str] = []
        while time.monotonic() < deadline:
            actions = [json.loads(line)["action"] for line in _lines(path)] if path.exists() else []
            if "reload" in actions and "replay" in actions:
                break
            time.sleep(0.1)
        records = [json.loads(line) for line in _lines(path)]
        reload = next(r for r in records if r["action"] == "reload")
        assert reload["detail"]["outcome"] == "applied"
        assert set(reload["detail"]["profiles"]) >= {"acme.toml", "globex.toml"}
        replay = next(r for r in records if r["action"] == "replay")
        assert replay["detail"]["results"][0]["ok"] is True
        assert replay["actor"]["requested_by"]["uid"] == os.getuid()
    finally:
        gw.stop()
    r = _cli("audit", "verify", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
