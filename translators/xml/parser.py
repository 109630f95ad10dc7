"""Parse partner XML without trusting it.

Rule: nothing in the document may make the parser do anything but read
the bytes given.  The parser resolves no entity, loads no DTD, fetches
nothing from the network and keeps libxml2's size limits
(``huge_tree=False``); and a document that declares a DOCTYPE at all is
rejected before parsing, because entity tricks (XXE, billion laughs) need
one and no business document does.  The tree is checked again after
parsing in case the prolog was hidden from the byte scan (UTF-16).
"""

from __future__ import annotations

import re

from lxml import etree

from ..errors import Location, RemoteSyntaxError

_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
_DTD_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
    )


def parse_xml(data: bytes) -> etree._Element:
    """Parse XML bytes safely and return the root element.

    Args:
        data: the raw bytes.

    Returns:
        The root element.

    Raises:
        RemoteSyntaxError: the bytes are not well-formed XML, or carry a
            DOCTYPE / entity declaration.
    """
    found = _FIRST_ELEMENT.search(data)
    prolog = (data[: found.start()] if found else data).upper()
    if any(marker in prolog for marker in _DTD_MARKERS):
        raise RemoteSyntaxError(
            "XML with a DOCTYPE or entity declaration is refused (entities are never resolved)",
            scope="interchange",
        )
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) else None
        raise RemoteSyntaxError(
            f"not well-formed XML: {exc.msg}", scope="interchange", location=Location(segment_position=line)
        ) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise RemoteSyntaxError("XML with a DOCTYPE is refused", scope="interchange")
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise RemoteSyntaxError(f"XML entity reference {node.text!r} is refused", scope="interchange")
    return root


__all__ = ["parse_xml"]
