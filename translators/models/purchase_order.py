"""``purchase_order``: a buyer's order (X12 850, EDIFACT ORDERS)."""

from __future__ import annotations

from pydantic import Field

from .common import (
    AllowanceCharge,
    Carrier,
    DecimalStr,
    IsoDate,
    Packaging,
    Party,
    PaymentTerms,
    ProductIds,
    Tax,
    Totals,
)
from .document import BusinessDocument, LineBase

SCHEMA_VERSION = "1.0"


class SubLine(LineBase):
    """A component of a line (X12 SLN, EDIFACT sub-line LIN)."""

    line_number: str | None = None
    relationship: str | None = Field(default=None, description="e.g. 'I' included, 'A' added")
    product: ProductIds = Field(default_factory=ProductIds)
    description: str | None = None
    quantity: DecimalStr | None = None
    unit: str | None = None
    unit_price: DecimalStr | None = None


class OrderLine(LineBase):
    """One ordered item (X12 PO1 loop, EDIFACT LIN group)."""

    line_number: str | None = Field(default=None, description="buyer's line number as sent")
    product: ProductIds = Field(default_factory=ProductIds)
    description: str | None = None
    quantity: DecimalStr | None = Field(default=None, description="ordered quantity")
    unit: str | None = Field(default=None, description="unit of measure code as sent, e.g. 'EA', 'CA', 'PCE'")
    unit_price: DecimalStr | None = None
    price_basis: str | None = Field(default=None, description="price basis code, e.g. 'TE' per each")
    packaging: Packaging | None = None
    parties: list[Party] = Field(default_factory=list)
    allowances_charges: list[AllowanceCharge] = Field(default_factory=list)
    taxes: list[Tax] = Field(default_factory=list)
    sublines: list[SubLine] = Field(default_factory=list)


class PurchaseOrder(BusinessDocument):
    """A purchase order as the buyer sent it."""

    purpose: str | None = Field(default=None, description="'00' original, '01' cancel, '05' replace ...")
    order_type: str | None = Field(default=None, description="e.g. 'SA' stand-alone, 'DS' drop ship")
    order_number: str = Field(description="buyer's purchase order number")
    release_number: str | None = None
    order_date: IsoDate | None = None
    contract_number: str | None = None
    store_number: str | None = Field(
        default=None, description="buyer's store/department number when the partner sends one"
    )
    currency: str | None = None
    carriers: list[Carrier] = Field(default_factory=list)
    payment_terms: list[PaymentTerms] = Field(default_factory=list)
    fob: list[str] = Field(default_factory=list, description="FOB / shipment payment codes")
    allowances_charges: list[AllowanceCharge] = Field(default_factory=list)
    taxes: list[Tax] = Field(default_factory=list)
    lines: list[OrderLine] = Field(default_factory=list)
    totals: Totals | None = None


__all__ = ["SCHEMA_VERSION", "OrderLine", "PurchaseOrder", "SubLine"]
