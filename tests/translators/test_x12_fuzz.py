"""Hypothesis: arbitrary bytes and mutated corpus files give events or RemoteSyntaxError, nothing else
(the h11 fuzz invariant), and chunking never changes the outcome."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from x12_helpers import X12_CORPUS, core_only, feed, summarise

from translators.errors import RemoteSyntaxError
from translators.options import TranslatorOptions
from translators.result import Translation
from translators.x12 import translate_x12
from translators.x12.syntax import (
    GroupEnd,
    GroupStart,
    InterchangeEnd,
    InterchangeStart,
    TechnicalAck,
    TransactionSet,
)

EVENT_TYPES = (
    InterchangeStart,
    GroupStart,
    TransactionSet,
    TechnicalAck,
    GroupEnd,
    InterchangeEnd,
    RemoteSyntaxError,
)
SEEDS = [p.read_bytes() for p in sorted(X12_CORPUS.iterdir())] if X12_CORPUS.is_dir() else []
OPTS = TranslatorOptions(map_business=False, max_segment_bytes=4096, max_transaction_segments=200)
# X12_FUZZ_EXAMPLES raises the effort for a long local run; the default keeps the suite fast.
FUZZ = settings(
    max_examples=int(os.environ.get("X12_FUZZ_EXAMPLES", "80")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

ISA = (
    b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
    b"*240101*1200*U*00401*000000001*0*P*>~"
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.integers(0, 3))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == 0 and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == 1:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == 2:
            del data[pos : pos + draw(st.integers(1, 40))]
        else:
            data = data[:pos]
    return bytes(data)


def _check_events(data: bytes) -> None:
    events = feed(data)
    assert all(isinstance(e, EVENT_TYPES) for e in events)
    assert [summarise(e) for e in feed(data, 3)] == [summarise(e) for e in events]


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes(data: bytes) -> None:
    _check_events(data)
    _check_events(ISA + data)
    with core_only():
        assert isinstance(translate_x12(ISA + data, OPTS), Translation)


@FUZZ
@given(
    st.lists(
        st.sampled_from(
            [
                b"ISA",
                b"GS",
                b"ST",
                b"SE",
                b"GE",
                b"IEA",
                b"TA1",
                b"*",
                b"~",
                b"\r\n",
                b">",
                b"0001",
                b"1",
                b" ",
                b"\xef\xbb\xbf",
                b"\x1a",
                b"\xe2\x80\xa6",
            ]
        ),
        max_size=80,
    )
)
def test_envelope_token_soup(tokens: list[bytes]) -> None:
    data = ISA + b"".join(tokens)
    _check_events(data)
    with core_only():
        result = translate_x12(data, OPTS)
    assert all(isinstance(e, RemoteSyntaxError) for e in result.errors)


@FUZZ
@given(mutated())
def test_mutated_corpus_files(data: bytes) -> None:
    _check_events(data)
    with core_only():
        result = translate_x12(data, OPTS)
    assert isinstance(result, Translation)
    for error in result.errors:
        assert isinstance(error, RemoteSyntaxError)
        assert str(error)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_corpus_files_through_the_business_maps(data: bytes) -> None:
    # The whole pipeline, maps included: still nothing but a Translation comes out.
    result = translate_x12(data, TranslatorOptions(max_segment_bytes=4096))
    assert isinstance(result, Translation)
    assert all(isinstance(e, RemoteSyntaxError) for e in result.errors)
