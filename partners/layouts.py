"""Profile schema of flat-file and XML layouts.

These pydantic models are what an admin writes under ``[layouts.NAME]``;
each builds the pure layout dataclass the translators interpret
(:mod:`translators.flatfile.layout`, :mod:`translators.xml.layout`), and the
layout's own consistency check runs at profile load so a broken layout is
reported with its file and line, not discovered on the first file.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from translators.flatfile import CsvLayout, FieldSpec, FixedLayout, RecordSpec, layout_problems
from translators.models import DOCUMENT_MODELS
from translators.xml import XmlField, XmlLayout, XmlNode, xml_layout_problems

FieldTypeName = Literal["string", "decimal", "integer", "date", "time"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_document_type(name: str) -> str:
    if name not in DOCUMENT_MODELS:
        raise ValueError(f"unknown document type {name!r}; known: {', '.join(sorted(DOCUMENT_MODELS))}")
    return name


class FlatFieldModel(_Strict):
    """One flat-file field (see :class:`translators.flatfile.FieldSpec`)."""

    path: str = Field(min_length=1, description="canonical field path, e.g. 'lines' item 'product.gtin'")
    column: int | None = Field(default=None, ge=1, description="CSV column, 1-based")
    name: str | None = Field(default=None, description="CSV column by header name")
    start: int | None = Field(default=None, ge=1, description="fixed-width start position, 1-based")
    length: int | None = Field(default=None, ge=1, description="fixed-width length")
    type: FieldTypeName = "string"
    format: str | None = Field(default=None, description="strftime format for date/time, e.g. '%Y%m%d'")
    implied_decimals: int = Field(default=0, ge=0, le=9)
    decimals: int | None = Field(default=None, ge=0, le=9, description="explicit decimals written on output")
    value: str | None = Field(default=None, description="constant value (read) / selector (write)")
    align: Literal["left", "right"] | None = None
    pad: str | None = Field(default=None, min_length=1, max_length=1)

    def build(self) -> FieldSpec:
        """Return the translator's field spec."""
        return FieldSpec(**self.model_dump())


class RecordModel(_Strict):
    """One record type of a flat file."""

    name: str = Field(min_length=1)
    tag: str | None = Field(default=None, description="record discriminator")
    parent: str | None = Field(default=None, description="parent record name; none starts a document")
    collection: str | None = Field(default=None, description="list path filled by one element per record")
    fields: list[FlatFieldModel] = Field(default_factory=list)

    def build(self) -> RecordSpec:
        """Return the translator's record spec."""
        return RecordSpec(
            name=self.name,
            tag=self.tag,
            parent=self.parent,
            collection=self.collection,
            fields=tuple(f.build() for f in self.fields),
        )


class CsvLayoutModel(_Strict):
    """A CSV layout (``format = "csv"``)."""

    format: Literal["csv"]
    document_type: str
    delimiter: str = ","
    quotechar: str = '"'
    header_row: bool = False
    encoding: str = "utf-8"
    record_column: int | None = Field(default=None, ge=1)
    group_by: list[int | str] = Field(default_factory=list)
    line_terminator: str = "\r\n"
    quoting: Literal["minimal", "all", "none"] = "minimal"
    records: list[RecordModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_document_type(self.document_type)
        problems = layout_problems(self.build())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def build(self) -> CsvLayout:
        """Return the translator's CSV layout."""
        return CsvLayout(
            document_type=self.document_type,
            records=tuple(r.build() for r in self.records),
            delimiter=self.delimiter,
            quotechar=self.quotechar,
            header_row=self.header_row,
            encoding=self.encoding,
            record_column=self.record_column,
            group_by=tuple(self.group_by),
            line_terminator=self.line_terminator,
            quoting=self.quoting,
        )


class FixedLayoutModel(_Strict):
    """A fixed-width layout (``format = "fixed"``)."""

    format: Literal["fixed"]
    document_type: str
    encoding: str = "utf-8"
    tag_start: int = Field(default=1, ge=1)
    record_length: int | None = Field(default=None, ge=1)
    line_terminator: str = "\n"
    records: list[RecordModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_document_type(self.document_type)
        problems = layout_problems(self.build())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def build(self) -> FixedLayout:
        """Return the translator's fixed-width layout."""
        return FixedLayout(
            document_type=self.document_type,
            records=tuple(r.build() for r in self.records),
            encoding=self.encoding,
            tag_start=self.tag_start,
            record_length=self.record_length,
            line_terminator=self.line_terminator,
        )


class XmlFieldModel(_Strict):
    """One XML value (see :class:`translators.xml.XmlField`)."""

    path: str = Field(min_length=1)
    xpath: str | None = Field(default=None, min_length=1)
    type: FieldTypeName = "string"
    format: str | None = None
    implied_decimals: int = Field(default=0, ge=0, le=9)
    value: str | None = None

    def build(self) -> XmlField:
        """Return the translator's field."""
        return XmlField(**self.model_dump())


class XmlNodeModel(_Strict):
    """A repeating XML element mapped to a canonical list."""

    xpath: str = Field(min_length=1)
    collection: str = Field(min_length=1)
    fields: list[XmlFieldModel] = Field(default_factory=list)
    nodes: list[XmlNodeModel] = Field(default_factory=list)

    def build(self) -> XmlNode:
        """Return the translator's node."""
        return XmlNode(
            xpath=self.xpath,
            collection=self.collection,
            fields=tuple(f.build() for f in self.fields),
            nodes=tuple(n.build() for n in self.nodes),
        )


class XmlLayoutModel(_Strict):
    """An XML layout (``format = "xml"``)."""

    format: Literal["xml"]
    document_type: str
    root: str = Field(min_length=1, description="root element name, 'prefix:Name' when namespaced")
    document_xpath: str = "."
    namespaces: dict[str, str] = Field(default_factory=dict)
    encoding: str = "UTF-8"
    fields: list[XmlFieldModel] = Field(default_factory=list)
    nodes: list[XmlNodeModel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_document_type(self.document_type)
        problems = xml_layout_problems(self.build(), outbound=False)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def build(self) -> XmlLayout:
        """Return the translator's XML layout."""
        return XmlLayout(
            document_type=self.document_type,
            root=self.root,
            document_xpath=self.document_xpath,
            namespaces=dict(self.namespaces),
            fields=tuple(f.build() for f in self.fields),
            nodes=tuple(n.build() for n in self.nodes),
            encoding=self.encoding,
        )


LayoutModel = Annotated[CsvLayoutModel | FixedLayoutModel | XmlLayoutModel, Field(discriminator="format")]

__all__ = [
    "CsvLayoutModel",
    "FixedLayoutModel",
    "FlatFieldModel",
    "LayoutModel",
    "RecordModel",
    "XmlFieldModel",
    "XmlLayoutModel",
    "XmlNodeModel",
]
