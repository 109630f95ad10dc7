"""SFTP source against the real OpenSSH ``sftp``/``ssh`` clients, with an in-memory journal.

The source runs on its own event loop in a thread, listening on a free
127.0.0.1 port; every test starts and stops its own server.
"""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import DiskFloorError, GatewayError
from gateway.journal import AppendResult, Intake
from gateway.sources.sftp import (
    AuthThrottle,
    SftpAccount,
    SftpSettings,
    SftpSource,
    hash_password,
    verify_password,
)
from tests.support.running import RunningSource

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
SAMPLE = CORPUS / "x12" / "node-x12__850.edi"


def require(binary: str) -> str:
    """The path of a client binary; a missing one fails the test (never skips)."""
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed; install the Debian package openssh-client")
    return path


@dataclass
class FakeJournal:
    """Same signatures as gateway.journal.Journal.append/note_event."""

    intakes: list[Intake] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: GatewayError | None = None

    async def append(self, intake: Intake) -> AppendResult:
        if self.fail is not None:
            raise self.fail
        self.intakes.append(intake)
        return AppendResult(str(len(self.intakes)), hashlib.sha256(intake.data).hexdigest(), None)

    async def note_event(self, kind: str, detail: dict[str, Any]) -> None:
        self.events.append((kind, detail))


@dataclass
class Accounts:
    table: dict[str, SftpAccount]

    def lookup(self, username: str) -> SftpAccount | None:
        return self.table.get(username)


@dataclass
class Env:
    work: Path
    settings: SftpSettings
    journal: FakeJournal
    server: RunningSource
    key: Path
    other_key: Path
    known_hosts: Path

    def sftp(
        self, batch: str, *, user: str = "acme", key: Path | None = None, extra: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        batch_file = self.work / "batch"
        batch_file.write_text(batch)
        return subprocess.run(
            [
                require("sftp"),
                *extra,
                "-b",
                str(batch_file),
                "-P",
                str(self.server.port),
                "-i",
                str(key or self.key),
                "-F",
                "/dev/null",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                f"UserKnownHostsFile={self.known_hosts}",
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                f"{user}@127.0.0.1",
            ],
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def root(self, user: str = "acme") -> Path:
        return self.settings.roots_dir / user


def keygen(path: Path) -> str:
    subprocess.run([require("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_name(path.name + ".pub").read_text().strip()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path)


def make_env(tmp_path: Path, **overrides: Any) -> Iterator[Env]:
    key, other_key = tmp_path / "acme_key", tmp_path / "other_key"
    acme_pub, other_pub = keygen(key), keygen(other_key)
    accounts = Accounts(
        {
            "acme": SftpAccount(
                username="acme",
                partner="ACME",
                authorized_keys=(acme_pub,),
                password_hash=hash_password("s3cret-pw"),
            ),
            "globex": SftpAccount(username="globex", partner="GLOBEX", authorized_keys=(other_pub,)),
        }
    )
    options: dict[str, Any] = {
        "name": "sftp-test",
        "host": "127.0.0.1",
        "port": 0,
        "host_key_file": tmp_path / "state" / "ssh_host_ed25519_key",
        "roots_dir": tmp_path / "roots",
        "max_upload_bytes": 64 * 1024,
        "auth_failure_delay": 0.0,
        "shutdown_grace": 5.0,
    }
    options.update(overrides)
    settings = SftpSettings(**options)
    journal = FakeJournal()
    server = RunningSource(SftpSource(settings, accounts), journal).start()
    host_pub = settings.host_key_file.with_name(settings.host_key_file.name + ".pub").read_text().split()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{server.port} {host_pub[0]} {host_pub[1]}\n")
    made = Env(tmp_path, settings, journal, server, key, other_key, known_hosts)
    try:
        yield made
    finally:
        made.server.stop()
        # A socket or file the source failed to close shows up here, in the test that leaked it.
        gc.collect()


# -- uploads ---------------------------------------------------------------------------


def test_plain_put_is_journaled_and_not_kept(env: Env) -> None:
    shutil.copy(SAMPLE, env.work / "sample.edi")
    result = env.sftp("put sample.edi /inbound/po123.edi\n")
    assert result.returncode == 0, result.stderr
    [intake] = env.journal.intakes
    assert intake.data == SAMPLE.read_bytes()
    assert (intake.transport, intake.partner, intake.file_name) == ("sftp", "ACME", "po123.edi")
    assert intake.meta["account"] == "acme" and intake.meta["remote"] == "127.0.0.1"
    assert list((env.root() / "inbound").iterdir()) == []
    env.server.stop()  # the upload counter is written after the answer; stopping waits for it
    assert (
        "upload",
        {"transport": "sftp", "partner": "ACME", "file": "po123.edi", "message_id": "1"},
    ) in env.journal.events


def test_temp_name_then_rename_journals_once_under_final_name(env: Env) -> None:
    shutil.copy(SAMPLE, env.work / "sample.edi")
    batch = (
        "cd /inbound\nput sample.edi po123.edi.part\nput sample.edi .hidden.edi\n"
        "rename po123.edi.part po123.edi\n"
    )
    result = env.sftp(batch)
    assert result.returncode == 0, result.stderr
    assert [(i.file_name, i.data) for i in env.journal.intakes] == [("po123.edi", SAMPLE.read_bytes())]
    # the dot file is still a temp upload: kept, never journaled
    assert sorted(p.name for p in (env.root() / "inbound").iterdir()) == [".hidden.edi"]


def test_rename_to_existing_target_fails_in_sftpv3_and_nothing_is_lost(env: Env) -> None:
    shutil.copy(SAMPLE, env.work / "sample.edi")
    (env.root() / "inbound" / "b.tmp").parent.mkdir(parents=True, exist_ok=True)
    result = env.sftp(
        "cd /inbound\nput sample.edi a.tmp\nput sample.edi b.tmp\n"
        "rename a.tmp first.edi\nrename b.tmp first.edi\n"
    )
    # posix-rename overwrites; the first file was already journaled and removed
    assert result.returncode == 0, result.stderr
    assert [i.file_name for i in env.journal.intakes] == ["first.edi", "first.edi"]


def test_oversized_upload_fails_and_is_not_journaled(env: Env) -> None:
    big = env.work / "big.edi"
    big.write_bytes(SAMPLE.read_bytes() * (env.settings.max_upload_bytes // SAMPLE.stat().st_size + 2))
    result = env.sftp("put big.edi /inbound/big.edi\n")
    assert result.returncode == 1
    assert env.journal.intakes == []
    assert list((env.root() / "inbound").iterdir()) == []


def test_journal_refusal_reports_failure_and_keeps_nothing(env: Env) -> None:
    env.journal.fail = DiskFloorError("only 10 MiB free")
    shutil.copy(SAMPLE, env.work / "sample.edi")
    result = env.sftp("put sample.edi /inbound/po.edi\n")
    assert result.returncode == 1
    assert "close" in result.stderr.lower() or "failure" in result.stderr.lower(), result.stderr
    assert list((env.root() / "inbound").iterdir()) == []
    # a temp upload survives a refused rename, under its temp name, for a retry
    result = env.sftp("cd /inbound\nput sample.edi po.edi.part\nrename po.edi.part po.edi\n")
    assert result.returncode == 1
    assert [p.name for p in (env.root() / "inbound").iterdir()] == ["po.edi.part"]
    env.journal.fail = None
    result = env.sftp("cd /inbound\nrename po.edi.part po.edi\n")
    assert result.returncode == 0, result.stderr
    assert [i.data for i in env.journal.intakes] == [SAMPLE.read_bytes()]


@pytest.fixture
def roomy_env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path, max_upload_bytes=8 * 1024 * 1024)


def test_client_killed_mid_upload_journals_nothing(roomy_env: Env) -> None:
    env = roomy_env
    (env.work / "big.edi").write_bytes(os.urandom(1024 * 1024))
    (env.work / "batch").write_text("put big.edi /inbound/big.edi\n")
    partial = env.root() / "inbound" / "big.edi"
    proc = subprocess.Popen(
        [
            require("sftp"),
            "-l",
            "2000",
            "-b",
            str(env.work / "batch"),
            "-P",
            str(env.server.port),
            "-i",
            str(env.key),
            "-F",
            "/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={env.known_hosts}",
            "acme@127.0.0.1",
        ],
        cwd=env.work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (partial.exists() and partial.stat().st_size >= 128 * 1024):
            assert proc.poll() is None, "sftp ended before the upload was under way"
            assert time.monotonic() < deadline, "upload never got under way"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)  # sftp and its ssh child
    finally:
        proc.wait(30)
    # the server notices the lost connection and drops the half file
    deadline = time.monotonic() + 60
    while partial.exists():
        assert time.monotonic() < deadline, "the half-written upload was never dropped"
        time.sleep(0.05)
    assert env.journal.intakes == []
    assert [k for k, _ in env.journal.events if k == "upload"] == []


def test_empty_upload_is_refused(env: Env) -> None:
    (env.work / "empty.edi").write_bytes(b"")
    result = env.sftp("put empty.edi /inbound/empty.edi\n")
    assert result.returncode == 1
    assert env.journal.intakes == []


def test_outbound_can_be_fetched_and_deleted_but_not_written(env: Env) -> None:
    env.sftp("ls /\n")  # first login creates the folders
    (env.root() / "outbound" / "997_1.edi").write_bytes(b"ISA*00*ack~")
    result = env.sftp("get /outbound/997_1.edi fetched.edi\nrm /outbound/997_1.edi\n")
    assert result.returncode == 0, result.stderr
    assert (env.work / "fetched.edi").read_bytes() == b"ISA*00*ack~"
    assert list((env.root() / "outbound").iterdir()) == []
    shutil.copy(SAMPLE, env.work / "sample.edi")
    assert env.sftp("put sample.edi /outbound/x.edi\n").returncode == 1
    assert env.sftp("put sample.edi /x.edi\n").returncode == 1
    assert env.sftp("mkdir /inbound/sub\n").returncode == 1
    assert list((env.root() / "outbound").iterdir()) == []
    assert env.journal.intakes == []


# -- escapes ---------------------------------------------------------------------------


def test_path_tricks_stay_inside_the_root(env: Env) -> None:
    outside = env.work / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    shutil.copy(SAMPLE, env.work / "sample.edi")
    env.sftp("ls /\n")
    # pre-existing links planted inside the root, pointing out of it
    os.symlink(outside, env.root() / "outbound" / "outdir")
    os.symlink(outside / "secret.txt", env.root() / "outbound" / "secret.txt")
    os.symlink(outside, env.root() / "inbound" / "drop")
    attempts = [
        "put sample.edi ../../outside/escape.edi\n",
        f"put sample.edi {outside}/escape.edi\n",
        "cd /inbound\nput sample.edi ../../../outside/escape.edi\n",
        "get /outbound/secret.txt got.txt\n",
        "get /outbound/outdir/secret.txt got.txt\n",
        "ls /outbound/outdir\n",
        "put sample.edi /outbound/outdir/escape.edi\n",
        "put sample.edi /inbound/drop/escape.edi\n",
        "cd /inbound\nput sample.edi x.part\nrename x.part drop/escape.edi\n",
        f"symlink {outside}/secret.txt /inbound/link.edi\n",
        "symlink /etc/passwd /inbound/passwd.edi\n",
        "cd /inbound\nput sample.edi y.part\nln y.part /inbound/y2.edi\n",
        "get /../../../../etc/hostname got.txt\n",
        "rm /outbound/secret.txt\n",
        "cd /inbound\nput sample.edi z.part\nrename z.part ../../globex/inbound/z.edi\n",
    ]
    for batch in attempts:
        result = env.sftp(batch)
        assert result.returncode == 1, (batch, result.stdout, result.stderr)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert not (env.work / "got.txt").exists()
    assert not (env.settings.roots_dir / "globex").exists()
    assert env.journal.intakes == []
    # '..' above the root clamps to the root: the upload lands in our own inbound
    result = env.sftp("put sample.edi /../../inbound/clamped.edi\n")
    assert result.returncode == 0, result.stderr
    assert [i.file_name for i in env.journal.intakes] == ["clamped.edi"]


# -- authentication --------------------------------------------------------------------


def test_wrong_key_is_refused_and_counted(env: Env) -> None:
    result = env.sftp("ls /\n", key=env.other_key)
    assert result.returncode == 255
    kinds = [(k, d["user"], d["method"]) for k, d in env.journal.events]
    assert ("auth_failure", "acme", "publickey") in kinds
    assert not env.root().exists()


def test_unknown_user_is_refused(env: Env) -> None:
    assert env.sftp("ls /\n", user="nobody-here").returncode == 255
    assert env.sftp("ls /\n", user="../acme").returncode == 255
    assert not (env.settings.roots_dir / "nobody-here").exists()


@pytest.fixture
def strict_env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path, auth_max_failures=2, auth_lockout_seconds=3600.0)


def test_repeated_failures_lock_the_account_out(strict_env: Env) -> None:
    env = strict_env
    for _ in range(2):
        assert env.sftp("ls /\n", key=env.other_key).returncode == 255
    # locked: even the right key is refused now
    assert env.sftp("ls /\n").returncode == 255
    # the source address is locked too: another account's right key from it is refused
    assert env.sftp("ls /\n", user="globex", key=env.other_key).returncode == 255
    details = [d for k, d in env.journal.events if k == "auth_failure"]
    assert sorted(details[1]["locked"]) == ["ip:127.0.0.1", "user:acme"]
    assert [d["reason"] for d in details[2:]] == ["locked out after repeated failures"] * 2
    assert not env.root().exists() and not env.root("globex").exists()


@pytest.fixture
def idle_env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path, idle_timeout=1.0)


def test_idle_session_is_disconnected(idle_env: Env) -> None:
    env = idle_env
    # A logged-in connection that sends nothing (``ssh -N``): the server hangs up on its own.
    # (The sftp client would not notice: it sits reading its stdin.)
    proc = subprocess.Popen(
        [
            require("ssh"),
            "-N",
            "-p",
            str(env.server.port),
            "-i",
            str(env.key),
            "-F",
            "/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={env.known_hosts}",
            "acme@127.0.0.1",
        ],
        cwd=env.work,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the idle connection was never disconnected")
    assert proc.returncode != 0
    assert "idle for 1 s" in err, err
    # the server itself is fine
    assert env.sftp("ls /\n").returncode == 0


def test_password_login_is_off_by_default(env: Env) -> None:
    askpass = env.work / "askpass.sh"
    askpass.write_text("#!/bin/sh\necho s3cret-pw\n")
    askpass.chmod(0o700)
    shutil.copy(SAMPLE, env.work / "sample.edi")
    (env.work / "batch").write_text("put sample.edi /inbound/pw.edi\n")
    result = subprocess.run(
        [
            require("sftp"),
            "-o",
            "BatchMode=no",
            "-b",
            str(env.work / "batch"),
            "-P",
            str(env.server.port),
            "-F",
            "/dev/null",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "NumberOfPasswordPrompts=1",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={env.known_hosts}",
            "acme@127.0.0.1",
        ],
        cwd=env.work,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"},
    )
    assert result.returncode == 255
    assert "password" not in result.stderr.split("Permission denied")[-1]
    assert env.journal.intakes == []


@pytest.fixture
def password_env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path, allow_passwords=True)


def test_password_login_when_enabled(password_env: Env) -> None:
    env = password_env
    shutil.copy(SAMPLE, env.work / "sample.edi")
    (env.work / "batch").write_text("put sample.edi /inbound/pw.edi\n")

    def run(password: str) -> subprocess.CompletedProcess[str]:
        askpass = env.work / "askpass.sh"
        askpass.write_text(f"#!/bin/sh\necho '{password}'\n")
        askpass.chmod(0o700)
        return subprocess.run(
            [
                require("sftp"),
                "-o",
                "BatchMode=no",
                "-b",
                str(env.work / "batch"),
                "-P",
                str(env.server.port),
                "-F",
                "/dev/null",
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "PreferredAuthentications=password",
                "-o",
                "NumberOfPasswordPrompts=1",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                f"UserKnownHostsFile={env.known_hosts}",
                "acme@127.0.0.1",
            ],
            cwd=env.work,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"},
        )

    assert run("wrong-pw").returncode == 255
    assert env.journal.intakes == []
    assert ("auth_failure", "password") in [(k, d["method"]) for k, d in env.journal.events]
    result = run("s3cret-pw")
    assert result.returncode == 0, result.stderr
    assert [i.file_name for i in env.journal.intakes] == ["pw.edi"]


def test_shell_exec_and_forwarding_are_refused(env: Env) -> None:
    base = [
        require("ssh"),
        "-p",
        str(env.server.port),
        "-i",
        str(env.key),
        "-F",
        "/dev/null",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={env.known_hosts}",
    ]
    for extra in (
        ["acme@127.0.0.1", "id"],
        ["-T", "acme@127.0.0.1"],
        ["-W", "127.0.0.1:22", "acme@127.0.0.1"],
        ["-s", "acme@127.0.0.1", "scp"],
        ["acme@127.0.0.1", "scp", "-t", "/inbound"],
        ["-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:9", "acme@127.0.0.1"],
    ):
        result = subprocess.run(
            [*base, *extra], capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL
        )
        assert result.returncode != 0, (extra, result.stdout, result.stderr)
        assert "uid=" not in result.stdout


def test_host_key_persists_across_restarts(env: Env) -> None:
    first = env.settings.host_key_file.read_bytes()
    assert env.settings.host_key_file.stat().st_mode & 0o777 == 0o600
    env.server.stop()
    again = RunningSource(SftpSource(env.settings, Accounts({})), FakeJournal()).start()
    again.stop()
    assert env.settings.host_key_file.read_bytes() == first
    env.server = RunningSource(SftpSource(env.settings, Accounts({})), FakeJournal()).start()


def test_loose_host_key_mode_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "hk"
    subprocess.run([require("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    key.chmod(0o644)
    settings = SftpSettings(name="s", host="127.0.0.1", port=0, host_key_file=key, roots_dir=tmp_path / "r")
    with pytest.raises(GatewayError, match="chmod 600"):
        RunningSource(SftpSource(settings, Accounts({})), FakeJournal()).start()


# -- pure helpers ----------------------------------------------------------------------


def test_password_hash_round_trip() -> None:
    encoded = hash_password("correct horse")
    assert encoded.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct hors", encoded)
    assert hash_password("x", salt=b"0" * 16) == hash_password("x", salt=b"0" * 16)
    with pytest.raises(GatewayError):
        verify_password("x", "md5$abc")


def test_throttle_locks_per_key_and_forgets_on_success() -> None:
    now = [0.0]
    throttle = AuthThrottle(max_failures=3, window=10.0, lockout=60.0, clock=lambda: now[0])
    assert throttle.failed("ip:a", "user:u") == []
    now[0] = 20.0  # the first failure left the window
    assert throttle.failed("ip:a", "user:u") == []
    assert throttle.failed("ip:a", "user:v") == []
    assert throttle.failed("ip:a", "user:u") == ["ip:a"]
    assert throttle.locked("ip:a") and not throttle.locked("ip:b", "user:v")
    now[0] = 81.0
    assert not throttle.locked("ip:a")
    throttle.succeeded("user:u")
    assert not throttle.locked("user:u")
