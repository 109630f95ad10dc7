"""Writable XPath subset: the paths a layout can both read and *build*.

Grammar (a strict subset of XPath 1.0 location paths)::

    path  := step ("/" step)* ("/" "@" name | "/" "text()")?
    step  := "." | name | name "[@" name "=" quoted "]"
    name  := [prefix ":"] NCName

Building a path finds or creates each element; a predicate sets the
attribute on the element it creates.  Anything else (axes, functions,
positions) is fine for reading but refused for writing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

_NAME = r"[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?"
_STEP = re.compile(rf"^({_NAME})(?:\[@({_NAME})=(?:'([^']*)'|\"([^\"]*)\")\])?$")
_ATTR = re.compile(rf"^@({_NAME})$")


@dataclass(frozen=True, slots=True)
class XStep:
    """One element step with an optional attribute predicate."""

    name: str
    attribute: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class SimplePath:
    """A parsed writable path: element steps, then maybe an attribute."""

    steps: tuple[XStep, ...]
    attribute: str | None = None


def parse_simple(expr: str) -> SimplePath | None:
    """Parse a writable path; None when the expression is outside the subset."""
    parts = [p for p in expr.strip().split("/")]
    if not parts or any(p == "" for p in parts):
        return None
    attribute: str | None = None
    if parts[-1] == "text()":
        parts = parts[:-1]
    elif (found := _ATTR.match(parts[-1])) is not None:
        attribute = found.group(1)
        parts = parts[:-1]
    steps: list[XStep] = []
    for part in parts:
        if part == ".":
            continue
        match = _STEP.match(part)
        if match is None:
            return None
        pred = match.group(2)
        value = match.group(3) if match.group(3) is not None else match.group(4)
        steps.append(XStep(match.group(1), (pred, value or "") if pred else None))
    return SimplePath(tuple(steps), attribute)


def qname(name: str, namespaces: dict[str, str]) -> str:
    """Return the Clark name (``{uri}local``) of ``prefix:local``.

    Raises:
        KeyError: the prefix is not declared.
    """
    if ":" not in name:
        return name
    prefix, local = name.split(":", 1)
    return f"{{{namespaces[prefix]}}}{local}"


def _find(parent: etree._Element, step: XStep, namespaces: dict[str, str]) -> etree._Element | None:
    tag = qname(step.name, namespaces)
    for child in parent.iterchildren(tag):
        if step.attribute is None or child.get(qname(step.attribute[0], namespaces)) == step.attribute[1]:
            return child
    return None


def _create(parent: etree._Element, step: XStep, namespaces: dict[str, str]) -> etree._Element:
    child = etree.SubElement(parent, qname(step.name, namespaces))
    if step.attribute is not None:
        child.set(qname(step.attribute[0], namespaces), step.attribute[1])
    return child


def build(
    parent: etree._Element, path: SimplePath, namespaces: dict[str, str], *, new_last: bool
) -> etree._Element:
    """Find or create the element a path names.

    Args:
        parent: where the path starts.
        path: the parsed path (its attribute part is ignored here).
        namespaces: prefix → URI.
        new_last: always create the last element (a repeating element), instead of reusing one.

    Returns:
        The element.
    """
    current = parent
    for position, step in enumerate(path.steps):
        last = position == len(path.steps) - 1
        found = None if (last and new_last) else _find(current, step, namespaces)
        current = found if found is not None else _create(current, step, namespaces)
    return current


__all__ = ["SimplePath", "XStep", "build", "parse_simple", "qname"]
