"""HTTP/1.1 request pipelining for the https sink: many POSTs in flight per keep-alive connection.

Strategy: the drain after an outage is bound by the client's CPU, and a
general-purpose client spends most of it on per-request machinery.  Here a
request is serialised into one ``bytes`` and written without waiting for the
previous answer (RFC 9112 §9.3.2); answers come back in request order and
are matched first in, first out.  The parser is sans-I/O
(:class:`ResponseParser`: ``feed(data)`` returns whole responses), so it is
tested byte by byte without sockets; :class:`PipelinedLink` does the I/O.

Failure rules, all safe because every delivery carries an Idempotency-Key:

* A response saying ``Connection: close`` ends the connection; the server
  must not process the requests written after it (RFC 9112 §9.6), so they
  are sent again on a fresh connection, transparently.
* Anything else that ends a connection early (reset, TLS alert, garbage,
  a timeout of the oldest request) fails every request still waiting on it
  with a transient error: the server may or may not have processed them,
  and the delivery engine's retry plus the idempotency key settle that.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from agent.errors import PermanentDeliveryError, TransientDeliveryError
from agent.tls import TlsIdentity, classify_tls_failure, eof_after_handshake_hint

#: Longest status line plus headers accepted from the server.
MAX_HEAD_BYTES = 64 * 1024
#: Longest body kept from one response (error pages are shortened anyway).
MAX_BODY_BYTES = 1024 * 1024
#: Times one request is sent again after connections that answered nothing were closed gracefully.
MAX_RESENDS = 3


class ResponseProtocolError(Exception):
    """The server sent something that is not an HTTP/1.1 response."""


@dataclass(frozen=True, slots=True)
class Response:
    """One parsed response.

    Attributes:
        status: status code.
        reason: reason phrase.
        headers: header names in lower case; repeated names joined with ``", "``.
        body: the body (at most :data:`MAX_BODY_BYTES` of it).
        close: the server ends the connection after this response.
    """

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes
    close: bool


@dataclass(slots=True)
class _Head:
    status: int
    reason: str
    headers: dict[str, str]
    close: bool


@dataclass(slots=True)
class ResponseParser:
    """Sans-I/O parser of pipelined responses.

    ``expect(method)`` once per request written, in order (a HEAD answer has
    no body); ``feed(data)`` returns the responses completed by ``data``;
    ``feed_eof()`` the one that ends at the end of the stream, if any.

    Raises:
        ResponseProtocolError: from ``feed``/``feed_eof`` on malformed input.
    """

    _buffer: bytearray = field(default_factory=bytearray)
    _methods: deque[str] = field(default_factory=deque)
    _head: _Head | None = None
    _remaining: int | None = None  # body bytes still expected (content-length), None otherwise
    _chunked: bool = False
    _chunk_left: int = -1  # bytes left in the current chunk; -1: expecting a size line
    _until_eof: bool = False
    _body: bytearray = field(default_factory=bytearray)

    def expect(self, method: str) -> None:
        """Note that a request with ``method`` was written."""
        self._methods.append(method)

    def feed(self, data: bytes) -> list[Response]:
        """Add received bytes; return the responses they complete."""
        self._buffer += data
        out: list[Response] = []
        while True:
            response = self._step()
            if response is None:
                return out
            out.append(response)
            if response.close:
                return out  # nothing after a closing response belongs to us

    def feed_eof(self) -> Response | None:
        """The server closed the stream: finish a body that runs to the end, if one does."""
        if self._head is not None and self._until_eof:
            self._body += self._buffer
            self._buffer.clear()
            return self._finish(close=True)
        if self._head is not None or self._buffer:
            raise ResponseProtocolError("the connection ended in the middle of a response")
        return None

    # -- internals --------------------------------------------------------------------------

    def _step(self) -> Response | None:
        if self._head is None:
            if not self._read_head():
                return None
            assert self._head is not None
            if self._head.status < 200:
                self._head = None  # 1xx: informational, the real answer follows
                return self._step()
        if self._until_eof:
            self._body += self._buffer
            self._buffer.clear()
            return None
        if self._chunked:
            return self._read_chunks()
        assert self._remaining is not None
        take = min(self._remaining, len(self._buffer))
        self._keep(bytes(self._buffer[:take]))
        del self._buffer[:take]
        self._remaining -= take
        return self._finish() if self._remaining == 0 else None

    def _read_head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise ResponseProtocolError("response head too long")
            return False
        lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise ResponseProtocolError(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise ResponseProtocolError(f"malformed header line: {line[:80]!r}")
            key, value = name.lower(), value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        status = int(code)
        tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        close = "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens)
        self._head = _Head(status, reason, headers, close)
        if status < 200:
            return True
        method = self._methods.popleft() if self._methods else "POST"
        self._chunked, self._until_eof, self._chunk_left = False, False, -1
        if method == "HEAD" or status in (204, 304):
            self._remaining = 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunked = True
        elif "content-length" in headers:
            try:
                self._remaining = int(headers["content-length"])
            except ValueError as exc:
                raise ResponseProtocolError(f"bad Content-Length {headers['content-length']!r}") from exc
            if self._remaining < 0:
                raise ResponseProtocolError("negative Content-Length")
        else:
            self._until_eof = True
            self._head.close = True
        return True

    def _read_chunks(self) -> Response | None:
        while True:
            if self._chunk_left == -1:
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    return None
                size = bytes(self._buffer[:end]).split(b";", 1)[0].strip()
                del self._buffer[: end + 2]
                try:
                    self._chunk_left = int(size, 16)
                except ValueError as exc:
                    raise ResponseProtocolError(f"bad chunk size {size[:20]!r}") from exc
                if self._chunk_left == 0:
                    self._chunk_left = -2  # trailers follow, up to an empty line
            if self._chunk_left == -2:
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    return None
                del self._buffer[: end + 2]
                if end == 0:
                    return self._finish()
                continue
            if len(self._buffer) < self._chunk_left + 2:
                return None
            self._keep(bytes(self._buffer[: self._chunk_left]))
            del self._buffer[: self._chunk_left + 2]
            self._chunk_left = -1

    def _keep(self, data: bytes) -> None:
        room = MAX_BODY_BYTES - len(self._body)
        if room > 0:
            self._body += data[:room]

    def _finish(self, *, close: bool = False) -> Response:
        head = self._head
        assert head is not None
        response = Response(head.status, head.reason, head.headers, bytes(self._body), head.close or close)
        self._head, self._remaining, self._chunked, self._until_eof = None, None, False, False
        self._body = bytearray()
        return response


class _GracefulClose(Exception):
    """The server announced the end of the connection before this request (safe to send again).

    Attributes:
        answered: how many requests the connection answered (0: no progress at all).
    """

    def __init__(self, answered: int) -> None:
        super().__init__(f"connection closed after {answered} answers")
        self.answered = answered


class _Connection:
    """One TLS connection with its queue of answers still to come."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: str) -> None:
        self.reader, self.writer, self._server = reader, writer, server
        self.parser = ResponseParser()
        self.waiting: deque[asyncio.Future[Response]] = deque()
        self.open = True
        self.answered = 0
        self.announced_close = False
        self._loop = asyncio.get_running_loop()
        self._outgoing: list[bytes] = []
        self.task = self._loop.create_task(self._read_loop())

    def send(self, method: str, raw: bytes) -> asyncio.Future[Response]:
        future: asyncio.Future[Response] = self._loop.create_future()
        future.add_done_callback(_retrieve)  # its caller may have timed out and gone
        self.waiting.append(future)
        self.parser.expect(method)
        if not self._outgoing:
            self._loop.call_soon(self._flush)
        self._outgoing.append(raw)
        return future

    def _flush(self) -> None:
        # Everything sent during one turn of the loop goes out as one TLS write (one record, one
        # syscall) instead of one each: most of the cost of a small request is its write.
        data, self._outgoing = b"".join(self._outgoing), []
        if self.open and not self.writer.transport.is_closing():
            self.writer.write(data)

    async def _read_loop(self) -> None:
        error: BaseException | None = None
        try:
            while self.open:
                data = await self.reader.read(256 * 1024)
                if not data:
                    last = self.parser.feed_eof()
                    if last is not None and self.waiting:
                        _settle(self.waiting.popleft(), last)
                    break
                for response in self.parser.feed(data):
                    if not self.waiting:
                        raise ResponseProtocolError("an answer to a request we did not send")
                    _settle(self.waiting.popleft(), response)
                    self.answered += 1
                    if response.close:
                        self.open, self.announced_close = False, True
        except (OSError, ssl.SSLError, ResponseProtocolError, EOFError) as exc:
            error = exc
        finally:
            self.open = False
            self.writer.close()
            if error is None and not self.announced_close and self.waiting:
                # Closed without saying so: the server may have processed what it did not answer.
                error = ConnectionResetError("the server closed the connection without answering")
            self._fail_waiting(error)

    def _fail_waiting(self, error: BaseException | None) -> None:
        while self.waiting:
            future = self.waiting.popleft()
            if future.done():
                continue
            if error is None:
                future.set_exception(_GracefulClose(self.answered))
            else:
                future.set_exception(_connection_error(error, self._server))

    def abort(self, error: BaseException) -> None:
        """Give up on this connection (a request timed out): everything on it fails."""
        self.open = False
        self._fail_waiting(error)
        self.writer.transport.abort()
        self.task.cancel()


def _load(connection: _Connection) -> int:
    return len(connection.waiting)


def _retrieve(future: asyncio.Future[Response]) -> None:
    if not future.cancelled():
        future.exception()


def _settle(future: asyncio.Future[Response], response: Response) -> None:
    if not future.done():
        future.set_result(response)


def _connection_error(exc: BaseException, server: str) -> Exception:
    tls = classify_tls_failure(exc, server=server)
    if tls is not None:
        return tls
    if isinstance(exc, TransientDeliveryError):
        return exc
    hint = eof_after_handshake_hint(exc)
    detail = f" ({hint})" if hint else ""
    what = "protocol error from" if isinstance(exc, ResponseProtocolError) else "connection failed with"
    error = TransientDeliveryError(f"{what} {server}: {exc or type(exc).__name__}{detail}")
    error.__cause__ = exc
    return error


class PipelinedLink:
    """Up to ``max_connections`` TLS connections with up to ``depth`` requests in flight on each.

    Args:
        identity: our TLS identity (client certificate, pinned CA).
        url: the sink URL (scheme, host and port are used; requests name their own path).
        max_connections: connections kept open.
        depth: requests written ahead of their answers on one connection.
        timeout: seconds for connecting and for each answer.
    """

    def __init__(
        self, identity: TlsIdentity, url: str, *, max_connections: int, depth: int, timeout: float
    ) -> None:
        parsed = httpx.URL(url)
        self._tls = parsed.scheme == "https"
        self._host = parsed.host
        self._port = parsed.port or (443 if self._tls else 80)
        host = f"[{self._host}]" if ":" in self._host else self._host  # IPv6 literal
        self._server = f"{host}:{self._port}"
        default_port = (self._tls and self._port == 443) or (not self._tls and self._port == 80)
        self._host_header = host if default_port else self._server
        self._context = identity.context
        self._max_connections = max_connections
        self._depth = depth
        self._timeout = timeout
        self._connections: list[_Connection] = []
        self._opening = 0
        self._opened = asyncio.Event()  # set (and replaced) whenever an opening ends
        self._targets: dict[str, str] = {}
        self._slots = asyncio.Semaphore(max_connections * depth)
        self._closed = False

    @property
    def is_closed(self) -> bool:
        """:meth:`aclose` was called."""
        return self._closed

    def serialise(self, method: str, url: str, content: bytes | None, headers: Mapping[str, str]) -> bytes:
        """One request as bytes on the wire.

        Raises:
            PermanentDeliveryError: a header carries a line break (it would forge headers).
        """
        target = self._targets.get(url)
        if target is None:
            target = self._targets[url] = httpx.URL(url).raw_path.decode("ascii")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self._host_header}"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
                raise PermanentDeliveryError(f"header {name!r} cannot be sent: it contains a line break")
            lines.append(f"{name}: {value}")
        body = content or b""
        if content is not None or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def request(
        self, method: str, url: str, *, content: bytes | None, headers: Mapping[str, str]
    ) -> Response:
        """Send one request (pipelined) and wait for its answer.

        Raises:
            TransientDeliveryError: no connection, no answer in time, connection lost.
            TlsLinkError: certificate problems on either side.
        """
        raw = self.serialise(method, url, content, headers)
        fruitless = 0
        async with self._slots:
            while True:
                connection = await self._connection()
                future = connection.send(method, raw)
                try:
                    async with asyncio.timeout(self._timeout):
                        return await asyncio.shield(future)
                except _GracefulClose as exc:
                    # The server announced the end of the connection before reading this
                    # request: send it again.  Only closes that answered nothing count against
                    # the limit, since a server closing every N requests makes progress.
                    fruitless += exc.answered == 0
                    if fruitless > MAX_RESENDS:
                        raise TransientDeliveryError(
                            f"{self._server} kept closing connections before answering"
                        ) from None
                except TimeoutError:
                    error = TransientDeliveryError(f"{self._server} did not answer in time")
                    connection.abort(error)  # later answers on it would be out of step
                    raise error from None

    async def _connection(self) -> _Connection:
        """The open connection with the fewest answers due, opening another while that is full."""
        while True:
            if not all(c.open for c in self._connections):
                self._connections = [c for c in self._connections if c.open]
            best = min(self._connections, key=_load, default=None)
            room = len(self._connections) + self._opening < self._max_connections
            if best is not None and (len(best.waiting) < self._depth or not room):
                return best
            if room:
                break
            await self._opened.wait()  # every connection is still being opened: wait for one
        self._opening += 1
        try:
            connection = await self._connect()
        finally:
            self._opening -= 1
            self._opened.set()
            self._opened = asyncio.Event()
        self._connections.append(connection)
        return connection

    async def _connect(self) -> _Connection:
        if self._closed:
            raise RuntimeError("the link is closed")
        if self._tls:
            # Offer HTTP/1.1 only.  The context may be shared with an HTTP/2 client (httpcore
            # sets ALPN on the context at each of its connects), so say it again here.
            self._context.set_alpn_protocols(["http/1.1"])
        try:
            async with asyncio.timeout(self._timeout):
                reader, writer = await asyncio.open_connection(
                    self._host,
                    self._port,
                    ssl=self._context if self._tls else None,
                    server_hostname=self._host if self._tls else None,
                    limit=MAX_HEAD_BYTES,
                )
        except TimeoutError as exc:
            raise TransientDeliveryError(f"{self._server} did not answer in time (connect)") from exc
        except (OSError, ssl.SSLError) as exc:
            tls = classify_tls_failure(exc, server=self._server)
            if tls is not None:
                raise tls from exc
            hint = eof_after_handshake_hint(exc)
            detail = f" ({hint})" if hint else ""
            raise TransientDeliveryError(f"cannot connect to {self._server}: {exc}{detail}") from exc
        tls = writer.get_extra_info("ssl_object")
        chosen = tls.selected_alpn_protocol() if tls is not None else None
        if chosen not in (None, "http/1.1"):
            writer.transport.abort()
            raise TransientDeliveryError(f"{self._server} chose {chosen} instead of HTTP/1.1 (ALPN)")
        return _Connection(reader, writer, self._server)

    async def aclose(self) -> None:
        """Close every connection."""
        self._closed = True
        connections, self._connections = self._connections, []
        for c in connections:
            c.open = False
            c.writer.close()
        for c in connections:
            c.task.cancel()
        if connections:
            await asyncio.gather(*(c.task for c in connections), return_exceptions=True)
            await asyncio.gather(*(c.writer.wait_closed() for c in connections), return_exceptions=True)


__all__ = ["MAX_BODY_BYTES", "PipelinedLink", "Response", "ResponseParser", "ResponseProtocolError"]
