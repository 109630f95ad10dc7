"""The ``nats`` sink: publish each canonical envelope to NATS JetStream over mutual TLS.

Strategy:

* One long-lived connection per sink (:class:`NatsLink`), opened on first use
  and kept by nats-py's own reconnect loop; the downlink
  (:mod:`agent.downlink.nats`) opens its own :class:`NatsLink` with the same settings.
* Each envelope goes to ``<prefix>.<site>.<partner>.<document>`` (tokens
  sanitised: NATS subjects split on ``.`` and reserve ``*``, ``>`` and
  whitespace) with the header ``Nats-Msg-Id`` set to ``<site>:<idempotency key>``:
  JetStream de-duplicates per stream, and two sites may legitimately receive
  byte-identical interchanges from one partner, so the site is part of the id.
  JetStream drops a second message with the same id inside the stream's
  duplicate window, so a retry after a lost ack has exactly-once effect.
* ``deliver`` returns only once JetStream's publish ack arrived: the message
  is then stored by the stream (replicated when the stream has replicas).
* Every nats-py failure is mapped in :func:`map_nats_errors`, once:

  - no responders, timeouts, connection lost, server unreachable: transient;
  - stream not found, subject captured by another stream, permission
    violation, bad subject, payload over ``max_payload``: permanent, in words;
  - TLS: :func:`agent.tls.classify_tls_failure`; a server that requires client
    certificates (INFO ``tls_verify``) and drops the connection right after the
    handshake refused ours: :class:`~agent.tls.ClientCertificateRejected`.

* A permission violation is not an answer to the request: the server sends
  ``-ERR 'Permissions Violation for Publish to "subject"'`` on the connection and
  drops the message, so the request would just time out.  The link records
  those errors (``error_cb``) and a timeout on a recorded subject becomes permanent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.errors import DeliveryError, PermanentDeliveryError, TlsConfigError, TransientDeliveryError
from agent.sinks.base import Delivery
from agent.tls import (
    ClientCertificateRejected,
    TlsIdentity,
    TlsSettings,
    TlsStatus,
    classify_tls_failure,
)

logger = logging.getLogger(__name__)

#: Characters a subject token may not carry (``.`` separates, ``*``/``>`` are wildcards).
_UNSAFE_TOKEN = re.compile(r"[^A-Za-z0-9_-]+")
#: JetStream API error codes (nats-server ``server/errors.json``).
_JS_STREAM_NOT_FOUND = 10059
_JS_STREAM_MISMATCH = 10060
#: How often the link looks at the certificate files for a rotation.
_TLS_REFRESH_EVERY = 1.0
#: Permission errors older than this no longer explain a timeout.
_PERMISSION_MEMORY = 300.0
_PERMISSION_RE = re.compile(r'permissions violation for (publish|subscription) to "([^"]+)"', re.IGNORECASE)


def subject_token(value: str) -> str:
    """One safe subject token: unsafe runs become ``_``; never empty.

    Args:
        value: a site, partner or document name.

    Returns:
        A token of ``[A-Za-z0-9_-]``.
    """
    return _UNSAFE_TOKEN.sub("_", value).strip("_") or "_"


class NatsDownlinkSettings(BaseModel):
    """``[sinks.downlink]``: the durable pull consumer that brings documents to the site.

    Attributes:
        stream: the stream holding ``<prefix>.<site>.outbound.<partner>.<document>``.
        durable: consumer name; default ``edigate-<site>``.
        filter_subject: default ``<prefix>.<site>.outbound.*.*``.
        batch: messages per fetch.
        fetch_timeout: seconds a fetch waits for messages.
        nak_delay: seconds before redelivery when the journal refuses (disk floor).
        ensure_consumer: create the consumer when missing (needs that permission).
        ack_wait: seconds JetStream waits for our ack before redelivering (ensure_consumer only).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    stream: str = Field(default="EDIGATE_OUTBOUND", pattern=r"^[A-Za-z0-9_-]+$")
    durable: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]+$")
    filter_subject: str | None = None
    batch: int = Field(default=32, ge=1, le=1024)
    fetch_timeout: float = Field(default=5.0, gt=0)
    nak_delay: float = Field(default=30.0, ge=0)
    ensure_consumer: bool = False
    ack_wait: float = Field(default=30.0, gt=0)


def msg_id(config: NatsSinkConfig, idempotency_key: str) -> str:
    """The ``Nats-Msg-Id`` of a document: unique per site, stable across retries."""
    return f"{config.site_token}:{idempotency_key}"


class NatsSinkConfig(BaseModel):
    """``[[sinks]] kind = "nats"``.

    Attributes:
        name: sink name as configured.
        servers: ``tls://host:port`` URLs of the cluster (nats-py rotates through them).
        site: this site's token in subjects (set it to ``[gateway] site``).
        stream: the stream that must capture our subjects (checked on every publish).
        subject_prefix: first subject token.
        publish_timeout: seconds to wait for the JetStream ack.
        connect_timeout: seconds for one connection attempt.
        reconnect_wait: seconds between reconnection attempts.
        ensure_stream: create the stream when missing, and check it captures our subjects.
        stream_replicas, duplicate_window, max_age_days: the stream made by ``ensure_stream``.
        tls_hostname: name to check in the server certificate when the URL holds an address.
        tls: our client certificate and the pinned CA (``[sinks.tls]``).
        downlink: the pull consumer (``[sinks.downlink]``); None: no downlink.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["nats"] = "nats"
    servers: list[str] = Field(min_length=1)
    site: str = Field(min_length=1)
    stream: str = Field(default="EDIGATE", pattern=r"^[A-Za-z0-9_-]+$")
    subject_prefix: str = Field(default="edigate", pattern=r"^[A-Za-z0-9_-]+$")
    publish_timeout: float = Field(default=10.0, gt=0)
    connect_timeout: float = Field(default=5.0, gt=0)
    reconnect_wait: float = Field(default=2.0, gt=0)
    ensure_stream: bool = False
    stream_replicas: int = Field(default=1, ge=1, le=5)
    duplicate_window: float = Field(default=120.0, gt=0)
    max_age_days: float = Field(default=7.0, gt=0)
    tls_hostname: str | None = None
    tls: TlsSettings
    downlink: NatsDownlinkSettings | None = None

    @field_validator("servers")
    @classmethod
    def _tls_only(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("tls://", "nats://")):
                raise ValueError(f"{url!r}: use tls://host:port (nats:// is upgraded to TLS too)")
        return value

    @property
    def site_token(self) -> str:
        """The sanitised site token."""
        return subject_token(self.site)


def subject_for(config: NatsSinkConfig, partner: str, document_type: str) -> str:
    """``<prefix>.<site>.<partner>.<document>`` with each token sanitised."""
    return ".".join(
        (config.subject_prefix, config.site_token, subject_token(partner), subject_token(document_type))
    )


class NatsLink:
    """One long-lived, mutually authenticated connection to the NATS cluster.

    Args:
        config: the sink settings (servers, TLS, timeouts).
        identity: a loaded identity; default: ``config.tls.load()``.
        role: ``sink`` or ``downlink``; names the connection on the server (``nats server report``).

    Raises:
        TlsConfigError: our certificate files cannot be used (from ``TlsSettings.load``).
    """

    def __init__(
        self, config: NatsSinkConfig, *, identity: TlsIdentity | None = None, role: str = "sink"
    ) -> None:
        self.config = config
        self.identity = identity or config.tls.load()
        self.role = role
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()
        self._checked_at = 0.0
        self._generation = self.identity.generation
        self._permission_errors: dict[str, tuple[float, str]] = {}
        self._connect_errors: list[BaseException] = []
        self._closing = False
        self.last_error: str | None = None
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        """True while the connection is up (not connecting, reconnecting or closed)."""
        return self._nc is not None and self._nc.is_connected

    async def jetstream(self) -> JetStreamContext:
        """The JetStream context of the live connection, connecting when needed.

        Raises:
            DeliveryError: the connection cannot be made (see :func:`map_nats_errors`).
        """
        self._maybe_rotate()
        if self._js is not None and self._nc is not None and not self._nc.is_closed:
            return self._js
        async with self._lock:
            if self._js is not None and self._nc is not None and not self._nc.is_closed:
                return self._js
            nc = NatsClient()
            self._connect_errors = []
            try:
                await nc.connect(
                    servers=list(self.config.servers),
                    tls=self.identity.context,
                    tls_hostname=self.config.tls_hostname,
                    name=f"edigate-{self.role}-{self.config.site_token}",
                    connect_timeout=int(max(1, self.config.connect_timeout)),
                    reconnect_time_wait=int(max(1, self.config.reconnect_wait)),
                    # The first connect tries each server twice and then reports why it
                    # failed (nats-py would otherwise loop forever inside connect()).
                    max_reconnect_attempts=1,
                    allow_reconnect=True,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                )
            except Exception as exc:
                # nats-py raises plain OSErrors, ssl errors and its own errors here;
                # each is mapped, none is swallowed.  NoServersError hides the cause,
                # which error_cb saw.
                cause: BaseException = exc
                if isinstance(exc, nats.errors.NoServersError) and self._connect_errors:
                    cause = self._connect_errors[-1]
                refused = _refusal_at_connect(nc, cause, self._where())
                with contextlib.suppress(Exception):
                    await nc.close()
                raise (refused or map_exception(cause, where=self._where())) from exc
            # Once up, the link is for months: reconnect forever; the delivery engine's
            # breaker and backoff decide how often messages are tried meanwhile.
            nc.options["max_reconnect_attempts"] = -1
            self._nc, self._js = nc, nc.jetstream(timeout=self.config.publish_timeout)
            self.last_error = None
            logger.info(
                "nats %s link up to %s", self.role, nc.connected_url.netloc if nc.connected_url else "?"
            )
            return self._js

    def permission_error_for(self, subject: str) -> str | None:
        """The server's permission error for ``subject`` seen recently on this connection, if any."""
        now = time.monotonic()
        for pattern, (at, text) in list(self._permission_errors.items()):
            if now - at > _PERMISSION_MEMORY:
                del self._permission_errors[pattern]
            elif pattern == subject:
                return text
        return None

    async def close(self) -> None:
        """Close the connection (pending publishes are flushed by nats-py)."""
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            self._closing = True
            try:
                await nc.close()
            finally:
                self._closing = False

    def _where(self) -> str:
        return ", ".join(self.config.servers)

    def _maybe_rotate(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < _TLS_REFRESH_EVERY:
            return
        self._checked_at = now
        if self.identity.refresh() and self.identity.generation != self._generation:
            self._generation = self.identity.generation
            nc, self._nc, self._js = self._nc, None, None
            if nc is not None:
                # The next call dials with the new certificate; the old connection closes
                # in the background once its in-flight requests are flushed.
                logger.info("nats %s: client certificate changed on disk, reconnecting", self.role)
                asyncio.get_running_loop().create_task(nc.close())

    async def _on_error(self, exc: Exception) -> None:
        self._connect_errors = [*self._connect_errors[-4:], exc]
        text = str(exc) or type(exc).__name__
        match = _PERMISSION_RE.search(text)
        if match is not None:
            self._permission_errors[match.group(2)] = (time.monotonic(), text)
        self.last_error = text
        logger.warning("nats %s link: %s", self.role, text)

    async def _on_disconnected(self) -> None:
        if self._closing:
            logger.info("nats %s link closed", self.role)
        else:
            logger.warning("nats %s link down; reconnecting", self.role)

    async def _on_reconnected(self) -> None:
        self.reconnects += 1
        logger.info("nats %s link back up", self.role)


def _refusal_at_connect(nc: NatsClient, exc: BaseException, where: str) -> DeliveryError | None:
    """Tell a refused client certificate from an outage, at connect time.

    nats-server (2.9) sends its INFO in clear, upgrades to TLS, verifies our
    certificate and, under TLS 1.3, closes the connection without an alert
    the client sees when it does not accept it.  A server that announced
    ``tls_verify`` and dropped us between the handshake and the first PONG
    refused our certificate: saying "connection lost" would send the operator
    looking for a network problem.
    """
    tls_failure = classify_tls_failure(exc, server=where)
    if tls_failure is not None:
        return tls_failure
    info: dict[str, Any] = getattr(nc, "_server_info", None) or {}
    lost = isinstance(exc, (ConnectionResetError, nats.errors.UnexpectedEOF, BrokenPipeError)) or (
        isinstance(exc, nats.errors.Error) and "connection lost" in str(exc).lower()
    )
    if info.get("tls_verify") and lost:
        return ClientCertificateRejected(
            f"{where} requires a client certificate and closed the connection right after checking ours "
            "(not signed by a CA it trusts, expired, or not mapped to a user)"
        )
    if isinstance(exc, nats.errors.AuthorizationError):
        return ClientCertificateRejected(
            f"{where} accepted the TLS handshake but maps no user to our certificate"
        )
    return None


def map_exception(exc: BaseException, *, where: str, subject: str | None = None) -> DeliveryError:
    """Translate one nats-py (or socket/TLS) exception into a DeliveryError.

    Args:
        exc: what nats-py raised.
        where: the servers, for messages.
        subject: the subject published to, if any.

    Returns:
        The transient or permanent error to raise.
    """
    if isinstance(exc, DeliveryError):
        return exc
    tls_failure = classify_tls_failure(exc, server=where)
    if tls_failure is not None:
        return tls_failure
    if isinstance(exc, nats.js.errors.NoStreamResponseError):
        return TransientDeliveryError(
            f"no JetStream stream answered for {subject or 'the request'} on {where} "
            "(the server may be starting or JetStream is not enabled yet)"
        )
    if isinstance(exc, nats.js.errors.APIError):
        code, err_code = exc.code or 0, exc.err_code or 0
        what = exc.description or str(exc)
        if err_code == _JS_STREAM_NOT_FOUND or (code == 404 and "stream" in what.lower()):
            return PermanentDeliveryError(f"JetStream stream not found on {where}: {what}")
        if err_code == _JS_STREAM_MISMATCH:
            return PermanentDeliveryError(
                f"{subject} is not captured by the configured stream on {where}: {what}"
            )
        if code == 503 or code >= 500:
            return TransientDeliveryError(f"JetStream on {where} is unavailable: {what} ({code})")
        return PermanentDeliveryError(f"JetStream on {where} refused the message: {what} ({code}/{err_code})")
    if isinstance(exc, nats.errors.BadSubjectError):
        return PermanentDeliveryError(f"invalid NATS subject {subject!r}")
    if isinstance(exc, nats.errors.MaxPayloadError):
        return PermanentDeliveryError(f"the envelope is larger than the server's max_payload on {where}")
    if isinstance(exc, nats.errors.AuthorizationError):
        return ClientCertificateRejected(f"{where} maps no user to our certificate (authorization violation)")
    if isinstance(exc, (TimeoutError, nats.errors.TimeoutError)):
        return TransientDeliveryError(f"no JetStream ack from {where} in time for {subject or 'the request'}")
    if isinstance(exc, nats.errors.NoServersError):
        return TransientDeliveryError(f"cannot reach any NATS server ({where})")
    if isinstance(
        exc,
        (
            nats.errors.ConnectionClosedError,
            nats.errors.StaleConnectionError,
            nats.errors.OutboundBufferLimitError,
            nats.errors.ConnectionReconnectingError,
            nats.errors.ConnectionDrainingError,
            nats.errors.FlushTimeoutError,
        ),
    ):
        return TransientDeliveryError(f"connection to {where} lost: {type(exc).__name__}")
    if isinstance(exc, OSError):
        return TransientDeliveryError(f"cannot connect to {where}: {exc.strerror or exc}")
    if isinstance(exc, nats.errors.Error):
        return TransientDeliveryError(f"NATS error from {where}: {exc}")
    return PermanentDeliveryError(f"unexpected error talking to {where}: {type(exc).__name__}: {exc}")


@contextlib.asynccontextmanager
async def map_nats_errors(link: NatsLink, subject: str | None = None) -> AsyncIterator[None]:
    """Map anything nats-py raises inside the block to a DeliveryError (the one place it happens).

    A timeout on a subject the server just refused with a permission
    violation is permanent: retrying cannot change the site's permissions.
    """
    try:
        yield
    except DeliveryError:
        raise
    except (TimeoutError, nats.errors.TimeoutError) as exc:
        denied = link.permission_error_for(subject) if subject else None
        if denied is not None:
            raise PermanentDeliveryError(
                f"permission violation: this site's certificate may not publish to {subject} ({denied})"
            ) from exc
        raise map_exception(exc, where=link._where(), subject=subject) from exc
    except Exception as exc:
        raise map_exception(exc, where=link._where(), subject=subject) from exc


class NatsSink:
    """Publishes envelopes to JetStream; see the module docstring.

    Args:
        config: the sink settings.
        link: an existing link (tests, sharing); default: a new one from ``config``.

    Raises:
        ValueError: the ``tls`` files cannot be used (missing, mismatched, expired).
    """

    def __init__(self, config: NatsSinkConfig, *, link: NatsLink | None = None) -> None:
        self.name = config.name
        self.config = config
        try:
            self.link = link or NatsLink(config)
        except TlsConfigError as exc:
            # build_sinks reports ValueErrors with the sink's name (edigate validate, startup).
            raise ValueError(f"tls: {exc}") from exc
        self._stream_checked = False
        self.published = 0
        self.duplicates = 0

    async def healthcheck(self) -> None:
        """Raise unless the connection is up and the stream exists (and captures our subjects).

        Raises:
            DeliveryError: transient when unreachable, permanent when misconfigured.
        """
        await self._ensure_stream(force=True)

    async def deliver(self, delivery: Delivery) -> None:
        """Publish one envelope and wait for the JetStream ack.

        Raises:
            TransientDeliveryError: no ack yet (outage, timeout, no responders).
            PermanentDeliveryError: stream missing, permission denied, TLS refusal.
        """
        if not self._stream_checked:
            await self._ensure_stream(force=False)
        subject = subject_for(self.config, delivery.partner, delivery.document_type)
        js = await self.link.jetstream()
        async with map_nats_errors(self.link, subject):
            ack = await js.publish(
                subject,
                delivery.body,
                timeout=self.config.publish_timeout,
                stream=self.config.stream,
                headers={"Nats-Msg-Id": msg_id(self.config, delivery.idempotency_key)},
            )
        self.published += 1
        if ack.duplicate:
            # Expected after a lost ack or a replay: the stream already holds it.
            self.duplicates += 1

    async def _ensure_stream(self, *, force: bool) -> None:
        js = await self.link.jetstream()
        probe = subject_for(self.config, "partner", "document")
        async with map_nats_errors(self.link, f"$JS.API.STREAM.INFO.{self.config.stream}"):
            try:
                info = await js.stream_info(self.config.stream)
            except nats.js.errors.NotFoundError:
                if not self.config.ensure_stream:
                    raise PermanentDeliveryError(
                        f"JetStream stream {self.config.stream} not found on {self.link._where()}; "
                        "create it (see agent/downlink/nats_deployment.md) or set ensure_stream = true"
                    ) from None
                info = await js.add_stream(self._stream_config())
                logger.info("created JetStream stream %s", self.config.stream)
        subjects = info.config.subjects or []
        if not any(_subject_matches(pattern, probe) for pattern in subjects):
            raise PermanentDeliveryError(
                f"JetStream stream {self.config.stream} captures {subjects}, not {probe}"
            )
        self._stream_checked = True
        if force and not self.link.connected:
            raise TransientDeliveryError(f"NATS link to {self.link._where()} is down")

    def _stream_config(self) -> StreamConfig:
        return StreamConfig(
            name=self.config.stream,
            subjects=[f"{self.config.subject_prefix}.*.*.*"],
            num_replicas=self.config.stream_replicas,
            duplicate_window=self.config.duplicate_window,
            max_age=self.config.max_age_days * 86400.0,
        )

    def tls_status(self) -> TlsStatus:
        """Our client certificate's subject and expiry, for ``edigate status``."""
        return self.link.identity.status()

    async def aclose(self) -> None:
        """Close the connection."""
        await self.link.close()


def _subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard match: ``*`` is one token, a final ``>`` one or more."""
    p_tokens, s_tokens = pattern.split("."), subject.split(".")
    for i, token in enumerate(p_tokens):
        if token == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens) or (token != "*" and token != s_tokens[i]):
            return False
    return len(p_tokens) == len(s_tokens)


__all__ = [
    "NatsDownlinkSettings",
    "NatsLink",
    "NatsSink",
    "NatsSinkConfig",
    "map_exception",
    "map_nats_errors",
    "subject_for",
    "subject_token",
]
