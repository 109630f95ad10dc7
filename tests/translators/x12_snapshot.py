"""A deterministic text snapshot of what the X12 translator produces, for compiled-vs-pure checks.

The mypyc-compiled modules must behave exactly like their ``.py`` sources: same documents (key
order and value types included), same acks byte for byte, same errors with the same codes, scopes
and locations. This module renders all of that as lines of text over the shared corpus, a few
deterministic mutations of each file (bytes dropped, replaced, segments duplicated or removed,
truncation), several chunkings (whole buffer, 1-byte, 7-byte and 333-byte pieces through the
streaming API) and several option sets, plus the reader's raw events.

Run as ``python tests/translators/x12_snapshot.py [OUT]`` (what the test does in a subprocess
with the pure-Python import hook); ``snapshot()`` returns the same lines in-process.
"""

from __future__ import annotations

import datetime as _dt
import random
from collections.abc import Iterator
from pathlib import Path

from x12_helpers import X12_CORPUS, feed, summarise

from translators.errors import RemoteSyntaxError
from translators.options import ControlNumbers, TranslatorOptions
from translators.result import Acknowledgment, TranslatedDocument
from translators.x12 import iter_translate_x12, translate_x12

ACK_DATA = Path(__file__).resolve().parent / "data" / "x12_acks"

OPTION_SETS: dict[str, TranslatorOptions] = {
    "default": TranslatorOptions(),
    "strict999": TranslatorOptions(
        strict=True,
        x12_ack="999",
        ta1="always",
        now=_dt.datetime(2026, 3, 4, 5, 6, tzinfo=_dt.UTC),
        control_numbers=ControlNumbers(interchange=42, group=7, transaction=9),
        our_ids=("ZZ", "EDIGATE"),
    ),
    "syntax": TranslatorOptions(map_business=False, functional_ack="on_error", reject_unmapped=True),
}


def corpus_files() -> list[Path]:
    """The inputs: the shared corpus plus the ack test data, sorted for a stable order."""
    files = sorted(p for p in X12_CORPUS.iterdir() if p.is_file())
    if ACK_DATA.is_dir():
        files += sorted(p for p in ACK_DATA.rglob("*") if p.is_file())
    return files


def mutations(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """The file itself and five deterministic mutations (seeded by its name)."""
    yield "orig", data
    if len(data) < 4:
        return
    rng = random.Random(name)
    pos = rng.randrange(len(data))
    yield f"drop@{pos}", data[:pos] + data[pos + 1 :]
    pos = rng.randrange(len(data))
    yield f"sub@{pos}", data[:pos] + bytes([rng.choice(b"*~:^|AZ09 \n")]) + data[pos + 1 :]
    yield "trunc", data[: len(data) * 2 // 3]
    # Segment-level edits, on the terminator ISA106 declares (when there is an ISA at all).
    term = data[105:106] if data[:3] == b"ISA" and len(data) > 106 else b"~"
    segs = data.split(term)
    if len(segs) > 4:
        i = rng.randrange(2, len(segs) - 2)
        yield f"dup#{i}", term.join([*segs[: i + 1], segs[i], *segs[i + 1 :]])
        yield f"del#{i}", term.join(segs[:i] + segs[i + 1 :])


def render(item: object) -> str:
    """One translator output as text that differs whenever anything observable differs."""
    if isinstance(item, TranslatedDocument):
        return (
            f"DOC {item.document_type} {item.schema_version} {item.transaction_set} "
            f"{item.envelope!r} {item.document!r} ext={item.extensions!r} warn={item.warnings!r}"
        )
    if isinstance(item, Acknowledgment):
        return f"ACK {item.kind} {item.accepted} {item.answers!r} {item.payload!r}"
    if isinstance(item, RemoteSyntaxError):
        return f"ERR {type(item).__name__} {item.ack_hint!r} {item.scope} {item.location!r} {item!s}"
    raise AssertionError(f"unexpected item {item!r}")


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def snapshot_case(label: str, data: bytes, *, chunkings: tuple[int, ...]) -> Iterator[str]:
    """Lines for one input: reader events, then every option set whole and streamed."""
    for chunk in chunkings:
        for event in feed(data, chunk):
            yield f"{label} reader/{chunk} {summarise(event)!r}"
    for opt_name, options in OPTION_SETS.items():
        result = translate_x12(data, options)
        yield f"{label} {opt_name} whole rejected={result.rejected}"
        for item in (*result.documents, *result.acks, *result.errors):
            yield f"{label} {opt_name} whole {render(item)}"
        for chunk in chunkings:
            for item in iter_translate_x12(_pieces(data, chunk), options):
                yield f"{label} {opt_name} iter/{chunk} {render(item)}"


def snapshot() -> list[str]:
    """Every line, over every corpus file and mutation."""
    lines: list[str] = []
    for path in corpus_files():
        data = path.read_bytes()
        for mutation, mutated in mutations(path.name, data):
            # Byte-at-a-time on the originals only: it is the slowest feeding and the edge it
            # probes (a delimiter split from its segment) does not depend on the mutation.
            chunkings = (1, 7, 333) if mutation == "orig" else (7, 333)
            lines.extend(snapshot_case(f"{path.name}:{mutation}", mutated, chunkings=chunkings))
    return lines


if __name__ == "__main__":
    from native_build import write_lines

    write_lines(snapshot())
