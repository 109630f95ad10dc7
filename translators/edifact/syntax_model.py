"""Lossless syntax layer of EDIFACT: interchange -> groups -> messages -> segments.

This is the ``document`` of ``edifact.<TYPE>`` documents (messages no map
covers) and the audit form of whole interchanges.  Segments keep every
element, empty ones included, as JSON: a simple element is a string, a
composite a list of strings, a syntax-4 repetition ``{"repeated": [...]}``
(the same shape as :func:`translators.edifact.maps.segment.segment_json`).
On the hot path (:func:`message_document`) segments and composites are the
reader's tuples, which ``json.dumps`` writes as arrays and pydantic accepts
as lists; :meth:`MessageDocument.model_validate` gives the list form.
With the delimiters and the line-break style kept beside them, the writer
(:mod:`.writer`) renders the same bytes for a valid file; what is not kept
is listed in :mod:`.writer`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .syntax import (
    Delimiters,
    Element,
    GroupEnd,
    GroupStart,
    InterchangeEnd,
    InterchangeStart,
    Message,
    Repeated,
)
from .syntax import Segment as SegmentTuple

SCHEMA_VERSION = "1.0"


class RepeatedElement(BaseModel):
    """A repeated data element (syntax 4 repetition separator)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repeated: list[str | list[str]]


JsonElement = str | list[str] | RepeatedElement


class DelimitersModel(BaseModel):
    """The service characters in force (UNA or the defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str | None = "?"
    repetition: str | None = None
    segment: str = "'"

    @classmethod
    def of(cls, d: Delimiters) -> DelimitersModel:
        """Build from the reader's :class:`Delimiters`."""
        return cls(
            component=d.component,
            element=d.element,
            decimal=d.decimal,
            release=d.release,
            repetition=d.repetition,
            segment=d.segment,
        )

    def delimiters(self) -> Delimiters:
        """Back to the reader's :class:`Delimiters`."""
        return Delimiters(
            component=self.component,
            element=self.element,
            decimal=self.decimal,
            release=self.release,
            repetition=self.repetition,
            segment=self.segment,
        )


class MessageModel(BaseModel):
    """UNH..UNT of one message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    version: str
    release: str
    agency: str
    association: str | None = None
    reference: str
    segments: list[list[JsonElement]] = Field(description="UNH to UNT inclusive, tag first")


class GroupModel(BaseModel):
    """UNG..UNE."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    header: list[JsonElement]
    messages: list[MessageModel] = Field(default_factory=list)
    trailer: list[JsonElement] | None = None


class InterchangeModel(BaseModel):
    """One interchange, UNA (if sent) to UNZ."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    syntax_id: str
    syntax_version: int
    delimiters: DelimitersModel
    una: str | None = Field(default=None, description="the UNA text as sent; None when absent")
    line_break: str = Field(default="", description="CR/LF written after each segment terminator")
    header: list[JsonElement]
    groups: list[GroupModel] = Field(default_factory=list)
    messages: list[MessageModel] = Field(default_factory=list, description="messages outside groups")
    trailer: list[JsonElement] | None = None
    final_line_break: bool = True


class MessageDocument(BaseModel):
    """The document of an ``edifact.<TYPE>`` translated document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    syntax_id: str | None = None
    syntax_version: int | None = None
    interchange_ref: str
    group_ref: str | None = None
    delimiters: DelimitersModel
    message: MessageModel


def segment_to_json(seg: SegmentTuple) -> list[Any]:
    """A reader segment as JSON data (composites as lists).

    Args:
        seg: a segment from the reader.

    Returns:
        A list whose items are strings, lists of strings or ``{"repeated": [...]}``.
    """
    out: list[Any] = []
    for e in seg:
        if type(e) is str:
            out.append(e)
        elif isinstance(e, tuple):
            out.append(list(e))
        elif isinstance(e, Repeated):
            out.append({"repeated": [list(v) if isinstance(v, tuple) else v for v in e.values]})
    return out


def segment_from_json(data: list[Any]) -> SegmentTuple:
    """Back from JSON data (or :class:`RepeatedElement` models) to a reader segment.

    Args:
        data: a list as produced by :func:`segment_to_json`.

    Returns:
        The segment tuple.
    """
    out: list[Element] = []
    for e in data:
        if isinstance(e, str):
            out.append(e)
        elif isinstance(e, list):
            out.append(tuple(e))
        else:
            values = e.repeated if isinstance(e, RepeatedElement) else e["repeated"]
            out.append(Repeated(tuple(tuple(v) if isinstance(v, list) else v for v in values)))
    return tuple(out)


def message_json(msg: Message) -> dict[str, Any]:
    """The :class:`MessageModel` of a message, as plain JSON data (hot path: no pydantic)."""
    return {
        "type": msg.type,
        "version": msg.version,
        "release": msg.release,
        "agency": msg.agency,
        "association": msg.association,
        "reference": msg.reference,
        # Zero-copy: a reader segment is already JSON-shaped (tuples are JSON
        # arrays for json.dumps and validate as lists); only syntax-4
        # repetitions need converting.  This runs for every unmapped message.
        "segments": list(msg.segments)
        if msg.delimiters.repetition is None
        else [segment_to_json(seg) if any(type(e) is Repeated for e in seg) else seg for seg in msg.segments],
    }


def message_document(msg: Message, start: InterchangeStart | None = None) -> dict[str, Any]:
    """The :class:`MessageDocument` of a message, as plain JSON data.

    Args:
        msg: the message event.
        start: its interchange header, for the syntax identifier.

    Returns:
        A dict that validates against :class:`MessageDocument`.
    """
    d = msg.delimiters
    return {
        "syntax_id": start.syntax_id if start else None,
        "syntax_version": start.syntax_version if start else None,
        "interchange_ref": msg.interchange_ref,
        "group_ref": msg.group_ref,
        "delimiters": {
            "component": d.component,
            "element": d.element,
            "decimal": d.decimal,
            "release": d.release,
            "repetition": d.repetition,
            "segment": d.segment,
        },
        "message": message_json(msg),
    }


class InterchangeBuilder:
    """Fold reader events into :class:`InterchangeModel` objects (one per UNB..UNZ)."""

    def __init__(self) -> None:
        self._start: InterchangeStart | None = None
        self._groups: list[GroupModel] = []
        self._messages: list[MessageModel] = []
        self._group: GroupStart | None = None
        self._group_messages: list[MessageModel] = []
        self.done: list[InterchangeModel] = []

    def feed(self, event: object) -> None:
        """Take one reader event; a finished interchange is appended to ``done``.

        Args:
            event: an event from :class:`~translators.edifact.reader.EdifactReader`.
        """
        if isinstance(event, InterchangeStart):
            self._start, self._groups, self._messages = event, [], []
        elif isinstance(event, GroupStart):
            self._group, self._group_messages = event, []
        elif isinstance(event, Message):
            model = MessageModel.model_validate(message_json(event))
            (self._group_messages if self._group is not None else self._messages).append(model)
        elif isinstance(event, GroupEnd) and self._group is not None:
            self._groups.append(
                GroupModel.model_validate(
                    {
                        "header": segment_to_json(self._group.segment),
                        "messages": self._group_messages,
                        "trailer": segment_to_json(event.segment),
                    }
                )
            )
            self._group = None
        elif isinstance(event, InterchangeEnd) and self._start is not None:
            s = self._start
            self.done.append(
                InterchangeModel.model_validate(
                    {
                        "syntax_id": s.syntax_id,
                        "syntax_version": s.syntax_version,
                        "delimiters": DelimitersModel.of(s.delimiters),
                        "una": s.una_text,
                        "line_break": event.line_break,
                        "header": segment_to_json(s.segment),
                        "groups": self._groups,
                        "messages": self._messages,
                        "trailer": segment_to_json(event.segment),
                    }
                )
            )
            self._start = None


__all__ = [
    "SCHEMA_VERSION",
    "DelimitersModel",
    "GroupModel",
    "InterchangeBuilder",
    "InterchangeModel",
    "JsonElement",
    "MessageDocument",
    "MessageModel",
    "RepeatedElement",
    "message_document",
    "message_json",
    "segment_from_json",
    "segment_to_json",
]
