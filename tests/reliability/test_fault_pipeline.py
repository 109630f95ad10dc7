"""Faults across the whole pipeline, every intake the daemon wires (directory, AS2, FTPS, SFTP, SMTP).

Each test ends with :meth:`Site.audit`: every acknowledged file delivered
exactly once in effect, nothing stuck, journal ``integrity_check`` ok, and
every refusal answered in the protocol's terms (HTTP 503 / ``452`` / the file
left in the drop folder).  ``bench/soak.py`` runs the same scenarios with
larger counts (``run_kill_rounds`` and ``run_sink_outage`` are shared).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import inbox_files
from tests.reliability.site import Site, require, shared_pki

TIME_LIMIT = 240.0  # every loop below is also bounded in count
#: start-up under load (2 busy cores) can take 10-30 s; readiness, not speed, is checked
START_TIMEOUT = 120.0


def _stream(site: Site, first_icn: int, count: int, stop: threading.Event, work: Path) -> threading.Thread:
    """A mixed partner stream: drops, AS2 posts, FTPS uploads in turn; resends what was not acked."""

    def run() -> None:
        try:
            body()
        except BaseException as exc:
            site.errors.append(exc)
            raise

    def body() -> None:
        rng = random.Random(first_icn)
        drops = []
        senders: dict[str, Callable[[int], bool]] = {
            "as2": lambda i: site.as2_post(i, work) == "processed",
            "ftp": lambda i: site.ftp_put(i).startswith("226"),
            "sftp": lambda i: site.sftp_put(i) == "ok",
            "smtp": lambda i: site.smtp_send(i) == "ok",
        }
        kinds = ["directory", *senders]
        pending: list[tuple[str, int]] = []
        deadline = time.monotonic() + TIME_LIMIT
        for n in range(count):
            if stop.is_set() or time.monotonic() > deadline:
                break
            icn = first_icn + n
            kind = kinds[n % len(kinds)]
            if kind == "directory":
                drops.append(site.drop(icn))
            elif not senders[kind](icn):
                pending.append((kind, icn))
            time.sleep(rng.uniform(0, 0.01))
        # partners resend what was not acknowledged, until the gateway answers (bounded)
        for _ in range(60):
            if not pending or time.monotonic() > deadline:
                break
            pending = [(k, i) for k, i in pending if not senders[k](i)]
            if pending:
                time.sleep(0.5)
        site.pending = [i for _k, i in pending]
        site.drops = drops

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def wait_settled(site: Site, expected_min: int, timeout: float = 180) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    states: dict[str, int] = {}
    while time.monotonic() < deadline:
        try:
            states = site.gw.states()
        except Exception:
            time.sleep(0.2)
            continue
        final = sum(states.get(s, 0) for s in ("delivered", "rejected", "dead"))
        active = sum(states.get(s, 0) for s in ("received", "translated", "queued"))
        if final >= expected_min and active == 0 and not inbox_files(site.root):
            return states
        time.sleep(0.2)
    raise AssertionError(f"not settled after {timeout}s: {states}; inbox {inbox_files(site.root)[:3]}")


def run_kill_rounds(
    site: Site, *, messages: int, kills: int, seed: int, hup: bool = False, settle: float = 180
) -> dict[str, Any]:
    """SIGKILL at random points during a mixed stream, restart each time; returns figures."""
    rng = random.Random(seed)
    stop = threading.Event()
    site.gw.start(timeout=START_TIMEOUT)
    t = _stream(site, 1000, messages, stop, site.root / "as2work")
    hups = 0
    try:
        for _ in range(kills):
            time.sleep(rng.uniform(0.5, 2.0))
            if hup:
                site.write_profile(name=f"ACME Retail {rng.randint(0, 10**6)}")
                site.gw.signal(signal.SIGHUP)
                hups += 1
                time.sleep(rng.uniform(0, 0.2))
            site.gw.kill()
            time.sleep(rng.uniform(0, 0.3))
            site.gw.start(timeout=START_TIMEOUT)
        t.join(TIME_LIMIT + settle)
        assert not t.is_alive(), "the partner stream did not finish"
        assert not site.errors, f"the partner stream failed: {site.errors!r}"
        assert not site.pending, f"partners could not hand over {len(site.pending)} files after the restarts"
        site.settle_drops(site.drops)
        states = wait_settled(site, len(site.ledger.all_acked()), timeout=settle)
    finally:
        stop.set()
        site.gw.kill()
    figures = site.audit()
    assert figures["acked"] == messages, f"every file is acknowledged in the end: {figures}"
    figures.update(kills=kills, hups=hups, messages=messages, final_states=states)
    return figures


@pytest.fixture
def site(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = Site(tmp_path, pki=shared_pki(tmp_path_factory))
    try:
        yield s
    finally:
        s.gw.kill()


def test_sigkill_rounds_during_mixed_stream(site: Site) -> None:
    figures = run_kill_rounds(site, messages=60, kills=3, seed=3)
    assert figures["states"].get("delivered", 0) >= 60


def test_sighup_then_sigkill_mid_reload(site: Site) -> None:
    """The profile changes, SIGHUP asks for a reload and SIGKILL lands while it runs: nothing is lost."""
    figures = run_kill_rounds(site, messages=30, kills=2, seed=5, hup=True)
    assert figures["hups"] == 2


def run_sink_outage(site: Site, *, messages: int, settle: float = 240) -> dict[str, Any]:
    """The sink folder turns into a file (root ignores chmod 000); everything queues, then drains once."""
    out = site.root / "out"
    site.gw.start(timeout=START_TIMEOUT)
    try:
        site.drop(1)
        wait_settled(site, 1, timeout=60)
        shutil.move(out, site.root / "out.saved")
        out.write_text("the sink folder is now a file: every write fails\n")
        drops = [site.drop(10_000 + i) for i in range(messages)]
        deadline = time.monotonic() + settle
        queued = 0
        while time.monotonic() < deadline:
            states = site.gw.states()
            queued = states.get("queued", 0) + states.get("translated", 0) + states.get("received", 0)
            if queued >= messages and not inbox_files(site.root):
                break
            time.sleep(0.2)
        assert queued >= messages, f"only {queued} of {messages} queued during the outage: {states}"
        assert site.gw.states().get("delivered", 0) == 1, "nothing may be delivered while the sink is down"
        status = site.gw.control({"command": "status"})
        assert "queued" in str(status) or "local" in str(status)
        # restore: the folder comes back with its earlier content
        out.unlink()
        shutil.move(site.root / "out.saved", out)
        site.settle_drops(drops)
        states = wait_settled(site, messages + 1, timeout=settle)
    finally:
        site.gw.kill()
    figures = site.audit()
    assert states.get("delivered") == messages + 1, states
    assert states.get("dead", 0) == 0, "a transient outage must not dead-letter anything"
    figures.update(queued_during_outage=queued)
    return figures


def test_sink_outage_queues_then_drains_exactly_once(site: Site) -> None:
    run_sink_outage(site, messages=500)


# ---------------------------------------------------------------- full disk on the state folder


@pytest.fixture
def small_state(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs as the state folder (root: mount; unmounted afterwards)."""
    require("mount")
    state = tmp_path / "state"
    state.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "edigate-test", str(state)],
                       capture_output=True, text=True, check=False)  # fmt: skip
    if r.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the full-disk test (root needed): {r.stderr.strip()}")
    try:
        yield state
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def _fill(path: Path, leave_bytes: int) -> None:
    st = os.statvfs(path.parent)
    free = st.f_bavail * st.f_frsize
    with path.open("wb") as f:
        f.write(b"\0" * max(0, free - leave_bytes))
        f.flush()
        os.fsync(f.fileno())


def test_full_state_disk_refuses_in_protocol_terms_and_resumes(
    tmp_path: Path, small_state: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    site = Site(tmp_path, min_free_mb=1, pki=shared_pki(tmp_path_factory))
    site.gw.start()
    try:
        first = site.drop(1)
        assert site.as2_post(2, tmp_path / "w") == "processed"
        assert site.ftp_put(3).startswith("226")
        wait_settled(site, 3, timeout=60)
        ballast = small_state / "ballast"
        _fill(ballast, 512 * 1024)  # under the 1 MiB floor
        # every intake refuses with its temporary-failure answer, and acknowledges nothing
        as2 = site.as2_post(20, tmp_path / "w")
        ftp = site.ftp_put(21)
        sftp = site.sftp_put(23)
        smtp = site.smtp_send(24)
        dropped, data = site.drop(22)
        time.sleep(3)  # several directory scans
        assert as2 == "http 503", as2
        assert ftp.startswith("452"), ftp
        assert sftp.startswith("sftp exit 1"), sftp  # SSH_FX_FAILURE on CLOSE: the put failed
        assert smtp == "swaks exit 26", smtp  # 452 after DATA
        assert dropped.exists(), "a drop must stay in the folder while the disk is full"
        assert site.ledger.acked.keys() >= {"as2", "ftp"}
        with site.db() as c:
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert c.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 3
        assert site.gw.proc is not None and site.gw.proc.poll() is None, "the floor must not stop the daemon"
        # space returns: the drop is taken, partners resend and are accepted
        ballast.unlink()
        assert site.as2_post(20, tmp_path / "w") == "processed"
        assert site.ftp_put(21).startswith("226")
        assert site.sftp_put(23) == "ok"
        assert site.smtp_send(24) == "ok"
        site.settle_drops([(dropped, data)])
        wait_settled(site, 8, timeout=120)
        site.settle_drops([first, (dropped, data)])
    finally:
        site.gw.kill()
    figures = site.audit()
    assert figures["acked"] == 8 and figures["states"].get("delivered") == 8, figures
    assert site.ledger.refusals["http 503"] == 1 and site.ledger.refusals["452"] == 1
    assert site.ledger.refusals["sftp failure"] == 1 and site.ledger.refusals["smtp exit 26"] == 1


def test_enospc_mid_write_is_fail_stop_and_loses_nothing(
    tmp_path: Path, small_state: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No floor, so the disk really fills (ENOSPC): no acknowledgement, fail-stop, clean restart."""
    site = Site(tmp_path, min_free_mb=0, pki=shared_pki(tmp_path_factory))
    site.gw.start()
    ballast = small_state / "ballast"
    try:
        drops = [site.drop(i) for i in range(1, 4)]
        wait_settled(site, 3, timeout=60)
        site.settle_drops(drops)
        _fill(ballast, 0)
        answers = [site.as2_post(100 + i, tmp_path / "w") for i in range(3)]
        answers += [site.ftp_put(200 + i) for i in range(3)]
        assert not any(a == "processed" or a.startswith("226") for a in answers), answers
        assert site.gw.proc is not None
        # JournalWriteError is fail-stop: intake closes, work in flight finishes (bounded), exit non-zero
        try:
            code = site.gw.proc.wait(90)
        except subprocess.TimeoutExpired:
            pytest.fail("the daemon kept running after the journal could not write (fail-stop expected)")
        assert code != 0, "fail-stop must exit non-zero"
        ballast.unlink()
        site.gw.start()
        with site.db() as c:
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for i in range(3):
            assert site.as2_post(100 + i, tmp_path / "w") == "processed"
            assert site.ftp_put(200 + i).startswith("226")
        wait_settled(site, 9, timeout=120)
    finally:
        site.gw.kill()
    figures = site.audit()
    assert figures["acked"] == 9 and figures["states"].get("delivered") == 9, figures
