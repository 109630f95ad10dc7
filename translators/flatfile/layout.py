"""Declarative layouts of flat files (CSV and fixed width).

A layout is plain, frozen data: the partner profile builds it from TOML and
the reader/writer interpret it.  One model serves both directions, so a
layout that reads a partner's file also writes the same file.

The model: a file is a sequence of *records* (lines / rows).  Each record
type names its ``parent`` record type; a record without a parent starts a
new canonical document.  A child record either appends a new element to a
list (``collection``, e.g. ``lines``) of its parent's object, or, without a
collection, writes its fields into the parent's object itself (a trailer
record carrying totals).  Fields map one column or position range to a
canonical field path such as ``order_number``, ``product.gtin`` or
``parties[role=BY].id`` (see :mod:`translators.flatfile.paths`).

A field with a constant ``value`` sets that value on read and, on write,
selects which list elements the record writes (the ``HALA`` record writes
only allowances whose ``indicator`` is ``A``).

Positions and columns are 1-based, as partners' specifications count them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .paths import PathError, parse_path

FieldType = Literal["string", "decimal", "integer", "date", "time"]
Align = Literal["left", "right"]
Quoting = Literal["minimal", "all", "none"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldSpec:
    """One column (CSV) or position range (fixed width) and where it goes.

    Attributes:
        path: canonical field path relative to the record's object.
        column: CSV column, 1-based.
        name: CSV column by header name (needs a header row).
        start: fixed-width start position, 1-based.
        length: fixed-width length in characters.
        type: how the text is converted.
        format: ``strftime`` format of a date or time field (``%Y%m%d``).
        implied_decimals: digits after an implied decimal point (``12345`` → ``123.45``).
        decimals: digits written after an explicit point on output (fixed width).
        value: constant; set on read, matched on write.
        align: fixed-width alignment on output (numbers right, text left by default).
        pad: fixed-width pad character on output (``0`` for right-aligned numbers by default).
    """

    path: str
    column: int | None = None
    name: str | None = None
    start: int | None = None
    length: int | None = None
    type: FieldType = "string"
    format: str | None = None
    implied_decimals: int = 0
    decimals: int | None = None
    value: str | None = None
    align: Align | None = None
    pad: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordSpec:
    """One record type of a flat file.

    Attributes:
        name: the record type's name (used by children's ``parent``).
        tag: discriminator: CSV value of the record column, fixed-width text at ``tag_start``.
        parent: name of the parent record type; None starts a new document.
        collection: list path in the parent's object that gets one new element per record.
        fields: the record's fields.
    """

    name: str
    tag: str | None = None
    parent: str | None = None
    collection: str | None = None
    fields: tuple[FieldSpec, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CsvLayout:
    """A delimited file.

    Without ``record_column`` every row is read through every record type in
    order (a denormalised export: header fields repeated on each line); a
    new document starts when the ``group_by`` columns change.  With
    ``record_column`` the value in that column picks the record type.

    Attributes:
        document_type: canonical document name (``purchase_order``).
        delimiter / quotechar: CSV dialect.
        header_row: the first row names the columns (skipped on read, written on output).
        encoding: text encoding of the file.
        record_column: 1-based column holding the record tag, or None.
        group_by: columns (numbers or header names) whose change starts a new document.
        records: record types, parents before children.
        line_terminator: written between rows on output.
        quoting: output quoting.
    """

    document_type: str
    records: tuple[RecordSpec, ...]
    delimiter: str = ","
    quotechar: str = '"'
    header_row: bool = False
    encoding: str = "utf-8"
    record_column: int | None = None
    group_by: tuple[int | str, ...] = ()
    line_terminator: str = "\r\n"
    quoting: Quoting = "minimal"
    format: Literal["csv"] = field(default="csv", init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class FixedLayout:
    """A fixed-width file: one record per line, the record type at ``tag_start``.

    Attributes:
        document_type: canonical document name.
        records: record types, parents before children; tags are matched as
            prefixes at ``tag_start``, longest first.
        encoding: text encoding of the file.
        tag_start: 1-based position of the record tag.
        record_length: pad each written record to this length.
        line_terminator: written after each record on output.
    """

    document_type: str
    records: tuple[RecordSpec, ...]
    encoding: str = "utf-8"
    tag_start: int = 1
    record_length: int | None = None
    line_terminator: str = "\n"
    format: Literal["fixed"] = field(default="fixed", init=False)


FlatLayout = CsvLayout | FixedLayout


def layout_problems(layout: FlatLayout) -> list[str]:
    """Check a layout's internal consistency.

    Args:
        layout: the layout to check.

    Returns:
        Every problem found, in words (empty when the layout is usable).
    """
    problems: list[str] = []
    names = [r.name for r in layout.records]
    seen: set[str] = set()
    roots = [r for r in layout.records if r.parent is None]
    if not roots:
        problems.append("no record without a parent: nothing would start a document")
    for record in layout.records:
        if record.name in seen:
            problems.append(f"record {record.name!r} is defined twice")
        if record.parent is not None and record.parent not in seen:
            if record.parent in names:
                problems.append(f"record {record.name!r} is listed before its parent {record.parent!r}")
            else:
                problems.append(f"record {record.name!r} has unknown parent {record.parent!r}")
        seen.add(record.name)
        if record.collection is not None:
            try:
                steps = parse_path(record.collection)
            except PathError as exc:
                problems.append(f"record {record.name!r}: {exc}")
            else:
                if steps[-1].index is not None or steps[-1].match:
                    problems.append(f"record {record.name!r}: a collection path ends with a list name")
        for spec in record.fields:
            problems += _field_problems(layout, record, spec)
    if isinstance(layout, FixedLayout):
        tags = [r.tag for r in layout.records]
        if any(t is None or t == "" for t in tags):
            problems.append("every fixed-width record needs a tag")
        if len(set(tags)) != len(tags):
            problems.append("two fixed-width records share a tag")
    else:
        if layout.record_column is None:
            if len(roots) > 1:
                problems.append("without record_column only one record may start a document")
            root = roots[0].name if roots else None
            if sum(1 for r in layout.records if r.collection is not None) > 1:
                problems.append("without record_column only one record may have a collection")
            for record in layout.records:
                if record.parent is not None and record.parent != root:
                    problems.append(
                        f"record {record.name!r}: without record_column records nest one level only"
                    )
        elif any(r.tag is None for r in layout.records):
            problems.append("with record_column every record needs a tag")
        if len(layout.delimiter) != 1:
            problems.append("delimiter must be one character")
        if len(layout.quotechar) != 1:
            problems.append("quotechar must be one character")
        specs = [s for r in layout.records for s in r.fields]
        if any(s.name for s in specs) and any(s.column for s in specs):
            problems.append("use column numbers or column names, not both")
        if any(isinstance(g, str) for g in layout.group_by) and not layout.header_row:
            problems.append("group_by by column name needs header_row = true")
    return problems


def _field_problems(layout: FlatLayout, record: RecordSpec, spec: FieldSpec) -> list[str]:
    where = f"record {record.name!r} field {spec.path!r}"
    problems: list[str] = []
    try:
        steps = parse_path(spec.path)
    except PathError as exc:
        problems.append(f"{where}: {exc}")
    else:
        if steps[-1].index is None and steps[-1].match:
            problems.append(f"{where}: a [key=value] selector needs a field after it")
    if spec.type in ("date", "time") and not spec.format:
        problems.append(f"{where}: a {spec.type} field needs a format such as %Y%m%d")
    if spec.pad is not None and len(spec.pad) != 1:
        problems.append(f"{where}: pad must be one character")
    if spec.value is not None:
        return problems  # a constant needs no source column
    if isinstance(layout, FixedLayout):
        if spec.start is None or spec.length is None:
            problems.append(f"{where}: fixed-width fields need start and length")
        elif spec.start < 1 or spec.length < 1:
            problems.append(f"{where}: start and length count from 1")
    else:
        if (spec.column is None) == (spec.name is None):
            problems.append(f"{where}: give exactly one of column or name")
        if spec.name is not None and not layout.header_row:
            problems.append(f"{where}: a column name needs header_row = true")
        if spec.column is not None and spec.column < 1:
            problems.append(f"{where}: columns count from 1")
    return problems


__all__ = [
    "Align",
    "CsvLayout",
    "FieldSpec",
    "FieldType",
    "FixedLayout",
    "FlatLayout",
    "Quoting",
    "RecordSpec",
    "layout_problems",
]
