"""CONTRL out, CONTRL and APERAK in: EDIFACT acknowledgments as pure functions.

Outbound CONTRL (syntax and service report message, ISO 9735-5 / UNSM
CONTRL D:3 for syntax 3 and 4:1 for syntax 4):

* UCI answers the interchange: 0020 and S002/S003 *of the acknowledged
  UNB* (not swapped), action 0083 = 4 rejected, 7 acknowledged (lower
  levels acknowledged unless explicitly rejected) or 8 received, plus 0085
  syntax error, 0013 service segment tag and S011 element/component
  position when the error is at interchange level;
* UCF answers each UNG group (action and error as for UCI);
* UCM answers each message (0062, S009, action, and 0085/0013/S011 for
  errors in UNH/UNT); UCS (0096 segment position, UNH = 1, 0085) and UCD
  (0085, S011) place errors inside the message body.

The CONTRL's own UNB mirrors the inbound one: sender and recipient swap
(our id from ``options.our_ids`` when set), the syntax identifier and the
service characters are the partner's; reference and timestamp come from
``options.control_numbers`` and ``options.now``.

Inbound CONTRL and APERAK become ``functional_ack`` documents
(:class:`translators.models.functional_ack.FunctionalAck` as plain data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import LocalTranslationError, RemoteSyntaxError
from ..options import TranslatorOptions
from .charset import CHARSETS
from .syntax import Delimiters, Element, InterchangeStart, Message, Segment, component, components, element
from .writer import write_interchange

ACTION_REJECTED = "4"
ACTION_ACKNOWLEDGED = "7"
ACTION_RECEIVED = "8"


class MessageReport:
    """What the CONTRL says about one message.

    A plain slotted class, not a frozen dataclass: one is made per message
    (the hot path), and a frozen dataclass's ``__init__`` costs about 25
    times more, even compiled.  Nothing mutates a report after it is made.
    """

    __slots__ = ("agency", "association", "errors", "reference", "release", "type", "version")

    def __init__(
        self,
        *,
        reference: str,
        type: str,
        version: str,
        release: str,
        agency: str,
        association: str | None = None,
        errors: tuple[RemoteSyntaxError, ...] = (),
    ) -> None:
        self.reference = reference
        self.type = type
        self.version = version
        self.release = release
        self.agency = agency
        self.association = association
        self.errors = errors

    def __repr__(self) -> str:
        return f"MessageReport({self.reference!r}, {self.type!r}, errors={len(self.errors)})"

    @classmethod
    def of(cls, msg: Message, errors: Sequence[RemoteSyntaxError] = ()) -> MessageReport:
        """Report a message event with the errors found in it."""
        # Named, not ``cls``: compiled, a call through ``cls`` parses keywords at run time.
        return MessageReport(
            reference=msg.reference,
            type=msg.type,
            version=msg.version,
            release=msg.release,
            agency=msg.agency,
            association=msg.association,
            errors=tuple(errors) if errors else (),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupReport:
    """What the CONTRL says about one UNG group and its messages."""

    reference: str
    sender: tuple[str, str | None]
    recipient: tuple[str, str | None]
    errors: tuple[RemoteSyntaxError, ...] = ()
    messages: tuple[MessageReport, ...] = field(default=())


def _id(value: tuple[str, str | None]) -> Element:
    return (value[0], value[1]) if value[1] else value[0]


def _position(err: RemoteSyntaxError) -> Element:
    loc = err.location
    if loc.element_position is None:
        return ""
    if loc.component_position is None:
        return str(loc.element_position)
    return (str(loc.element_position), str(loc.component_position))


def _code(err: RemoteSyntaxError) -> str:
    return err.ack_hint if err.ack_hint and err.ack_hint.isdecimal() else "18"  # 18 = unspecified error


def _trim(seg: list[Element]) -> Segment:
    while len(seg) > 1 and seg[-1] == "":
        seg.pop()
    return tuple(seg)


def _s009(report: MessageReport) -> tuple[str, ...]:
    if report.association:
        return (report.type, report.version, report.release, report.agency, report.association)
    return (report.type, report.version, report.release, report.agency)


def _accepted(report: MessageReport) -> Segment:
    # the action code is never empty, so there is nothing to trim
    return ("UCM", report.reference, _s009(report), ACTION_ACKNOWLEDGED)


def _add_messages(out: list[Segment], reports: Sequence[MessageReport]) -> None:
    # An accepted message (nearly all of them) is one UCM: no list of its segments to extend by.
    for report in reports:
        if report.errors:
            out.extend(_message_segments(report))
        else:
            out.append(_accepted(report))


def _message_segments(report: MessageReport) -> list[Segment]:
    if not report.errors:
        return [_accepted(report)]
    s009 = _s009(report)
    service = [
        e
        for e in report.errors
        if e.location.segment_tag in ("UNH", "UNT") or e.location.segment_position is None
    ]
    body = [e for e in report.errors if e not in service]
    ucm: list[Element] = ["UCM", report.reference, s009, ACTION_REJECTED]
    if service:
        first = service[0]
        ucm += [_code(first), first.location.segment_tag or "", _position(first)]
    out: list[Segment] = [_trim(ucm)]
    for err in body:
        pos = str(err.location.segment_position)
        if err.location.element_position is None:
            out.append(("UCS", pos, _code(err)))
        else:
            out.append(("UCS", pos))
            out.append(_trim(["UCD", _code(err), _position(err)]))
    return out


def contrl_segments(
    start: InterchangeStart,
    *,
    interchange_errors: Sequence[RemoteSyntaxError],
    messages: Sequence[MessageReport],
    groups: Sequence[GroupReport] = (),
    reference: str = "1",
    received_only: bool = False,
) -> list[Segment]:
    """The CONTRL message (UNH..UNT) answering one interchange.

    Args:
        start: the acknowledged interchange's header.
        interchange_errors: errors with scope ``interchange`` (reject it all).
        messages: messages outside groups, in order.
        groups: groups with their messages, in order.
        reference: UNH 0062 of the CONTRL.
        received_only: answer with action 8 (received) and nothing below.

    Returns:
        The segments, UNH first, UNT last.
    """
    v4 = start.syntax_version >= 4
    unh: Segment = ("UNH", reference, ("CONTRL", "4", "1", "UN") if v4 else ("CONTRL", "D", "3", "UN"))
    sender = _id((start.sender_id, start.sender_qualifier))
    recipient = _id((start.recipient_id, start.recipient_qualifier))
    out: list[Segment] = [unh]
    if interchange_errors:
        first = interchange_errors[0]
        out.append(
            _trim(
                [
                    "UCI",
                    start.control_ref,
                    sender,
                    recipient,
                    ACTION_REJECTED,
                    _code(first),
                    first.location.segment_tag or "",
                    _position(first),
                ]
            )
        )
    elif received_only:
        out.append(("UCI", start.control_ref, sender, recipient, ACTION_RECEIVED))
    else:
        out.append(("UCI", start.control_ref, sender, recipient, ACTION_ACKNOWLEDGED))
        _add_messages(out, messages)
        for group in groups:
            if group.errors:
                first = group.errors[0]
                out.append(
                    _trim(
                        [
                            "UCF",
                            group.reference,
                            _id(group.sender),
                            _id(group.recipient),
                            ACTION_REJECTED,
                            _code(first),
                            first.location.segment_tag or "",
                            _position(first),
                        ]
                    )
                )
                continue
            out.append(("UCF", group.reference, _id(group.sender), _id(group.recipient), ACTION_ACKNOWLEDGED))
            _add_messages(out, group.messages)
    out.append(("UNT", str(len(out) + 1), reference))
    return out


def build_contrl(
    start: InterchangeStart,
    options: TranslatorOptions,
    *,
    interchange_errors: Sequence[RemoteSyntaxError] = (),
    messages: Sequence[MessageReport] = (),
    groups: Sequence[GroupReport] = (),
    received_only: bool = False,
) -> bytes:
    """Render a whole CONTRL interchange answering ``start``'s interchange.

    Args:
        start: the acknowledged interchange's header.
        options: ``control_numbers`` (interchange -> UNB 0020, transaction ->
            UNH 0062), ``now`` (UNB S004), ``our_ids`` (our sender id).
        interchange_errors: errors that reject the interchange.
        messages: messages outside groups.
        groups: groups with their messages.
        received_only: UCI action 8 only.

    Returns:
        The CONTRL interchange bytes.
    """
    segs = contrl_segments(
        start,
        interchange_errors=interchange_errors,
        messages=messages,
        groups=groups,
        reference=str(options.control_numbers.transaction),
        received_only=received_only,
    )
    if options.our_ids is not None:
        ours: tuple[str, str | None] = (options.our_ids[1], options.our_ids[0] or None)
    else:
        ours = (start.recipient_id, start.recipient_qualifier)
    syntax_id = start.syntax_id if start.syntax_id in CHARSETS else "UNOA"
    version = start.syntax_version if 1 <= start.syntax_version <= 4 else 3
    d = start.delimiters
    defaults = Delimiters.default(version)
    # Mirror the partner's level; when a value we must echo (their ids or
    # references, read leniently or from bytes their level does not allow)
    # does not fit it, fall back to UNOC and then UTF-8 (UNOW) rather than
    # leave the partner without an answer.
    for level in dict.fromkeys((syntax_id, "UNOC", "UNOW")):
        try:
            return write_interchange(
                [segs],
                sender=ours,
                recipient=(start.sender_id, start.sender_qualifier),
                control_reference=str(options.control_numbers.interchange),
                now=options.now,
                syntax_id=level,
                syntax_version=version,
                delimiters=d,
                una=start.una_present or d != defaults,
                line_break="\n",
            )
        except LocalTranslationError as exc:
            failure = exc
    raise failure


# -- inbound ------------------------------------------------------------------------

_STATUS = {ACTION_REJECTED: "R", ACTION_ACKNOWLEDGED: "A", ACTION_RECEIVED: "A"}


def _element_errors(seg: Segment) -> dict[str, Any]:
    return {
        "position": _int(component(seg, 2, 0)),
        "component_position": _int(component(seg, 2, 1)),
        "error_code": element(seg, 1) or None,
    }


def _int(text: str) -> int | None:
    return int(text) if text.isdecimal() else None


def parse_contrl(msg: Message) -> dict[str, Any]:
    """Read an inbound CONTRL into a ``functional_ack`` document.

    Args:
        msg: a CONTRL message event.

    Returns:
        Plain data valid against :class:`~translators.models.functional_ack.FunctionalAck`:
        the interchange answered (UCI 0020), its status (``A``/``R``, or
        ``P`` when UCI acknowledges but a message is rejected), the UCI error,
        and per UCM the message, status, error and UCS/UCD details.  UCF
        groups are in ``extensions["groups"]``.
    """
    doc: dict[str, Any] = {"ack_type": "CONTRL", "transactions": [], "error_codes": []}
    ext: dict[str, Any] = {"groups": []}
    current: dict[str, Any] | None = None
    seg_err: dict[str, Any] | None = None
    group: dict[str, Any] | None = None
    for seg in msg.segments:
        tag = element(seg, 0)
        if tag == "UCI":
            doc["interchange_control_number"] = element(seg, 1)
            action = element(seg, 4)
            doc["status"] = _STATUS.get(action)
            ext["action"] = action
            ext["acknowledged_sender"] = list(components(seg, 2))
            ext["acknowledged_recipient"] = list(components(seg, 3))
            if element(seg, 5):
                doc["error_codes"].append(element(seg, 5))
                ext["error_segment"] = element(seg, 6) or None
        elif tag == "UCF":
            group = {
                "group_control_number": element(seg, 1),
                "action": element(seg, 4),
                "status": _STATUS.get(element(seg, 4)),
                "error_code": element(seg, 5) or None,
            }
            ext["groups"].append(group)
        elif tag == "UCM":
            action = element(seg, 3)
            current = {
                "set_id": component(seg, 2, 0) or None,
                "control_number": element(seg, 1),
                "status": _STATUS.get(action),
                "error_codes": [element(seg, 4)] if element(seg, 4) else [],
                "segment_errors": [],
            }
            doc["transactions"].append(current)
            seg_err = None
        elif tag == "UCS" and current is not None:
            seg_err = {
                "position": _int(element(seg, 1)),
                "error_code": element(seg, 2) or None,
                "element_errors": [],
            }
            current["segment_errors"].append(seg_err)
        elif tag == "UCD" and seg_err is not None:
            seg_err["element_errors"].append(_element_errors(seg))
    txs = doc["transactions"]
    doc["transactions_included"] = len(txs)
    doc["transactions_accepted"] = sum(1 for t in txs if t["status"] == "A")
    if doc.get("status") == "A" and any(t["status"] == "R" for t in txs):
        doc["status"] = "P"
    if ext["groups"]:
        doc["group_control_number"] = ext["groups"][0]["group_control_number"]
    doc["extensions"] = ext
    return doc


def parse_aperak(msg: Message) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read an inbound APERAK (application error and acknowledgement message).

    Status: BGM 4343 response type (``AP``/``CA`` accepted, ``RE``
    rejected) when sent; otherwise ``E`` (errors reported, acceptance not
    stated) when ERC segments are present and ``A`` when none are.

    Args:
        msg: an APERAK message event.

    Returns:
        ``(functional_ack, application_errors)``: the first valid against
        ``FunctionalAck`` with one transaction per referenced message (RFF
        ACW/DM/ON...), the second ``{"document_number", "references",
        "errors": [{"code", "texts"}]}``.
    """
    refs: list[dict[str, str]] = []
    errors: list[dict[str, Any]] = []
    doc_number = ""
    response = ""
    for seg in msg.segments:
        tag = element(seg, 0)
        if tag == "BGM":
            doc_number = component(seg, 2, 0)
            response = element(seg, 4)
        elif tag == "RFF":
            refs.append({"qualifier": component(seg, 1, 0), "reference": component(seg, 1, 1)})
        elif tag == "ERC":
            errors.append({"code": component(seg, 1, 0), "texts": []})
        elif tag == "FTX" and errors:
            texts = [t for t in components(seg, 4) if t]
            errors[-1]["texts"].extend(texts)
    if response in ("AP", "CA"):
        status = "A"
    elif response == "RE":
        status = "R"
    else:
        status = "E" if errors else "A"
    codes = [e["code"] for e in errors if e["code"]]
    transactions = [
        {
            "set_id": None,
            "control_number": r["reference"],
            "status": status,
            "error_codes": codes,
            "segment_errors": [],
        }
        for r in refs
        if r["qualifier"] in ("ACW", "DM", "ON", "AAK", "ACE") and r["reference"]
    ]
    ack = {
        "ack_type": "APERAK",
        "interchange_control_number": msg.interchange_ref,
        "status": status,
        "error_codes": codes,
        "transactions": transactions,
        "transactions_included": len(transactions),
        "extensions": {"document_number": doc_number, "references": refs},
    }
    app = {
        "document_number": doc_number,
        "response_type": response or None,
        "references": refs,
        "errors": errors,
    }
    return ack, app


__all__ = [
    "ACTION_ACKNOWLEDGED",
    "ACTION_RECEIVED",
    "ACTION_REJECTED",
    "GroupReport",
    "MessageReport",
    "build_contrl",
    "contrl_segments",
    "parse_aperak",
    "parse_contrl",
]
