"""Read partner XML into canonical documents through a layout.

Each element ``document_xpath`` selects becomes one document: its fields
are read with XPath relative to it, its ``nodes`` append one list element
per selected child element.  Values are converted as in flat files.  A
document that does not validate against its canonical model is reported
(scope ``transaction``) and its siblings still go through.
"""

from __future__ import annotations

import math
from typing import Any

from lxml import etree
from pydantic import ValidationError

from ..errors import LocalTranslationError, Location, RemoteSyntaxError
from ..flatfile.paths import PathError, append_to, set_path
from ..flatfile.values import parse_value
from ..models import DOCUMENT_MODELS, SCHEMA_VERSIONS
from ..options import TranslatorOptions
from ..result import Envelope, TranslatedDocument, Translation
from .layout import XmlField, XmlLayout, XmlNode
from .parser import parse_xml
from .xpaths import qname


def read_xml(data: bytes, layout: XmlLayout, options: TranslatorOptions | None = None) -> Translation:
    """Translate one XML file through a layout.

    Args:
        data: the raw bytes.
        layout: the partner's XML layout.
        options: policy (only ``max_interchange_bytes`` applies).

    Returns:
        The documents and the per-document problems.

    Raises:
        RemoteSyntaxError: the bytes are not safe, well-formed XML of the layout's root element.
    """
    opts = options or TranslatorOptions()
    if len(data) > opts.max_interchange_bytes:
        raise RemoteSyntaxError(
            f"file of {len(data)} bytes exceeds the limit of {opts.max_interchange_bytes}",
            scope="interchange",
        )
    root = parse_xml(data)
    try:
        expected = qname(layout.root, layout.namespaces)
    except KeyError:
        raise LocalTranslationError(f"layout root {layout.root!r} uses an undeclared prefix") from None
    if root.tag != expected:
        raise RemoteSyntaxError(
            f"root element is {root.tag!r}, the layout reads {expected!r}", scope="interchange"
        )
    elements = _select(root, layout.document_xpath, layout.namespaces)
    if not elements:
        raise RemoteSyntaxError(f"no document element at {layout.document_xpath!r}", scope="interchange")
    model = DOCUMENT_MODELS[layout.document_type]
    documents: list[TranslatedDocument] = []
    errors: list[RemoteSyntaxError] = []
    for number, element in enumerate(elements, start=1):
        obj: dict[str, Any] = {}
        _fill(obj, element, layout.fields, layout.nodes, layout.namespaces)
        try:
            model.model_validate(obj)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "document"
            errors.append(
                RemoteSyntaxError(
                    f"document {number} (line {element.sourceline}): {where}: {first['msg']}",
                    scope="transaction",
                    location=Location(transaction=str(number), segment_position=element.sourceline),
                )
            )
            continue
        # Document-level ``extensions.*`` fields travel beside the document, as in the EDI maps.
        extensions = obj.pop("extensions", None) or {}
        documents.append(
            TranslatedDocument(
                document_type=layout.document_type,
                schema_version=SCHEMA_VERSIONS[layout.document_type],
                document=obj,
                extensions=extensions,
                envelope=Envelope(standard="xml", transaction_control=str(number)),
                transaction_set="xml",
            )
        )
    if not documents:
        raise RemoteSyntaxError(f"no document in the file is valid: {errors[0]}", scope="interchange")
    return Translation(standard="xml", documents=tuple(documents), errors=tuple(errors))


def _select(element: etree._Element, expr: str, namespaces: dict[str, str]) -> list[etree._Element]:
    try:
        found = element.xpath(expr, namespaces=namespaces)
    except etree.XPathError as exc:
        raise LocalTranslationError(f"layout XPath {expr!r}: {exc}") from None
    if not isinstance(found, list):
        return []
    return [e for e in found if isinstance(e, etree._Element)]


def _text(element: etree._Element, expr: str, namespaces: dict[str, str]) -> str | None:
    try:
        found = element.xpath(expr, namespaces=namespaces)
    except etree.XPathError as exc:
        raise LocalTranslationError(f"layout XPath {expr!r}: {exc}") from None
    if isinstance(found, list):
        if not found:
            return None
        found = found[0]
    if isinstance(found, etree._Element):
        return "".join(found.itertext())
    if isinstance(found, bool):
        return None  # a boolean test is not a value
    if isinstance(found, float):
        return None if math.isnan(found) else format(found, "g")  # NaN: nothing matched
    return str(found)


def _fill(
    obj: dict[str, Any],
    element: etree._Element,
    fields: tuple[XmlField, ...],
    nodes: tuple[XmlNode, ...],
    namespaces: dict[str, str],
) -> None:
    for spec in fields:
        if spec.value is not None:
            value: str | int | None = spec.value
        elif spec.xpath is None:
            continue
        else:
            raw = _text(element, spec.xpath, namespaces)
            try:
                value = (
                    None
                    if raw is None
                    else parse_value(raw, spec.type, fmt=spec.format, implied_decimals=spec.implied_decimals)
                )
            except ValueError as exc:
                raise RemoteSyntaxError(
                    f"line {element.sourceline}, {spec.xpath}: {exc}",
                    scope="interchange",
                    location=Location(segment_tag=spec.xpath, segment_position=element.sourceline),
                ) from None
        if value is None:
            continue
        try:
            set_path(obj, spec.path, value)
        except PathError as exc:
            raise LocalTranslationError(f"layout field {spec.path!r}: {exc}") from None
    for node in nodes:
        for child in _select(element, node.xpath, namespaces):
            try:
                target = append_to(obj, node.collection)
            except PathError as exc:
                raise LocalTranslationError(f"layout node {node.collection!r}: {exc}") from None
            _fill(target, child, node.fields, node.nodes, namespaces)


__all__ = ["read_xml"]
