"""The ``https`` sink: POST each canonical envelope to a cloud endpoint over mutual TLS.

Strategy: one long-lived client carries every delivery, so the TLS handshake
is paid once per connection, not once per message.  By default that is an
aiohttp keep-alive pool of ``max_connections`` HTTP/1.1 connections with
``concurrency`` requests in flight: per request it costs about a tenth of the
CPU httpx does (measured 0.3 vs 2.6-4.2 ms per message against nginx on
loopback, bench/bench_sinks.py), and a drain after an outage is bound by the
client's CPU.  ``http2 = true`` selects an httpx client multiplexing over one
HTTP/2 connection instead.  A client is injected from outside when given
(tests pass ``httpx.MockTransport``); otherwise it is built from a
:class:`~agent.tls.TlsIdentity` and rebuilt when the certificate files rotate.

Status mapping (what ``deliver`` makes of the server's answer):

* 2xx: delivered.
* 408, 409, 425, 429, 5xx, timeouts, connection failures: transient; a
  ``Retry-After`` (seconds or HTTP date, RFC 9110 §10.2.3) becomes
  ``retry_after``.  409 is transient because with an ``Idempotency-Key`` it
  means "the same key is still being processed" (draft-ietf-httpapi-idempotency-key-header §2.7).
* nginx's 400 "No required SSL certificate was sent" / "The SSL certificate
  error": :class:`~agent.tls.ClientCertificateRejected`.
* other 3xx/4xx: permanent, carrying the server's own message.

Every client exception is translated once, in :func:`map_httpx_exceptions`
or :func:`map_aiohttp_exceptions`.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import datetime as _dt
import email.utils
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import aiohttp
import httpx
from pydantic import BaseModel, ConfigDict, Field

from agent.errors import PermanentDeliveryError, TransientDeliveryError
from agent.sinks.base import Delivery
from agent.sinks.http1 import PipelinedLink
from agent.tls import (
    TlsIdentity,
    TlsLinkError,
    TlsSettings,
    TlsStatus,
    classify_http_refusal,
    classify_tls_failure,
    eof_after_handshake_hint,
)

logger = logging.getLogger(__name__)

#: Statuses worth retrying: the server may accept the same request later.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})
#: How much of an error body goes into the operator's message.
MAX_MESSAGE_CHARS = 500
#: How often (seconds) the sink looks at its certificate files for a rotation; after a refused
#: link it looks again at the next request (an operator fixing the link should not wait).
TLS_REFRESH_EVERY = 1.0


class HttpsSinkConfig(BaseModel):
    """``[[sinks]] kind = "https"``.

    Attributes:
        name: sink name as configured (shown in status and dead-letter reasons).
        url: where envelopes are POSTed.
        healthcheck_url: probed by :meth:`HttpsSink.healthcheck`; defaults to ``url``.
        healthcheck_method: ``HEAD`` or ``GET``.
        timeout: seconds for connect, read, write and pool waits each.
        http2: use an httpx client offering HTTP/2 (ALPN; HTTP/1.1 keep-alive when the server
            declines) instead of the aiohttp HTTP/1.1 pool.  Costs several times the CPU per
            message; for servers that limit connections.
        max_connections: HTTP/1.1 connections kept open to the server (HTTP/2 multiplexes
            everything over one).
        concurrency: deliveries in flight at once (the delivery engine's lane width for this
            sink); more than ``max_connections`` keeps every connection busy.
        pipelining: when above 0, write up to this many requests on one connection before their
            answers arrive (HTTP/1.1 pipelining, :mod:`agent.sinks.http1`); the cheapest client
            by far, for servers that handle pipelined requests (nginx does; some proxies do not).
        headers: extra headers on every request (e.g. a tenant id; never log them).
        tls: our client certificate and the pinned server CA (``[sinks.tls]``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["https"] = "https"
    url: str = Field(pattern=r"^https?://", description="endpoint receiving one POST per envelope")
    healthcheck_url: str | None = None
    healthcheck_method: Literal["HEAD", "GET"] = "HEAD"
    timeout: float = Field(default=30.0, gt=0)
    http2: bool = False
    max_connections: int = Field(default=16, ge=1, le=1024)
    concurrency: int = Field(default=64, ge=1, le=4096)
    pipelining: int = Field(default=0, ge=0, le=1024)
    headers: dict[str, str] = Field(default_factory=dict)
    tls: TlsSettings | None = None


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def parse_retry_after(value: str | None, *, now: _dt.datetime | None = None) -> float | None:
    """Read a ``Retry-After`` header (RFC 9110 §10.2.3).

    Args:
        value: the header value: delay-seconds or an HTTP date.
        now: the current time for dates (defaults to the clock).

    Returns:
        Seconds to wait (never negative), or None when absent or unreadable.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    delay = (when - (now or _utcnow())).total_seconds()
    return max(0.0, delay)


def server_message(response: httpx.Response) -> str:
    """Extract the server's own explanation from an error response, shortened.

    Args:
        response: a response whose body has been read.

    Returns:
        The ``message``/``detail``/``error`` of a JSON body, else the body text.
    """
    return _server_message(response.text, response.headers.get("content-type", ""), response.reason_phrase)


def _server_message(text: str, content_type: str, reason: str) -> str:
    text = text.strip()
    if "json" in content_type:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("message", "detail", "error", "title"):
                if isinstance(data.get(key), str) and data[key]:
                    text = data[key]
                    break
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + "…"
    return text or reason


@contextlib.contextmanager
def map_httpx_exceptions(server: str) -> Iterator[None]:
    """Translate httpx exceptions into delivery errors (cf. httpx ``map_httpcore_exceptions``).

    Args:
        server: host:port for messages.

    Raises:
        TlsLinkError: certificate problems on either side.
        TransientDeliveryError: timeouts, refused or dropped connections.
        PermanentDeliveryError: a request that can never be sent (bad URL/scheme).
    """
    try:
        yield
    except httpx.TimeoutException as exc:
        raise TransientDeliveryError(f"{server} did not answer in time ({type(exc).__name__})") from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise PermanentDeliveryError(f"the sink URL for {server} is unusable: {exc}") from exc
    except httpx.TransportError as exc:
        tls = classify_tls_failure(exc, server=server)
        if tls is not None:
            raise tls from exc
        what = "cannot connect to" if isinstance(exc, httpx.ConnectError) else "connection failed with"
        hint = eof_after_handshake_hint(exc)
        detail = f" ({hint})" if hint else ""
        raise TransientDeliveryError(f"{what} {server}: {exc or type(exc).__name__}{detail}") from exc
    except ssl.SSLError as exc:
        # httpcore lets a TLS alert that arrives at the first read (TLS 1.3) escape unmapped.
        tls = classify_tls_failure(exc, server=server)
        if tls is not None:
            raise tls from exc
        hint = (
            eof_after_handshake_hint(exc) or "if this persists, check that the server accepts our certificate"
        )
        raise TransientDeliveryError(
            f"TLS session with {server} failed: {exc.reason or exc} ({hint})"
        ) from exc
    except httpx.HTTPError as exc:
        # DecodingError (a body we cannot decode) and future httpx errors: the Idempotency-Key
        # makes a retry safe even if the server did accept the request.
        raise TransientDeliveryError(
            f"HTTP exchange with {server} failed: {type(exc).__name__}: {exc}"
        ) from exc


@contextlib.contextmanager
def map_aiohttp_exceptions(server: str) -> Iterator[None]:
    """Translate aiohttp exceptions into delivery errors, like :func:`map_httpx_exceptions`.

    Args:
        server: host:port for messages.

    Raises:
        TlsLinkError: certificate problems on either side.
        TransientDeliveryError: timeouts, refused or dropped connections.
        PermanentDeliveryError: a request that can never be sent (bad URL/scheme).
    """
    try:
        yield
    except TimeoutError as exc:  # aiohttp's ServerTimeoutError is one too
        raise TransientDeliveryError(f"{server} did not answer in time ({type(exc).__name__})") from exc
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
        raise PermanentDeliveryError(f"the sink URL for {server} is unusable: {exc}") from exc
    except (aiohttp.ClientError, ssl.SSLError, OSError) as exc:
        tls = classify_tls_failure(exc, server=server)
        if tls is not None:
            raise tls from exc
        if isinstance(exc, aiohttp.ClientConnectorError):
            what = "cannot connect to"
        elif isinstance(exc, aiohttp.ClientConnectionError | ssl.SSLError | OSError):
            what = "connection failed with"
        else:
            # ClientPayloadError (a body we cannot decode) and the like: the Idempotency-Key
            # makes a retry safe even if the server did accept the request.
            what = "HTTP exchange failed with"
        hint = eof_after_handshake_hint(exc)
        detail = f" ({hint})" if hint else ""
        raise TransientDeliveryError(f"{what} {server}: {exc or type(exc).__name__}{detail}") from exc


@dataclass(frozen=True, slots=True)
class _Answer:
    """What the sink needs from an HTTP response, whichever client fetched it."""

    status: int
    headers: Mapping[str, str]  #: case-insensitive (httpx.Headers or multidict)
    text: str  #: the body; read in full only for statuses that are not 2xx
    reason: str


class _Link(Protocol):
    """One long-lived HTTP client as the sink uses it."""

    @property
    def is_closed(self) -> bool: ...

    async def request(
        self, method: str, url: str, *, content: bytes | None, headers: Mapping[str, str]
    ) -> _Answer: ...

    async def aclose(self) -> None: ...


class HttpxLink:
    """An ``httpx.AsyncClient`` (HTTP/2, or injected by tests)."""

    def __init__(self, client: httpx.AsyncClient, server: str) -> None:
        self.client = client
        self._server = server

    @property
    def is_closed(self) -> bool:
        """The client was closed."""
        return self.client.is_closed

    async def request(
        self, method: str, url: str, *, content: bytes | None, headers: Mapping[str, str]
    ) -> _Answer:
        """Send one request and read the answer."""
        with map_httpx_exceptions(self._server):
            response = await self.client.request(method, url, content=content, headers=headers)
        ok = 200 <= response.status_code < 300
        return _Answer(
            response.status_code, response.headers, "" if ok else response.text, response.reason_phrase
        )

    async def aclose(self) -> None:
        """Close the client."""
        await self.client.aclose()


class AiohttpLink:
    """An aiohttp keep-alive pool of HTTP/1.1 connections over our TLS identity.

    The session is created on first use, inside the running event loop.
    """

    def __init__(self, identity: TlsIdentity, config: HttpsSinkConfig, server: str) -> None:
        self._context = identity.context
        self._config = config
        self._server = server
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def is_closed(self) -> bool:
        """:meth:`aclose` was called."""
        return self._closed

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the link is closed")
        if self._session is None:
            # HTTP/1.1 only, even if an HTTP/2 client shares the context (httpcore sets ALPN on it).
            self._context.set_alpn_protocols(["http/1.1"])
            connector = aiohttp.TCPConnector(
                ssl=self._context,
                limit=self._config.max_connections,
                keepalive_timeout=60.0,
            )
            t = self._config.timeout
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, connect=t, sock_connect=t, sock_read=t),
                trust_env=False,  # a proxy from the environment must not silently sit in the mTLS path
                auto_decompress=True,
            )
        return self._session

    async def request(
        self, method: str, url: str, *, content: bytes | None, headers: Mapping[str, str]
    ) -> _Answer:
        """Send one request and read the answer."""
        with map_aiohttp_exceptions(self._server):
            async with self._open().request(
                method, url, data=content, headers=dict(headers), allow_redirects=False
            ) as response:
                body = await response.read()  # read to the end: the connection goes back to the pool
                text = ""
                if not 200 <= response.status < 300:
                    text = body.decode(_charset(response.charset), errors="replace")
                return _Answer(response.status, response.headers, text, response.reason or "")

    async def aclose(self) -> None:
        """Close the pool's connections."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            await asyncio.sleep(0)  # let the transports see their close (TLS shutdown)


class PipelinedHttpLink:
    """:class:`~agent.sinks.http1.PipelinedLink` as the sink uses it."""

    def __init__(self, link: PipelinedLink) -> None:
        self.link = link

    @property
    def is_closed(self) -> bool:
        """:meth:`aclose` was called."""
        return self.link.is_closed

    async def request(
        self, method: str, url: str, *, content: bytes | None, headers: Mapping[str, str]
    ) -> _Answer:
        """Send one request and read the answer."""
        response = await self.link.request(method, url, content=content, headers=headers)
        text = ""
        if not 200 <= response.status < 300:
            text = response.body.decode("utf-8", errors="replace")
        return _Answer(response.status, response.headers, text, response.reason)

    async def aclose(self) -> None:
        """Close the connections."""
        await self.link.aclose()


def _charset(name: str | None) -> str:
    try:
        return codecs.lookup(name or "utf-8").name
    except LookupError:
        return "utf-8"


def build_client(identity: TlsIdentity, config: HttpsSinkConfig) -> httpx.AsyncClient:
    """Build the long-lived client for a sink from our TLS identity.

    Args:
        identity: client certificate and pinned CA.
        config: the sink settings (timeouts, pool size, HTTP/2).

    Returns:
        A client with one keep-alive pool; close it with ``aclose()``.
    """
    limits = httpx.Limits(
        max_connections=config.max_connections,
        max_keepalive_connections=config.max_connections,
        keepalive_expiry=60.0,
    )
    return httpx.AsyncClient(
        verify=identity.context,
        http2=config.http2,
        limits=limits,
        timeout=httpx.Timeout(config.timeout),
        follow_redirects=False,
        trust_env=False,  # a proxy from the environment must not silently sit in the mTLS path
    )


class HttpsSink:
    """POST canonical envelopes to an HTTPS endpoint with an ``Idempotency-Key``.

    Args:
        config: the sink settings.
        client: an httpx client to use as is (tests: ``MockTransport``); the sink
            does not rebuild it on certificate rotation, but closes it in :meth:`aclose`.
        identity: our TLS identity; required when ``client`` is None.
        clock: current UTC time, for ``Retry-After`` dates.
        monotonic: seconds, for pacing the certificate file checks (tests).

    Raises:
        ValueError: no client, no identity and no ``tls`` settings.
        TlsConfigError: the ``tls`` files cannot be used (see :mod:`agent.tls`).
    """

    def __init__(
        self,
        config: HttpsSinkConfig,
        *,
        client: httpx.AsyncClient | None = None,
        identity: TlsIdentity | None = None,
        clock: Callable[[], _dt.datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        url = httpx.URL(config.url)
        self._server = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
        self.name = config.name
        #: deliveries in flight at once (read by the delivery engine)
        self.concurrency = config.concurrency
        self._config = config
        self._clock = clock
        self._monotonic = monotonic
        self._checked_at = monotonic()
        self._recheck = False
        if client is None:
            if identity is None:
                if config.tls is None:
                    raise ValueError(
                        f"https sink {config.name}: set [sinks.tls] (cert_file, key_file, ca_file): "
                        "the cloud link is mutual TLS"
                    )
                identity = config.tls.load()
            self._identity: TlsIdentity | None = identity
            self._client: _Link = self._build_link(identity)
            self._owns_client = True
        else:
            self._identity = identity
            self._client = HttpxLink(client, self._server)
            self._owns_client = False
        self._retired: list[_Link] = []
        self._in_flight: dict[int, int] = {}  # id(link) -> requests using it

    def _build_link(self, identity: TlsIdentity) -> _Link:
        if self._config.pipelining:
            return PipelinedHttpLink(
                PipelinedLink(
                    identity,
                    self._config.url,
                    max_connections=self._config.max_connections,
                    depth=self._config.pipelining,
                    timeout=self._config.timeout,
                )
            )
        if self._config.http2:
            return HttpxLink(build_client(identity, self._config), self._server)
        return AiohttpLink(identity, self._config, self._server)

    @contextlib.asynccontextmanager
    async def _using_client(self) -> AsyncIterator[_Link]:
        client = self._current_client()
        key = id(client)
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            yield client
        except TlsLinkError:
            self._recheck = True  # refused link: look for new certificate files at the next request
            raise
        finally:
            self._in_flight[key] -= 1
            if not self._in_flight[key]:
                del self._in_flight[key]
            if self._retired:
                for old in [c for c in self._retired if id(c) not in self._in_flight]:
                    self._retired.remove(old)  # rotated away and idle: release its connections
                    await old.aclose()

    def _current_client(self) -> _Link:
        # Rotation: new deliveries use a client built from the new files; requests in
        # flight finish on the old one, which is closed as soon as it is idle.
        if not self._owns_client or self._identity is None:
            return self._client
        now = self._monotonic()
        if not self._recheck and now - self._checked_at < TLS_REFRESH_EVERY:
            return self._client  # stat()ing three files per request costs more than the request
        self._checked_at, self._recheck = now, False
        if self._identity.refresh():
            logger.info("sink %s: TLS files changed, new connections use the new certificate", self.name)
            self._retired.append(self._client)
            self._client = self._build_link(self._identity)
        return self._client

    async def deliver(self, delivery: Delivery) -> None:
        """POST one envelope; return only once the server answered 2xx.

        Args:
            delivery: the envelope and its idempotency key.

        Raises:
            TransientDeliveryError: try again later (``retry_after`` when the server said).
            ClientCertificateRejected: the server refused our certificate.
            PermanentDeliveryError: the server refused the message itself.
        """
        headers = {
            **self._config.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": delivery.idempotency_key,
        }
        async with self._using_client() as client:
            answer = await client.request("POST", self._config.url, content=delivery.body, headers=headers)
        self._check(answer, what=f"delivery {delivery.delivery_id}")

    async def healthcheck(self) -> None:
        """Probe the configured URL once.

        Raises:
            DeliveryError: the endpoint cannot be reached or answered an error
                (a 404/405 to the probe still proves TLS and routing work and passes).
        """
        url = self._config.healthcheck_url or self._config.url
        async with self._using_client() as client:
            answer = await client.request(self._config.healthcheck_method, url, content=None, headers={})
        if answer.status in (404, 405) and self._config.healthcheck_url is None:
            return  # the POST endpoint need not answer HEAD; reaching it is what counts
        self._check(answer, what="healthcheck")

    def tls_status(self) -> TlsStatus | None:
        """Our certificate's subject and expiry for ``edigate status`` (None with an injected client)."""
        return self._identity.status() if self._identity is not None else None

    def _check(self, response: _Answer, *, what: str) -> None:
        status = response.status
        if 200 <= status < 300:
            return
        message = _server_message(response.text, response.headers.get("content-type", ""), response.reason)
        refusal = classify_http_refusal(status, response.text, server=self._server)
        if refusal is not None:
            self._recheck = True
            raise refusal
        if status in RETRYABLE_STATUSES or status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"), now=self._clock())
            raise TransientDeliveryError(
                f"{self._server} answered {status} to {what}: {message}", retry_after=retry_after
            )
        if 300 <= status < 400:
            location = response.headers.get("location", "nowhere")
            raise PermanentDeliveryError(
                f"{self._server} redirected {what} to {location} (status {status}); fix the sink URL"
            )
        raise PermanentDeliveryError(f"{self._server} refused {what} with {status}: {message}")

    async def aclose(self) -> None:
        """Close the client(s) this sink built or was given."""
        for client in [*self._retired, self._client]:
            await client.aclose()
        self._retired.clear()


__all__ = [
    "RETRYABLE_STATUSES",
    "AiohttpLink",
    "HttpsSink",
    "HttpsSinkConfig",
    "HttpxLink",
    "PipelinedHttpLink",
    "build_client",
    "map_aiohttp_exceptions",
    "map_httpx_exceptions",
    "parse_retry_after",
    "server_message",
]
