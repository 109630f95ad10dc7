"""SFTP intake: partners upload over SSH (RFC 4251-4254) into their own confined folder.

Strategy and invariants:

* asyncssh runs the protocol on the daemon's loop; only the SFTP subsystem is
  served.  Shell, exec, SCP, PTYs, port/agent/X11 forwarding are all refused
  (RFC 4254 sections 6.2-6.5 and 7: the server may reject any channel request).
* Authentication is per account: the OpenSSH public keys of the account and,
  when enabled, a password checked against a stored ``scrypt`` hash (see
  :func:`hash_password`).  Unknown user names go through the same motions as
  known ones so their existence is not revealed.
* Failed attempts are throttled per source address and per account
  (:class:`AuthThrottle`): each failure costs a delay, too many in a window lock
  the address or account out for a while, and every failure is counted with
  ``journal.note_event("auth_failure", ...)``.
* The partner gets ``SSH_FX_OK`` for an upload only after the journal append
  returned (fsynced); the file system rules live in :mod:`gateway.sources.sftp_fs`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

import asyncssh
from pydantic import BaseModel, ConfigDict, Field

from gateway.errors import GatewayError, JournalWriteError
from gateway.journal import AppendResult, Intake
from gateway.resources import Resource
from gateway.sources.sftp_fs import (
    OpenFile,
    PartnerFileSystem,
    SessionState,
    prepare_root,
    quarantine_leftovers,
)
from partners import private_file_problem

log = logging.getLogger(__name__)

_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
# scrypt cost: 16 MiB of memory per check (RFC 7914 section 2: N=2^14, r=8, p=1).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 1 << 14, 8, 1
# On shutdown, a session quiet this long (seconds) after its last answer is disconnected.
_LINGER = 2.0


class SftpSettings(BaseModel):
    """Settings of one SFTP listener (one ``[[sources]]`` table with ``kind = "sftp"``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["sftp"] = "sftp"
    name: str = Field(min_length=1)
    host: str = "0.0.0.0"
    port: int = Field(default=2222, ge=0, le=65535)  # 0: any free port (tests)
    host_key_file: Path
    roots_dir: Path
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    idle_timeout: float = Field(default=300.0, gt=0)
    login_timeout: float = Field(default=60.0, gt=0)
    allow_passwords: bool = False
    auth_failure_delay: float = Field(default=1.0, ge=0)
    auth_max_failures: int = Field(default=5, ge=1)
    auth_window_seconds: float = Field(default=600.0, gt=0)
    auth_lockout_seconds: float = Field(default=900.0, ge=0)
    temp_suffixes: tuple[str, ...] = (".part", ".tmp", ".filepart")
    shutdown_grace: float = Field(default=30.0, ge=0)

    def private_files(self) -> list[tuple[str, Path, str]]:
        """The host key, as ``(key, path, what)``: checked by ``edigate validate`` (made at first start)."""
        return [("host_key_file", self.host_key_file, "SFTP host key")]


@dataclass(frozen=True, slots=True, kw_only=True)
class SftpAccount:
    """One partner's SFTP login.

    Attributes:
        username: the SSH user name; also the name of its root folder.
        partner: the partner id journaled with its uploads.
        authorized_keys: OpenSSH public key lines (``ssh-ed25519 AAAA... comment``).
        password_hash: a :func:`hash_password` string, or None for keys only.
    """

    username: str
    partner: str
    authorized_keys: tuple[str, ...] = ()
    password_hash: str | None = None


class SftpAccounts(Protocol):
    """Where the source looks accounts up; the daemon adapts the partner registry."""

    def lookup(self, username: str) -> SftpAccount | None:
        """The account with that user name, or None."""
        ...


class IntakeJournal(Protocol):
    """The part of :class:`gateway.journal.Journal` a source uses."""

    async def append(self, intake: Intake) -> AppendResult:
        """Store bytes durably; returns after fsync."""
        ...

    async def note_event(self, kind: str, detail: dict[str, Any]) -> None:
        """Count an event for ``edigate status``."""
        ...


# -- passwords ---------------------------------------------------------------------


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Hash a password for storage in a partner profile.

    Format: ``scrypt$N$r$p$<salt b64>$<hash b64>`` (RFC 7914), 16-byte random salt.

    Args:
        password: the clear-text password.
        salt: fixed salt, for tests only.

    Returns:
        The encoded hash.
    """
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Check a password against a :func:`hash_password` string in constant time.

    Args:
        password: the clear-text password offered.
        encoded: the stored hash.

    Returns:
        Whether they match.

    Raises:
        GatewayError: the stored hash is not in a known format.
    """
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise GatewayError("stored SFTP password hash is not in the scrypt$N$r$p$salt$hash format")
    n, r, p = (int(x) for x in parts[1:4])
    salt, expected = base64.b64decode(parts[4]), base64.b64decode(parts[5])
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected))
    return hmac.compare_digest(digest, expected)


@lru_cache(maxsize=1024)
def _public_data(key_line: str) -> bytes:
    return asyncssh.import_public_key(key_line).public_data


# -- throttling --------------------------------------------------------------------


@dataclass(slots=True)
class _Failures:
    times: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class AuthThrottle:
    """Failed-login accounting per source address and per account.

    Args:
        max_failures: failures within ``window`` that trigger a lockout.
        window: seconds over which failures are counted.
        lockout: seconds a locked address or account is refused, even with
            correct credentials.
        clock: monotonic clock (tests pass their own).
    """

    def __init__(
        self, *, max_failures: int, window: float, lockout: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max, self._window, self._lockout, self._clock = max_failures, window, lockout, clock
        self._by_key: dict[str, _Failures] = {}

    def locked(self, *keys: str) -> bool:
        """Whether any of ``keys`` (``"ip:..."``, ``"user:..."``) is locked out now."""
        now = self._clock()
        return any(self._by_key.get(k, _Failures()).locked_until > now for k in keys)

    def failed(self, *keys: str) -> list[str]:
        """Record one failure against each key.

        Returns:
            The keys that became locked by this failure.
        """
        now, newly = self._clock(), []
        for key in keys:
            entry = self._by_key.setdefault(key, _Failures())
            entry.times = [t for t in entry.times if now - t < self._window] + [now]
            if len(entry.times) >= self._max and entry.locked_until <= now:
                entry.locked_until = now + self._lockout
                entry.times.clear()
                newly.append(key)
        if len(self._by_key) > 10_000:
            # Bound memory against address sprays: forget entries with nothing pending.
            self._by_key = {k: v for k, v in self._by_key.items() if v.times or v.locked_until > now}
        return newly

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key`` after a good login."""
        self._by_key.pop(key, None)


# -- SSH connection ----------------------------------------------------------------


class _Connection(asyncssh.SSHServer):
    """Authentication and bookkeeping for one SSH connection."""

    def __init__(self, source: SftpSource) -> None:
        self._source = source
        self._remote = "?"
        self._conn: asyncssh.SSHServerConnection | None = None
        self.username: str | None = None
        self.account: SftpAccount | None = None
        self.session: SessionState | None = None
        self._idle_task: asyncio.Task[None] | None = None
        self._last_activity = time.monotonic()

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        peer = conn.get_extra_info("peername")
        self._remote = str(peer[0]) if peer else "?"
        self._source.connections.add(self)
        self._idle_task = asyncio.get_running_loop().create_task(self._watch_idle())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is not None:
            self.session.connection_lost = True
        if self._idle_task is not None:
            self._idle_task.cancel()
        self._source.connections.discard(self)
        self._source.wake()

    @property
    def last_activity(self) -> float:
        """When the client last did something (monotonic clock)."""
        return self.session.last_activity if self.session is not None else self._last_activity

    @property
    def busy(self) -> bool:
        """Whether an upload is open on this connection."""
        return self.session is not None and (self.session.uploads_open > 0 or self.session.committing > 0)

    def close(self, reason: str = "gateway is shutting down") -> None:
        """Disconnect the client, telling it why (RFC 4253 section 11.1)."""
        if self._conn is not None:
            self._conn.disconnect(asyncssh.DISC_BY_APPLICATION, reason)

    async def wait_closed(self) -> None:
        """Wait until the connection is fully closed."""
        if self._conn is not None:
            await self._conn.wait_closed()

    async def _watch_idle(self) -> None:
        timeout = self._source.settings.idle_timeout
        while True:
            remaining = self.last_activity + timeout - time.monotonic()
            if remaining <= 0 and not self.busy:
                log.info("sftp: closing idle connection from %s (%s)", self._remote, self.username)
                self.close(f"idle for {timeout:g} s; disconnecting")
                return
            await asyncio.sleep(max(remaining, 1.0))

    def begin_auth(self, username: str) -> bool:
        self.username = username
        # Always demand credentials, even for an unknown name (no enumeration).
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return self._source.settings.allow_passwords

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        account = self._source.lookup(username)
        keys = account.authorized_keys if account is not None else ()
        ok = any(_safe_public_data(line) == key.public_data for line in keys)
        return await self._judge(username, account if ok else None, "publickey")

    async def validate_password(self, username: str, password: str) -> bool:
        account = self._source.lookup(username)
        ok = False
        if account is not None and account.password_hash is not None:
            try:
                ok = await asyncio.to_thread(verify_password, password, account.password_hash)
            except GatewayError as exc:
                log.error("sftp: account %s: %s; password login refused", username, exc)
        return await self._judge(username, account if ok else None, "password")

    async def _judge(self, username: str, account: SftpAccount | None, method: str) -> bool:
        throttle = self._source.throttle
        keys = (f"ip:{self._remote}", f"user:{username}")
        if throttle.locked(*keys):
            await self._source.event(
                "auth_failure",
                {
                    "transport": "sftp",
                    "remote": self._remote,
                    "user": username,
                    "method": method,
                    "reason": "locked out after repeated failures",
                },
            )
            return False
        if account is not None:
            self.account = account
            return True
        newly = throttle.failed(*keys)
        log.warning("sftp: %s authentication failed for %r from %s", method, username, self._remote)
        await self._source.event(
            "auth_failure",
            {
                "transport": "sftp",
                "remote": self._remote,
                "user": username,
                "method": method,
                "reason": "wrong key or password",
                "locked": newly,
            },
        )
        # A failed attempt costs time, so guessing is slow.
        await asyncio.sleep(self._source.settings.auth_failure_delay)
        return False

    def auth_completed(self) -> None:
        assert self.account is not None
        self._source.throttle.succeeded(f"user:{self.account.username}")
        log.info("sftp: %s logged in from %s", self.account.username, self._remote)

    def new_session(self) -> SessionState:
        """The shared state of an SFTP session on this (authenticated) connection."""
        account = self.account
        if account is None or not _ACCOUNT_NAME.match(account.username):
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, "account not usable")
        root = self._source.settings.roots_dir / account.username
        prepare_root(root)
        state = SessionState(
            account=account.username,
            partner=account.partner,
            root=root,
            remote=self._remote,
            commit=self._commit,
            temp_suffixes=tuple(s.lower() for s in self._source.settings.temp_suffixes),
            max_upload_bytes=self._source.settings.max_upload_bytes,
            on_idle_change=self._source.wake,
            writers=self._source.writers,
        )
        self.session = state
        return state

    async def _commit(self, name: str, data: bytes, virtual: str) -> None:
        assert self.account is not None
        await self._source.commit(
            Intake(
                transport="sftp",
                data=data,
                partner=self.account.partner,
                file_name=name,
                meta={
                    "account": self.account.username,
                    "remote": self._remote,
                    "path": virtual,
                    "listener": self._source.name,
                },
            )
        )


def _safe_public_data(line: str) -> bytes | None:
    try:
        return _public_data(line.strip())
    except (asyncssh.KeyImportError, ValueError):
        log.error("sftp: an authorized key could not be read and is ignored: %.40s...", line)
        return None


# -- host key ----------------------------------------------------------------------


def load_or_create_host_key(path: Path) -> asyncssh.SSHKey:
    """Load the persistent host key, generating an Ed25519 key on first start.

    Args:
        path: the private key file (OpenSSH format); created with mode 0600.

    Returns:
        The host key.

    Raises:
        GatewayError: the file is readable by others, or cannot be read.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = asyncssh.generate_private_key("ssh-ed25519")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key.export_private_key())
            out.flush()
            os.fsync(out.fileno())
        path.with_name(path.name + ".pub").write_bytes(key.export_public_key())
        log.info("sftp: generated host key %s", path)
        return key
    problem = private_file_problem(path, "SFTP host key")
    if problem is not None:
        raise GatewayError(problem)
    try:
        return asyncssh.read_private_key(path)
    except (asyncssh.KeyImportError, OSError) as exc:
        raise GatewayError(f"SFTP host key {path} cannot be read: {exc}") from exc


# -- the source --------------------------------------------------------------------


class SftpSource:
    """The SFTP intake source.

    Args:
        settings: listener settings.
        accounts: account lookup (adapted from the partner registry).
    """

    def __init__(self, settings: SftpSettings, accounts: SftpAccounts) -> None:
        self.settings = settings
        self.name = settings.name
        self._accounts = accounts
        self.throttle = AuthThrottle(
            max_failures=settings.auth_max_failures,
            window=settings.auth_window_seconds,
            lockout=settings.auth_lockout_seconds,
        )
        self.connections: set[_Connection] = set()
        self.writers: dict[tuple[int, int], OpenFile] = {}
        self._journal: IntakeJournal | None = None
        self._changed = asyncio.Event()
        self._fatal: asyncio.Future[None] | None = None
        self.bound_port: int | None = None
        self._background: set[asyncio.Task[None]] = set()

    def resources(self) -> list[Resource]:
        """The port and the roots folder this source claims."""
        return [
            Resource(kind="port", value=f"{self.settings.host}:{self.settings.port}"),
            Resource(kind="dir", value=str(self.settings.roots_dir)),
        ]

    def lookup(self, username: str) -> SftpAccount | None:
        """The account for ``username`` if its name is usable."""
        if not _ACCOUNT_NAME.match(username):
            return None
        return self._accounts.lookup(username)

    def wake(self) -> None:
        """Something changed that a graceful stop may be waiting for."""
        self._changed.set()

    async def event(self, kind: str, detail: dict[str, Any]) -> None:
        """Count an event; a failure to count is logged, never fatal to the session."""
        if self._journal is None:
            return
        try:
            await self._journal.note_event(kind, detail)
        except GatewayError as exc:
            log.error("sftp: could not record %s event: %s", kind, exc)

    async def commit(self, intake: Intake) -> None:
        """Append an upload to the journal; the caller answers the client afterwards.

        Raises:
            GatewayError: the journal refused it (the client gets a failure status).
        """
        assert self._journal is not None
        try:
            result = await self._journal.append(intake)
        except JournalWriteError as exc:
            # Fail-stop: the daemon must not keep answering partners it cannot serve.
            if self._fatal is not None and not self._fatal.done():
                self._fatal.set_exception(exc)
            raise
        except GatewayError as exc:
            await self.event(
                "upload_rejected",
                {
                    "transport": "sftp",
                    "file": intake.file_name,
                    "partner": intake.partner,
                    "reason": str(exc),
                },
            )
            raise
        log.info(
            "sftp: journaled %s from %s as %s%s",
            intake.file_name,
            intake.partner,
            result.message_id,
            f" (duplicate of {result.duplicate_of})" if result.duplicate_of else "",
        )
        # The counter is not part of the promise: write it after the partner's
        # answer, so it shares a commit with the next append instead of
        # delaying this one (the message row is already durable).
        detail = {
            "transport": "sftp",
            "partner": intake.partner,
            "file": intake.file_name,
            "message_id": result.message_id,
        }
        task = asyncio.get_running_loop().create_task(self.event("upload", detail))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def run(self, journal: IntakeJournal, ready: asyncio.Event) -> None:
        """Serve until cancelled; on cancellation let uploads in flight finish.

        Args:
            journal: where uploads are appended.
            ready: set once the listener accepts connections.

        Raises:
            GatewayError: the host key or roots folder is unusable, or the port is taken.
            JournalWriteError: the journal failed; the daemon should stop.
        """
        self._journal = journal
        loop = asyncio.get_running_loop()
        self._fatal = loop.create_future()
        settings = self.settings
        host_key = load_or_create_host_key(settings.host_key_file)
        settings.roots_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        suffixes = tuple(s.lower() for s in settings.temp_suffixes)
        for moved in quarantine_leftovers(settings.roots_dir, suffixes):
            log.warning("sftp: moved unfinished upload left by a previous run to %s (never journaled)", moved)
            await self.event("upload_incomplete", {"transport": "sftp", "moved_to": str(moved)})

        def make_fs(chan: asyncssh.SSHServerChannel[bytes]) -> PartnerFileSystem:
            owner = chan.get_connection().get_owner()
            assert isinstance(owner, _Connection)
            return PartnerFileSystem(chan, owner.new_session())

        try:
            server = await asyncssh.listen(
                settings.host,
                settings.port,
                server_host_keys=[host_key],
                server_factory=lambda: _Connection(self),
                sftp_factory=make_fs,
                sftp_version=3,
                allow_scp=False,
                allow_pty=False,
                agent_forwarding=False,
                x11_forwarding=False,
                kbdint_auth=False,
                login_timeout=settings.login_timeout,
                keepalive_interval=min(settings.idle_timeout, 60.0),
                keepalive_count_max=3,
                encoding=None,
            )
        except OSError as exc:
            raise GatewayError(
                f"SFTP listener {self.name} cannot listen on {settings.host}:{settings.port}: "
                f"{exc.strerror or exc}"
            ) from exc
        self.bound_port = server.sockets[0].getsockname()[1]
        log.info("sftp: %s listening on %s:%s", self.name, settings.host, self.bound_port)
        ready.set()
        try:
            await self._fatal
        finally:
            server.close()
            await self._drain()
            await server.wait_closed()
            if self._background:
                await asyncio.wait(set(self._background), timeout=10.0)

    async def _drain(self) -> None:
        """Let uploads in flight finish, then disconnect everyone.

        Waits (at most ``shutdown_grace``) until no upload is open and every
        session has been quiet for a moment, so a client that just got its
        answer can leave by itself instead of seeing the connection cut.
        """
        deadline = time.monotonic() + self.settings.shutdown_grace
        while self.connections and time.monotonic() < deadline:
            now = time.monotonic()
            if not any(c.busy or now - c.last_activity < _LINGER for c in self.connections):
                break
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=0.1)
        remaining = list(self.connections)
        for conn in remaining:
            if conn.busy:
                log.warning("sftp: stopping with an upload open from %s; it is not accepted", conn.username)
            conn.close()
        if remaining:
            await asyncio.wait([asyncio.ensure_future(c.wait_closed()) for c in remaining], timeout=10.0)


__all__ = [
    "AuthThrottle",
    "IntakeJournal",
    "SftpAccount",
    "SftpAccounts",
    "SftpSettings",
    "SftpSource",
    "hash_password",
    "load_or_create_host_key",
    "verify_password",
]
