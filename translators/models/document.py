"""Fields every canonical business document shares.

Each document model inherits :class:`BusinessDocument` so that references,
dates, parties and notes sit under the same keys in every document type, and
a sink can find the ship-to party of an order, a ship notice or an invoice
the same way.
"""

from __future__ import annotations

from pydantic import Field

from .common import CanonicalModel, Contact, DateTime, Extensions, Note, Party, Reference


class BusinessDocument(CanonicalModel):
    """Header data common to every business document."""

    references: list[Reference] = Field(default_factory=list, description="header references")
    dates: list[DateTime] = Field(default_factory=list, description="header dates")
    parties: list[Party] = Field(default_factory=list, description="header parties (N1 loops / NAD)")
    contacts: list[Contact] = Field(default_factory=list, description="header contacts (X12 PER)")
    notes: list[Note] = Field(default_factory=list)
    extensions: Extensions = Field(default_factory=dict)


class LineBase(CanonicalModel):
    """Data common to line items of every document."""

    references: list[Reference] = Field(default_factory=list)
    dates: list[DateTime] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)
    extensions: Extensions = Field(default_factory=dict)


__all__ = ["BusinessDocument", "LineBase"]
