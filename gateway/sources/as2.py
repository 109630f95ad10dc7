"""AS2 intake (RFC 4130): an HTTP(S) listener that journals payloads and answers with MDNs.

Strategy: HTTP/1.1 is spoken through ``h11`` (sans-I/O, already installed
with httpx, so no new dependency, and the byte-exact body it yields is what
signatures need); the AS2 codec in :mod:`gateway.as2` does the rest, on a
worker thread because RSA work would otherwise stall every other partner.

Invariants (DESIGN.md promise 1):

* a positive MDN (sync in the response, or async by POST) is produced only
  after ``journal.append`` has returned, i.e. after fsync, and the MDN is
  kept with ``record_reply`` before it is sent, so a resend of the same
  Message-ID gets the very same MDN and is not journaled twice;
* a full disk (``DiskFloorError``) is HTTP 503 + Retry-After and no MDN;
  an oversize request is HTTP 413 and nothing is journaled;
* a message we refuse (unknown partner, bad signature, decryption failure...)
  gets a negative MDN; its raw HTTP body is journaled as evidence and
  immediately moved to ``rejected`` (no external id, so a corrected resend
  is processed afresh), and an ``as2_rejected`` event is noted for status;
* a ``JournalWriteError`` answers 500 and stops the source (fail-stop);
* an asynchronous MDN answering one of *our* messages (``multipart/report``,
  signed or not: :func:`gateway.as2.is_mdn`) is never journaled as a file:
  its signature is checked against the partner's certificates, its
  Original-Message-ID matched to what we recorded when sending
  (:mod:`gateway.acktrack`) and the message marked accepted or rejected.  A
  bad signature, an unknown sender or an unsigned MDN where we asked for a
  signed one is refused (403) and marks nothing; an MDN for a Message-ID we
  do not know is answered 200 and noted as ``as2_mdn_unmatched``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import h11
import httpx
from pydantic import BaseModel, ConfigDict, Field

from gateway.as2 import (
    As2Envelope,
    As2Error,
    As2Identity,
    As2IntegrityCheckFailed,
    As2MalformedMessage,
    As2MessageTooLarge,
    As2NegativeMdn,
    As2Partner,
    As2UnknownPartner,
    InboundMessage,
    MdnOut,
    Mic,
    build_mdn,
    check_mdn,
    is_mdn,
    load_certificates,
    load_key_pair,
    mic_for_error,
    open_message,
    parse_envelope,
    parse_mdn,
)
from partners import private_file_problem

from .. import acktrack
from ..errors import DiskFloorError, GatewayError, JournalWriteError, MessageTooLargeError
from ..journal import AppendResult, Intake
from ..resources import Resource
from .mail import safe_file_name

log = logging.getLogger("edigate.source.as2")

_MAX_HEADER_BYTES = 64 * 1024


class As2KeyFile(BaseModel):
    """One key: a PKCS#12 file, or a PEM key with its certificate (in the same file or ``cert_file``)."""

    model_config = ConfigDict(extra="forbid")

    key_file: Path
    cert_file: Path | None = None
    password_env: str | None = Field(default=None, description="environment variable holding the password")

    def load(self) -> Any:
        """Read the key pair (the password comes from the environment, never from the config file)."""
        problem = private_file_problem(self.key_file, "AS2 private key")
        if problem is not None:
            raise ValueError(problem)
        password = os.environ.get(self.password_env, "").encode() if self.password_env else None
        cert = self.cert_file.read_bytes() if self.cert_file else None
        return load_key_pair(self.key_file.read_bytes(), password or None, cert)


class As2MdnRetry(BaseModel):
    """How asynchronous MDNs are retried (within this process)."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(default=6, ge=1)
    initial_delay_seconds: float = Field(default=10.0, gt=0)
    max_delay_seconds: float = Field(default=900.0, gt=0)
    timeout_seconds: float = Field(default=30.0, gt=0)


class As2SourceConfig(BaseModel):
    """``[[sources.as2]]``: one AS2 listener."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["as2"] = "as2"
    name: str = "as2"
    host: str = "127.0.0.1"
    port: int = Field(default=4080, ge=0, le=65535, description="0 = any free port (tests)")
    path: str = "/as2"
    as2_names: list[str] = Field(min_length=1, description="our AS2 names (AS2-To values we accept)")
    decryption_keys: list[As2KeyFile] = Field(
        default_factory=list, description="current and rolled-over keys"
    )
    signing_key: As2KeyFile | None = None
    max_message_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    mdn_retry: As2MdnRetry = Field(default_factory=As2MdnRetry)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    read_timeout_seconds: float = Field(default=120.0, gt=0)
    shutdown_grace_seconds: float = Field(
        default=30.0, ge=0, description="time for requests in flight at stop"
    )
    keep_rejected: bool = Field(default=True, description="journal refused requests as rejected evidence")
    reporting_ua: str = "edigate AS2"
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="this listener's URL as partners reach it; partners with mdn = 'async' POST MDNs there",
    )

    def private_files(self) -> list[tuple[str, Path, str]]:
        """The listener's TLS key, as ``(key, path, what)``: checked by ``edigate validate`` and at start.

        The AS2 keys (``decryption_keys``, ``signing_key``) are checked when they
        are loaded (:meth:`As2KeyFile.load`).  Without ``tls_key_file`` the key
        is in ``tls_cert_file``.
        """
        if self.tls_key_file is not None:
            return [("tls_key_file", self.tls_key_file, "AS2 TLS private key")]
        if self.tls_cert_file is not None:
            return [("tls_cert_file", self.tls_cert_file, "AS2 TLS private key")]
        return []

    def load_identity(self) -> As2Identity:
        """Our names and keys, read from the configured files."""
        return As2Identity(
            as2_names=tuple(self.as2_names),
            decryption_keys=tuple(k.load() for k in self.decryption_keys),
            signing_key=self.signing_key.load() if self.signing_key else None,
        )


class As2Partners(Protocol):
    """The daemon's adapter from the partner registry to the codec's view of a partner."""

    def lookup(self, as2_name: str) -> As2Partner | None:
        """The partner whose AS2 name is ``as2_name`` (case-sensitive, RFC 4130 §6.2), or None."""
        ...

    def lookup_receiver(self, as2_name: str) -> As2Partner | None:
        """The partner we send AS2 to as ``as2_name``: who may post MDNs for our messages, or None."""
        ...


@dataclass(frozen=True, slots=True)
class StaticAs2Partners:
    """A fixed set of partners (tests, simple setups)."""

    partners: tuple[As2Partner, ...]

    def lookup(self, as2_name: str) -> As2Partner | None:
        """The partner with that AS2 name, or None."""
        return next((p for p in self.partners if p.as2_name == as2_name), None)

    def lookup_receiver(self, as2_name: str) -> As2Partner | None:
        """The same partners: here senders and receivers are one list."""
        return self.lookup(as2_name)


class RegistryAs2Partners:
    """:class:`As2Partners` over the partner registry; each lookup sees the current snapshot.

    A profile is an AS2 partner when it has ``identities.as2_name``; its certificates come
    from ``certificates.as2_partner`` (a PEM bundle: put the old and the new certificate in it
    during a rollover), relative paths being taken from the profile's folder. Signing is
    always required: without it anyone could post as the partner.

    Args:
        registry: returns the current registry snapshot (or None before the first load).
    """

    def __init__(self, registry: Callable[[], Any]) -> None:
        self._registry = registry
        self._cache: dict[str, tuple[tuple[int, int], tuple[Any, ...]]] = {}

    def _certificates(self, profile: Any) -> tuple[Any, ...]:
        name = profile.model.certificates.as2_partner
        if not name:
            return ()
        path = Path(name)
        if not path.is_absolute():
            path = Path(profile.source_path).parent / path
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
            cached = self._cache.get(str(path))
            if cached is None or cached[0] != stamp:
                cached = (stamp, tuple(load_certificates(path.read_bytes())))
                self._cache[str(path)] = cached
            return cached[1]
        except (OSError, As2MalformedMessage) as exc:
            # The partner's messages will fail authentication; the operator must see why.
            log.error("AS2 certificate of partner %s unusable (%s): %s", profile.id, path, exc)
            return ()

    def lookup(self, as2_name: str) -> As2Partner | None:
        """The partner whose profile names ``as2_name``, with its certificates loaded (cached by mtime)."""
        registry = self._registry()
        profile = registry.by_as2_name(as2_name) if registry is not None else None
        if profile is None:
            return None
        return As2Partner(
            partner_id=str(profile.id), as2_name=as2_name, certificates=self._certificates(profile)
        )

    def lookup_receiver(self, as2_name: str) -> As2Partner | None:
        """The partner named ``as2_name`` (:meth:`lookup`), else the one whose AS2 ``[delivery]`` sends to
        that name: a partner we only send to has no ``identities.as2_name``, yet posts our MDNs."""
        found = self.lookup(as2_name)
        registry = self._registry()
        if found is not None or registry is None:
            return found
        for profile in getattr(registry, "profiles", ()) or ():
            delivery = profile.model.delivery
            if delivery is not None and delivery.transport == "as2" and delivery.as2_to == as2_name:
                return As2Partner(
                    partner_id=str(profile.id), as2_name=as2_name, certificates=self._certificates(profile)
                )
        return None


class As2Journal(Protocol):
    """The part of :class:`gateway.journal.Journal` this source uses."""

    async def append(self, intake: Intake) -> AppendResult: ...
    async def record_reply(self, message_id: str, kind: str, payload: bytes) -> None: ...
    async def find_external(
        self, transport: str, partner: str | None, external_id: str
    ) -> tuple[str, dict[str, bytes]] | None: ...
    async def note_event(self, kind: str, detail: dict[str, Any]) -> None: ...
    async def reject(
        self, message_id: int, reason: str, *, partner: str | None = None, standard: str | None = None
    ) -> None: ...
    async def write(self, fn: Callable[[Any], Any]) -> Any: ...


@dataclass(slots=True)
class As2Reply:
    """The HTTP answer to one AS2 request (and an asynchronous MDN to POST after it, if any)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    async_mdn: tuple[str, MdnOut, str] | None = None  # (url, mdn, original message id)


def _text(status: int, message: str, extra: Sequence[tuple[str, str]] = ()) -> As2Reply:
    return As2Reply(
        status, [("Content-Type", "text/plain; charset=utf-8"), *extra], (message + "\n").encode()
    )


@dataclass(slots=True)
class As2Stats:
    """Counters for ``edigate status``."""

    received: int = 0
    rejected: int = 0
    resent: int = 0
    async_mdn_sent: int = 0
    async_mdn_failed: int = 0
    mdn_accepted: int = 0
    mdn_rejected: int = 0
    mdn_refused: int = 0
    mdn_unmatched: int = 0


class As2Source:
    """The AS2 receiver.

    Args:
        config: the listener settings.
        partners: partner lookup by AS2 name.
        identity: our keys; read from ``config`` when None.
        clock: the time used for certificate validity and MDN dates.
        http_client: for asynchronous MDNs; a default client is made when None.
    """

    def __init__(
        self,
        config: As2SourceConfig,
        partners: As2Partners,
        *,
        identity: As2Identity | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.partners = partners
        self.identity = identity if identity is not None else config.load_identity()
        self.clock = clock
        self.stats = As2Stats()
        self.bound_port: int | None = None
        self._client = http_client
        self._journal: As2Journal | None = None
        self._fatal: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Task[None]] = set()
        self._inflight: dict[tuple[str | None, str], tuple[asyncio.Lock, list[int]]] = {}

    def resources(self) -> list[Resource]:
        """The listening port this source claims."""
        return [Resource(kind="port", value=f"{self.config.host}:{self.config.port}")]

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.config.tls_cert_file is None:
            return None
        for _key, path, what in self.config.private_files():
            problem = private_file_problem(path, what)
            if problem is not None:
                raise GatewayError(problem)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.config.tls_cert_file, self.config.tls_key_file)
        return ctx

    async def run(self, journal: As2Journal, ready: asyncio.Event) -> None:
        """Listen until cancelled (graceful) or the journal fails (raises JournalWriteError).

        Args:
            journal: where payloads and MDNs go.
            ready: set once the socket accepts connections.
        """
        self._journal = journal
        self._fatal = asyncio.get_running_loop().create_future()
        own_client = self._client is None
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.config.mdn_retry.timeout_seconds)
        server = await asyncio.start_server(
            self._on_connection,
            self.config.host,
            self.config.port,
            ssl=self._ssl_context(),
            limit=_MAX_HEADER_BYTES,
        )
        self.bound_port = int(server.sockets[0].getsockname()[1])
        log.info("AS2 listening on %s:%s%s", self.config.host, self.bound_port, self.config.path)
        ready.set()
        try:
            await self._fatal
        finally:
            # Graceful stop: refuse new connections, drop idle ones, and let requests already
            # being handled finish (journal + answer) within the grace period.
            server.close()
            for task in list(self._tasks - self._busy):
                task.cancel()
            if self._busy:
                await asyncio.wait(set(self._busy), timeout=self.config.shutdown_grace_seconds)
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(asyncio.CancelledError):
                await server.wait_closed()
            if own_client:
                await self._client.aclose()
                self._client = None

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEADER_BYTES)
        peer = writer.get_extra_info("peername")
        try:
            while True:
                event = await self._next_event(conn, reader)
                if not isinstance(event, h11.Request):
                    break
                if task is not None:
                    self._busy.add(task)
                try:
                    reply = await self._exchange(conn, reader, writer, event, str(peer))
                    await self._send(conn, writer, reply)
                finally:
                    if task is not None:
                        self._busy.discard(task)
                if reply.async_mdn is not None:
                    self._spawn(self._deliver_async(*reply.async_mdn))
                if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                    conn.start_next_cycle()
                else:
                    break
        except h11.RemoteProtocolError as exc:
            with contextlib.suppress(h11.LocalProtocolError, OSError):
                await self._send(conn, writer, _text(exc.error_status_hint, f"bad HTTP request: {exc}"))
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("AS2 connection from %s ended: %s", peer, exc or type(exc).__name__)
        except asyncio.CancelledError:
            # Shutdown. Not re-raised: Python 3.11's start_server callback calls task.exception()
            # on a cancelled handler task and logs a spurious error; the socket is closed below.
            log.debug("AS2 connection from %s closed by shutdown", peer)
        except Exception:  # a bug must answer 500 and be logged, not drop the partner silently
            log.exception("internal error while handling an AS2 request from %s", peer)
            with contextlib.suppress(h11.LocalProtocolError, OSError):
                await self._send(conn, writer, _text(500, "internal error; the message was not accepted"))
        finally:
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _next_event(self, conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            async with asyncio.timeout(self.config.read_timeout_seconds):
                data = await reader.read(256 * 1024)
            conn.receive_data(data)

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, reply: As2Reply) -> None:
        headers = [*reply.headers, ("Content-Length", str(len(reply.body)))]
        if conn.their_state is not h11.DONE:
            headers.append(("Connection", "close"))
        writer.write(conn.send(h11.Response(status_code=reply.status, headers=headers)) or b"")
        writer.write(conn.send(h11.Data(data=reply.body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()

    async def _exchange(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: h11.Request,
        peer: str,
    ) -> As2Reply:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
        path = request.target.decode("latin-1").split("?", 1)[0]
        if path != self.config.path:
            return _text(404, f"no AS2 endpoint at {path}; use {self.config.path}")
        if request.method != b"POST":
            return As2Reply(405, [("Allow", "POST"), ("Content-Type", "text/plain")], b"AS2 needs POST\n")
        length = next((int(v) for k, v in headers if k.lower() == "content-length" and v.isdigit()), None)
        limit = self.config.max_message_bytes
        if length is not None and length > limit:
            return _text(413, f"the message is {length} bytes; the limit is {limit} bytes")
        if conn.they_are_waiting_for_100_continue:
            # mendelson sends "Expect: 100-continue" (RFC 9110 §10.1.1): answer once the size is acceptable.
            continue_bytes = conn.send(h11.InformationalResponse(status_code=100, headers=[]))
            writer.write(continue_bytes or b"")
            await writer.drain()
        body = bytearray()
        while True:
            event = await self._next_event(conn, reader)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > limit:
                    return _text(413, f"the message is over the limit of {limit} bytes")
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                return _text(400, "the request body ended early")
        return await self.handle(headers, bytes(body), peer=peer)

    # --- AS2 ---------------------------------------------------------------

    async def handle(self, headers: Sequence[tuple[str, str]], body: bytes, *, peer: str = "") -> As2Reply:
        """Process one AS2 request (headers + body) and decide the HTTP answer.

        Args:
            headers: the HTTP request headers.
            body: the HTTP body.
            peer: the remote address, for the journal's meta.

        Returns:
            The HTTP reply, possibly with an asynchronous MDN to deliver afterwards. Partner
            input never raises; a journal failure answers 500 and stops the source (fail-stop).

        Raises:
            RuntimeError: called before :meth:`run` gave the source its journal.
        """
        journal = self._journal
        if journal is None:
            raise RuntimeError("As2Source.handle called before run()")
        try:
            try:
                envelope = parse_envelope(headers)
            except As2MalformedMessage as exc:
                await self._note(journal, "as2_rejected", {"reason": exc.message, "peer": peer})
                self.stats.rejected += 1
                return _text(400, exc.message)
            partner = self.partners.lookup(envelope.as2_from)
            partner_id = partner.partner_id if partner is not None else None
            if is_mdn(headers, body):
                sender = partner or self.partners.lookup_receiver(envelope.as2_from)
                return await self._receive_mdn(envelope, sender, headers, body, peer)
            # One request per (partner, Message-ID) at a time: a resend racing the original
            # waits for it and then gets the very MDN it recorded.
            async with self._one_at_a_time((partner_id, envelope.message_id)):
                found = await journal.find_external("as2", partner_id, envelope.message_id)
                if found is not None and "mdn" in found[1]:
                    return await self._resend(envelope, found, peer)
                error: As2Error | None = None
                if envelope.as2_to not in self.identity.as2_names:
                    error = As2UnknownPartner(f"AS2-To {envelope.as2_to!r} is not one of our AS2 names")
                elif partner is None:
                    error = As2UnknownPartner(
                        f"AS2-From {envelope.as2_from!r} is not a configured trading partner"
                    )
                if error is None and partner is not None:
                    try:
                        message = await asyncio.to_thread(
                            open_message,
                            envelope,
                            headers,
                            body,
                            partner=partner,
                            identity=self.identity,
                            now=self.clock(),
                            max_size=self.config.max_message_bytes,
                        )
                        return await self._accept(
                            envelope, message, partner, body, peer, existing=found[0] if found else None
                        )
                    except As2MessageTooLarge as exc:
                        return _text(413, exc.message)
                    except As2Error as exc:
                        error = exc
                assert error is not None
                return await self._refuse(envelope, error, partner, body, peer)
        except DiskFloorError as exc:
            await self._note(journal, "as2_deferred", {"reason": str(exc), "peer": peer})
            return _text(503, f"temporarily unable to accept messages: {exc}", [("Retry-After", "300")])
        except MessageTooLargeError as exc:
            return _text(413, str(exc))
        except JournalWriteError as exc:
            log.critical("journal write failed; AS2 intake stops: %s", exc)
            if self._fatal is not None and not self._fatal.done():
                self._fatal.set_exception(exc)
            return _text(500, "the gateway could not store the message; nothing was accepted")

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, key: tuple[str | None, str]) -> AsyncIterator[None]:
        lock, users = self._inflight.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._inflight[key]

    async def _note(self, journal: As2Journal, kind: str, detail: dict[str, Any]) -> None:
        with contextlib.suppress(DiskFloorError):
            await journal.note_event(kind, detail)

    def _sign_mdn(self, envelope: As2Envelope, partner: As2Partner | None) -> bool:
        wanted = envelope.mdn is not None and envelope.mdn.signed
        if partner is not None and partner.sign_mdn is not None:
            wanted = partner.sign_mdn
        return wanted and self.identity.signing_key is not None

    async def _accept(
        self,
        envelope: As2Envelope,
        message: InboundMessage,
        partner: As2Partner,
        body: bytes,
        peer: str,
        *,
        existing: str | None,
    ) -> As2Reply:
        journal = self._journal
        assert journal is not None
        if existing is None:
            result = await journal.append(
                Intake(
                    transport="as2",
                    data=message.payload,
                    partner=partner.partner_id,
                    # the partner's Content-Disposition name, without any folder part (like SMTP)
                    file_name=safe_file_name(message.file_name, 1) if message.file_name else None,
                    external_id=envelope.message_id,
                    meta=self._meta(envelope, message, body, peer),
                )
            )
            message_id = result.message_id
            self.stats.received += 1
        else:
            # Journaled before, but the MDN was never recorded (crash in between): answer now.
            message_id = existing
        if envelope.mdn is None:
            return As2Reply(200, [("Content-Type", "text/plain")], b"received\n")
        mdn = await asyncio.to_thread(
            build_mdn,
            envelope=envelope,
            disposition="processed",
            mic=message.mic,
            now=self.clock(),
            text=f"The AS2 message {envelope.message_id} was received and stored by {envelope.as2_to}.\n"
            "This receipt does not say the content was accepted by the application.",
            signer=self.identity.signing_key if self._sign_mdn(envelope, partner) else None,
            digest_name=message.mic.algorithm if message.mic else "sha256",
            reporting_ua=self.config.reporting_ua,
        )
        await journal.record_reply(message_id, "mdn", mdn.serialize())
        return self._mdn_reply(envelope, mdn)

    def _mdn_reply(self, envelope: As2Envelope, mdn: MdnOut) -> As2Reply:
        url = envelope.mdn.async_url if envelope.mdn else None
        if url:
            return As2Reply(
                200,
                [("Content-Type", "text/plain")],
                b"received; the MDN follows asynchronously\n",
                async_mdn=(url, mdn, envelope.message_id),
            )
        return As2Reply(200, list(mdn.headers), mdn.body)

    async def _resend(
        self, envelope: As2Envelope, found: tuple[str, dict[str, bytes]], peer: str
    ) -> As2Reply:
        self.stats.resent += 1
        assert self._journal is not None
        await self._note(
            self._journal,
            "as2_resend",
            {
                "message_id": envelope.message_id,
                "journal_id": found[0],
                "partner": envelope.as2_from,
                "peer": peer,
            },
        )
        return self._mdn_reply(envelope, MdnOut.deserialize(found[1]["mdn"]))

    async def _refuse(
        self, envelope: As2Envelope, error: As2Error, partner: As2Partner | None, body: bytes, peer: str
    ) -> As2Reply:
        journal = self._journal
        assert journal is not None
        self.stats.rejected += 1
        reason = f"AS2 message {envelope.message_id} from {envelope.as2_from!r} refused: {error.message}"
        log.warning("%s", reason)
        evidence: str | None = None
        if self.config.keep_rejected:
            result = await journal.append(
                Intake(
                    transport="as2",
                    data=body,
                    partner=partner.partner_id if partner else None,
                    file_name=None,
                    external_id=None,
                    rejected_reason=reason,
                    meta={
                        "as2_rejected": True,
                        "reason": error.message,
                        "disposition": error.disposition,
                        "as2_from": envelope.as2_from,
                        "as2_to": envelope.as2_to,
                        "as2_message_id": envelope.message_id,
                        "peer": peer,
                    },
                )
            )
            evidence = result.message_id
        await self._note(
            journal,
            "as2_rejected",
            {
                "reason": error.message,
                "disposition": error.disposition,
                "as2_from": envelope.as2_from,
                "message_id": envelope.message_id,
                "journal_id": evidence,
                "peer": peer,
            },
        )
        if envelope.mdn is None:
            return _text(400 if isinstance(error, As2MalformedMessage) else 403, error.message)
        mic_alg = mic_for_error(envelope)
        mdn = await asyncio.to_thread(
            build_mdn,
            envelope=envelope,
            disposition=error.disposition,
            mic=None,
            now=self.clock(),
            text=f"The AS2 message {envelope.message_id} was NOT accepted: {error.message}",
            signer=self.identity.signing_key if self._sign_mdn(envelope, partner) else None,
            digest_name=mic_alg[0] if mic_alg else "sha256",
            reporting_ua=self.config.reporting_ua,
        )
        if evidence is not None:
            await journal.record_reply(evidence, "mdn", mdn.serialize())
        return self._mdn_reply(envelope, mdn)

    async def _receive_mdn(
        self,
        envelope: As2Envelope,
        partner: As2Partner | None,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        peer: str,
    ) -> As2Reply:
        """Settle the message an asynchronous MDN answers (RFC 4130 §7.3); never journal it as a file."""
        journal = self._journal
        assert journal is not None
        event: dict[str, Any] = {
            "as2_from": envelope.as2_from,
            "mdn_message_id": envelope.message_id,
            "peer": peer,
        }
        if partner is None:
            reason = f"AS2-From {envelope.as2_from!r} is not a configured trading partner"
            return await self._refuse_mdn(journal, 403, reason, event)
        event["partner"] = partner.partner_id
        try:
            mdn = await asyncio.to_thread(
                parse_mdn, headers, body, certificates=partner.certificates, now=self.clock()
            )
        except As2Error as exc:
            status = 400 if type(exc) is As2MalformedMessage else 403
            return await self._refuse_mdn(journal, status, exc.message, event)
        original = mdn.original_message_id or ""
        event.update(original_message_id=original, disposition=mdn.disposition)
        pending = await journal.write(
            functools.partial(acktrack.find_mdn, partner=partner.partner_id, as2_message_id=original)
        )
        if pending is None:
            self.stats.mdn_unmatched += 1
            log.warning(
                "AS2 MDN from %s answers %r, a message we are not waiting for", partner.as2_name, original
            )
            await self._note(journal, "as2_mdn_unmatched", event)
            return _text(200, "MDN received; it answers no message we are waiting for")
        if pending.signed and mdn.signer is None:
            why = "not signed" if not mdn.signed else "not verifiable (no certificate for the partner)"
            reason = f"we asked for a signed MDN, and this one is {why}"
            return await self._refuse_mdn(journal, 403, reason, event)
        who = f"AS2 MDN from {partner.partner_id} for {pending.as2_message_id}"
        try:
            check_mdn(mdn, message_id=original, mic=Mic(pending.mic, pending.mic_algorithm))
            accepted, detail = True, f"{who}: {mdn.disposition_type}, MIC matched"
        except As2NegativeMdn as exc:
            accepted, detail = False, f"{who}: the partner refused the message: {exc.message}"
        except As2IntegrityCheckFailed as exc:
            accepted, detail = False, f"{who}: MIC mismatch, the partner got other content: {exc.message}"
        evidence = MdnOut(message_id=envelope.message_id, headers=tuple(headers), body=body).serialize()
        at = self.clock().timestamp()
        settled = await journal.write(
            functools.partial(
                acktrack.settle_mdn,
                as2_message_id=original,
                accepted=accepted,
                detail=detail,
                mdn=evidence,
                now=at,
            )
        )
        if not settled:
            await self._note(journal, "as2_mdn_repeated", event)
            return _text(200, "MDN received (already settled)")
        if accepted:
            self.stats.mdn_accepted += 1
        else:
            self.stats.mdn_rejected += 1
            log.warning("%s", detail)
        await self._note(
            journal,
            "as2_mdn_accepted" if accepted else "as2_mdn_rejected",
            {**event, "message_id": pending.message_id, "reason": detail},
        )
        return _text(200, "MDN received")

    async def _refuse_mdn(
        self, journal: As2Journal, status: int, reason: str, event: dict[str, Any]
    ) -> As2Reply:
        self.stats.mdn_refused += 1
        log.warning("AS2 MDN from %r refused: %s", event.get("as2_from"), reason)
        await self._note(journal, "as2_mdn_refused", {**event, "reason": reason})
        return _text(status, f"MDN refused: {reason}")

    def _meta(self, envelope: As2Envelope, message: InboundMessage, body: bytes, peer: str) -> dict[str, Any]:
        return {
            "as2_from": envelope.as2_from,
            "as2_to": envelope.as2_to,
            "as2_message_id": envelope.message_id,
            "subject": envelope.subject,
            "content_type": message.content_type,
            "layers": list(message.layers),
            "signed": message.signed,
            "encrypted": message.encrypted,
            "compressed": message.compressed,
            "signer": message.signer,
            "mic": message.mic.field() if message.mic else None,
            "http_body_sha256": hashlib.sha256(body).hexdigest(),
            "http_body_size": len(body),
            "peer": peer,
            "mdn": None if envelope.mdn is None else ("async" if envelope.mdn.async_url else "sync"),
        }

    async def _deliver_async(self, url: str, mdn: MdnOut, original_id: str) -> None:
        """POST an MDN to the partner, retrying with exponential backoff (RFC 4130 §7.2)."""
        policy = self.config.mdn_retry
        journal = self._journal
        assert journal is not None and self._client is not None
        if not url.lower().startswith(("http://", "https://")):
            await self._note(
                journal,
                "as2_async_mdn_failed",
                {"message_id": original_id, "reason": f"unsupported MDN URL {url!r}"},
            )
            self.stats.async_mdn_failed += 1
            return
        delay = policy.initial_delay_seconds
        last = ""
        for attempt in range(1, policy.attempts + 1):
            try:
                response = await self._client.post(url, content=mdn.body, headers=list(mdn.headers))
                if 200 <= response.status_code < 300:
                    self.stats.async_mdn_sent += 1
                    await self._note(
                        journal,
                        "as2_async_mdn_sent",
                        {"message_id": original_id, "url": url, "attempts": attempt},
                    )
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            log.warning(
                "async MDN for %s to %s failed (attempt %d/%d): %s",
                original_id,
                url,
                attempt,
                policy.attempts,
                last,
            )
            if attempt < policy.attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, policy.max_delay_seconds)
        self.stats.async_mdn_failed += 1
        await self._note(
            journal,
            "as2_async_mdn_failed",
            {"message_id": original_id, "url": url, "reason": last, "attempts": policy.attempts},
        )


__all__ = [
    "As2Journal",
    "As2KeyFile",
    "As2MdnRetry",
    "As2Partners",
    "As2Reply",
    "As2Source",
    "As2SourceConfig",
    "As2Stats",
    "RegistryAs2Partners",
    "StaticAs2Partners",
]
