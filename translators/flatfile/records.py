"""Assemble records into canonical documents (shared by the CSV and fixed-width readers).

Invariant: each record type's *current object* is the object its last
record filled; a child record attaches to its parent's current object, and
a new parent forgets its descendants' current objects, so a line-level
allowance after a new line attaches to that new line, never to the previous.
Documents are validated against their canonical model once complete; a
document that does not validate is reported (scope ``transaction``) and its
siblings still go through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..errors import LocalTranslationError, Location, RemoteSyntaxError
from ..models import DOCUMENT_MODELS, SCHEMA_VERSIONS
from ..result import Envelope, Standard, TranslatedDocument, Translation
from .layout import FieldSpec, RecordSpec
from .paths import PathError, append_to, set_path


@dataclass(slots=True)
class _Document:
    data: dict[str, Any]
    line: int
    key: tuple[str, ...] | None = None


@dataclass(slots=True)
class DocumentBuilder:
    """Folds records, in file order, into documents."""

    records: tuple[RecordSpec, ...]
    document_type: str
    standard: Standard
    documents: list[_Document] = field(default_factory=list)
    _current: dict[str, dict[str, Any]] = field(default_factory=dict)
    _descendants: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parents = {r.name: r.parent for r in self.records}
        for record in self.records:
            ancestor = record.parent
            while ancestor is not None:
                self._descendants.setdefault(ancestor, set()).add(record.name)
                ancestor = parents.get(ancestor)

    @property
    def last_key(self) -> tuple[str, ...] | None:
        """Group key of the document being filled."""
        return self.documents[-1].key if self.documents else None

    def add(
        self,
        record: RecordSpec,
        values: list[tuple[FieldSpec, str | int | None]],
        *,
        line: int,
        key: tuple[str, ...] | None = None,
    ) -> None:
        """Attach one record's values.

        Raises:
            RemoteSyntaxError: a child record comes before any parent record.
            LocalTranslationError: the layout's paths collide (a layout bug).
        """
        if record.parent is None:
            target: dict[str, Any] = {}
            self.documents.append(_Document(target, line, key))
            self._current = {}
        else:
            parent = self._current.get(record.parent)
            if parent is None:
                raise RemoteSyntaxError(
                    f"line {line}: {record.name} record before any {record.parent} record",
                    scope="interchange",
                    location=Location(segment_tag=record.name, segment_position=line),
                )
            target = self._place(parent, record)
        for name in self._descendants.get(record.name, ()):
            self._current.pop(name, None)
        self._current[record.name] = target
        for spec, found in values:
            value = spec.value if spec.value is not None else found
            if value is None:
                continue
            try:
                set_path(target, spec.path, value)
            except PathError as exc:
                raise LocalTranslationError(f"layout record {record.name}: {exc}") from None

    @staticmethod
    def _place(parent: dict[str, Any], record: RecordSpec) -> dict[str, Any]:
        if record.collection is None:
            return parent
        try:
            return append_to(parent, record.collection)
        except PathError as exc:
            raise LocalTranslationError(f"layout record {record.name}: {exc}") from None

    def finish(self) -> Translation:
        """Validate the documents and fold them into a translation.

        Raises:
            RemoteSyntaxError: the file held no record, or no document validates.
        """
        if not self.documents:
            raise RemoteSyntaxError("the file holds no document", scope="interchange")
        model = DOCUMENT_MODELS[self.document_type]
        documents: list[TranslatedDocument] = []
        errors: list[RemoteSyntaxError] = []
        for number, doc in enumerate(self.documents, start=1):
            try:
                model.model_validate(doc.data)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "document"
                more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
                errors.append(
                    RemoteSyntaxError(
                        f"document {number} starting at line {doc.line}: {where}: {first['msg']}{more}",
                        scope="transaction",
                        location=Location(transaction=str(number), segment_position=doc.line),
                    )
                )
                continue
            # Document-level ``extensions.*`` fields are source data no canonical
            # field holds: they travel beside the document, as the EDI maps do it.
            extensions = doc.data.pop("extensions", None) or {}
            documents.append(
                TranslatedDocument(
                    document_type=self.document_type,
                    schema_version=SCHEMA_VERSIONS[self.document_type],
                    document=doc.data,
                    extensions=extensions,
                    envelope=Envelope(standard=self.standard, transaction_control=str(number)),
                    transaction_set=self.standard,
                )
            )
        if not documents:
            raise RemoteSyntaxError(f"no document in the file is valid: {errors[0]}", scope="interchange")
        return Translation(standard=self.standard, documents=tuple(documents), errors=tuple(errors))


def decode(data: bytes, encoding: str) -> str:
    """Decode a flat file, dropping a BOM and a DOS end-of-file mark.

    Raises:
        RemoteSyntaxError: the bytes are not in the layout's encoding.
    """
    if data.startswith(b"\xef\xbb\xbf") and encoding.replace("-", "").lower() == "utf8":
        data = data[3:]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RemoteSyntaxError(
            f"line {line}: byte 0x{data[exc.start]:02x} is not valid {encoding}",
            scope="interchange",
            location=Location(byte_offset=exc.start, segment_position=line),
        ) from None
    except LookupError:
        raise LocalTranslationError(f"unknown encoding {encoding!r} in layout") from None
    return text.rstrip("\x1a")


__all__ = ["DocumentBuilder", "decode"]
