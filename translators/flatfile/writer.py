"""Render canonical documents as CSV or fixed-width files (outbound).

The layout that reads a partner's file writes it: each record type is
emitted for its parent's object (or for each element of its
``collection``), children after their parent, in layout order.  Constant
fields select which list elements a record writes.  A value that does not
fit (too long for its positions, more decimals than the field holds, not a
date) raises :class:`LocalTranslationError`: we never send a truncated or
rounded value.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

from ..errors import LocalTranslationError
from .layout import CsvLayout, FieldSpec, FixedLayout, FlatLayout, RecordSpec
from .paths import get_path
from .values import format_value

Doc = Mapping[str, Any]


def render_flat(documents: Sequence[Doc], layout: FlatLayout) -> bytes:
    """Render documents through a layout.

    Args:
        documents: canonical documents (JSON-compatible dicts) of the layout's type.
        layout: the partner's CSV or fixed-width layout.

    Returns:
        The file's bytes in the layout's encoding.

    Raises:
        LocalTranslationError: a document cannot be written in this layout.
    """
    if isinstance(layout, CsvLayout):
        text = _render_csv(documents, layout)
    else:
        text = "".join(
            _fixed_line(rec, obj, layout) + layout.line_terminator for rec, obj in _walk(documents, layout)
        )
    try:
        return text.encode(layout.encoding)
    except UnicodeEncodeError as exc:
        raise LocalTranslationError(
            f"character {exc.object[exc.start]!r} cannot be written in {layout.encoding}"
        ) from None


def _children(layout: FlatLayout, name: str | None) -> list[RecordSpec]:
    return [r for r in layout.records if r.parent == name]


def _selects(record: RecordSpec, element: Any) -> bool:
    return isinstance(element, Mapping) and all(
        str(get_path(dict(element), s.path)) == s.value for s in record.fields if s.value is not None
    )


def _has_values(record: RecordSpec, obj: Doc) -> bool:
    return any(s.value is None and get_path(dict(obj), s.path) is not None for s in record.fields)


def _walk(documents: Sequence[Doc], layout: FlatLayout) -> Iterator[tuple[RecordSpec, Doc]]:
    for doc in documents:
        for root in _children(layout, None):
            yield from _emit(root, doc, layout)


def _emit(record: RecordSpec, obj: Doc, layout: FlatLayout) -> Iterator[tuple[RecordSpec, Doc]]:
    yield record, obj
    children = _children(layout, record.name)
    by_collection: dict[str, list[RecordSpec]] = {}
    for child in children:
        if child.collection is not None:
            by_collection.setdefault(child.collection, []).append(child)
    done: set[str] = set()
    for child in children:
        if child.collection is None:
            if _has_values(child, obj):
                yield from _emit(child, obj, layout)
            continue
        if child.collection in done:
            continue
        done.add(child.collection)
        elements = get_path(dict(obj), child.collection) or []
        if not isinstance(elements, list):
            raise LocalTranslationError(f"{child.collection!r} is not a list")
        for position, element in enumerate(elements):
            writer = next((r for r in by_collection[child.collection] if _selects(r, element)), None)
            if writer is None:
                raise LocalTranslationError(
                    f"{child.collection}[{position}] fits none of the records "
                    f"{', '.join(r.name for r in by_collection[child.collection])}"
                )
            yield from _emit(writer, element, layout)


def _text(spec: FieldSpec, obj: Doc, record: RecordSpec) -> str | None:
    value = spec.value if spec.value is not None else get_path(dict(obj), spec.path)
    if value is None:
        return None
    try:
        return format_value(
            value, spec.type, fmt=spec.format, implied_decimals=spec.implied_decimals, decimals=spec.decimals
        )
    except ValueError as exc:
        raise LocalTranslationError(f"record {record.name} field {spec.path}: {exc}") from None


# -- fixed width ------------------------------------------------------------------


def _fixed_line(record: RecordSpec, obj: Doc, layout: FixedLayout) -> str:
    tag = record.tag or ""
    ends = [layout.tag_start - 1 + len(tag)] + [(s.start or 1) - 1 + (s.length or 0) for s in record.fields]
    width = max([*ends, layout.record_length or 0])
    buf = [" "] * width
    tag_at = layout.tag_start - 1
    buf[tag_at : tag_at + len(tag)] = tag
    for spec in record.fields:
        if spec.start is None or spec.length is None:
            continue  # a constant with no position only selects
        text = _text(spec, obj, record)
        if text is None:
            continue
        cell = _pad(text, spec)
        if len(cell) > spec.length:
            raise LocalTranslationError(
                f"record {record.name} field {spec.path}: {text!r} is longer than {spec.length} characters"
            )
        buf[spec.start - 1 : spec.start - 1 + spec.length] = cell
    line = "".join(buf)
    return line if layout.record_length else line.rstrip(" ")


def _pad(text: str, spec: FieldSpec) -> str:
    length = spec.length or len(text)
    numeric = spec.type in ("decimal", "integer")
    align = spec.align or ("right" if numeric else "left")
    pad = spec.pad or ("0" if numeric and align == "right" else " ")
    if align == "left":
        return text.ljust(length, pad)
    if pad == "0" and text.startswith("-"):
        return "-" + text[1:].rjust(length - 1, "0")  # the sign leads the zeros, as COBOL writes it
    return text.rjust(length, pad)


# -- CSV ----------------------------------------------------------------------------


def _columns(layout: CsvLayout) -> tuple[dict[str, int], int]:
    names: dict[str, int] = {}
    width = layout.record_column or 0
    for record in layout.records:
        for spec in record.fields:
            if spec.name is not None and spec.name not in names:
                names[spec.name] = len(names)
            if spec.column is not None:
                width = max(width, spec.column)
    return names, max(width, len(names))


def _render_csv(documents: Sequence[Doc], layout: CsvLayout) -> str:
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_MINIMAL
    if layout.quoting == "all":
        quoting = csv.QUOTE_ALL
    elif layout.quoting == "none":
        quoting = csv.QUOTE_NONE
    out = io.StringIO()
    writer = csv.writer(
        out,
        delimiter=layout.delimiter,
        quotechar=layout.quotechar,
        lineterminator=layout.line_terminator,
        quoting=quoting,
        escapechar="\\" if quoting == csv.QUOTE_NONE else None,
    )
    names, width = _columns(layout)
    if layout.header_row:
        writer.writerow(list(names))
    if layout.record_column is not None:
        for record, obj in _walk(documents, layout):
            row = [""] * width
            row[layout.record_column - 1] = record.tag or ""
            _fill(row, record, obj, names)
            writer.writerow(row)
        return out.getvalue()
    root = _children(layout, None)[0]
    children = _children(layout, root.name)
    for doc in documents:
        header = [""] * width
        _fill(header, root, doc, names)
        for child in children:
            if child.collection is None:
                _fill(header, child, doc, names)
        lines = [c for c in children if c.collection is not None]
        rows = 0
        for child in lines:
            for element in get_path(dict(doc), child.collection or "") or []:
                row = list(header)
                _fill(row, child, element, names)
                writer.writerow(row)
                rows += 1
        if rows == 0:
            writer.writerow(header)
    return out.getvalue()


def _fill(row: list[str], record: RecordSpec, obj: Doc, names: dict[str, int]) -> None:
    for spec in record.fields:
        if spec.column is None and spec.name is None:
            continue
        text = _text(spec, obj, record)
        if text is not None:
            row[spec.column - 1 if spec.column is not None else names[spec.name or ""]] = text


__all__ = ["render_flat"]
