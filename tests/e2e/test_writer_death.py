"""The journal's writer process dies alone: the gateway stops instead of taking files it cannot keep.

kill -9 of the writer while the daemon idles: the daemon notices on its own
(no write has to fail first), exits non-zero for systemd to restart it, and
a file dropped meanwhile stays in the inbox; the restarted gateway delivers it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.harness import GatewayProcess, inbox_files, make_850, write_config


def _writer_pid(gateway_pid: int) -> int:
    """The gateway's first spawned child: the journal opens (and starts its writer) before anything else."""
    children = []
    for name in os.listdir(f"/proc/{gateway_pid}/task"):
        path = f"/proc/{gateway_pid}/task/{name}/children"
        with open(path, encoding="ascii") as fh:
            children += [int(p) for p in fh.read().split()]
    spawned = []
    for pid in children:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if b"spawn_main" in fh.read():
                spawned.append(pid)
    assert spawned, f"no spawned child of {gateway_pid}"
    return min(spawned)


def test_a_killed_writer_stops_the_gateway_and_nothing_is_lost(tmp_path: Path) -> None:
    write_config(tmp_path)
    gw = GatewayProcess(tmp_path / "edigate.toml")
    gw.start()
    try:
        assert gw.proc is not None
        os.kill(_writer_pid(gw.proc.pid), signal.SIGKILL)
        code = gw.proc.wait(60)
        assert code != 0
        log = gw.log.read_text()
        assert "journal writer process is gone (killed by signal 9)" in log, log[-2000:]
        # Dropped while no gateway runs: waits in the inbox, then goes through.
        (tmp_path / "inbox" / "acme" / "late.edi").write_bytes(make_850(1, "PO-LATE"))
        time.sleep(0.3)
        assert [p.name for p in inbox_files(tmp_path)] == ["late.edi"]
        gw.start()
        assert gw.wait_settled(1) == {"delivered": 1}
        assert len(list((tmp_path / "out").rglob("*.json"))) == 1
    finally:
        gw.kill()
