"""Hypothesis: arbitrary and mutated input gives events or RemoteSyntaxError, nothing else.

The h11 fuzz invariant ("we either successfully parse it, or else throw a
RemoteProtocolError, never any other error"), plus: the same bytes split
anywhere give the same events, and translate_edifact always returns a
Translation.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from translators.edifact import translate_edifact
from translators.edifact.reader import EdifactReader
from translators.edifact.syntax import NEED_DATA
from translators.errors import RemoteSyntaxError
from translators.options import TranslatorOptions
from translators.result import Translation

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "edifact"
SEEDS = [p.read_bytes() for p in sorted(CORPUS.iterdir()) if p.stat().st_size < 6000]
SMALL = TranslatorOptions(map_business=False, max_segment_bytes=4096, max_transaction_segments=500)
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# bytes that matter to the grammar, so random data reaches deep states
ALPHABET = b"UNABHZTGE+:'?*. \r\n0123456789ORDESX\xc3\xa9\xff\x1c\x1d\x1f"


def _read(data: bytes, cuts: list[int]) -> list[Any]:
    reader = EdifactReader(SMALL)
    out: list[Any] = []
    bounds = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    try:
        for a, b in itertools.pairwise(bounds):
            reader.receive_data(data[a:b])
            while (ev := reader.next_event()) is not NEED_DATA:
                out.append(repr(ev).split("errors=")[0])
        reader.receive_data(b"")
        while (ev := reader.next_event()) is not NEED_DATA:
            out.append(repr(ev).split("errors=")[0])
    except RemoteSyntaxError as exc:  # the only exception allowed out
        out.append(("error", exc.ack_hint, str(exc)))
    return out


def _mutate(seed: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    data = bytearray(seed)
    for kind, pos, chunk in edits:
        if not data:
            data.extend(chunk)
            continue
        at = pos % len(data)
        if kind == 0:
            del data[at : at + len(chunk) + 1]
        elif kind == 1:
            data[at:at] = chunk
        else:
            data[at : at + len(chunk)] = chunk
    return bytes(data)


edits = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.integers(0, 1 << 16),
        st.binary(min_size=1, max_size=4).map(lambda b: bytes(ALPHABET[x % len(ALPHABET)] for x in b)),
    ),
    min_size=1,
    max_size=6,
)


@FUZZ
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 400), max_size=5))
def test_arbitrary_bytes(data: bytes, cuts: list[int]) -> None:
    assert _read(data, cuts) == _read(data, [])


@FUZZ
@given(
    data=st.lists(st.sampled_from([bytes([c]) for c in ALPHABET]), max_size=200).map(b"".join),
    cuts=st.lists(st.integers(0, 400), max_size=5),
)
def test_grammar_alphabet(data: bytes, cuts: list[int]) -> None:
    head = b"UNB+UNOA:3+S+R+200101:1200+1'UNH+1+X:D:96A:UN'"
    assert _read(head + data, cuts) == _read(head + data, [])


@FUZZ
@given(seed=st.sampled_from(SEEDS), changes=edits, cuts=st.lists(st.integers(0, 1 << 16), max_size=4))
def test_mutated_corpus(seed: bytes, changes: list[tuple[int, int, bytes]], cuts: list[int]) -> None:
    data = _mutate(seed, changes)
    assert _read(data, cuts) == _read(data, [])
    result = translate_edifact(data, SMALL)
    assert isinstance(result, Translation)
    assert all(isinstance(e, RemoteSyntaxError) for e in result.errors)
    assert result.documents or result.errors or result.acks


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), changes=edits)
def test_mutated_corpus_with_business_maps(seed: bytes, changes: list[tuple[int, int, bytes]]) -> None:
    result = translate_edifact(_mutate(seed, changes), TranslatorOptions())
    assert isinstance(result, Translation)
