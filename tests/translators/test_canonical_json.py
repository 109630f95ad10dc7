"""Translated documents encode to the same JSON value with orjson as with the stdlib encoder.

The gateway journals each document as canonical JSON (sorted keys, compact, ``default=str``).  It
moves from ``json.dumps`` to ``orjson.dumps(..., option=OPT_SORT_KEYS, default=str)``; the two
agree only while documents hold plain JSON data: orjson encodes ``datetime``, ``date``, ``UUID``
and dataclasses natively (``str()`` would differ), refuses non-``str`` keys and integers beyond 64
bits.  So every corpus document is checked both ways, and its values are checked to be plain.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from x12_helpers import X12_CORPUS

from translators import translate
from translators.options import TranslatorOptions
from translators.result import TranslatedDocument

EDIFACT_CORPUS = X12_CORPUS.parent / "edifact"
FILES = [p for corpus in (X12_CORPUS, EDIFACT_CORPUS) if corpus.is_dir() for p in sorted(corpus.iterdir())]


def _stdlib(document: Any) -> bytes:
    # What gateway/pipeline.py wrote before the switch.
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


def _orjson(document: Any) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS, default=str)


def _non_plain(value: Any, path: str = "$") -> Iterator[str]:
    """Paths of values that are not plain JSON data (or that orjson would refuse)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if type(key) is not str:
                yield f"{path} key {key!r}"
            yield from _non_plain(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):  # syntax-layer documents keep segments as tuples
        for i, item in enumerate(value):
            yield from _non_plain(item, f"{path}[{i}]")
    elif type(value) is int:
        if not -(2**63) <= value < 2**64:
            yield f"{path} (int beyond 64 bits)"
    elif value is not None and type(value) not in (str, bool, float):
        yield f"{path} ({type(value).__name__})"


def _documents(path: Path) -> list[TranslatedDocument]:
    return list(translate(path.read_bytes(), TranslatorOptions()).documents)


def test_corpus_is_present() -> None:
    assert len(FILES) > 40, "shared corpus missing"


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_orjson_encodes_the_same_value(path: Path) -> None:
    for doc in _documents(path):
        for part in (doc.document, doc.extensions):
            assert list(_non_plain(part)) == []
            assert json.loads(_orjson(part)) == json.loads(_stdlib(part))


def test_orjson_sorts_keys_like_the_stdlib() -> None:
    # Same text too for ASCII documents: both sort keys and write no spaces.
    docs = [d.document for p in FILES for d in _documents(p)]
    assert docs, "no documents in the corpus"
    ascii_docs = [d for d in docs if _stdlib(d).isascii() and "\\u" not in _stdlib(d).decode()]
    assert ascii_docs
    for d in ascii_docs:
        assert _orjson(d) == _stdlib(d)
