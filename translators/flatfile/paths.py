"""Canonical field paths: ``order_number``, ``product.gtin``, ``parties[role=BY].id``.

A path is dot-separated keys; a key may carry one selector:

* ``[n]`` — the n-th element (0-based) of a list;
* ``[k=v]`` / ``[k=v,k2=v2]`` — the element whose keys equal those values.

Setting through a selector creates what is missing (``parties[role=BY].id``
appends ``{"role": "BY"}`` when there is no buyer yet), so a flat record can
fill qualified lists the way X12 maps do.  Getting never creates anything.
Layouts, readers and writers of flat files and XML share this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_STEP = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\]]*)\])?$")


@dataclass(frozen=True, slots=True)
class Step:
    """One key of a path, with its optional selector."""

    key: str
    index: int | None = None
    match: tuple[tuple[str, str], ...] = ()


class PathError(ValueError):
    """A field path that does not parse."""


@lru_cache(maxsize=1024)
def parse_path(path: str) -> tuple[Step, ...]:
    """Parse a field path.

    Args:
        path: e.g. ``parties[role=ST].address.city``.

    Returns:
        Its steps.

    Raises:
        PathError: the path is malformed.
    """
    steps: list[Step] = []
    for raw in _split(path):
        found = _STEP.match(raw)
        if found is None:
            raise PathError(f"bad field path {path!r} at {raw!r}")
        key, selector = found.group(1), found.group(2)
        if selector is None:
            steps.append(Step(key))
        elif selector.isdigit():
            steps.append(Step(key, index=int(selector)))
        else:
            pairs: list[tuple[str, str]] = []
            for part in selector.split(","):
                name, eq, value = part.partition("=")
                if not eq or not name.strip():
                    raise PathError(f"bad selector [{selector}] in {path!r}: use [n] or [key=value]")
                pairs.append((name.strip(), value.strip()))
            steps.append(Step(key, match=tuple(pairs)))
    if not steps:
        raise PathError("empty field path")
    return tuple(steps)


def _split(path: str) -> list[str]:
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(path):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "." and depth == 0:
            parts.append(path[start:i])
            start = i + 1
    parts.append(path[start:])
    return parts


def _matches(element: Any, match: tuple[tuple[str, str], ...]) -> bool:
    return isinstance(element, dict) and all(str(element.get(k)) == v for k, v in match)


def get_path(obj: dict[str, Any], path: str) -> Any:
    """Return the value at ``path``, or None when any step is missing."""
    current: Any = obj
    for step in parse_path(path):
        if not isinstance(current, dict):
            return None
        current = current.get(step.key)
        if step.index is not None:
            if not isinstance(current, list) or step.index >= len(current):
                return None
            current = current[step.index]
        elif step.match:
            if not isinstance(current, list):
                return None
            current = next((e for e in current if _matches(e, step.match)), None)
        if current is None:
            return None
    return current


def set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at ``path``, creating dicts, lists and selected elements as needed.

    Raises:
        PathError: a step meets a value that is not a dict or a list.
    """
    steps = parse_path(path)
    current: dict[str, Any] = obj
    for position, step in enumerate(steps):
        last = position == len(steps) - 1
        if step.index is None and not step.match:
            if last:
                current[step.key] = value
                return
            current = _child_dict(current, step.key, path)
            continue
        seq = current.setdefault(step.key, [])
        if not isinstance(seq, list):
            raise PathError(f"{path!r}: {step.key!r} is not a list")
        if step.index is not None:
            if last:
                if step.index < len(seq):
                    seq[step.index] = value
                else:
                    seq.append(value)  # a gap would be meaningless: fill in order
                return
            if step.index < len(seq) and isinstance(seq[step.index], dict):
                current = seq[step.index]
            else:
                current = {}
                seq.append(current)
            continue
        element = next((e for e in seq if _matches(e, step.match)), None)
        if element is None:
            element = dict(step.match)
            seq.append(element)
        if last:
            raise PathError(f"{path!r}: a selected element needs a field after it")
        current = element


def _child_dict(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    child = parent.get(key)
    if child is None:
        child = parent[key] = {}
    if not isinstance(child, dict):
        raise PathError(f"{path!r}: {key!r} is not an object")
    return child


def append_to(obj: dict[str, Any], path: str) -> dict[str, Any]:
    """Append a new empty element to the list at ``path`` and return it.

    Intermediate steps may select (``orders[0].items``: the items of the
    first order, created when missing); the last step names the list.
    """
    steps = parse_path(path)
    last = steps[-1]
    if last.index is not None or last.match:
        raise PathError(f"collection path {path!r} must end with a list name, not a selector")
    parent = obj
    for step in steps[:-1]:
        if step.index is None and not step.match:
            parent = _child_dict(parent, step.key, path)
            continue
        parent = _select_or_create(parent, step, path)
    seq = parent.setdefault(last.key, [])
    if not isinstance(seq, list):
        raise PathError(f"{path!r} is not a list")
    element: dict[str, Any] = {}
    seq.append(element)
    return element


def _select_or_create(parent: dict[str, Any], step: Step, path: str) -> dict[str, Any]:
    seq = parent.setdefault(step.key, [])
    if not isinstance(seq, list):
        raise PathError(f"{path!r}: {step.key!r} is not a list")
    if step.index is not None:
        if step.index < len(seq) and isinstance(seq[step.index], dict):
            found: dict[str, Any] = seq[step.index]
            return found
        created: dict[str, Any] = {}
        seq.append(created)
        return created
    match = next((e for e in seq if _matches(e, step.match)), None)
    if match is None:
        match = dict(step.match)
        seq.append(match)
    return match


def constant_selector(path: str) -> tuple[tuple[str, str], ...]:
    """Return the ``key=value`` pairs a path's selectors imply (they act as constants too)."""
    return tuple(pair for step in parse_path(path) for pair in step.match)


__all__ = ["PathError", "Step", "append_to", "constant_selector", "get_path", "parse_path", "set_path"]
