"""``invoice``: a commercial invoice (X12 810, EDIFACT INVOIC)."""

from __future__ import annotations

from pydantic import Field

from .common import (
    AllowanceCharge,
    Carrier,
    DecimalStr,
    IsoDate,
    Party,
    PaymentTerms,
    ProductIds,
    Tax,
    Totals,
)
from .document import BusinessDocument, LineBase

SCHEMA_VERSION = "1.0"


class InvoiceLine(LineBase):
    """One invoiced item (X12 IT1 loop, EDIFACT LIN group)."""

    line_number: str | None = None
    product: ProductIds = Field(default_factory=ProductIds)
    description: str | None = None
    quantity: DecimalStr | None = Field(default=None, description="quantity invoiced")
    unit: str | None = None
    unit_price: DecimalStr | None = None
    price_basis: str | None = None
    amount: DecimalStr | None = Field(default=None, description="line amount when the sender states it")
    parties: list[Party] = Field(default_factory=list)
    allowances_charges: list[AllowanceCharge] = Field(default_factory=list)
    taxes: list[Tax] = Field(default_factory=list)


class Invoice(BusinessDocument):
    """An invoice from seller to buyer."""

    invoice_number: str
    invoice_date: IsoDate | None = None
    order_number: str | None = Field(default=None, description="buyer's purchase order number")
    order_date: IsoDate | None = None
    release_number: str | None = None
    transaction_type: str | None = Field(default=None, description="e.g. 'DI' debit, 'CR' credit (X12 640)")
    purpose: str | None = None
    currency: str | None = None
    carriers: list[Carrier] = Field(default_factory=list)
    payment_terms: list[PaymentTerms] = Field(default_factory=list)
    fob: list[str] = Field(default_factory=list)
    allowances_charges: list[AllowanceCharge] = Field(default_factory=list)
    taxes: list[Tax] = Field(default_factory=list)
    lines: list[InvoiceLine] = Field(default_factory=list)
    totals: Totals | None = Field(default=None, description="amount = total invoice amount (X12 TDS01)")


__all__ = ["SCHEMA_VERSION", "Invoice", "InvoiceLine"]
