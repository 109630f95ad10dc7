"""X12 translation: streaming reader, envelope checks, maps and acknowledgments.

Pipeline for one file: :class:`X12Reader` events → :class:`EnvelopeValidator`
→ per transaction set the maps' ``validate`` and ``to_canonical`` (when the
maps package provides them; a set with no map becomes an ``x12.<set>``
syntax-layer document) → TA1/997/999 per the options' ack policy.

Scopes decide what is forwarded: an interchange-scope error drops every
document of that interchange, a group-scope error every document of the
group, a transaction-scope error that set; segment/element errors are
warnings unless ``options.strict``.

:func:`translate_x12` folds a whole buffer into a :class:`Translation`;
:func:`iter_translate_x12` streams (memory bounded by the largest
transaction set) and yields documents as their SE arrives, so a later
interchange- or group-scope error (yielded as a ``RemoteSyntaxError``) tells
the consumer to discard the documents it already got from that envelope.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from ..documents import make_document
from ..errors import Location, RemoteSyntaxError
from ..options import TranslatorOptions
from ..result import Acknowledgment, Envelope, TranslatedDocument, Translation
from ..shapes import Shape
from .acks import (
    GroupOutcome,
    InterchangeOutcome,
    TransactionOutcome,
    accepted_outcome,
    build_functional_ack,
    build_ta1,
    parse_functional_ack,
    parse_ta1,
)
from .envelope import EnvelopeValidator
from .reader import TransactionSetError, X12Reader
from .syntax import (
    NEED_DATA,
    Delimiters,
    GroupEnd,
    GroupStart,
    InterchangeEnd,
    InterchangeStart,
    Segment,
    TechnicalAck,
    TransactionSet,
)
from .writer import X12Writer, write_interchange

_CHUNK: Final = 1 << 20  # whole buffers are still fed through the streaming reader, 1 MiB at a time

X12Item = TranslatedDocument | Acknowledgment | RemoteSyntaxError


#: (document type, schema version, document, extensions, warnings), see ``maps.map_parts``
_Parts = tuple[str, str, dict[str, Any], dict[str, Any], list[str]]


@dataclass(frozen=True, slots=True)
class _Maps:
    to_canonical: Callable[[TransactionSet, TranslatorOptions], Any] | None
    validate: Callable[[TransactionSet], list[RemoteSyntaxError]] | None
    mapped_sets: frozenset[str] | None
    #: to_canonical's result unwrapped (no MappedDocument per set); only used with to_canonical
    parts: Callable[[TransactionSet, TranslatorOptions], _Parts] | None = None
    #: a validate for the sets of one file (it remembers what it found clean), made per file
    validator: Callable[[], Callable[[TransactionSet], list[RemoteSyntaxError]]] | None = None


def _load_maps() -> _Maps:
    # The maps package is developed in parallel; translate without it when absent.
    try:
        mod = importlib.import_module(".maps", __name__)
    except ImportError:
        return _Maps(None, None, None)
    mapped = getattr(mod, "MAPPED_SETS", None)
    to_canonical = getattr(mod, "to_canonical", None)
    return _Maps(
        to_canonical,
        getattr(mod, "validate", None),
        frozenset(mapped) if mapped is not None else None,
        getattr(mod, "map_parts", None) if to_canonical is not None else None,
        getattr(mod, "validator", None),
    )


_MAPS: _Maps | None = None


def _maps() -> _Maps:
    global _MAPS  # noqa: PLW0603 - loaded once, lazily, to avoid an import cycle with the maps
    if _MAPS is None:
        _MAPS = _load_maps()
    return _MAPS


#: The frozen dataclasses of ``translators.result`` made once per transaction set, built from
#: compiled code instead of through their interpreted ``__init__`` (keyword parsing, then one
#: ``object.__setattr__`` per field: ~0.9k instructions a field); see
#: :class:`~translators.shapes.Shape`, which both standards share.
#: The envelope's transaction control number comes last: the rest is the same for a whole group.
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
        "version",
        "application_sender",
        "application_receiver",
        "test_indicator",
        "transaction_control",
    ),
)


@dataclass(slots=True)
class _Marker:
    """End of a group or an interchange, for the whole-file folding."""

    kind: str  # "group" or "interchange"
    rejected: bool


@dataclass(slots=True)
class _Session:
    """Turns reader events into documents, errors and acks for one stream."""

    options: TranslatorOptions
    record_accepted: bool = True
    validator: EnvelopeValidator = field(init=False)
    interchange: InterchangeOutcome | None = None
    group: GroupOutcome | None = None
    isa: InterchangeStart | None = None
    gs: Segment = ()
    warnings: list[str] = field(default_factory=list)
    generated: int = 0
    generated_groups: int = 0
    generated_sets: int = 0
    _envelope_key: tuple[Segment, Segment] | None = None
    _envelope_base: dict[str, Any] = field(default_factory=dict)
    #: the envelope fields of _fast_envelope's headers in _ENVELOPE's order, the last (the
    #: transaction control number) replaced per set; those headers (ISA, GS) follow
    _envelope_values: list[object] = field(default_factory=list)
    _fast_isa: Segment | None = None
    _fast_gs: Segment | None = None
    validate_set: Callable[[TransactionSet], list[RemoteSyntaxError]] | None = field(init=False)

    def __post_init__(self) -> None:
        self.validator = EnvelopeValidator(self.options)
        maps = _MAPS if _MAPS is not None else _maps()
        self.validate_set = maps.validator() if maps.validator is not None else maps.validate

    def _envelope(self, tx_control: str | None) -> Envelope:
        isa = self.isa.segment if self.isa is not None else ()
        gs = self.gs
        key = (isa, gs)
        if self._envelope_key != key:
            # Envelope fields are computed once per group; each set only adds its control number.
            self._envelope_key = key
            self._envelope_base = self._envelope_fields(isa, gs)
        return Envelope(**self._envelope_base, transaction_control=tx_control)

    def _fast_envelope(self, tx_control: str) -> Envelope:
        """:meth:`_envelope` for the hot path, through :data:`_ENVELOPE` (same object, built faster)."""
        isa = self.isa.segment if self.isa is not None else ()
        gs = self.gs
        # By identity: the same header tuples for a whole group (an equality test of the key
        # compared ~26 elements per set). Equal headers in other tuples only recompute the same.
        if isa is not self._fast_isa or gs is not self._fast_gs:
            self._fast_isa = isa
            self._fast_gs = gs
            base = self._envelope_fields(isa, gs)
            self._envelope_values = [base[name] for name in _ENVELOPE.names[:-1]]
            self._envelope_values.append(None)
        # The group's values with this set's control number last, copied into a tuple: cheaper
        # than unpacking them into a new one with it.
        values = self._envelope_values
        values[-1] = tx_control
        return _ENVELOPE.make(tuple(values))

    @staticmethod
    def _envelope_fields(isa: Segment, gs: Segment) -> dict[str, Any]:
        def el(seg: Segment, i: int) -> str | None:
            return seg[i].strip() or None if i < len(seg) else None

        return dict(
            standard="x12",
            sender_qualifier=el(isa, 5),
            sender_id=el(isa, 6),
            receiver_qualifier=el(isa, 7),
            receiver_id=el(isa, 8),
            interchange_control=el(isa, 13),
            group_control=el(gs, 6),
            version=el(gs, 8),
            application_sender=el(gs, 2),
            application_receiver=el(gs, 3),
            test_indicator=el(isa, 15) == "T",
        )

    def handle(self, event: object) -> list[X12Item | _Marker]:
        if isinstance(event, TransactionSet):
            return self._transaction(event)
        out: list[X12Item | _Marker] = []
        errors = (
            self.validator.feed(event)
            if isinstance(event, InterchangeStart | GroupStart | GroupEnd | InterchangeEnd | TechnicalAck)
            else []
        )
        new_warnings = self.validator.take_warnings()
        out.extend(errors)
        if isinstance(event, InterchangeStart):
            self.isa = event
            self.warnings = new_warnings
            self.interchange = InterchangeOutcome(
                header=event.segment, delimiters=event.delimiters, errors=list(errors)
            )
        else:
            self.warnings.extend(new_warnings)
        if isinstance(event, GroupStart):
            self.gs = event.segment
            self.group = GroupOutcome(
                header=event.segment, errors=list(errors), record_accepted=self.record_accepted
            )
        elif isinstance(event, GroupEnd):
            if self.group is not None:
                self.group.trailer = event.segment
                self.group.errors.extend(errors)
                if self.interchange is not None:
                    self.interchange.groups.append(self.group)
                out.append(_Marker("group", self.group.rejected))
            self.group = None
            self.gs = ()
        elif isinstance(event, TechnicalAck):
            out.append(self._ta1_document(event))
        elif isinstance(event, InterchangeEnd):
            if self.interchange is not None:
                self.interchange.errors.extend(errors)
                out.extend(self._acks(self.interchange))
                out.append(_Marker("interchange", self.interchange.rejected))
            self.interchange = None
            self.isa = None
        return out

    def reader_error(self, error: RemoteSyntaxError) -> list[X12Item | _Marker]:
        """Attach an error the reader raised to the open envelope."""
        if isinstance(error, TransactionSetError) and self.group is not None:
            self.group.add(
                TransactionOutcome(
                    set_id=error.set_id,
                    control=error.location.transaction or "",
                    errors=[error],
                    rejected=True,
                )
            )
        elif error.scope == "group" and self.group is not None:
            self.group.errors.append(error)
        elif error.scope == "interchange" and self.interchange is not None:
            self.interchange.errors.append(error)
        return [error]

    def _ta1_document(self, event: TechnicalAck) -> TranslatedDocument:
        return make_document(
            document_type="functional_ack",
            schema_version="1.0",
            document=parse_ta1(event.segment),
            envelope=self._envelope(None),
            transaction_set="TA1",
            extensions={},
            warnings=tuple(self.warnings),
            encoder=self.options.encoder,
        )

    def _transaction(self, tx: TransactionSet) -> list[X12Item | _Marker]:
        errors = self.validator.check_transaction(tx)
        maps = _MAPS if _MAPS is not None else _maps()
        validate = self.validate_set
        if validate is not None and not (errors and any(e.scope == "transaction" for e in errors)):
            errors.extend(validate(tx))
        if not errors:
            # The common case: a clean set (no list copies, no scans of an empty error list).
            try:
                document = self._document(tx, maps, self.warnings)
            except RemoteSyntaxError as exc:
                errors.append(exc)
                if self.group is not None:
                    self.group.add(
                        TransactionOutcome(tx.set_id, tx.control, tx.implementation_ref, errors, True)
                    )
                return [exc]
            out: list[X12Item | _Marker] = []
            if document is None:
                return self._unmapped_rejected(tx, errors, out)
            out.append(document)
            group = self.group
            if group is not None:
                group.add(accepted_outcome(tx.set_id, tx.control, tx.implementation_ref))
            return out
        strict = self.options.strict
        rejected = any(e.scope != "segment" for e in errors) or (strict and bool(errors))
        out = list(errors)
        warnings = [*self.warnings, *(str(e) for e in errors if e.scope == "segment")]
        document = None
        if not rejected:
            try:
                document = self._document(tx, maps, warnings)
            except RemoteSyntaxError as exc:
                errors.append(exc)
                out.append(exc)
                rejected = True
        if document is None and not rejected:
            return self._unmapped_rejected(tx, errors, out)
        if document is not None:
            out.append(document)
        if self.group is not None:
            self.group.add(
                TransactionOutcome(
                    set_id=tx.set_id,
                    control=tx.control,
                    implementation_ref=tx.implementation_ref,
                    errors=errors,
                    rejected=rejected,
                )
            )
        return out

    def _unmapped_rejected(
        self, tx: TransactionSet, errors: list[RemoteSyntaxError], out: list[X12Item | _Marker]
    ) -> list[X12Item | _Marker]:
        # options.reject_unmapped and no map for this set: reject it (AK5 1, not supported).
        error = RemoteSyntaxError(
            f"no map for transaction set {tx.set_id} and unmapped sets are rejected",
            ack_hint="AK5:1",
            scope="transaction",
            location=Location(
                interchange=tx.interchange_control,
                group=tx.group_control,
                transaction=tx.control,
                segment_tag="ST",
                segment_position=1,
                element_position=1,
            ),
        )
        errors.append(error)
        out.append(error)
        if self.group is not None:
            self.group.add(
                TransactionOutcome(
                    set_id=tx.set_id,
                    control=tx.control,
                    implementation_ref=tx.implementation_ref,
                    errors=errors,
                    rejected=True,
                )
            )
        return out

    def _document(self, tx: TransactionSet, maps: _Maps, warnings: list[str]) -> TranslatedDocument | None:
        mapped = None
        options = self.options
        if (
            options.map_business
            and maps.to_canonical is not None
            and (maps.mapped_sets is None or tx.set_id in maps.mapped_sets)
        ):
            if maps.parts is not None:
                doc_type, schema_version, document, extensions, map_warnings = maps.parts(tx, options)
                return make_document(
                    document_type=doc_type,
                    schema_version=schema_version,
                    document=document,
                    envelope=self._fast_envelope(tx.control),
                    transaction_set=tx.set_id,
                    extensions=extensions,
                    warnings=(*warnings, *map_warnings) if warnings or map_warnings else (),
                    encoder=options.encoder,
                )
            mapped = maps.to_canonical(tx, options)
        envelope = self._envelope(tx.control)
        if mapped is not None:
            return make_document(
                document_type=mapped.document_type,
                schema_version=mapped.schema_version,
                document=mapped.document,
                envelope=envelope,
                transaction_set=tx.set_id,
                extensions=mapped.extensions,
                warnings=(*warnings, *mapped.warnings),
                encoder=options.encoder,
            )
        if tx.set_id in ("997", "999") and options.map_business:
            return make_document(
                document_type="functional_ack",
                schema_version="1.0",
                document=parse_functional_ack(tx),
                envelope=envelope,
                transaction_set=tx.set_id,
                extensions={},
                warnings=tuple(warnings),
                encoder=options.encoder,
            )
        if options.reject_unmapped:
            return None
        isa = self.isa.segment if self.isa is not None else ()
        # Imported here, not at the top: this package is compiled by mypyc, and a compiled package
        # body runs before its __path__ is set, so it cannot import an uncompiled submodule (the
        # pydantic syntax model) while it initialises; Python caches the module after the first call.
        from .syntax_model import transaction_document

        return make_document(
            document_type=f"x12.{tx.set_id}",
            schema_version="1.0",
            document=transaction_document(tx, isa, self.gs),
            envelope=envelope,
            transaction_set=tx.set_id,
            extensions={},
            warnings=tuple(warnings),
            encoder=options.encoder,
        )

    def _acks(self, outcome: InterchangeOutcome) -> list[X12Item | _Marker]:
        opts = self.options
        out: list[X12Item | _Marker] = []
        isa13 = outcome.header[13].strip() if len(outcome.header) > 13 else None
        requested = len(outcome.header) > 14 and outcome.header[14].strip() == "1"
        want_ta1 = opts.ta1 == "always" or (opts.ta1 == "on_error" and (outcome.rejected or requested))
        base = opts.control_numbers
        if want_ta1:
            payload = build_ta1(outcome, opts, interchange_control=base.interchange + self.generated)
            self.generated += 1
            out.append(
                Acknowledgment(kind="TA1", payload=payload, accepted=not outcome.rejected, answers=isa13)
            )
        if outcome.rejected or opts.functional_ack == "never":
            return out
        has_errors = any(
            g.rejected or g.accepted != g.received or any(t.errors for t in g.transactions)
            for g in outcome.groups
        )
        if opts.functional_ack == "on_error" and not has_errors:
            return out
        built = build_functional_ack(
            outcome,
            opts,
            interchange_control=base.interchange + self.generated,
            group_control=base.group + self.generated_groups,
            transaction_control=base.transaction + self.generated_sets,
        )
        if built is not None:
            payload, kind, accepted = built
            groups = sum(1 for g in outcome.groups if g.header[1:2] != ("FA",))
            self.generated += 1
            self.generated_groups += groups
            self.generated_sets += groups
            out.append(Acknowledgment(kind=kind, payload=payload, accepted=accepted, answers=isa13))
        return out

    def finish(self) -> list[X12Item | _Marker]:
        """End of input: nothing open remains (the reader closed every envelope)."""
        return []


def _pump(reader: X12Reader, session: _Session, out: list[X12Item | _Marker]) -> None:
    """Turn every event the reader can produce now into items, appended to ``out``.

    A plain loop filling a list, not a generator: compiled by mypyc, a generator per event (and
    ``yield from`` each handler's list) cost more than the handling of most envelope events.
    """
    while True:
        try:
            event = reader.next_event()
        except RemoteSyntaxError as exc:
            out.extend(session.reader_error(exc))
            continue
        if isinstance(event, TransactionSet):
            # Transaction sets are nearly every event: straight to their handler.
            out.extend(session._transaction(event))
        elif event is NEED_DATA:
            return
        else:
            out.extend(session.handle(event))


def _run(
    chunks: Iterable[bytes], options: TranslatorOptions, *, record_accepted: bool
) -> Iterator[X12Item | _Marker]:
    reader = X12Reader(options)
    session = _Session(options, record_accepted=record_accepted)
    out: list[X12Item | _Marker] = []
    for chunk in chunks:
        # At most _CHUNK bytes per pump, so the items waiting in ``out`` stay bounded whatever
        # size the caller's chunks are.
        for start in range(0, len(chunk), _CHUNK):
            reader.receive_data(chunk[start : start + _CHUNK] if len(chunk) > _CHUNK else chunk)
            _pump(reader, session, out)
            yield from out
            out.clear()
    reader.receive_data(b"")
    _pump(reader, session, out)
    out.extend(session.finish())
    yield from out


def iter_translate_x12(
    chunks: Iterable[bytes], options: TranslatorOptions | None = None
) -> Iterator[X12Item]:
    """Translate a stream of X12 bytes, yielding results as soon as they are known.

    Memory stays bounded by the largest transaction set (accepted sets are
    counted, not kept, so a 997/999 lists AK2 loops only for sets in error).

    Args:
        chunks: the input in pieces of any size.
        options: policy; defaults are lenient.

    Yields:
        :class:`TranslatedDocument` per accepted set (or TA1), every
        :class:`RemoteSyntaxError`, and the :class:`Acknowledgment` of each
        interchange after its IEA.  A document is final only if no error of
        scope ``group``/``interchange`` for its envelope follows.
    """
    opts = options or TranslatorOptions()
    for item in _run(chunks, opts, record_accepted=False):
        if not isinstance(item, _Marker):
            yield item


def translate_x12(data: bytes, options: TranslatorOptions | None = None) -> Translation:
    """Translate one X12 file; see :func:`translators.translate`.

    Args:
        data: the whole file.
        options: policy.

    Returns:
        Documents of every accepted set in accepted groups and interchanges,
        the acknowledgments, every error; ``rejected`` when no interchange
        in the file was usable.

    Bad input never raises: every problem is a ``RemoteSyntaxError`` in
    ``errors`` (with its ack code), and the acks answer it.
    """
    opts = options or TranslatorOptions()
    documents: list[TranslatedDocument] = []
    acks: list[Acknowledgment] = []
    errors: list[RemoteSyntaxError] = []
    pending_group: list[TranslatedDocument] = []
    pending_interchange: list[TranslatedDocument] = []
    interchanges = 0
    usable = 0
    reader = X12Reader(opts)
    session = _Session(opts, record_accepted=True)
    items: list[X12Item | _Marker] = []
    # The whole result is kept anyway, so no generator between the reader and the folding.
    for start in range(0, len(data), _CHUNK):
        reader.receive_data(data[start : start + _CHUNK])
        _pump(reader, session, items)
    reader.receive_data(b"")
    _pump(reader, session, items)
    items.extend(session.finish())
    for item in items:
        if isinstance(item, TranslatedDocument):
            pending_group.append(item)
        elif isinstance(item, Acknowledgment):
            acks.append(item)
        elif isinstance(item, RemoteSyntaxError):
            errors.append(item)
        elif item.kind == "group":
            if not item.rejected:
                pending_interchange.extend(pending_group)
            pending_group = []
        else:
            interchanges += 1
            if not item.rejected:
                usable += 1
                # TA1 documents sit outside groups.
                documents.extend(pending_interchange)
                documents.extend(pending_group)
            pending_interchange = []
            pending_group = []
    rejected = usable == 0
    return Translation(
        standard="x12", documents=tuple(documents), acks=tuple(acks), errors=tuple(errors), rejected=rejected
    )


__all__ = [
    "Delimiters",
    "EnvelopeValidator",
    "X12Item",
    "X12Reader",
    "X12Writer",
    "iter_translate_x12",
    "translate_x12",
    "write_interchange",
]
