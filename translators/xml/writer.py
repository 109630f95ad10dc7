"""Render canonical documents as a partner's XML (outbound).

The layout that reads the partner's XML writes it, provided its paths are
in the writable subset (:mod:`translators.xml.xpaths`).  Constant fields of
a node select which list elements it writes.  Output is UTF-8 (or the
layout's encoding) with an XML declaration; nothing is ever truncated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lxml import etree

from ..errors import LocalTranslationError
from ..flatfile.paths import get_path
from ..flatfile.values import format_value
from .layout import XmlField, XmlLayout, XmlNode
from .xpaths import SimplePath, build, parse_simple, qname


def render_xml(documents: Sequence[Mapping[str, Any]], layout: XmlLayout) -> bytes:
    """Render documents through an XML layout.

    Args:
        documents: canonical documents (JSON-compatible dicts).
        layout: the partner's XML layout.

    Returns:
        The XML bytes.

    Raises:
        LocalTranslationError: a path cannot be written, or a value does not convert.
    """
    ns = layout.namespaces
    try:
        root = etree.Element(qname(layout.root, ns), nsmap=dict(ns) or None)
    except KeyError:
        raise LocalTranslationError(f"layout root {layout.root!r} uses an undeclared prefix") from None
    doc_path = _simple(layout.document_xpath)
    if not doc_path.steps and len(documents) > 1:
        raise LocalTranslationError("the layout's root is the document: one document per file")
    for doc in documents:
        element = root if not doc_path.steps else build(root, doc_path, ns, new_last=True)
        _write(element, dict(doc), layout.fields, layout.nodes, ns)
    return bytes(etree.tostring(root, xml_declaration=True, encoding=layout.encoding, pretty_print=True))


def _simple(expr: str) -> SimplePath:
    path = parse_simple(expr)
    if path is None:
        raise LocalTranslationError(f"XPath {expr!r} is not writable (use Name/Child[@a='v']/@attr paths)")
    return path


def _selects(fields: tuple[XmlField, ...], obj: Mapping[str, Any]) -> bool:
    return all(str(get_path(dict(obj), f.path)) == f.value for f in fields if f.value is not None)


def _write(
    element: etree._Element,
    obj: dict[str, Any],
    fields: tuple[XmlField, ...],
    nodes: tuple[XmlNode, ...],
    ns: dict[str, str],
) -> None:
    for spec in fields:
        if spec.xpath is None:
            continue
        value = spec.value if spec.value is not None else get_path(obj, spec.path)
        if value is None:
            continue
        try:
            text = format_value(value, spec.type, fmt=spec.format, implied_decimals=spec.implied_decimals)
        except ValueError as exc:
            raise LocalTranslationError(f"field {spec.path}: {exc}") from None
        path = _simple(spec.xpath)
        target = build(element, path, ns, new_last=False)
        if path.attribute is not None:
            target.set(qname(path.attribute, ns), text)
        else:
            target.text = text
    for node in nodes:
        items = get_path(obj, node.collection) or []
        if not isinstance(items, list):
            raise LocalTranslationError(f"{node.collection!r} is not a list")
        path = _simple(node.xpath)
        for item in items:
            if isinstance(item, Mapping) and _selects(node.fields, item):
                _write(build(element, path, ns, new_last=True), dict(item), node.fields, node.nodes, ns)


def xml_layout_problems(layout: XmlLayout, *, outbound: bool) -> list[str]:
    """Check an XML layout.

    Args:
        layout: the layout.
        outbound: also require every path to be writable.

    Returns:
        Every problem found, in words.
    """
    from ..flatfile.paths import PathError, parse_path

    problems: list[str] = []
    try:
        qname(layout.root, layout.namespaces)
    except KeyError:
        problems.append(f"root {layout.root!r} uses an undeclared namespace prefix")

    def xpath(expr: str, where: str) -> None:
        try:
            etree.XPath(expr, namespaces=layout.namespaces)
        except etree.XPathSyntaxError as exc:
            problems.append(f"{where}: XPath {expr!r} does not compile: {exc}")
            return
        if outbound and parse_simple(expr) is None:
            problems.append(
                f"{where}: XPath {expr!r} cannot be written (outbound needs Name/Child[@a='v']/@attr)"
            )

    def walk(fields: tuple[XmlField, ...], nodes: tuple[XmlNode, ...], where: str) -> None:
        for spec in fields:
            try:
                parse_path(spec.path)
            except PathError as exc:
                problems.append(f"{where} field {spec.path!r}: {exc}")
            if spec.xpath is None and spec.value is None:
                problems.append(f"{where} field {spec.path!r}: needs xpath or value")
            if spec.type in ("date", "time") and not spec.format:
                problems.append(f"{where} field {spec.path!r}: a {spec.type} needs a format")
            if spec.xpath is not None:
                xpath(spec.xpath, f"{where} field {spec.path!r}")
        for node in nodes:
            xpath(node.xpath, f"node {node.collection!r}")
            walk(node.fields, node.nodes, f"node {node.collection!r}")

    xpath(layout.document_xpath, "document_xpath")
    walk(layout.fields, layout.nodes, "document")
    return problems


__all__ = ["render_xml", "xml_layout_problems"]
