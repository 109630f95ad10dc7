"""Read CSV and fixed-width files into canonical documents.

Strategy: split the text into records (CSV rows, fixed-width lines), pick
each record's type, convert its fields, and let
:class:`~translators.flatfile.records.DocumentBuilder` nest them.  Every
problem in the partner's file is a :class:`RemoteSyntaxError` that names
the line (and the field): an unknown record tag, a child before its
parent, a value that is not a number or a date.
"""

from __future__ import annotations

import csv
import io

from ..errors import Location, RemoteSyntaxError
from ..options import TranslatorOptions
from ..result import Translation
from .layout import CsvLayout, FieldSpec, FixedLayout, FlatLayout, RecordSpec
from .records import DocumentBuilder, decode
from .values import parse_value


def read_flat(data: bytes, layout: FlatLayout, options: TranslatorOptions | None = None) -> Translation:
    """Translate one flat file through a layout.

    Args:
        data: the raw bytes.
        layout: the partner's CSV or fixed-width layout.
        options: policy (only ``max_interchange_bytes`` applies to flat files).

    Returns:
        The documents and the per-document problems.

    Raises:
        RemoteSyntaxError: the file does not fit the layout.
    """
    opts = options or TranslatorOptions()
    if len(data) > opts.max_interchange_bytes:
        raise RemoteSyntaxError(
            f"file of {len(data)} bytes exceeds the limit of {opts.max_interchange_bytes}",
            scope="interchange",
        )
    text = decode(data, layout.encoding)
    if isinstance(layout, CsvLayout):
        return _read_csv(text, layout)
    return _read_fixed(text, layout)


def _convert(spec: FieldSpec, raw: str, line: int, record: RecordSpec) -> str | int | None:
    try:
        return parse_value(raw, spec.type, fmt=spec.format, implied_decimals=spec.implied_decimals)
    except ValueError as exc:
        raise RemoteSyntaxError(
            f"line {line}, {record.name} field {spec.path}: {exc}",
            scope="interchange",
            location=Location(segment_tag=record.name, segment_position=line),
        ) from None


# -- fixed width ------------------------------------------------------------------


def _read_fixed(text: str, layout: FixedLayout) -> Translation:
    builder = DocumentBuilder(layout.records, layout.document_type, "fixed")
    by_tag = sorted(layout.records, key=lambda r: len(r.tag or ""), reverse=True)
    offset = layout.tag_start - 1
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        record = next((r for r in by_tag if r.tag and line[offset : offset + len(r.tag)] == r.tag), None)
        if record is None:
            known = ", ".join(r.tag or "" for r in layout.records)
            raise RemoteSyntaxError(
                f"line {number}: unknown record type {line[offset : offset + 6].strip()!r} "
                f"(layout knows {known})",
                scope="interchange",
                location=Location(segment_position=number),
            )
        values = [
            (spec, None if spec.value is not None else _convert(spec, _slice(line, spec), number, record))
            for spec in record.fields
        ]
        builder.add(record, values, line=number)
    return builder.finish()


def _slice(line: str, spec: FieldSpec) -> str:
    start = (spec.start or 1) - 1
    return line[start : start + (spec.length or 0)]


# -- CSV ----------------------------------------------------------------------------


def _read_csv(text: str, layout: CsvLayout) -> Translation:
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=layout.delimiter, quotechar=layout.quotechar, strict=True
    )
    builder = DocumentBuilder(layout.records, layout.document_type, "csv")
    names: dict[str, int] = {}
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            # line_num counts physical lines, so a quoted field spanning lines keeps numbers true
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise RemoteSyntaxError(
            f"line {reader.line_num}: not valid CSV: {exc}",
            scope="interchange",
            location=Location(segment_position=reader.line_num),
        ) from None
    first = True
    for number, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if first and layout.header_row:
            names = {cell.strip(): i for i, cell in enumerate(row)}
            missing = _missing_names(layout, names)
            if missing:
                raise RemoteSyntaxError(
                    f"line {number}: header row lacks column(s) {', '.join(missing)}",
                    scope="interchange",
                    location=Location(segment_position=number),
                )
            first = False
            continue
        first = False
        if layout.record_column is not None:
            tag = _cell(row, layout.record_column - 1).strip()
            record = next((r for r in layout.records if r.tag == tag), None)
            if record is None:
                raise RemoteSyntaxError(
                    f"line {number}: unknown record type {tag!r}",
                    scope="interchange",
                    location=Location(segment_position=number),
                )
            builder.add(record, _values(record, row, names, number), line=number)
            continue
        key = tuple(_cell(row, _index(g, names)) for g in layout.group_by)
        for record in layout.records:
            if record.parent is None:
                if layout.group_by and builder.last_key == key:
                    continue  # same document: its header fields came with its first row
                builder.add(record, _values(record, row, names, number), line=number, key=key)
            else:
                builder.add(record, _values(record, row, names, number), line=number)
    return builder.finish()


def _missing_names(layout: CsvLayout, names: dict[str, int]) -> list[str]:
    wanted = [s.name for r in layout.records for s in r.fields if s.name is not None and s.value is None]
    wanted += [g for g in layout.group_by if isinstance(g, str)]
    return sorted({w for w in wanted if w not in names})


def _index(ref: int | str, names: dict[str, int]) -> int:
    return ref - 1 if isinstance(ref, int) else names[ref]


def _cell(row: list[str], index: int) -> str:
    return row[index] if index < len(row) else ""


def _values(
    record: RecordSpec, row: list[str], names: dict[str, int], line: int
) -> list[tuple[FieldSpec, str | int | None]]:
    out: list[tuple[FieldSpec, str | int | None]] = []
    for spec in record.fields:
        if spec.value is not None:
            out.append((spec, None))
            continue
        index = spec.column - 1 if spec.column is not None else names[spec.name or ""]
        out.append((spec, _convert(spec, _cell(row, index), line, record)))
    return out


__all__ = ["read_flat"]
