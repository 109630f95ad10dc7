"""Promise 1 and 2 under SIGKILL: nothing acknowledged is lost, nothing is delivered twice.

A writer drops 500 X12 files (temp name, then rename — a taken file must be
whole) while the gateway is killed with SIGKILL at random moments five times
and restarted.  At the end every file is delivered exactly once to the
directory sink (count and sha256 match), no inbox file is left and no message
is stuck in a non-final state.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from pathlib import Path

from tests.harness import GatewayProcess, inbox_files, make_850, sink_envelopes, write_config

FILES = 500
KILLS = 5


def test_crash_loop_delivers_every_file_exactly_once(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    gw = GatewayProcess(cfg)
    gw.start()
    inbox = tmp_path / "inbox" / "acme"
    manifest: dict[str, str] = {}
    done = threading.Event()

    def writer() -> None:
        rng = random.Random(7)
        for i in range(1, FILES + 1):
            data = make_850(i, f"PO{i:06d}", lines=rng.randint(1, 6))
            tmp = inbox / f".po{i}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, inbox / f"po{i}.edi")
            manifest[hashlib.sha256(data).hexdigest()] = f"po{i}.edi"
            time.sleep(rng.uniform(0, 0.03))
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    rng = random.Random(11)
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.5, 2.5))
            gw.kill()
            time.sleep(rng.uniform(0, 0.3))
            gw.start()
        t.join()
        assert done.is_set()
        states = gw.wait_settled(FILES, timeout=180)
    finally:
        gw.kill()
    assert states.get("delivered") == FILES, states
    assert sum(states.values()) == FILES, f"extra messages were recorded: {states}"
    assert not inbox_files(tmp_path)
    envelopes = sink_envelopes(tmp_path)
    shas = [e["raw_sha256"] for e in envelopes]
    assert len(shas) == FILES, f"{len(shas)} documents delivered for {FILES} files"
    assert set(shas) == set(manifest), "delivered documents do not match the files dropped"
    assert len(set(e["idempotency_key"] for e in envelopes)) == FILES
    # every archived file is byte-identical to what was dropped
    archived = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "archive").rglob("*.edi")}
    assert archived == set(manifest)
