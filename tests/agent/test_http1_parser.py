"""The pipelining client's sans-I/O response parser, fed whole and one byte at a time."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agent.sinks.http1 import Response, ResponseParser, ResponseProtocolError

Feeder = Callable[[ResponseParser, bytes], list[Response]]


def _whole(parser: ResponseParser, data: bytes) -> list[Response]:
    return parser.feed(data)


def _bytewise(parser: ResponseParser, data: bytes) -> list[Response]:
    out: list[Response] = []
    for i in range(len(data)):
        out += parser.feed(data[i : i + 1])
        if out and out[-1].close:
            break
    return out


FEEDERS = pytest.mark.parametrize("feed", [_whole, _bytewise], ids=["whole", "bytewise"])


def _parser(*methods: str) -> ResponseParser:
    parser = ResponseParser()
    for method in methods:
        parser.expect(method)
    return parser


@FEEDERS
def test_pipelined_answers_come_out_in_order(feed: Feeder) -> None:
    data = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\ncontent-length: 4\r\n\r\nbusy"
        b"HTTP/1.1 204 No Content\r\n\r\n"
    )
    out = feed(_parser("POST", "POST", "POST"), data)
    assert [(r.status, r.body, r.close) for r in out] == [
        (200, b"{}", False),
        (503, b"busy", False),
        (204, b"", False),
    ]
    assert out[1].reason == "Service Unavailable"
    assert out[1].headers["retry-after"] == "7" and out[0].headers["content-type"] == "application/json"


@FEEDERS
def test_chunked_body_with_extensions_and_trailers(feed: Feeder) -> None:
    data = (
        b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    )
    out = feed(_parser("POST", "POST"), data)
    assert [(r.status, r.body) for r in out] == [(400, b"hello, world"), (200, b"")]


@FEEDERS
def test_informational_answers_are_skipped_and_head_has_no_body(feed: Feeder) -> None:
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 150\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nnew"
    )
    out = feed(_parser("HEAD", "POST"), data)
    assert [(r.status, r.body) for r in out] == [(405, b""), (201, b"new")]


@FEEDERS
def test_connection_close_ends_the_stream_for_us(feed: Feeder) -> None:
    data = (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno"
    )
    out = feed(_parser("POST", "POST"), data)
    assert [(r.status, r.body, r.close) for r in out] == [(200, b"ok", True)]


@FEEDERS
def test_http_1_0_without_keep_alive_closes(feed: Feeder) -> None:
    out = feed(_parser("POST"), b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert [(r.status, r.close) for r in out] == [(200, True)]


def test_body_without_length_runs_to_the_end_of_the_stream() -> None:
    parser = _parser("POST")
    assert parser.feed(b"HTTP/1.1 500 Internal Server Error\r\n\r\nsomething ") == []
    assert parser.feed(b"broke") == []
    last = parser.feed_eof()
    assert last is not None and (last.status, last.body, last.close) == (500, b"something broke", True)


def test_a_clean_end_between_answers_is_no_answer() -> None:
    parser = _parser("POST")
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") != []
    assert parser.feed_eof() is None


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not an HTTP/1.1 status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP/1.1 status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    ],
)
def test_garbage_is_a_protocol_error(data: bytes, text: str) -> None:
    with pytest.raises(ResponseProtocolError, match=text):
        _parser("POST").feed(data)


def test_an_end_in_the_middle_of_an_answer_is_a_protocol_error() -> None:
    parser = _parser("POST")
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    with pytest.raises(ResponseProtocolError, match="middle of a response"):
        parser.feed_eof()


def test_an_endless_head_is_refused() -> None:
    with pytest.raises(ResponseProtocolError, match="too long"):
        _parser("POST").feed(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20_000)
