"""Fold EDIFACT reader events into documents, errors and CONTRL acknowledgments.

Strategy: :class:`EdifactTranslator` takes events one at a time and hands
back what can be released at that point, so the whole-file
:func:`translate_edifact` and the streaming :func:`iter_translate_edifact`
share every rule:

* a message with errors (from the reader, or from the map's optional
  ``validate``) is rejected alone: its errors go to ``errors`` and to the
  CONTRL (UCM action 4), its valid siblings become documents;
* an interchange-scope error (UNB fields, UNZ count/reference, a framing
  error raised by the reader) rejects every document of that interchange;
* a message goes to ``maps.to_canonical`` when the maps package provides
  one and ``options.map_business``; otherwise (or when that returns None)
  it becomes an ``edifact.<TYPE>`` document whose document is the lossless
  syntax layer (:class:`~.syntax_model.MessageDocument`), unless
  ``options.reject_unmapped`` (then CONTRL 0085 = 17, no agreement);
* inbound CONTRL and APERAK become ``functional_ack`` documents.

CONTRL policy (``options.functional_ack``): ``always`` answers every
interchange; ``on_error`` answers interchanges with errors and those whose
UNB 0031 asks for an acknowledgment; ``never`` answers none.  An
interchange holding only CONTRL messages is answered only when it has
errors, so two gateways never acknowledge each other's acknowledgments.
At most :data:`MAX_LISTED` accepted messages per interchange get their own
UCM; beyond that UCI action 7 covers them ("lower levels acknowledged if not
explicitly rejected"), which keeps memory bounded on huge interchanges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, cast

from ..documents import make_document
from ..errors import Location, RemoteSyntaxError
from ..options import TranslatorOptions
from ..result import Acknowledgment, Envelope, TranslatedDocument, Translation
from ..shapes import Shape
from . import acks
from .reader import EdifactReader
from .syntax import Event, GroupEnd, GroupStart, InterchangeEnd, InterchangeStart, Message, Sentinel
from .syntax_model import SCHEMA_VERSION, message_document

MAX_LISTED = 10_000
#: message types read by :mod:`.acks` (acknowledgment reconciliation), not by a business map
_ACKNOWLEDGMENTS: Final = frozenset(("CONTRL", "APERAK"))

Output = TranslatedDocument | Acknowledgment | RemoteSyntaxError
_Mapper = Callable[[Message, TranslatorOptions], Any]
_Validator = Callable[[Message], list[RemoteSyntaxError]]
_CheckedMapper = Callable[[Message, TranslatorOptions], tuple[Any, list[RemoteSyntaxError]]]
#: ``maps.builder.MappedParts`` (the maps package is optional: not imported here)
_Parts = tuple[str, str, dict[str, Any], dict[str, Any], tuple[str, ...]]


_MAPS: tuple[_Mapper | None, _Validator | None, _CheckedMapper | None] | None = None

#: Per message (the hot path): built from compiled code instead of through the interpreted
#: ``__init__`` of these dataclasses of ``translators.result`` (see :mod:`translators.shapes`).
_ENVELOPE: Final = Shape(
    Envelope,
    (
        "standard",
        "sender_qualifier",
        "sender_id",
        "receiver_qualifier",
        "receiver_id",
        "interchange_control",
        "group_control",
        "transaction_control",
        "version",
        "application_sender",
        "application_receiver",
        "test_indicator",
    ),
)


def _load_maps() -> tuple[_Mapper | None, _Validator | None, _CheckedMapper | None]:
    # The maps package is delivered separately; the syntax layer works without it.  Looked up
    # once per process, not once per file.
    global _MAPS  # noqa: PLW0603 - loaded lazily (import cycle), then fixed
    if _MAPS is None:
        try:
            from . import maps
        except ImportError:
            return None, None, None
        _MAPS = (
            getattr(maps, "to_canonical", None),
            getattr(maps, "validate", None),
            getattr(maps, "to_canonical_parts", None) or getattr(maps, "to_canonical_checked", None),
        )
    return _MAPS


class EdifactTranslator:
    """Per-file translation state: one interchange open at a time.

    Args:
        options: policy (acks, strictness, mapping).
        hold_documents: keep an interchange's documents until its UNZ so a
            rejected interchange releases none (the default).  False
            releases each document as its message is read: memory stays
            bounded on a single huge interchange, and the caller must drop
            the documents of an interchange that ends with an
            interchange-scope error.
    """

    def __init__(self, options: TranslatorOptions, *, hold_documents: bool = True) -> None:
        self.options = options
        self.hold_documents = hold_documents
        # Read once: options is a frozen dataclass of another module (a generic
        # attribute lookup per message once this module is compiled).
        self._strict = options.strict
        self._reject_unmapped = options.reject_unmapped
        self._to_canonical, self._validate, self._checked = (
            _load_maps() if options.map_business else (None, None, None)
        )
        self._start: InterchangeStart | None = None
        self._ic_errors: list[RemoteSyntaxError] = []
        self._msg_errors: list[RemoteSyntaxError] = []
        self._docs: list[TranslatedDocument] = []
        self._messages: list[acks.MessageReport] = []
        self._groups: list[acks.GroupReport] = []
        self._group: GroupStart | None = None
        self._group_errors: list[RemoteSyntaxError] = []
        self._group_messages: list[acks.MessageReport] = []
        self._listed = 0
        self._had_errors = False
        self._only_contrl = True
        self.interchanges_rejected = 0
        self.interchanges = 0

    # -- events -------------------------------------------------------------------

    def feed(self, event: Event) -> list[Output]:
        """Take one event; return documents/acks/errors that are final now.

        Documents of an interchange are held until its UNZ, so a rejected
        interchange releases none.

        Args:
            event: the next reader event.

        Returns:
            What this event completes, in order.
        """
        # Message first: all but a handful of the events are messages.
        if isinstance(event, Message):
            self._message(event)
            if not self.hold_documents and self._docs:
                released: list[Output] = list(self._docs)
                self._docs = []
                return released
            return []
        if isinstance(event, InterchangeStart):
            self._open(event)
            return []
        if isinstance(event, GroupStart):
            self._group, self._group_errors, self._group_messages = event, list(event.errors), []
            return []
        if isinstance(event, GroupEnd):
            self._close_group(event)
            return []
        return self._close(event)

    def fail(self, error: RemoteSyntaxError) -> list[Output]:
        """The reader raised a framing error: reject the open interchange.

        Args:
            error: what the reader raised.

        Returns:
            The error and, per policy, a negative CONTRL.
        """
        if self._start is None:
            return [error]
        self._ic_errors.append(error)
        self._had_errors = True
        return self._finish()

    # -- internals ----------------------------------------------------------------

    def _open(self, start: InterchangeStart) -> None:
        self._start = start
        self._ic_errors = list(start.errors)
        self._msg_errors = []
        self._docs, self._messages, self._groups = [], [], []
        self._group = None
        self._listed = 0
        self._had_errors = bool(start.errors)
        self._only_contrl = True
        self.interchanges += 1

    def _envelope(self, msg: Message) -> Envelope:
        s = self._start
        assert s is not None
        g = self._group
        return _ENVELOPE.make(
            (
                "edifact",
                s.sender_qualifier,
                s.sender_id,
                s.recipient_qualifier,
                s.recipient_id,
                s.control_ref,
                msg.group_ref,
                msg.reference,
                f"{msg.version}:{msg.release}:{msg.agency}",
                g.sender_id if g else None,
                g.recipient_id if g else None,
                s.test_indicator,
            )
        )

    def _message(self, msg: Message) -> None:
        if msg.type != "CONTRL":
            self._only_contrl = False
        # Copies only when there is something to copy: most messages have
        # neither errors nor warnings (hot path, once per message).
        errors: list[RemoteSyntaxError] = list(msg.errors) if msg.errors else []
        warnings: list[str] = list(msg.warnings) if msg.warnings else []
        mapped: Any = None
        if not errors:
            found: list[RemoteSyntaxError] = []
            if self._checked is not None and msg.type not in _ACKNOWLEDGMENTS:
                # validated and mapped in one pass over the segments (instead of a validation pass,
                # then the map's): the map is used only when no error is kept
                mapped, found = self._checked(msg, self.options)
            elif self._validate is not None:
                found = self._validate(msg)
            for err in found:
                if self._strict or err.scope != "segment":
                    errors.append(err)
                else:
                    warnings.append(str(err))
        doc: TranslatedDocument | None = None
        if not errors:
            doc = self._document(msg, warnings, errors, mapped)
        if errors:
            self._had_errors = True
        if errors or self._listed < MAX_LISTED:
            self._listed += 0 if errors else 1
            report = acks.MessageReport.of(msg, errors)
            (self._group_messages if self._group is not None else self._messages).append(report)
            if errors:
                self._msg_errors.extend(errors)
        if doc is not None:
            self._docs.append(doc)

    def _document(
        self, msg: Message, warnings: list[str], errors: list[RemoteSyntaxError], mapped: Any
    ) -> TranslatedDocument | None:
        # ``mapped``: what the one-pass map and validation made (``self._checked``); without it the
        # map runs here, after the validation.
        env = self._envelope(msg)
        encoder = self.options.encoder
        if msg.type == "CONTRL":
            return make_document(
                document_type="functional_ack",
                schema_version="1.0",
                document=acks.parse_contrl(msg),
                envelope=env,
                transaction_set="CONTRL",
                extensions={},
                warnings=tuple(warnings),
                encoder=encoder,
            )
        if msg.type == "APERAK":
            ack, app = acks.parse_aperak(msg)
            return make_document(
                document_type="functional_ack",
                schema_version="1.0",
                document=ack,
                envelope=env,
                transaction_set="APERAK",
                extensions={"application_errors": app},
                warnings=tuple(warnings),
                encoder=encoder,
            )
        if self._checked is None and self._to_canonical is not None:
            mapped = self._to_canonical(msg, self.options)
        if type(mapped) is tuple:
            # a map's MappedParts (maps.to_canonical_parts); its extensions are this message's alone
            parts = cast(_Parts, mapped)
            return make_document(
                document_type=parts[0],
                schema_version=parts[1],
                document=parts[2],
                envelope=env,
                transaction_set=msg.type,
                extensions=parts[3],
                warnings=(*warnings, *parts[4]) if warnings else parts[4],
                encoder=encoder,
            )
        if mapped is not None:
            # The map made ``extensions`` for this message alone: no copy.
            return make_document(
                document_type=mapped.document_type,
                schema_version=mapped.schema_version,
                document=mapped.document,
                envelope=env,
                transaction_set=msg.type,
                extensions=mapped.extensions,
                warnings=(*warnings, *mapped.warnings) if warnings else tuple(mapped.warnings),
                encoder=encoder,
            )
        if self._reject_unmapped:
            errors.append(
                RemoteSyntaxError(
                    f"no map for message type {msg.type} {msg.version_string}"
                    " and unmapped messages are rejected",
                    ack_hint="17",
                    scope="transaction",
                    location=Location(
                        interchange=msg.interchange_ref,
                        group=msg.group_ref,
                        transaction=msg.reference,
                        segment_tag="UNH",
                        segment_position=1,
                        element_position=2,
                        component_position=1,
                        byte_offset=msg.byte_offset,
                    ),
                )
            )
            return None
        return make_document(
            document_type=f"edifact.{msg.type}",
            schema_version=SCHEMA_VERSION,
            document=message_document(msg, self._start),
            envelope=env,
            transaction_set=msg.type,
            extensions={},
            warnings=tuple(warnings),
            encoder=encoder,
        )

    def _close_group(self, end: GroupEnd) -> None:
        g = self._group
        if g is None:
            return
        errors = self._group_errors + list(end.errors)
        if errors:
            self._had_errors = True
            self._msg_errors.extend(errors)
            # A rejected group releases none of its messages' documents.
            refs = {r.reference for r in self._group_messages}
            self._docs = [
                d
                for d in self._docs
                if not (d.envelope.group_control == g.reference and d.envelope.transaction_control in refs)
            ]
        self._groups.append(
            acks.GroupReport(
                reference=g.reference,
                sender=(g.sender_id, g.sender_qualifier),
                recipient=(g.recipient_id, g.recipient_qualifier),
                errors=tuple(errors),
                messages=tuple(self._group_messages),
            )
        )
        self._group = None

    def _close(self, end: InterchangeEnd) -> list[Output]:
        self._ic_errors.extend(end.errors)
        if end.errors:
            self._had_errors = True
        return self._finish()

    def _finish(self) -> list[Output]:
        start = self._start
        assert start is not None
        out: list[Output] = []
        rejected = bool(self._ic_errors)
        if rejected:
            self.interchanges_rejected += 1
        else:
            out.extend(self._docs)
        out.extend(self._ic_errors)
        out.extend(self._msg_errors)
        ack = self._ack(start)
        if ack is not None:
            out.append(ack)
        self._start = None
        self._docs = []
        self._msg_errors = []
        return out

    def _ack(self, start: InterchangeStart) -> Acknowledgment | None:
        policy = self.options.functional_ack
        if policy == "never":
            return None
        if self._only_contrl and not self._had_errors:
            return None
        if policy == "on_error" and not self._had_errors and not start.ack_request:
            return None
        payload = acks.build_contrl(
            start,
            self.options,
            interchange_errors=self._ic_errors,
            messages=self._messages,
            groups=self._groups,
        )
        return Acknowledgment(
            kind="CONTRL", payload=payload, accepted=not self._had_errors, answers=start.control_ref
        )


def _events(reader: EdifactReader) -> Iterator[Event]:
    while True:
        event = reader.next_event()
        if isinstance(event, Sentinel):
            return
        yield event


def iter_translate_edifact(
    chunks: Iterable[bytes], options: TranslatorOptions, *, hold_documents: bool = True
) -> Iterator[Output]:
    """Translate a stream in bounded memory, yielding results as they become final.

    With ``hold_documents`` (default) documents of an interchange are
    released at its UNZ, never before, so memory holds one interchange's
    documents.  With ``hold_documents=False`` each document is yielded as
    soon as its message is read (memory bounded by one message); an
    interchange-scope :class:`RemoteSyntaxError` yielded later then means
    the caller must drop that interchange's documents (same
    ``envelope.interchange_control``).

    Args:
        chunks: the file, in pieces of any size.
        options: policy.
        hold_documents: see above.

    Yields:
        :class:`TranslatedDocument`, :class:`RemoteSyntaxError` (problems)
        and :class:`Acknowledgment` (CONTRL) objects.
    """
    reader = EdifactReader(options)
    translator = EdifactTranslator(options, hold_documents=hold_documents)
    try:
        for chunk in chunks:
            if not chunk:
                continue
            reader.receive_data(chunk)
            for event in _events(reader):
                yield from translator.feed(event)
        reader.receive_data(b"")
        for event in _events(reader):
            yield from translator.feed(event)
    except RemoteSyntaxError as exc:
        yield from translator.fail(exc)


def translate_edifact(data: bytes, options: TranslatorOptions) -> Translation:
    """Translate one EDIFACT file; see :func:`translators.translate`.

    Args:
        data: the whole file.
        options: policy.

    Returns:
        Documents of the accepted messages, CONTRL acknowledgments per
        policy, every problem found, and ``rejected`` when no document may
        be forwarded because an interchange-level error occurred.
    """
    if len(data) > options.max_interchange_bytes:
        error = RemoteSyntaxError(
            f"file larger than {options.max_interchange_bytes} bytes", scope="interchange"
        )
        return Translation(standard="edifact", errors=(error,), rejected=True)
    docs: list[TranslatedDocument] = []
    errors: list[RemoteSyntaxError] = []
    ack_list: list[Acknowledgment] = []
    translator = EdifactTranslator(options)
    for item in _run(data, options, translator):
        if isinstance(item, TranslatedDocument):
            docs.append(item)
        elif isinstance(item, Acknowledgment):
            ack_list.append(item)
        else:
            errors.append(item)
    interchange_error = any(e.scope == "interchange" for e in errors)
    return Translation(
        standard="edifact",
        documents=tuple(docs),
        acks=tuple(ack_list),
        errors=tuple(errors),
        rejected=interchange_error and not docs,
    )


def _run(data: bytes, options: TranslatorOptions, translator: EdifactTranslator) -> Iterator[Output]:
    reader = EdifactReader(options)
    reader.receive_data(data)
    reader.receive_data(b"")
    try:
        for event in _events(reader):
            yield from translator.feed(event)
    except RemoteSyntaxError as exc:
        yield from translator.fail(exc)


__all__ = ["MAX_LISTED", "EdifactTranslator", "Output", "iter_translate_edifact", "translate_edifact"]
