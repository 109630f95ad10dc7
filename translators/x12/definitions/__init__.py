"""Data definitions of the X12 transaction sets the maps cover, and the checks driven by them.

:data:`STRUCTURES` (segment order, loops, requirements, repeat limits) and
:data:`SEGMENTS` (element requirement, type, length, closed code lists,
relational conditions) are compact data in this project's own notation;
:func:`validate` runs them over one transaction set.
"""

from __future__ import annotations

from ...errors import RemoteSyntaxError
from ...options import TranslatorOptions
from ..syntax import TransactionSet
from .checker import CleanMemo, check
from .segments import CODES, CONDITIONS, SEGMENTS, ElementDef
from .structures import SET_TAGS, STRUCTURES, Node


def validate(
    tx: TransactionSet, options: TranslatorOptions | None = None, memo: CleanMemo | None = None
) -> list[RemoteSyntaxError]:
    """Check one transaction set against its definition.

    Args:
        tx: the set (ST..SE) as the reader produced it.
        options: unused today; strictness is applied by the caller, which
            rejects a set on any error when ``options.strict`` and otherwise
            only on ``transaction``-scope errors.
        memo: one per file, shared by its sets: segments already found
            clean are not checked again (findings are the same with or
            without it).

    Returns:
        Every finding, in segment order: ``scope="segment"`` with
        ``ack_hint`` ``AK3:<720 code>`` for segment errors (1 unrecognised,
        2 unexpected, 3 mandatory missing, 4 loop over maximum, 5 segment
        over maximum use, 7 not in the set) and ``AK4:<723 code>`` for
        element errors (1 mandatory missing, 2 conditional missing, 3 too
        many elements, 4 too short, 5 too long, 6 invalid character, 7
        invalid code, 8 invalid date, 9 invalid time, 10 exclusion
        violated); ``scope="transaction"`` with ``AK5:<718 code>`` for
        set-level problems.  Empty for sets without a definition.
    """
    return check(tx, memo)


__all__ = [
    "CODES",
    "CONDITIONS",
    "SEGMENTS",
    "SET_TAGS",
    "STRUCTURES",
    "CleanMemo",
    "ElementDef",
    "Node",
    "validate",
]
