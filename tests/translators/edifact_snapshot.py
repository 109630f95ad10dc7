"""A deterministic text snapshot of what the EDIFACT translator produces, for compiled-vs-pure checks.

The mypyc-compiled EDIFACT modules must behave exactly like their ``.py`` sources: same documents
(key order and value types included, and the gateway's orjson bytes), same CONTRL acks byte for
byte, same errors with the same codes, scopes and locations, same reader events, same outbound
segments from the maps.  This module renders all of that as lines of text over the shared corpus
plus two generated ORDERS interchanges (one repeating segments, one where none repeats), a few
deterministic mutations of each (line-break styles, a hard wrap, truncation, a byte outside the
repertoire, release characters, a decimal comma, a duplicated BGM, a bad quantity, syntax 4),
several chunkings (whole buffer, 1-, 7- and 4096-byte pieces through the streaming API, with and
without ``hold_documents``) and several option sets.

Run as ``python tests/translators/edifact_snapshot.py [OUT]`` (what the test does in a subprocess
with the pure-Python import hook); ``snapshot()`` returns the same lines in-process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import orjson

from translators.edifact import NEED_DATA, EdifactReader, iter_translate_edifact, translate_edifact
from translators.edifact import maps as edifact_maps
from translators.errors import LocalTranslationError, RemoteSyntaxError
from translators.options import TranslatorOptions

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "edifact"

_MAPPED = ("ORDERS", "INVOIC", "DESADV", "ORDRSP", "RECADV", "IFTSTA", "INVRPT", "IFTMIN")

OPTION_SETS: dict[str, TranslatorOptions] = {
    "default": TranslatorOptions(),
    "syntax": TranslatorOptions(map_business=False),
    "strict": TranslatorOptions(strict=True, functional_ack="on_error"),
    "lenient": TranslatorOptions(lenient_charset=True, reject_unmapped=True, functional_ack="never"),
    "partner": TranslatorOptions(
        map_options={
            name: {
                "product_id_preference": ["SA", "EN"],
                "product_id_types": {"SA": "gtin"},
                "date_formats": {"102": "203"},
                "unit_codes": {"PCE": "EA"},
                "store_number_reference": "CT",
            }
            for name in _MAPPED
        }
    ),
}


def _orders(n: int, *, unique: bool) -> list[str]:
    ref = f"M{n:07d}"
    tail = f" {n}" if unique else ""
    segs = [
        f"UNH+{ref}+ORDERS:D:96A:UN:EAN008",
        f"BGM+220+PO{n:08d}+9",
        f"DTM+137:202401{n % 28 + 1:02d}:102" if unique else "DTM+137:20240115:102",
        "DTM+64:202401200800:203",
        f"FTX+DEL+++DOCK 5?+6?: CALL AHEAD?'S OK{tail}",
        f"RFF+CT:CONTRACT{n % 97}",
        f"NAD+BY+541234500001{n % 10 if unique else 3}::9",
        f"CTA+PD+:JOHN SMITH{tail}",
        "COM+0032123456789:TE",
        "CUX+2:EUR:9",
    ]
    for line in range(1, 4):
        segs += [
            f"LIN+{line}++{5400000000000 + n * 10 + line}:EN",
            f"PIA+1+SKU{line:04d}{tail}:SA",
            f"IMD+F++:::ITEM DESCRIPTION {line}{tail}",
            f"QTY+21:{line * 12}:PCE",
            f"PRI+AAA:{line}.95",
        ]
    segs += ["UNS+S", "CNT+2:3"]
    segs.append(f"UNT+{len(segs) + 1}+{ref}")
    return segs


def generated(messages: int, *, unique: bool) -> bytes:
    """A small ORDERS interchange, one segment per line (the bench file's shape)."""
    out = ["UNA:+.? '", "UNB+UNOC:3+5412345000013:14+4012345500004:14+240115:1200+1"]
    for n in range(messages):
        out.extend(_orders(n, unique=unique))
    out.append(f"UNZ+{messages}+1")
    return (out[0] + "\n" + "'\n".join(out[1:]) + "'\n").encode("latin-1")


def inputs() -> list[tuple[str, bytes]]:
    """The corpus files (sorted) and the generated interchanges."""
    files = [(p.name, p.read_bytes()) for p in sorted(CORPUS.iterdir()) if p.is_file()]
    return [*files, ("generated", generated(4, unique=False)), ("unique", generated(4, unique=True))]


def mutations(data: bytes) -> Iterator[tuple[str, bytes]]:
    """The file itself and deterministic mutations aimed at the reader's and the maps' branches."""
    yield "orig", data
    lf = data.replace(b"\r\n", b"\n")
    yield "crlf", lf.replace(b"'\n", b"'\r\n")
    yield "nolines", lf.replace(b"'\n", b"'")
    yield "hardwrap", data[: len(data) // 2] + b"\n" + data[len(data) // 2 :]
    yield "trunc", data[: len(data) * 7 // 10]
    yield "byte", data[: len(data) // 3] + b"\xe9#" + data[len(data) // 3 + 2 :]
    yield "release", data.replace(b"+9'", b"+9?+X'", 3).replace(b"ITEM", b"IT?:EM", 2)
    yield "comma", data.replace(b"UNA:+.? '", b"UNA:+,? '")
    yield "dupbgm", data.replace(b"BGM+", b"BGM+220+X'BGM+", 1)
    yield "badqty", data.replace(b"QTY+21:", b"QTY+21:1A", 1)
    yield "syntax4", data.replace(b"UNOC:3", b"UNOC:4").replace(b"UNOA:3", b"UNOA:4")
    yield "padded", b"\n\n" + data + b"\n\x1a"


def plain(value: object) -> object:
    """Any translator value as plain data, field by field (compiled classes have no other repr)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, RemoteSyntaxError):
        return {
            "error": str(value),
            "hint": value.ack_hint,
            "scope": value.scope,
            "at": plain(value.location),
        }
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    if isinstance(value, list | tuple):
        return [type(value).__name__, *[plain(v) for v in value]]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return f"{type(value).__name__}:{value!r}"


def _ascii(text: str) -> str:
    # Decoded partner text holds characters str.splitlines() breaks on (NEL U+0085, IS1-IS4):
    # escaped, one value stays one line when the subprocess's snapshot is read back.
    return text.encode("ascii", "backslashreplace").decode("ascii")


def line(label: str, value: object) -> str:
    """One value as one ASCII line; key order kept (it is observable in the documents)."""
    return f"{label} {_ascii(orjson.dumps(plain(value)).decode())}"


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _events(data: bytes, size: int) -> Iterator[object]:
    reader = EdifactReader(TranslatorOptions())
    try:
        for piece in [*_pieces(data, size), b""]:
            reader.receive_data(piece)
            while (event := reader.next_event()) is not NEED_DATA:
                yield event
    except RemoteSyntaxError as exc:
        yield exc


def snapshot_case(label: str, data: bytes, *, byte_by_byte: bool) -> Iterator[str]:
    """Lines for one input: reader events, then every option set whole and streamed."""
    for size in (1, 4096) if byte_by_byte else (4096,):
        for event in _events(data, size):
            yield line(f"{label} events/{size}", event)
    for name, options in OPTION_SETS.items():
        result = translate_edifact(data, options)
        yield line(f"{label} {name} whole", {"rejected": result.rejected})
        for item in (*result.documents, *result.acks, *result.errors):
            yield line(f"{label} {name} whole", item)
        for doc in result.documents:
            # the bytes the gateway journals and ships
            gateway_json = orjson.dumps(doc.document, option=orjson.OPT_SORT_KEYS, default=str)
            yield f"{label} {name} json {_ascii(gateway_json.decode())}"
            if doc.document_type in edifact_maps.OUTBOUND_MESSAGES:
                try:
                    segments: object = edifact_maps.from_canonical(
                        doc.document_type, doc.document, control="1", options=options
                    )
                except LocalTranslationError as exc:
                    segments = f"LocalTranslationError: {exc}"
                yield line(f"{label} {name} outbound", segments)
        if name in ("default", "syntax"):
            for size in (7, 4096):
                for item in iter_translate_edifact(_pieces(data, size), options):
                    yield line(f"{label} {name} iter/{size}", item)
            for item in iter_translate_edifact(_pieces(data, 13), options, hold_documents=False):
                yield line(f"{label} {name} iter/13 released", item)


def snapshot() -> list[str]:
    """Every line, over every input and mutation."""
    lines: list[str] = []
    for name, data in inputs():
        for mutation, mutated in mutations(data):
            # Byte-at-a-time on the originals only: it is the slowest feeding.
            lines.extend(snapshot_case(f"{name}:{mutation}", mutated, byte_by_byte=mutation == "orig"))
    return lines


if __name__ == "__main__":
    from native_build import write_lines

    write_lines(snapshot())
