"""Declarative XML layouts: XPath field maps, both directions.

A layout names the element that holds one document (``document_xpath``,
relative to the root element) and maps canonical field paths to XPath
expressions relative to that element.  Repeating elements (order lines)
are ``nodes``: an XPath selecting each element and the canonical list they
fill, with fields of their own and nested nodes.

Reading accepts any XPath 1.0 expression that selects elements, attributes
or text.  Writing needs to *build* the element, so a layout used outbound is
limited to simple paths: ``Name``, ``Header/PONumber``, ``@id``,
``Party[@role='BY']/Name``, ``Line/@no``; :func:`layout_problems` says
whether a layout can write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..flatfile.layout import FieldType


@dataclass(frozen=True, slots=True, kw_only=True)
class XmlField:
    """One value: canonical path ← XPath relative to the current element.

    Attributes:
        path: canonical field path relative to the current object.
        xpath: where the value is, relative to the current element.
        type / format / implied_decimals: conversion, as in flat files.
        value: constant; set on read, matched on write.
    """

    path: str
    xpath: str | None = None
    type: FieldType = "string"
    format: str | None = None
    implied_decimals: int = 0
    value: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class XmlNode:
    """A repeating element mapped to a canonical list.

    Attributes:
        xpath: selects each element, relative to the parent element.
        collection: canonical list path in the parent object.
        fields: values inside each element.
        nodes: nested repeating elements.
    """

    xpath: str
    collection: str
    fields: tuple[XmlField, ...] = ()
    nodes: tuple[XmlNode, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class XmlLayout:
    """How one partner's XML maps to a canonical document.

    Attributes:
        document_type: canonical document name.
        root: root element name (with ``prefix:`` when namespaced) for output and for
            recognising the file.
        document_xpath: selects each document element relative to the root; ``.`` when
            the root is the document.
        namespaces: prefix → URI used by every XPath; the root's prefix is its namespace.
        fields: document-level values.
        nodes: repeating elements.
        encoding: encoding declared and used on output.
    """

    document_type: str
    root: str
    document_xpath: str = "."
    namespaces: dict[str, str] = field(default_factory=dict)
    fields: tuple[XmlField, ...] = ()
    nodes: tuple[XmlNode, ...] = ()
    encoding: str = "UTF-8"
    format: Literal["xml"] = field(default="xml", init=False)


__all__ = ["XmlField", "XmlLayout", "XmlNode"]
