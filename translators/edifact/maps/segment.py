"""Fast positional access to EDIFACT segments for the maps.

The segment shape is the reader's (:mod:`translators.edifact.syntax`): the
tag at index 0, then elements that are a ``str``, a ``tuple[str, ...]``
composite or (syntax 4) a :class:`Repeated`.  The maps call these accessors
once per data element on the hot path, so they are plain functions with no
validation: an absent position reads as ``""``, exactly like an omitted
element in ISO 9735 (trailing empty elements and components may be left out
by the sender, ISO 9735-1 clause 7.1).
"""

from __future__ import annotations

from ..syntax import Element, Message, Repeated, Segment


def el(seg: Segment, i: int) -> str:
    """Element ``i`` (1-based after the tag); the first component of a composite."""
    # try/except instead of a length test: the element is there in the common
    # case and an un-raised try costs nothing (hot path, once per element).
    try:
        e = seg[i]
    except IndexError:
        return ""
    if type(e) is str:
        return e
    if type(e) is tuple:
        return e[0] if e else ""
    return _first(e, 0)


def comp(seg: Segment, i: int, j: int) -> str:
    """Component ``j`` (0-based) of element ``i``; a simple element is component 0."""
    try:
        e = seg[i]
    except IndexError:
        return ""
    if type(e) is tuple:
        return e[j] if j < len(e) else ""
    if type(e) is str:
        return e if j == 0 else ""
    return _first(e, j)


def parts(seg: Segment, i: int) -> tuple[str, ...]:
    """Every component of element ``i`` as a tuple (``()`` when absent or empty).

    The hot handlers read a composite once with this instead of calling
    :func:`comp` per component.
    """
    try:
        e = seg[i]
    except IndexError:
        return ()
    if type(e) is tuple:
        return e
    if type(e) is str:
        return (e,) if e else ()
    if isinstance(e, Repeated) and e.values:
        v = e.values[0]
        return v if isinstance(v, tuple) else (v,)
    return ()


def _first(e: Element, j: int) -> str:
    # A syntax 4 repetition: the maps read its first occurrence.
    if isinstance(e, Repeated) and e.values:
        v = e.values[0]
        if isinstance(v, tuple):
            return v[j] if j < len(v) else ""
        return v if j == 0 else ""
    return ""


def make(tag: str, *elements: Element) -> Segment:
    """Build a segment, dropping trailing empty elements and components (ISO 9735-1 7.1)."""
    out: list[Element] = [tag]
    for e in elements:
        if isinstance(e, tuple):
            parts = list(e)
            while parts and parts[-1] == "":
                parts.pop()
            out.append(tuple(parts) if len(parts) > 1 else (parts[0] if parts else ""))
        else:
            out.append(e)
    while len(out) > 1 and out[-1] == "":
        out.pop()
    return tuple(out)


def segment_json(seg: Segment) -> list[object]:
    """A segment as JSON data: composites become lists, repetitions ``{"repeated": [...]}``."""
    out: list[object] = []
    for e in seg:
        if isinstance(e, tuple):
            out.append(list(e))
        elif isinstance(e, Repeated):
            out.append({"repeated": [list(v) if isinstance(v, tuple) else v for v in e.values]})
        else:
            out.append(e)
    return out


__all__ = ["Element", "Message", "Segment", "comp", "el", "make", "parts", "segment_json"]
