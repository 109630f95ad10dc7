"""FTP/FTPS intake: partners upload over FTP (RFC 959) protected by explicit TLS (RFC 4217).

Why pyftpdlib and not aioftp: aioftp 0.28.3's server only knows *implicit* TLS
(the whole listening socket wrapped in TLS); it has no ``AUTH TLS``/``PBSZ``/
``PROT`` (checked in its ``server.py``), and explicit FTPS on port 21 is what
partners' clients (lftp, curl, WinSCP, FileZilla) use.  pyftpdlib 2.2's
``TLS_FTPHandler`` implements RFC 4217 and has been run against those clients
for years.  It is not asyncio: the listener runs in its own thread with one
thread per session (``ThreadedFTPServer``), and a session hops to the daemon's
loop with ``asyncio.run_coroutine_threadsafe`` for ``journal.append``; it waits
for the fsync there, so concurrent uploads still share the journal's group
commit.  ``bench/bench_ftp.py`` measures the cost of the journaling: on the
2-core dev machine (load average 6-8 from other work), 1 KB files over FTPS from
one lftp session, 45-61 files/s against 84-155 for vsftpd writing plain files
without fsync (ratio 0.39-0.54 over two runs); with 8 parallel uploads 67 against
131 (0.51).

Strategy and invariants:

* Accounts (user, partner, scrypt ``password_hash`` as for SFTP, ``allow_plain``)
  come through the :class:`FtpAccounts` protocol: first from partner profiles
  (``[identities.ftp]``, :meth:`partners.Registry.by_ftp_account`), then from the
  source's config (``[[sources.ftp.accounts]]``) for users no profile claims.
* TLS is required unless the account allows plain FTP **and** the client is in
  ``plain_networks`` (loopback by default).  See :mod:`gateway.sources.ftp_session`
  for the commit point, the confinement rules and the reply codes.
* Failed logins are throttled per address and per account with the SFTP
  source's :class:`~gateway.sources.sftp.AuthThrottle`: each failure is answered
  only after ``auth_failure_delay``, too many lock the address and the account
  out, and each is counted with ``journal.note_event("auth_failure", ...)``.
  Passwords are never logged.
* After a crash, final-named files left in ``inbound/`` (transfers the client
  never finished) are moved out of view and never journaled, as for SFTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from OpenSSL import SSL
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pyftpdlib.ioloop import IOLoop  # type: ignore[import-untyped]
from pyftpdlib.servers import ThreadedFTPServer  # type: ignore[import-untyped]

from gateway.errors import GatewayError, JournalWriteError
from gateway.journal import Intake
from gateway.resources import Resource
from gateway.sources.ftp_session import (
    Counter,
    LoginOutcome,
    SessionAccount,
    call_soon_in,
    handler_class,
    in_networks,
)
from gateway.sources.sftp import AuthThrottle, IntakeJournal, verify_password
from gateway.sources.sftp_fs import prepare_root, quarantine_leftovers
from partners import private_file_problem

log = logging.getLogger(__name__)


def _quiet_library_log() -> None:
    """Keep pyftpdlib's per-command INFO lines out of the daemon log.

    Our own lines say what matters (logins, journaled files, refusals).  A handler
    on its logger also stops pyftpdlib from installing its own stderr handler
    when the process has not configured logging.
    """
    lib = logging.getLogger("pyftpdlib")
    if lib.level == logging.NOTSET:
        lib.setLevel(logging.WARNING)
    if not lib.handlers:
        lib.addHandler(logging.NullHandler())


# Same rule as SFTP account names: the name is also a folder name.
_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
# On shutdown, wait this long (seconds) after the last upload ended before cutting sessions.
_LINGER = 0.5


class FtpAccountConfig(BaseModel):
    """One ``[[sources.ftp.accounts]]`` entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str = Field(pattern=_ACCOUNT_NAME.pattern)
    partner: str = Field(min_length=1)
    password_hash: str = Field(pattern=r"^scrypt\$", description="hash_password() output, never plain")
    allow_plain: bool = Field(default=False, description="may log in without TLS from plain_networks")


class FtpSourceConfig(BaseModel):
    """Settings of one FTP/FTPS listener (``[[sources.ftp]]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["ftp"] = "ftp"
    name: str = Field(min_length=1)
    host: str = "0.0.0.0"
    port: int = Field(default=2121, ge=0, le=65535)  # 0: any free port (tests)
    roots_dir: Path
    cert_file: Path = Field(description="PEM certificate chain presented on AUTH TLS")
    key_file: Path = Field(description="PEM private key of cert_file")
    passive_ports: tuple[int, int] | None = Field(
        default=None, description="inclusive [first, last] port range for PASV/EPSV; open it in the firewall"
    )
    masquerade_address: str | None = Field(default=None, description="address put in PASV replies behind NAT")
    plain_networks: tuple[str, ...] = Field(
        default=("127.0.0.0/8", "::1/128"),
        description="clients here may use plain FTP if their account allows it",
    )
    accounts: tuple[FtpAccountConfig, ...] = ()
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    idle_timeout: float = Field(default=300.0, gt=0)
    max_connections: int = Field(default=256, ge=1)
    max_connections_per_ip: int = Field(default=32, ge=1)
    auth_failure_delay: float = Field(default=1.0, ge=0)
    auth_max_failures: int = Field(default=5, ge=1)
    auth_window_seconds: float = Field(default=600.0, gt=0)
    auth_lockout_seconds: float = Field(default=900.0, ge=0)
    temp_suffixes: tuple[str, ...] = (".part", ".tmp", ".filepart")
    require_tls_close_notify: bool = Field(
        default=True, description="refuse a protected upload whose TLS stream was cut (not closed)"
    )
    shutdown_grace: float = Field(default=15.0, ge=0)

    @field_validator("plain_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for net in value:
            ipaddress.ip_network(net, strict=False)  # raises ValueError with the reason
        return value

    @model_validator(mode="after")
    def _checks(self) -> FtpSourceConfig:
        if self.passive_ports is not None:
            first, last = self.passive_ports
            if not 1024 <= first <= last <= 65535:
                raise ValueError("passive_ports must be [first, last] with 1024 <= first <= last <= 65535")
        users = [a.user for a in self.accounts]
        if len(users) != len(set(users)):
            raise ValueError("an FTP account user name is listed twice")
        return self

    def private_files(self) -> list[tuple[str, Path, str]]:
        """The secret files, as ``(key, path, what)``: checked by ``edigate validate`` and at start."""
        return [("key_file", self.key_file, "FTPS TLS private key")]


@dataclass(frozen=True, slots=True, kw_only=True)
class FtpAccount:
    """One partner's FTP login.

    Attributes:
        username: the FTP user name; also the name of its root folder.
        partner: the partner id journaled with its uploads.
        password_hash: a :func:`gateway.sources.sftp.hash_password` string (scrypt).
        allow_plain: may log in without TLS from the site networks.
    """

    username: str
    partner: str
    password_hash: str = field(repr=False)
    allow_plain: bool = False


class FtpAccounts(Protocol):
    """Where the source looks accounts up; the daemon adapts the partner registry."""

    def lookup(self, username: str) -> FtpAccount | None:
        """The account with that user name, or None."""
        ...


class ConfigFtpAccounts:
    """:class:`FtpAccounts` over the ``accounts`` listed in the source's config.

    Args:
        accounts: the config entries.
    """

    def __init__(self, accounts: tuple[FtpAccountConfig, ...]) -> None:
        self._by_user = {
            a.user: FtpAccount(
                username=a.user, partner=a.partner, password_hash=a.password_hash, allow_plain=a.allow_plain
            )
            for a in accounts
        }

    def lookup(self, username: str) -> FtpAccount | None:
        """The account with that user name, or None."""
        return self._by_user.get(username)


class RegistryFtpAccounts:
    """:class:`FtpAccounts` over the partner registry, then the source's own list.

    The registry's ``by_ftp_account(user)`` (a profile whose ``identities.ftp``
    has ``user``, ``password_hash`` and ``allow_plain``) is asked first, each
    lookup on the current snapshot, so a hot reload adds or removes accounts.
    For users no profile claims (or a registry without that lookup) the accounts
    listed in the config answer.

    Args:
        registry: returns the current registry snapshot (or None before the first load).
        fallback: the accounts from ``[[sources.ftp.accounts]]``.
    """

    def __init__(self, registry: Callable[[], Any], fallback: FtpAccounts) -> None:
        self._registry = registry
        self._fallback = fallback

    def lookup(self, username: str) -> FtpAccount | None:
        """The account with that user name, or None."""
        reg = self._registry()
        by_ftp = getattr(reg, "by_ftp_account", None) if reg is not None else None
        profile = by_ftp(username) if by_ftp is not None else None
        ident = getattr(getattr(getattr(profile, "model", None), "identities", None), "ftp", None)
        if profile is not None and ident is not None and ident.password_hash:
            return FtpAccount(
                username=username,
                partner=str(profile.id),
                password_hash=str(ident.password_hash),
                allow_plain=bool(getattr(ident, "allow_plain", False)),
            )
        return self._fallback.lookup(username)


def _ssl_context(cert_file: Path, key_file: Path) -> SSL.Context:
    """A server context for AUTH TLS: TLS 1.2 or later, no compression (CRIME).

    Raises:
        GatewayError: the key is readable by group or others, or the files cannot be used.
    """
    problem = private_file_problem(key_file, "FTPS TLS private key")
    if problem is not None:
        raise GatewayError(problem)
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_options(SSL.OP_NO_COMPRESSION)
    try:
        ctx.use_certificate_chain_file(str(cert_file))
        ctx.use_privatekey_file(str(key_file))
        ctx.check_privatekey()
    except SSL.Error as exc:
        raise GatewayError(f"FTPS certificate {cert_file} / key {key_file} cannot be used: {exc}") from exc
    # Data connections resume the control connection's TLS session (RFC 4217 section 10.2 notes
    # clients do so); keep a server-side session cache for them.
    ctx.set_session_id(b"edigate-ftps")
    return ctx


class _Server(ThreadedFTPServer):  # type: ignore[misc]
    """pyftpdlib keeps the stop flag and lock on the class; give each listener its own."""

    # Session threads check the stop flag between polls; this bounds how long a stop waits.
    poll_timeout = 0.25

    def __init__(self, address: tuple[str, int], handler: Any) -> None:
        self._exit = threading.Event()
        self._lock = threading.Lock()
        super().__init__(address, handler, ioloop=IOLoop())

    def _start_task(self, *args: Any, **kwargs: Any) -> threading.Thread:
        # Daemon threads: a session stuck on a dead peer must not keep the process alive at exit.
        return threading.Thread(*args, daemon=True, **kwargs)


class FtpSource:
    """The FTP/FTPS intake source.

    Args:
        settings: listener settings.
        accounts: account lookup; default: the accounts listed in ``settings``.
    """

    def __init__(self, settings: FtpSourceConfig, accounts: FtpAccounts | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self._accounts = accounts if accounts is not None else ConfigFtpAccounts(settings.accounts)
        self.max_upload_bytes = settings.max_upload_bytes
        self.temp_suffixes = tuple(s.lower() for s in settings.temp_suffixes)
        self.require_close_notify = settings.require_tls_close_notify
        self._networks = tuple(ipaddress.ip_network(n, strict=False) for n in settings.plain_networks)
        self._throttle = AuthThrottle(
            max_failures=settings.auth_max_failures,
            window=settings.auth_window_seconds,
            lockout=settings.auth_lockout_seconds,
        )
        self._lock = threading.Lock()
        self._journal: IntakeJournal | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fatal: asyncio.Future[None] | None = None
        self._changed: asyncio.Event | None = None
        self._uploads = Counter(self._wake_threadsafe)
        self.bound_port: int | None = None
        # status figures, guarded by _lock (written from session threads)
        self._accepted: dict[str, int] = {}
        self._refused: dict[str, int] = {}
        self._login_failures = 0
        self._last_upload: dict[str, float] = {}
        self._last_error: str | None = None
        self._writing: set[str] = set()

    # -- daemon-facing -----------------------------------------------------------

    def resources(self) -> list[Resource]:
        """The control port, the passive range and the roots folder this source claims."""
        out = [
            Resource(kind="port", value=f"{self.settings.host}:{self.settings.port}"),
            Resource(kind="dir", value=str(self.settings.roots_dir)),
        ]
        if self.settings.passive_ports is not None:
            first, last = self.settings.passive_ports
            out += [Resource(kind="port", value=f"{self.settings.host}:{p}") for p in range(first, last + 1)]
        return out

    def status(self) -> dict[str, Any]:
        """Figures for ``edigate status``."""
        with self._lock:
            return {
                "name": self.name,
                "kind": "ftp",
                "listening": f"{self.settings.host}:{self.bound_port or self.settings.port}",
                "uploads_in_progress": self._uploads.value,
                "accepted": dict(self._accepted),
                "refused": dict(self._refused),
                "login_failures": self._login_failures,
                "last_upload": dict(self._last_upload),
                "last_error": self._last_error,
            }

    def stop(self) -> None:
        """Take no new connections; uploads in flight finish (at most ``shutdown_grace``)."""
        if self._fatal is not None and not self._fatal.done():
            self._fatal.set_result(None)

    # -- SessionHost (called from session threads) ------------------------------------

    def plain_allowed(self, username: str, remote: str) -> bool:
        """Whether ``username`` may log in without TLS from ``remote``.

        Args:
            username: the name sent with USER.
            remote: the client's address.

        Returns:
            True only when the address is a site network and the account allows it.
        """
        if not in_networks(remote, self._networks) or not _ACCOUNT_NAME.match(username):
            return False
        account = self._accounts.lookup(username)
        return account is not None and account.allow_plain

    def root_of(self, username: str) -> str:
        """The account's root folder with ``inbound/`` and ``outbound/``.

        Raises:
            GatewayError: a folder in the way is a link or a file.
        """
        root = self.settings.roots_dir / username
        prepare_root(root)
        return str(root)

    def login(self, username: str, password: str, remote: str, tls: bool) -> LoginOutcome:
        """Check a login and account for failures (session thread).

        Args:
            username: the name sent with USER.
            password: the password sent with PASS (never logged or kept).
            remote: the client's address.
            tls: whether the control connection is protected.

        Returns:
            The account, or the reason for the ``530``.
        """
        keys = (f"ip:{remote}", f"user:{username}")
        with self._lock:
            locked = self._throttle.locked(*keys)
        account = self._accounts.lookup(username) if _ACCOUNT_NAME.match(username) else None
        ok = False
        if account is not None and not locked:
            try:
                ok = verify_password(password, account.password_hash)
            except (GatewayError, ValueError) as exc:
                log.error(
                    "ftp: account %s: stored password hash is unusable (%s); login refused", username, exc
                )
        plain_ok = account is not None and account.allow_plain and in_networks(remote, self._networks)
        if ok and account is not None and (tls or plain_ok):
            with self._lock:
                self._throttle.succeeded(f"user:{username}")
            log.info("ftp: %s logged in from %s%s", username, remote, " over TLS" if tls else " WITHOUT TLS")
            return LoginOutcome(
                SessionAccount(username=username, partner=account.partner, allow_plain=account.allow_plain)
            )
        with self._lock:
            newly = [] if locked else self._throttle.failed(*keys)
            self._login_failures += 1
        reason = "locked out after repeated failures" if locked else "wrong user name or password"
        log.warning("ftp: login failed for %r from %s: %s", username, remote, reason)
        self._event(
            "auth_failure",
            {"transport": "ftp", "remote": remote, "user": username, "reason": reason, "locked": newly},
        )
        if locked:
            return LoginOutcome(None, "Too many failed logins; try again later.")
        return LoginOutcome(None, "Login incorrect.")

    def commit(self, account: SessionAccount, name: str, data: bytes, meta: dict[str, Any]) -> None:
        """Append an upload to the journal and wait for the fsync (session thread).

        Args:
            account: the session's account.
            name: the final file name.
            data: the bytes.
            meta: remote address, path and TLS details for the journal row.

        Raises:
            GatewayError: the journal refused it; the session answers 451/452/552.
        """
        assert self._loop is not None
        intake = Intake(
            transport="ftp",
            data=data,
            partner=account.partner,
            file_name=name,
            meta={**meta, "listener": self.name},
        )
        future: Future[None] = asyncio.run_coroutine_threadsafe(self._append(intake), self._loop)
        future.result()

    def uploading(self, delta: int) -> None:
        """Count an upload starting (+1) or ending (-1)."""
        self._uploads.add(delta)

    def claim(self, path: str) -> bool:
        """Reserve a local path for one upload; False when another session is writing it."""
        with self._lock:
            if path in self._writing:
                return False
            self._writing.add(path)
            return True

    def release(self, path: str) -> None:
        """End the reservation made by :meth:`claim`."""
        with self._lock:
            self._writing.discard(path)

    # -- loop side ----------------------------------------------------------------

    async def _append(self, intake: Intake) -> None:
        assert self._journal is not None and intake.partner is not None
        try:
            result = await self._journal.append(intake)
        except JournalWriteError as exc:
            # Fail-stop: the daemon must not keep answering partners it cannot serve.
            self._note_refusal(intake, str(exc))
            if self._fatal is not None and not self._fatal.done():
                self._fatal.set_exception(exc)
            raise
        except GatewayError as exc:
            self._note_refusal(intake, str(exc))
            await self._note_event(
                "upload_rejected",
                {"transport": "ftp", "file": intake.file_name, "partner": intake.partner, "reason": str(exc)},
            )
            raise
        with self._lock:
            account = str(intake.meta.get("account"))
            self._accepted[account] = self._accepted.get(account, 0) + 1
            self._last_upload[intake.partner] = time.time()
        log.info(
            "ftp: journaled %s from %s as %s%s",
            intake.file_name,
            intake.partner,
            result.message_id,
            f" (duplicate of {result.duplicate_of})" if result.duplicate_of else "",
        )

    def _note_refusal(self, intake: Intake, reason: str) -> None:
        with self._lock:
            account = str(intake.meta.get("account"))
            self._refused[account] = self._refused.get(account, 0) + 1
            self._last_error = f"{intake.file_name}: {reason}"

    async def _note_event(self, kind: str, detail: dict[str, Any]) -> None:
        if self._journal is None:
            return
        try:
            await self._journal.note_event(kind, detail)
        except GatewayError as exc:
            log.error("ftp: could not record %s event: %s", kind, exc)

    def _event(self, kind: str, detail: dict[str, Any]) -> None:
        if self._loop is not None and not self._loop.is_closed():
            call_soon_in(self._loop, self._note_event(kind, detail))

    def _wake_threadsafe(self) -> None:
        loop, changed = self._loop, self._changed
        if loop is not None and changed is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(changed.set)

    async def run(self, journal: IntakeJournal, ready: asyncio.Event) -> None:
        """Serve until cancelled; on cancellation let uploads in flight finish.

        Args:
            journal: where uploads are appended.
            ready: set once the listener accepts connections.

        Raises:
            GatewayError: the certificate or roots folder is unusable, the key is readable
                by others, or the port is taken.
            JournalWriteError: the journal failed; the daemon should stop.
        """
        _quiet_library_log()
        self._journal = journal
        self._loop = asyncio.get_running_loop()
        self._fatal = self._loop.create_future()
        self._changed = asyncio.Event()
        settings = self.settings
        ssl_context = _ssl_context(settings.cert_file, settings.key_file)
        settings.roots_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for moved in quarantine_leftovers(settings.roots_dir, self.temp_suffixes):
            log.warning("ftp: moved unfinished upload left by a previous run to %s (never journaled)", moved)
            await self._note_event("upload_incomplete", {"transport": "ftp", "moved_to": str(moved)})
        first_last = settings.passive_ports
        handler = handler_class(
            self,
            ssl_context=ssl_context,
            passive_ports=range(first_last[0], first_last[1] + 1) if first_last else None,
            masquerade_address=settings.masquerade_address,
            idle_timeout=settings.idle_timeout,
            auth_failure_delay=settings.auth_failure_delay,
        )
        try:
            server = _Server((settings.host, settings.port), handler)
        except OSError as exc:
            raise GatewayError(
                f"FTP listener {self.name} cannot listen on {settings.host}:{settings.port}: "
                f"{exc.strerror or exc}"
            ) from exc
        server.max_cons = settings.max_connections
        server.max_cons_per_ip = settings.max_connections_per_ip
        self.bound_port = server.socket.getsockname()[1]
        stop_accepting = threading.Event()
        acceptor = threading.Thread(
            target=_accept_loop, args=(server, stop_accepting), name=f"ftp-{self.name}", daemon=True
        )
        acceptor.start()
        log.info("ftp: %s listening on %s:%s", self.name, settings.host, self.bound_port)
        ready.set()
        try:
            await self._fatal
        finally:
            stop_accepting.set()
            await asyncio.to_thread(acceptor.join)
            await self._drain()
            # Ends every session thread; what was not committed by now is not acknowledged.
            await asyncio.to_thread(server.close_all)

    async def _drain(self) -> None:
        """Wait (at most ``shutdown_grace``) until no upload is open or being committed."""
        assert self._changed is not None
        deadline = time.monotonic() + self.settings.shutdown_grace
        while time.monotonic() < deadline:
            if self._uploads.value == 0 and time.monotonic() - self._uploads.changed_at >= _LINGER:
                return
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=0.1)
        if self._uploads.value:
            log.warning("ftp: stopping with %d upload(s) open; they are not accepted", self._uploads.value)


def _accept_loop(server: Any, stop: threading.Event) -> None:
    """Accept connections until ``stop``; then close the listening socket (acceptor thread)."""
    try:
        while not stop.is_set():
            server.serve_forever(timeout=0.2, blocking=False, handle_exit=False)
    finally:
        server.close()


__all__ = [
    "ConfigFtpAccounts",
    "FtpAccount",
    "FtpAccountConfig",
    "FtpAccounts",
    "FtpSource",
    "FtpSourceConfig",
    "RegistryFtpAccounts",
]
