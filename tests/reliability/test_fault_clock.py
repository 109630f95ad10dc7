"""The wall clock steps (NTP correction, a wrong RTC at boot) while the gateway runs.

libfaketime shifts CLOCK_REALTIME of the gateway process (and its translation
workers) by re-reading an offset file on every call; CLOCK_MONOTONIC stays
real, as with a real clock step.  Files dropped before, after a jump forward
of one day and after a jump back of two hours must all be delivered exactly
once, and nothing may be left waiting.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from tests.harness import GatewayProcess, inbox_files, make_850, sink_envelopes, write_config

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def test_clock_steps_forward_and_back_lose_and_repeat_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not LIBFAKETIME.exists() or shutil.which("faketime") is None:
        pytest.fail("libfaketime is not installed (Debian package faketime; make test installs it)")
    offset = tmp_path / "clock-offset"
    offset.write_text("+0\n")
    monkeypatch.setenv("LD_PRELOAD", str(LIBFAKETIME))
    monkeypatch.setenv("FAKETIME_TIMESTAMP_FILE", str(offset))
    monkeypatch.setenv("FAKETIME_NO_CACHE", "1")
    monkeypatch.setenv("DONT_FAKE_MONOTONIC", "1")
    cfg = write_config(tmp_path)
    gw = GatewayProcess(cfg)
    gw.start(timeout=120)
    inbox = tmp_path / "inbox" / "acme"
    dropped: set[str] = set()
    try:
        icn = 0
        for step, shift in enumerate(("+0", "+1d", "-2h")):
            offset.write_text(shift + "\n")
            for _ in range(20):
                icn += 1
                data = make_850(icn, f"PO{icn}")
                tmp = inbox / f".f{icn}"
                tmp.write_bytes(data)
                os.replace(tmp, inbox / f"f{icn}.edi")
                dropped.add(hashlib.sha256(data).hexdigest())
            states = gw.wait_settled(20 * (step + 1), timeout=120)
        assert states == {"delivered": 60}, states
        assert not inbox_files(tmp_path)
        shas = [e["raw_sha256"] for e in sink_envelopes(tmp_path)]
        assert sorted(shas) == sorted(dropped), "a file was lost or delivered twice across the clock steps"
        with gw.db() as c:
            received = [r[0] for r in c.execute("SELECT received_at FROM messages ORDER BY id")]
        # the journal recorded the (stepped) wall clock: the second batch a day later than the first
        assert received[20] - received[19] > 86_000
    finally:
        gw.kill()
