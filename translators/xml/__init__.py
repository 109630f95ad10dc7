"""XML through XPath field maps, both directions, with a parser that trusts nothing.

Pure: bytes and a layout in, a :class:`translators.Translation` out
(:func:`read_xml`), canonical documents back to bytes (:func:`render_xml`).
Entities are never resolved, no DTD is loaded, nothing is fetched, and a
document with a DOCTYPE is rejected outright (:func:`parse_xml`).
"""

from __future__ import annotations

from .layout import XmlField, XmlLayout, XmlNode
from .parser import parse_xml
from .reader import read_xml
from .writer import render_xml, xml_layout_problems

__all__ = ["XmlField", "XmlLayout", "XmlNode", "parse_xml", "read_xml", "render_xml", "xml_layout_problems"]
