"""``freight_invoice``: a carrier's freight bill (X12 210)."""

from __future__ import annotations

from pydantic import Field

from .common import DecimalStr, IsoDate, Measure, Totals
from .document import BusinessDocument, LineBase

SCHEMA_VERSION = "1.0"


class FreightLine(LineBase):
    """One billed line (X12 LX loop: L5/L0/L1/L7)."""

    line_number: str | None = None
    descriptions: list[str] = Field(default_factory=list)
    quantity: DecimalStr | None = Field(default=None, description="lading quantity")
    packaging: str | None = None
    measures: list[Measure] = Field(default_factory=list)
    rate: DecimalStr | None = None
    rate_qualifier: str | None = None
    charge: DecimalStr | None = None
    charge_code: str | None = Field(default=None, description="special charge code, e.g. 'FUE' fuel")
    tariff: str | None = None


class FreightInvoice(BusinessDocument):
    """A motor carrier freight invoice."""

    invoice_number: str
    shipment_id: str | None = None
    payment_method: str | None = None
    invoice_date: IsoDate | None = None
    amount_due: DecimalStr | None = None
    delivery_date: IsoDate | None = None
    scac: str | None = None
    currency: str | None = None
    lines: list[FreightLine] = Field(default_factory=list)
    totals: Totals | None = None


__all__ = ["SCHEMA_VERSION", "FreightInvoice", "FreightLine"]
