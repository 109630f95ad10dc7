"""FTP/FTPS source against real partner clients (Debian ``lftp`` and ``curl``) and the real journal.

Each test starts its own :class:`FtpSource` on a free 127.0.0.1 port, on its own
event loop in a thread, journaling into a real :class:`Journal` in a temporary
folder, with a test CA and server certificate from ``trustme``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from gateway.errors import GatewayError
from gateway.journal import Journal, JournalOptions
from gateway.sources.ftp import FtpAccount, FtpSource, FtpSourceConfig, _ssl_context
from gateway.sources.ftp_session import in_networks
from gateway.sources.sftp import hash_password

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
SAMPLE = CORPUS / "x12" / "node-x12__850.edi"
PASSWORD = "s3cret-Pa55"
_HASH = hash_password(PASSWORD)


def require(binary: str) -> str:
    """The path of a client binary; a missing one fails the test (never skips)."""
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed; install the Debian package {binary}")
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def free_port_range(count: int) -> tuple[int, int]:
    """A run of ``count`` ports that were free a moment ago (for the passive range)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = s.getsockname()[1]
        if first + count > 65535:
            continue
        socks = []
        try:
            for p in range(first, first + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return first, first + count - 1
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free run of ports for the passive range")


class Accounts:
    def __init__(self) -> None:
        self.table = {
            "acme": FtpAccount(username="acme", partner="ACME", password_hash=_HASH),
            "legacy": FtpAccount(username="legacy", partner="LEGACY", password_hash=_HASH, allow_plain=True),
        }

    def lookup(self, username: str) -> FtpAccount | None:
        return self.table.get(username)


class Running:
    """An FtpSource with a real journal on its own loop in a thread."""

    def __init__(self, source: FtpSource, state: Path, min_free_bytes: int = 0) -> None:
        self.source = source
        self.journal = Journal.open(state, JournalOptions(min_free_bytes=min_free_bytes))
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        async def body() -> None:
            ready = asyncio.Event()
            self._task = asyncio.create_task(self.source.run(self.journal, ready))
            waiter = asyncio.create_task(ready.wait())
            await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            self._ready.set()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            finally:
                waiter.cancel()

        try:
            self.loop.run_until_complete(body())
        except BaseException as exc:  # reported to the test thread
            self.error = exc
            self._ready.set()
        finally:
            self.loop.close()

    def start(self) -> Running:
        self._thread.start()
        assert self._ready.wait(30), "FTP source did not start"
        if self.error is not None:
            raise self.error
        assert self.source.bound_port is not None
        return self

    def stop(self) -> None:
        if self._task is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(60)
        assert not self._thread.is_alive(), "FTP source did not stop"
        self.journal.close()
        if self.error is not None:
            raise self.error

    @property
    def port(self) -> int:
        assert self.source.bound_port is not None
        return self.source.bound_port


@dataclass
class Env:
    work: Path
    roots: Path
    state: Path
    ca_file: Path
    running: Running

    @property
    def port(self) -> int:
        return self.running.port

    def rows(self) -> list[tuple[str, str, str, str]]:
        db = sqlite3.connect(f"file:{self.state / 'journal.sqlite'}?mode=ro", uri=True)
        try:
            return [
                tuple(r)
                for r in db.execute(
                    "SELECT file_name, partner, sha256, state FROM messages"
                    " WHERE transport = 'ftp' ORDER BY id"
                )
            ]
        finally:
            db.close()

    def metas(self) -> list[dict[str, Any]]:
        db = sqlite3.connect(f"file:{self.state / 'journal.sqlite'}?mode=ro", uri=True)
        try:
            return [json.loads(r[0]) for r in db.execute("SELECT meta FROM messages ORDER BY id")]
        finally:
            db.close()

    def spooled(self, digest: str) -> bytes:
        return (self.state / "spool" / digest[:2] / digest).read_bytes()

    def events(self, kind: str) -> list[dict[str, Any]]:
        db = sqlite3.connect(f"file:{self.state / 'journal.sqlite'}?mode=ro", uri=True)
        try:
            return [
                json.loads(r[0])
                for r in db.execute("SELECT detail FROM events WHERE kind = ? ORDER BY id", (kind,))
            ]
        finally:
            db.close()

    def inbound(self, account: str = "acme") -> list[str]:
        return sorted(p.name for p in (self.roots / account / "inbound").iterdir())

    # -- clients -------------------------------------------------------------------

    def lftp(
        self, script: str, *, user: str = "acme", password: str = PASSWORD, tls: bool = True
    ) -> subprocess.CompletedProcess[str]:
        settings = [
            "set net:max-retries 1",
            "set net:timeout 20",
            "set net:reconnect-interval-base 1",
            "set cmd:fail-exit true",
            "set ftp:passive-mode true",
            "set ftp:prefer-epsv true",
        ]
        if tls:
            settings += [
                "set ftp:ssl-force true",
                "set ftp:ssl-protect-data true",
                f"set ssl:ca-file {self.ca_file}",
                "set ssl:verify-certificate true",
            ]
        else:
            settings += ["set ftp:ssl-allow false"]
        commands = "; ".join(
            [*settings, f"open -u {user},{password} -p {self.port} 127.0.0.1", script, "bye"]
        )
        return subprocess.run(
            [require("lftp"), "-c", commands],
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "HOME": str(self.work)},
        )

    def curl(
        self, *args: str, user: str = "acme", password: str = PASSWORD, tls: bool = True
    ) -> subprocess.CompletedProcess[str]:
        tls_args = ["--ssl-reqd", "--cacert", str(self.ca_file)] if tls else []
        return subprocess.run(
            [require("curl"), "-sS", "--max-time", "60", *tls_args, "--user", f"{user}:{password}", *args],
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def url(self, path: str) -> str:
        return f"ftp://127.0.0.1:{self.port}{path}"


def make_env(tmp_path: Path, **overrides: Any) -> Generator[Env, None, None]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(str(key_file))
    key_file.chmod(0o600)
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for extra in cert.cert_chain_pems[1:]:
        with cert_file.open("ab") as f:
            f.write(extra.bytes())
    ca.cert_pem.write_to_path(str(ca_file))
    settings = {
        "name": "ftp-test",
        "host": "127.0.0.1",
        "port": 0,
        "roots_dir": tmp_path / "roots",
        "cert_file": cert_file,
        "key_file": key_file,
        "passive_ports": free_port_range(20),
        "auth_failure_delay": 0.0,
        "max_upload_bytes": 1024 * 1024,
        "shutdown_grace": 5.0,
        **overrides,
    }
    work = tmp_path / "work"
    work.mkdir()
    running = Running(
        FtpSource(FtpSourceConfig.model_validate(settings), Accounts()), tmp_path / "state"
    ).start()
    try:
        yield Env(work, tmp_path / "roots", tmp_path / "state", ca_file, running)
    finally:
        running.stop()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path)


@pytest.fixture
def strict_env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path, auth_max_failures=3, auth_lockout_seconds=600.0, auth_failure_delay=0.2)


# -- uploads -------------------------------------------------------------------------


def test_ftps_upload_with_lftp_is_journaled_and_not_kept(env: Env) -> None:
    shutil.copy(SAMPLE, env.work / "po.edi")
    result = env.lftp("put po.edi -o /inbound/po.edi")
    assert result.returncode == 0, result.stderr
    data = SAMPLE.read_bytes()
    assert env.rows() == [("po.edi", "ACME", sha(data), "received")]
    assert env.spooled(sha(data)) == data
    assert env.inbound() == []
    [meta] = env.metas()
    assert meta["account"] == "acme" and meta["tls"] is True and meta["listener"] == "ftp-test"


def test_ftps_upload_with_curl_is_journaled(env: Env) -> None:
    data = b"ISA*curl-upload~" + os.urandom(3000)
    (env.work / "c.edi").write_bytes(data)
    result = env.curl("-v", "-T", "c.edi", env.url("/inbound/c.edi"))
    assert result.returncode == 0, result.stderr
    # the data connection came from the configured passive range (RFC 2428 229 reply)
    import re

    [port] = [int(p) for p in re.findall(r"229 .*\(\|\|\|(\d+)\|\)", result.stderr)]
    first, last = env.running.source.settings.passive_ports or (0, 0)
    assert first <= port <= last
    assert [(r[0], r[2]) for r in env.rows()] == [("c.edi", sha(data))]
    assert env.spooled(sha(data)) == data
    status = env.running.source.status()
    assert status["accepted"] == {"acme": 1} and "ACME" in status["last_upload"]
    assert status["listening"] == f"127.0.0.1:{env.port}"


def test_temp_name_then_rename_journals_once_under_final_name(env: Env) -> None:
    data = b"ISA*renamed~" + os.urandom(2000)
    (env.work / "r.edi").write_bytes(data)
    # curl: upload under a temp name, then RNFR/RNTO after the transfer ("-" = post-quote)
    result = env.curl(
        "-T", "r.edi", env.url("/inbound/r.edi.part"), "-Q", "-RNFR r.edi.part", "-Q", "-RNTO r.edi"
    )
    assert result.returncode == 0, result.stderr
    assert [(r[0], r[2]) for r in env.rows()] == [("r.edi", sha(data))]
    assert env.inbound() == []


def test_temp_upload_alone_is_not_journaled(env: Env) -> None:
    (env.work / "t.edi").write_bytes(b"half")
    result = env.lftp("put t.edi -o /inbound/t.edi.part")
    assert result.returncode == 0, result.stderr
    assert env.rows() == []
    assert env.inbound() == ["t.edi.part"]


def test_plain_upload_allowed_for_plain_account_from_loopback(env: Env) -> None:
    data = b"ISA*plain~" + os.urandom(500)
    (env.work / "p.edi").write_bytes(data)
    result = env.curl("-T", "p.edi", env.url("/inbound/p.edi"), user="legacy", tls=False)
    assert result.returncode == 0, result.stderr
    lftp = env.lftp("put p.edi -o /inbound/p2.edi", user="legacy", tls=False)
    assert lftp.returncode == 0, lftp.stderr
    assert [(r[0], r[1]) for r in env.rows()] == [("p.edi", "LEGACY"), ("p2.edi", "LEGACY")]
    assert [m["tls"] for m in env.metas()] == [False, False]


def test_plain_login_refused_when_tls_required(env: Env) -> None:
    (env.work / "p.edi").write_bytes(b"ISA*nope~")
    curl = env.curl("-T", "p.edi", env.url("/inbound/p.edi"), tls=False)
    assert curl.returncode != 0
    lftp = env.lftp("put p.edi -o /inbound/p.edi", tls=False)
    assert lftp.returncode != 0
    assert "534" in lftp.stderr or "TLS" in lftp.stderr, lftp.stderr
    assert env.rows() == []


def test_plain_refused_outside_site_networks(tmp_path: Path) -> None:
    # The same plain-allowed account, but loopback is not a site network here.
    for running_env in make_env(tmp_path, plain_networks=("10.99.0.0/16",)):
        (running_env.work / "p.edi").write_bytes(b"ISA*x~")
        result = running_env.curl("-T", "p.edi", running_env.url("/inbound/p.edi"), user="legacy", tls=False)
        assert result.returncode != 0
        assert running_env.rows() == []
        ok = running_env.curl("-T", "p.edi", running_env.url("/inbound/p.edi"), user="legacy")
        assert ok.returncode == 0, ok.stderr


def test_unprotected_data_refused_on_tls_session(env: Env) -> None:
    (env.work / "p.edi").write_bytes(b"ISA*clear-data~")
    # --ftp-ssl-control: TLS for the login only, data in clear (PROT C)
    result = subprocess.run(
        [
            require("curl"), "-sS", "--max-time", "30", "--ftp-ssl-control", "--cacert",
            str(env.ca_file), "--user", f"acme:{PASSWORD}", "-T", "p.edi", env.url("/inbound/p.edi"),
        ],
        cwd=env.work, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert env.rows() == []


def test_untrusted_server_certificate_is_refused_by_the_client(env: Env, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    (env.work / "p.edi").write_bytes(b"ISA*x~")
    result = subprocess.run(
        [require("curl"), "-sS", "--ssl-reqd", "--cacert", str(other), "--user", f"acme:{PASSWORD}",
         "-T", "p.edi", env.url("/inbound/p.edi")],
        cwd=env.work, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 60, result.stderr  # CURLE_PEER_FAILED_VERIFICATION
    assert env.rows() == []


# -- confinement -----------------------------------------------------------------------


def test_dotdot_and_absolute_escapes_are_refused(env: Env, tmp_path: Path) -> None:
    (env.work / "e.edi").write_bytes(b"ISA*escape~")
    outside = tmp_path / "outside"
    outside.mkdir()
    for target in ("/inbound/../../outside/e.edi", "../e.edi", "/inbound/../e.edi"):
        # --path-as-is: send the ".." to the server instead of resolving it in curl
        result = env.curl("--path-as-is", "-T", "e.edi", env.url("/" + target.lstrip("/"))
                          if target.startswith("/") else env.url("/inbound/") + target)  # fmt: skip
        assert result.returncode != 0, target
    lftp = env.lftp("put e.edi -o ../../../outside/e.edi")
    assert lftp.returncode != 0
    assert "553" in lftp.stderr or "refused" in lftp.stderr.lower(), lftp.stderr
    # absolute local paths are virtual: /tmp/... is inside the root, and not an upload folder
    absolute = env.curl("-T", "e.edi", env.url(f"/{outside}/e.edi"))
    assert absolute.returncode != 0
    assert list(outside.iterdir()) == []
    assert env.rows() == []
    assert sorted(p.name for p in (env.roots / "acme").iterdir()) == ["inbound", "outbound"]


def test_symlink_out_of_the_root_is_refused(env: Env, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    # An admin mistake (or an old link) inside the partner's folder must not let it out.
    env.lftp("ls /inbound")  # creates the root
    os.symlink(outside, env.roots / "acme" / "inbound" / "link")
    (env.work / "e.edi").write_bytes(b"ISA*escape~")
    result = env.curl("-T", "e.edi", env.url("/inbound/link/e.edi"))
    assert result.returncode != 0
    listing = env.curl(env.url("/inbound/link/"))
    assert listing.returncode != 0
    assert list(outside.iterdir()) == []
    assert env.rows() == []


def test_uploads_outside_inbound_are_refused_and_outbound_can_be_fetched(env: Env) -> None:
    (env.work / "e.edi").write_bytes(b"ISA*x~")
    result = env.lftp("put e.edi -o /outbound/e.edi")
    assert result.returncode != 0 and "553" in result.stderr, result.stderr
    result = env.lftp("put e.edi -o /e.edi")
    assert result.returncode != 0
    ack = b"ISA*997-for-partner~"
    (env.roots / "acme" / "outbound" / "997.edi").write_bytes(ack)
    got = env.lftp("get /outbound/997.edi -o got.edi; rm /outbound/997.edi")
    assert got.returncode == 0, got.stderr
    assert (env.work / "got.edi").read_bytes() == ack
    assert list((env.roots / "acme" / "outbound").iterdir()) == []
    assert env.rows() == []


# -- limits and failures ---------------------------------------------------------------


def test_oversized_upload_is_refused_and_not_kept(env: Env) -> None:
    (env.work / "big.edi").write_bytes(os.urandom(2 * 1024 * 1024))
    result = env.curl("-T", "big.edi", env.url("/inbound/big.edi"))
    # 70 = CURLE_REMOTE_DISK_FULL, curl's name for our 552; when the server closes the data
    # connection before curl has finished sending, curl reports the reset (55) instead.
    assert result.returncode in (55, 70), result.stderr
    # curl may exit on the reset before the server has seen the close and
    # removed the half file: give the server's loop a moment, no more.
    deadline = time.monotonic() + 10
    while env.inbound() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env.rows() == []
    assert env.inbound() == []


def test_disk_floor_answers_452_and_keeps_nothing(tmp_path: Path) -> None:
    gen = make_env(tmp_path)
    running_env = next(gen)
    try:
        # Raise the journal's floor above any disk: every append is refused with DiskFloorError.
        running_env.running.journal.options = JournalOptions(min_free_bytes=1 << 62)
        (running_env.work / "f.edi").write_bytes(b"ISA*floor~")
        result = running_env.curl("-T", "f.edi", running_env.url("/inbound/f.edi"))
        assert result.returncode != 0
        assert "452" in result.stderr, result.stderr
        # lftp takes a 4xx as "retry later" and retries; it must not report success either
        lftp = running_env.lftp("put f.edi -o /inbound/f.edi")
        assert lftp.returncode != 0
        assert running_env.rows() == []
        assert running_env.inbound() == []
        # temp + rename: the temp upload is taken, the rename is refused and the temp file stays
        renamed = running_env.curl(
            "-T",
            "f.edi",
            running_env.url("/inbound/f.edi.part"),
            "-Q",
            "-RNFR f.edi.part",
            "-Q",
            "-RNTO f.edi",
        )
        assert renamed.returncode == 21, renamed.stderr  # CURLE_QUOTE_ERROR: the RNTO was refused
        assert "f.edi: only" in str(running_env.running.source.status()["last_error"])
        assert running_env.inbound() == ["f.edi.part"]
        assert running_env.rows() == []
        assert running_env.running.source.status()["refused"]["acme"] >= 3
    finally:
        gen.close()


def test_empty_upload_is_refused(env: Env) -> None:
    (env.work / "empty.edi").write_bytes(b"")
    result = env.curl("-T", "empty.edi", env.url("/inbound/empty.edi"))
    assert result.returncode != 0
    assert env.rows() == []


# -- logins --------------------------------------------------------------------------


def test_wrong_password_is_refused_and_counted(env: Env) -> None:
    (env.work / "p.edi").write_bytes(b"ISA*x~")
    result = env.curl("-T", "p.edi", env.url("/inbound/p.edi"), password="wrong")
    assert result.returncode == 67, result.stderr  # CURLE_LOGIN_DENIED
    unknown = env.curl("-T", "p.edi", env.url("/inbound/p.edi"), user="nobody")
    assert unknown.returncode == 67, unknown.stderr
    # the second failure's event is committed by the journal writer just after the reply
    deadline = time.monotonic() + 10
    failures = env.events("auth_failure")
    while len(failures) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        failures = env.events("auth_failure")
    assert [(f["user"], f["reason"]) for f in failures] == [
        ("acme", "wrong user name or password"),
        ("nobody", "wrong user name or password"),
    ]
    assert all("wrong" not in json.dumps(f) or f["reason"].startswith("wrong") for f in failures)
    assert env.running.source.status()["login_failures"] == 2
    assert env.rows() == []


def test_repeated_failures_lock_out_even_the_right_password(strict_env: Env) -> None:
    (strict_env.work / "p.edi").write_bytes(b"ISA*x~")
    for _ in range(3):
        assert (
            strict_env.curl("-T", "p.edi", strict_env.url("/inbound/p.edi"), password="bad").returncode == 67
        )
    locked = strict_env.curl("-T", "p.edi", strict_env.url("/inbound/p.edi"))
    assert locked.returncode == 67, locked.stderr
    reasons = [e["reason"] for e in strict_env.events("auth_failure")]
    assert reasons[-1] == "locked out after repeated failures"
    assert strict_env.rows() == []


def test_passwords_never_reach_the_log(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    caplog.set_level("DEBUG", logger="pyftpdlib")
    (env.work / "p.edi").write_bytes(b"ISA*x~")
    env.curl("-T", "p.edi", env.url("/inbound/p.edi"), password="Leaky-Guess-123")
    env.curl("-T", "p.edi", env.url("/inbound/p.edi"))
    assert "Leaky-Guess-123" not in caplog.text
    assert PASSWORD not in caplog.text


def test_site_networks() -> None:
    import ipaddress

    nets = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.1.0.0/16"))
    assert in_networks("127.0.0.1", nets)
    assert in_networks("::ffff:10.1.2.3", nets)
    assert not in_networks("10.2.0.1", nets)
    assert not in_networks("::1", nets)
    assert not in_networks("garbage", nets)


def test_config_rejects_bad_passive_range_and_duplicate_users(tmp_path: Path) -> None:
    from pydantic import ValidationError

    base = {"name": "f", "roots_dir": tmp_path, "cert_file": tmp_path / "c", "key_file": tmp_path / "k"}
    with pytest.raises(ValidationError, match="passive_ports"):
        FtpSourceConfig.model_validate({**base, "passive_ports": (70, 60)})
    account = {"user": "acme", "partner": "A", "password_hash": _HASH}
    with pytest.raises(ValidationError, match="listed twice"):
        FtpSourceConfig.model_validate({**base, "accounts": [account, account]})
    with pytest.raises(ValidationError):
        FtpSourceConfig.model_validate({**base, "accounts": [{**account, "password_hash": "plain"}]})


def wait_for_partial(path: Path, at_least: int, proc: subprocess.Popen[bytes]) -> None:
    """Block until the upload being written at ``path`` holds ``at_least`` bytes."""
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size >= at_least:
            return
        if proc.poll() is not None:
            pytest.fail(f"client ended before the upload was under way: exit {proc.returncode}")
        time.sleep(0.02)
    pytest.fail(f"upload never reached {at_least} bytes at {path}")


def test_client_killed_mid_ftps_upload_journals_nothing(env: Env) -> None:
    # Stream mode ends a file by closing the data connection (RFC 959 section 3.4), so a
    # killed client looks like a finished one; over TLS the missing close_notify tells.
    (env.work / "big.edi").write_bytes(os.urandom(900 * 1024))
    slow = subprocess.Popen(
        [require("curl"), "-sS", "--ssl-reqd", "--cacert", str(env.ca_file), "--user", f"acme:{PASSWORD}",
         "--limit-rate", "200k", "-T", "big.edi", env.url("/inbound/big.edi")],
        cwd=env.work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_partial(env.roots / "acme" / "inbound" / "big.edi", 100 * 1024, slow)
        slow.kill()
        slow.wait(30)
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait()
    # the server notices the cut and removes the half file; wait for that, then check the journal
    import time

    deadline = time.monotonic() + 30
    while env.inbound() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env.inbound() == []
    assert env.rows() == []


def test_lftp_temp_file_mode_and_mv_journal_on_rename(env: Env) -> None:
    one, two = b"ISA*lftp-temp~" + os.urandom(800), b"ISA*lftp-mv~" + os.urandom(800)
    (env.work / "one.edi").write_bytes(one)
    (env.work / "two.edi").write_bytes(two)
    # lftp uploads to ".in.one.edi." (a dot file) and renames it when done
    result = env.lftp(
        "set xfer:use-temp-file true; put one.edi -o /inbound/one.edi; "
        "put two.edi -o /inbound/two.edi.tmp; mv /inbound/two.edi.tmp /inbound/two.edi"
    )
    assert result.returncode == 0, result.stderr
    assert [(r[0], r[2]) for r in env.rows()] == [("one.edi", sha(one)), ("two.edi", sha(two))]
    assert env.inbound() == []


def test_second_upload_to_a_name_being_written_is_told_to_wait(env: Env) -> None:
    (env.work / "big.edi").write_bytes(os.urandom(600 * 1024))
    (env.work / "other.edi").write_bytes(b"ISA*other~")
    slow = subprocess.Popen(
        [require("curl"), "-sS", "--ssl-reqd", "--cacert", str(env.ca_file), "--user", f"acme:{PASSWORD}",
         "--limit-rate", "300k", "-T", "big.edi", env.url("/inbound/same.edi")],
        cwd=env.work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_partial(env.roots / "acme" / "inbound" / "same.edi", 50 * 1024, slow)
        second = env.curl("-T", "other.edi", env.url("/inbound/same.edi"))
        assert second.returncode != 0 and "450" in second.stderr, second.stderr
        assert slow.wait(60) == 0
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait()
    [row] = env.rows()
    assert row[0] == "same.edi" and row[2] == sha((env.work / "big.edi").read_bytes())


def test_registry_accounts_come_first_then_the_config_list() -> None:
    from types import SimpleNamespace

    from gateway.sources.ftp import ConfigFtpAccounts, FtpAccountConfig, RegistryFtpAccounts

    fallback = ConfigFtpAccounts((FtpAccountConfig(user="cfg", partner="CFG", password_hash=_HASH),))
    profile = SimpleNamespace(
        id="reg-partner",
        model=SimpleNamespace(
            identities=SimpleNamespace(ftp=SimpleNamespace(password_hash=_HASH, allow_plain=True))
        ),
    )
    registry = SimpleNamespace(by_ftp_account=lambda user: profile if user == "reg" else None)
    accounts = RegistryFtpAccounts(lambda: registry, fallback)
    found = accounts.lookup("reg")
    assert found is not None and (found.partner, found.allow_plain) == ("reg-partner", True)
    cfg = accounts.lookup("cfg")
    assert cfg is not None and cfg.partner == "CFG" and not cfg.allow_plain
    assert accounts.lookup("nobody") is None
    assert _HASH not in repr(cfg)
    # today's registry has no by_ftp_account: the config list answers
    assert RegistryFtpAccounts(SimpleNamespace, fallback).lookup("cfg") == cfg
    assert RegistryFtpAccounts(lambda: None, fallback).lookup("reg") is None


def test_tls_key_readable_by_others_is_refused_before_listening(tmp_path: Path) -> None:
    cert = trustme.CA().issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    key_file.chmod(0o644)
    with pytest.raises(GatewayError, match=rf"{key_file}: the FTPS TLS private key .*chmod 600 {key_file}"):
        _ssl_context(cert_file, key_file)
    key_file.chmod(0o600)
    assert _ssl_context(cert_file, key_file) is not None
