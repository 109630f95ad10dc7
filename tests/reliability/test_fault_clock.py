"""The wall clock steps (NTP correction, a wrong RTC at boot) while the gateway runs.

libfaketime shifts CLOCK_REALTIME of the gateway process (and its translation
workers) by re-reading an offset file on every call; CLOCK_MONOTONIC stays
real, as with a real clock step.  Files dropped before a step, after a step
forward of one day and after a step back of two hours must all be delivered
exactly once, and nothing may be left waiting.

Between the forward and the backward step the sink is down, so the third
batch is scheduled for retry on the stepped-forward clock; after the step
back (26 hours back from there) and the sink's return, those retries must
still happen.  A delivery engine that sleeps until a wall-clock retry time
waits 26 hours here: this is what made the first version of this test stall.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.harness import GatewayProcess, inbox_files, make_850, sink_envelopes, write_config

# The synchronized build: the plain one races on a static buffer when threads
# read the clock while the offset file is re-read (wolfcw/libfaketime#547), and
# now and then hands one thread the real time; the gateway calls time() from
# many threads.
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
BATCH = 20
DAY = 86_400


def _step(offset: Path, shift: str) -> None:
    """Step the gateway's wall clock; libfaketime re-reads the file on every call, so never half-written."""
    new = offset.with_name(offset.name + ".new")
    new.write_text(shift + "\n")
    os.replace(new, offset)


def _drop_batch(inbox: Path, first_icn: int, dropped: set[str]) -> None:
    for icn in range(first_icn, first_icn + BATCH):
        data = make_850(icn, f"PO{icn}")
        tmp = inbox / f".f{icn}"
        tmp.write_bytes(data)
        os.replace(tmp, inbox / f"f{icn}.edi")
        dropped.add(hashlib.sha256(data).hexdigest())


def _wait_scheduled_for_retry(gw: GatewayProcess, count: int, timeout: float = 120) -> list[float]:
    """Wait until ``count`` deliveries failed at least once and wait for a retry; their ``next_at``."""
    deadline = time.monotonic() + timeout
    next_at: list[float] = []
    while time.monotonic() < deadline:
        with gw.db() as c:
            next_at = [
                float(r[0])
                for r in c.execute("SELECT next_at FROM deliveries WHERE state = 'pending' AND attempts >= 1")
            ]
        if len(next_at) >= count and not inbox_files(gw.root):
            return next_at
        time.sleep(0.1)
    raise AssertionError(f"only {len(next_at)} of {count} deliveries are waiting for a retry: {gw.states()}")


def test_clock_steps_forward_and_back_lose_and_repeat_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not LIBFAKETIME.exists() or shutil.which("faketime") is None:
        pytest.fail("libfaketime is not installed (Debian package faketime; make test installs it)")
    offset = tmp_path / "clock-offset"
    _step(offset, "+0")
    monkeypatch.setenv("LD_PRELOAD", str(LIBFAKETIME))
    monkeypatch.setenv("FAKETIME_TIMESTAMP_FILE", str(offset))
    monkeypatch.setenv("FAKETIME_NO_CACHE", "1")
    monkeypatch.setenv("DONT_FAKE_MONOTONIC", "1")
    cfg = write_config(tmp_path)
    # Probes of the downed sink come every half second instead of every 30 s: a shorter test, same path.
    text = cfg.read_text()
    assert "backoff_max_seconds = 0.5\n" in text, (
        "tests/harness.py write_config changed: set breaker_reset here"
    )
    cfg.write_text(
        text.replace(
            "backoff_max_seconds = 0.5\n", "backoff_max_seconds = 0.5\nbreaker_reset_seconds = 0.5\n"
        )
    )
    gw = GatewayProcess(cfg)
    inbox = tmp_path / "inbox" / "acme"
    out = tmp_path / "out"
    dropped: set[str] = set()
    gw.start(timeout=120)
    try:
        _drop_batch(inbox, 1, dropped)  # at the real time
        gw.wait_settled(BATCH, timeout=120)
        _step(offset, "+1d")
        _drop_batch(inbox, BATCH + 1, dropped)
        gw.wait_settled(2 * BATCH, timeout=120)

        # The sink goes down (its folder becomes a file): the third batch waits for a retry.
        shutil.move(out, tmp_path / "out.saved")
        out.write_text("the sink folder is now a file: every write fails\n")
        _drop_batch(inbox, 2 * BATCH + 1, dropped)
        retry_at = _wait_scheduled_for_retry(gw, BATCH)
        assert min(retry_at) > time.time() + DAY - 3600, "the retries were scheduled on the stepped clock"

        _step(offset, "-2h")  # 26 hours back from where the retries were scheduled
        out.unlink()
        shutil.move(tmp_path / "out.saved", out)
        _drop_batch(inbox, 3 * BATCH + 1, dropped)
        states = gw.wait_settled(4 * BATCH, timeout=120)
    finally:
        gw.kill()
    assert states == {"delivered": 4 * BATCH}, states
    assert not inbox_files(tmp_path)
    shas = [e["raw_sha256"] for e in sink_envelopes(tmp_path)]
    assert sorted(shas) == sorted(dropped), "a file was lost or delivered twice across the clock steps"
    with gw.db() as c:
        deliveries = dict(c.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall())
        # A success counts as an attempt too: two or more means it failed first.
        retried = c.execute("SELECT COUNT(*) FROM deliveries WHERE attempts >= 2").fetchone()[0]
        received = [r[0] for r in c.execute("SELECT received_at FROM messages ORDER BY id")]
    assert deliveries == {"delivered": 4 * BATCH}, deliveries
    assert retried >= BATCH, "the third batch was delivered after failing first"
    # The journal recorded the stepped wall clock: a day forward, then 26 hours back.
    assert received[BATCH] - received[BATCH - 1] > DAY - 3600
    assert received[3 * BATCH] - received[3 * BATCH - 1] < -(DAY - 3600)
