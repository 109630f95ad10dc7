"""SMTP intake: partners mail EDI files; each EDI attachment becomes one journal entry.

Strategy and invariants:

* aiosmtpd speaks SMTP (RFC 5321) on the daemon's own loop
  (``loop.create_server(lambda: SMTP(handler, ...))``); this module is the handler.
* The envelope sender decides the partner: MAIL FROM from an address no
  partner allows is refused with ``550 5.7.1`` (RFC 3463 "delivery not authorized").
* ``250`` after DATA is sent only after every EDI part of the mail is appended
  to the journal (fsynced).  Temporary trouble answers ``4xx`` so the sender's
  MTA retries (RFC 5321 section 4.2.5): the disk floor ``452 4.3.1``, a journal
  failure ``451 4.3.0``.  Policy refusals are ``5xx``: too big ``552 5.3.4``, no
  EDI content ``554 5.6.0`` with the reason.
* A retried mail does not double-journal: each part carries
  ``external_id = "<Message-ID>#<part index>"``, which the journal keeps unique.
* STARTTLS (RFC 3207) is offered when a certificate is configured; AUTH
  PLAIN/LOGIN (RFC 4954, 4616) is offered only inside TLS, checked against
  scrypt hashes off the event loop, and failed attempts are throttled like SFTP's.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import ssl
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.errors import DiskFloorError, GatewayError, JournalWriteError, MessageTooLargeError
from gateway.journal import Intake
from gateway.resources import Resource
from gateway.sources.mail import DEFAULT_EXTENSIONS, NoEdiContentError, extract_edi
from gateway.sources.sftp import AuthThrottle, IntakeJournal, verify_password
from partners import private_file_problem

log = logging.getLogger(__name__)


class SmtpSettings(BaseModel):
    """Settings of one SMTP listener (one ``[[sources]]`` table with ``kind = "smtp"``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["smtp"] = "smtp"
    name: str = Field(min_length=1)
    host: str = "0.0.0.0"
    port: int = Field(default=2525, ge=0, le=65535)  # 0: any free port (tests)
    hostname: str = "edigate"
    recipients: tuple[str, ...] = ()  # accepted RCPT TO addresses; empty = any
    max_message_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    idle_timeout: float = Field(default=300.0, gt=0)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    require_starttls: bool = False
    auth: Literal["off", "optional", "required"] = "off"
    auth_failure_delay: float = Field(default=1.0, ge=0)
    auth_max_failures: int = Field(default=5, ge=1)
    auth_window_seconds: float = Field(default=600.0, gt=0)
    auth_lockout_seconds: float = Field(default=900.0, ge=0)
    attachment_extensions: tuple[str, ...] = DEFAULT_EXTENSIONS
    shutdown_grace: float = Field(default=30.0, ge=0)

    @model_validator(mode="after")
    def _tls_for_auth(self) -> SmtpSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.tls_cert_file is None and (self.auth != "off" or self.require_starttls):
            raise ValueError(
                "AUTH and require_starttls need tls_cert_file/tls_key_file: passwords never travel in clear"
            )
        return self

    def private_files(self) -> list[tuple[str, Path, str]]:
        """The STARTTLS key, as ``(key, path, what)``: checked by ``edigate validate`` and at start."""
        if self.tls_key_file is None:
            return []
        return [("tls_key_file", self.tls_key_file, "SMTP TLS private key")]


@dataclass(frozen=True, slots=True, kw_only=True)
class MailLogin:
    """An SMTP AUTH login of a partner; ``password_hash`` from :func:`gateway.sources.sftp.hash_password`."""

    username: str
    partner: str
    password_hash: str


class MailSenders(Protocol):
    """Who may mail EDI; the daemon adapts the partner registry."""

    def lookup(self, address: str) -> str | None:
        """The partner id for an allowed envelope sender (lower-cased address), or None."""
        ...

    def login(self, username: str) -> MailLogin | None:
        """The AUTH login with that user name, or None."""
        ...


def _load_tls(settings: SmtpSettings) -> ssl.SSLContext | None:
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    problem = private_file_problem(settings.tls_key_file, "SMTP TLS private key")
    if problem is not None:
        raise GatewayError(f"SMTP listener {settings.name}: {problem}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    except (OSError, ssl.SSLError) as exc:
        raise GatewayError(
            f"SMTP listener {settings.name}: cannot load TLS certificate {settings.tls_cert_file}"
            f" / key {settings.tls_key_file}: {exc}"
        ) from exc
    return context


class MailHandler:
    """aiosmtpd handler: sender policy, AUTH, and the journal commit after DATA.

    Args:
        source: the owning source (settings, journal, senders, throttle).
    """

    def __init__(self, source: SmtpSource) -> None:
        self._source = source

    # -- AUTH (RFC 4954); aiosmtpd offers it only after STARTTLS --------------------

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        """AUTH PLAIN: ``authzid NUL authcid NUL passwd`` (RFC 4616 section 2)."""
        blob = await self._initial_or_challenge(server, args, "")
        if blob is None:
            return AuthResult(success=False, handled=True)
        fields = blob.split(b"\x00")
        if len(fields) != 3:
            await server.push("501 5.5.2 Cannot split the PLAIN credentials")
            return AuthResult(success=False, handled=True)
        return await self._check(server, fields[1], fields[2])

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        """AUTH LOGIN: user name and password in two base64 challenges."""
        login = await self._initial_or_challenge(server, args, "User Name")
        if login is None:
            return AuthResult(success=False, handled=True)
        password = await server.challenge_auth("Password")
        if not isinstance(password, bytes):
            return AuthResult(success=False, handled=True)
        return await self._check(server, login, password)

    async def _initial_or_challenge(self, server: SMTP, args: list[str], prompt: str) -> bytes | None:
        if len(args) == 2:
            try:
                return base64.b64decode(args[1], validate=True)
            except binascii.Error:
                await server.push("501 5.5.2 Cannot decode base64")
                return None
        answer = await server.challenge_auth(prompt)
        return answer if isinstance(answer, bytes) else None

    async def _check(self, server: SMTP, login: bytes, password: bytes) -> AuthResult:
        source = self._source
        user = login.decode("utf-8", "replace")
        remote = _remote(server.session)
        keys = (f"ip:{remote}", f"user:{user}")
        if source.throttle.locked(*keys):
            await source.event(
                "auth_failure",
                {
                    "transport": "smtp",
                    "remote": remote,
                    "user": user,
                    "reason": "locked out after repeated failures",
                },
            )
            return AuthResult(
                success=False, handled=False, message="454 4.7.0 Too many failed logins; try again later"
            )
        account = source.senders.login(user)
        ok = False
        if account is not None:
            try:
                ok = await asyncio.to_thread(
                    verify_password, password.decode("utf-8", "replace"), account.password_hash
                )
            except GatewayError as exc:
                log.error("smtp: login %s: %s; AUTH refused", user, exc)
        if ok and account is not None:
            source.throttle.succeeded(f"user:{user}")
            return AuthResult(success=True, auth_data=LoginPassword(login, b""))
        newly = source.throttle.failed(*keys)
        log.warning("smtp: AUTH failed for %r from %s", user, remote)
        await source.event(
            "auth_failure",
            {
                "transport": "smtp",
                "remote": remote,
                "user": user,
                "reason": "wrong user name or password",
                "locked": newly,
            },
        )
        await asyncio.sleep(source.settings.auth_failure_delay)
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Authentication credentials invalid"
        )

    # -- envelope ------------------------------------------------------------------

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        """Refuse senders no partner allows (550 5.7.1)."""
        partner = self._source.senders.lookup(address.strip().lower())
        if partner is None:
            log.warning(
                "smtp: refused mail from %r (%s): not an allowed EDI sender", address, _remote(session)
            )
            await self._source.event(
                "mail_refused",
                {
                    "transport": "smtp",
                    "sender": address,
                    "remote": _remote(session),
                    "reason": "unknown sender",
                },
            )
            return f"550 5.7.1 Sender <{address}> is not allowed to send EDI here"
        auth = session.auth_data
        if isinstance(auth, LoginPassword):
            account = self._source.senders.login(auth.login.decode("utf-8", "replace"))
            if account is None or account.partner != partner:
                return f"550 5.7.1 Sender <{address}> does not belong to the logged-in partner"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Accept the configured gateway addresses (all when none are configured)."""
        allowed = self._source.settings.recipients
        if allowed and address.strip().lower() not in {a.lower() for a in allowed}:
            return f"550 5.1.1 Recipient <{address}> is not an EDI mailbox here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Journal every EDI part, then answer; see the module docstring for the codes."""
        self._source.in_flight += 1
        try:
            return await self._receive(session, envelope)
        finally:
            self._source.in_flight -= 1
            self._source.wake()

    async def _receive(self, session: Session, envelope: Envelope) -> str:
        source = self._source
        raw = envelope.original_content or b""
        sender = envelope.mail_from or ""
        partner = source.senders.lookup(sender.strip().lower())
        if partner is None:  # the registry changed since MAIL
            return f"550 5.7.1 Sender <{sender}> is not allowed to send EDI here"
        limit = source.settings.max_message_bytes
        if len(raw) > limit:
            return f"552 5.3.4 Message of {len(raw)} bytes is over the limit of {limit} bytes"
        try:
            content = await asyncio.to_thread(
                extract_edi, raw, extensions=source.settings.attachment_extensions
            )
        except NoEdiContentError as exc:
            log.warning("smtp: mail from %s refused: %s", sender, exc)
            await source.event("mail_refused", {"transport": "smtp", "sender": sender, "reason": str(exc)})
            return f"554 5.6.0 {exc}"
        ids: list[str] = []
        for part in content.parts:
            intake = Intake(
                transport="smtp",
                data=part.data,
                partner=partner,
                file_name=part.file_name,
                external_id=f"{content.message_id}#{part.index}" if content.message_id else None,
                meta={
                    "sender": sender,
                    "recipients": list(envelope.rcpt_tos),
                    "remote": _remote(session),
                    "subject": content.subject,
                    "from": content.header_from,
                    "content_type": part.content_type,
                    "listener": source.name,
                    "skipped": list(content.skipped),
                },
            )
            try:
                result = await source.journal.append(intake)
            except DiskFloorError as exc:
                log.error("smtp: mail from %s deferred: %s", sender, exc)
                return "452 4.3.1 Gateway storage is nearly full; please retry later"
            except MessageTooLargeError as exc:
                return f"552 5.3.4 {exc}"
            except JournalWriteError as exc:
                source.fail(exc)
                return "451 4.3.0 Gateway could not store the message; please retry later"
            except GatewayError as exc:
                log.error("smtp: mail from %s not stored: %s", sender, exc)
                return "451 4.3.0 Gateway could not store the message; please retry later"
            except Exception:
                # A bug, not the sender's fault: log the traceback, let the MTA retry.
                log.exception("smtp: mail from %s failed unexpectedly", sender)
                return "451 4.3.0 Gateway internal error; please retry later"
            ids.append(result.message_id)
        log.info("smtp: journaled %d EDI file(s) from %s (%s) as %s", len(ids), sender, partner, ids)
        await source.event("upload", {"transport": "smtp", "partner": partner, "messages": ids})
        return f"250 2.0.0 Accepted {len(ids)} EDI file(s) as message(s) {', '.join(ids)}"


def _remote(session: Session | None) -> str:
    peer = session.peer if session is not None else None
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"


class SmtpSource:
    """The SMTP intake source.

    Args:
        settings: listener settings.
        senders: allowed senders and AUTH logins (adapted from the partner registry).
    """

    def __init__(self, settings: SmtpSettings, senders: MailSenders) -> None:
        self.settings = settings
        self.name = settings.name
        self.senders = senders
        self.throttle = AuthThrottle(
            max_failures=settings.auth_max_failures,
            window=settings.auth_window_seconds,
            lockout=settings.auth_lockout_seconds,
        )
        self.in_flight = 0
        self.bound_port: int | None = None
        self._journal: IntakeJournal | None = None
        self._changed = asyncio.Event()
        self._fatal: asyncio.Future[None] | None = None
        # Weak: a protocol whose accept failed before connection_made is simply forgotten.
        self._live: weakref.WeakSet[_SmtpConnection] = weakref.WeakSet()

    @property
    def journal(self) -> IntakeJournal:
        """The journal given to :meth:`run`."""
        assert self._journal is not None
        return self._journal

    def resources(self) -> list[Resource]:
        """The port this source claims."""
        return [Resource(kind="port", value=f"{self.settings.host}:{self.settings.port}")]

    def wake(self) -> None:
        """A mail finished; a graceful stop may be waiting for it."""
        self._changed.set()

    def fail(self, exc: JournalWriteError) -> None:
        """Stop the source: the journal can no longer make mail durable."""
        if self._fatal is not None and not self._fatal.done():
            self._fatal.set_exception(exc)

    async def event(self, kind: str, detail: dict[str, Any]) -> None:
        """Count an event; a failure to count is logged, never fatal to the session."""
        try:
            await self.journal.note_event(kind, detail)
        except GatewayError as exc:
            log.error("smtp: could not record %s event: %s", kind, exc)

    def _make_protocol(self, handler: MailHandler, tls: ssl.SSLContext | None) -> _SmtpConnection:
        settings = self.settings
        conn = _SmtpConnection(
            handler,
            live=self._live,
            hostname=settings.hostname,
            ident="edigate EDI intake",
            data_size_limit=settings.max_message_bytes,
            tls_context=tls,
            require_starttls=settings.require_starttls,
            timeout=settings.idle_timeout,
            auth_required=settings.auth == "required",
            auth_require_tls=True,
            auth_exclude_mechanism=["PLAIN", "LOGIN"] if settings.auth == "off" else None,
            decode_data=False,
        )
        # Tracked from creation: asyncio calls connection_made one loop turn
        # later, and a stop in between must still find (and close) it.
        self._live.add(conn)
        return conn

    async def run(self, journal: IntakeJournal, ready: asyncio.Event) -> None:
        """Serve until cancelled; on cancellation let mails in DATA finish.

        Args:
            journal: where EDI parts are appended.
            ready: set once the listener accepts connections.

        Raises:
            GatewayError: TLS files unusable or the port is taken.
            JournalWriteError: the journal failed; the daemon should stop.
        """
        self._journal = journal
        loop = asyncio.get_running_loop()
        self._fatal = loop.create_future()
        tls = _load_tls(self.settings)
        handler = MailHandler(self)
        try:
            server = await loop.create_server(
                lambda: self._make_protocol(handler, tls), self.settings.host, self.settings.port
            )
        except OSError as exc:
            raise GatewayError(
                f"SMTP listener {self.name} cannot listen on {self.settings.host}:{self.settings.port}: "
                f"{exc.strerror or exc}"
            ) from exc
        self.bound_port = server.sockets[0].getsockname()[1]
        log.info("smtp: %s listening on %s:%s", self.name, self.settings.host, self.bound_port)
        ready.set()
        try:
            await self._fatal
        finally:
            server.close()
            deadline = time.monotonic() + self.settings.shutdown_grace
            while self.in_flight and time.monotonic() < deadline:
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=0.5)
            await self._hang_up()
            await server.wait_closed()

    async def _hang_up(self) -> None:
        """Close every remaining connection with a 421, aborting those that do not go."""
        live = list(self._live)
        unmade = [asyncio.ensure_future(c.made.wait()) for c in live if not c.made.is_set()]
        if unmade:
            _, late = await asyncio.wait(unmade, timeout=1.0)
            for waiter in late:
                waiter.cancel()
        for conn in live:
            transport = conn.transport
            if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
                # 421 closing channel (RFC 5321 section 3.8) before hanging up.
                transport.write(b"421 4.3.2 Gateway shutting down; please retry later\r\n")
                transport.close()
        if not live:
            return
        waits = [asyncio.ensure_future(conn.gone.wait()) for conn in live]
        _, pending = await asyncio.wait(waits, timeout=5.0)
        for waiter in pending:
            waiter.cancel()
        for conn in live:
            transport = conn.transport
            if not conn.gone.is_set() and isinstance(transport, asyncio.WriteTransport):
                transport.abort()
        await asyncio.sleep(0)  # let the aborted transports deliver connection_lost


class _SmtpConnection(SMTP):
    """aiosmtpd's protocol, keeping the source's set of live connections."""

    def __init__(
        self, handler: MailHandler, *, live: weakref.WeakSet[_SmtpConnection], **options: Any
    ) -> None:
        super().__init__(handler, **options)
        self._live = live
        self.made = asyncio.Event()
        self.gone = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.made.set()

    def connection_lost(self, error: Exception | None) -> None:
        try:
            super().connection_lost(error)
        finally:
            self._live.discard(self)
            self.gone.set()


__all__ = ["MailHandler", "MailLogin", "MailSenders", "SmtpSettings", "SmtpSource"]
