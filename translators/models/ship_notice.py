"""``ship_notice``: an advance ship notice (X12 856, EDIFACT DESADV).

The hierarchy is shipment → orders → tares (pallets) → packs (cartons, each
with its SSCC-18) → items.  Levels a partner leaves out are simply empty:
a pick-and-pack 856 (S/O/P/I) has orders with packs, a standard-pack one
(S/O/I) has orders with items, a DESADV without order level gets one order
with no ``order_number``.
"""

from __future__ import annotations

from pydantic import Field

from .common import (
    Carrier,
    DecimalStr,
    IsoDate,
    IsoTime,
    Measure,
    Packaging,
    Party,
    ProductIds,
    Reference,
    Totals,
)
from .document import BusinessDocument, LineBase

SCHEMA_VERSION = "1.0"


class ShipItem(LineBase):
    """A shipped item (X12 HL item level: LIN/SN1/PID/PO4, EDIFACT LIN group)."""

    line_number: str | None = Field(default=None, description="buyer's order line number")
    product: ProductIds = Field(default_factory=ProductIds)
    description: str | None = None
    quantity: DecimalStr | None = Field(default=None, description="quantity shipped")
    unit: str | None = None
    quantity_ordered: DecimalStr | None = None
    unit_ordered: str | None = None
    status: str | None = Field(default=None, description="line item status code, e.g. 'AC'")
    lot_number: str | None = None
    expiry_date: IsoDate | None = None
    serial_numbers: list[str] = Field(default_factory=list)
    packaging: Packaging | None = None
    measures: list[Measure] = Field(default_factory=list)
    packs: list[Pack] = Field(default_factory=list, description="packs under the item (standard-pack layout)")


class Pack(LineBase):
    """A carton or other handling unit (X12 HL pack level, EDIFACT CPS/PAC/PCI)."""

    sscc: str | None = Field(
        default=None, description="SSCC-18 serial shipping container code (18 digits, no '00' prefix)"
    )
    marks: list[Reference] = Field(
        default_factory=list, description="other marks and numbers (qualifier = X12 88, e.g. 'CP')"
    )
    packaging_code: str | None = None
    lading_quantity: DecimalStr | None = None
    quantity: DecimalStr | None = Field(
        default=None, description="item quantity in this pack (pack under item)"
    )
    unit: str | None = None
    measures: list[Measure] = Field(default_factory=list)
    packaging: Packaging | None = None
    items: list[ShipItem] = Field(default_factory=list)
    packs: list[Pack] = Field(default_factory=list, description="inner packs")


class Tare(LineBase):
    """A pallet or other shipping tare (X12 HL tare level)."""

    sscc: str | None = Field(default=None, description="SSCC-18 of the pallet")
    marks: list[Reference] = Field(default_factory=list)
    packaging_code: str | None = None
    lading_quantity: DecimalStr | None = None
    measures: list[Measure] = Field(default_factory=list)
    packs: list[Pack] = Field(default_factory=list)
    items: list[ShipItem] = Field(default_factory=list)


class ShipOrder(LineBase):
    """One purchase order inside the shipment (X12 HL order level: PRF)."""

    order_number: str | None = Field(default=None, description="buyer's purchase order number")
    release_number: str | None = None
    order_date: IsoDate | None = None
    parties: list[Party] = Field(default_factory=list)
    packaging_code: str | None = None
    lading_quantity: DecimalStr | None = None
    measures: list[Measure] = Field(default_factory=list)
    tares: list[Tare] = Field(default_factory=list)
    packs: list[Pack] = Field(default_factory=list)
    items: list[ShipItem] = Field(default_factory=list)


class ShipNotice(BusinessDocument):
    """What was shipped, how it was packed and how it travels."""

    purpose: str | None = Field(default=None, description="'00' original, '01' cancel, '05' replace ...")
    shipment_id: str = Field(description="shipper's shipment identification (ASN number)")
    shipment_date: IsoDate | None = None
    shipment_time: IsoTime | None = None
    structure_code: str | None = Field(default=None, description="hierarchy code, e.g. '0001' S/O/P/I")
    bill_of_lading: str | None = None
    tracking_number: str | None = Field(default=None, description="carrier's pro/tracking number")
    carriers: list[Carrier] = Field(default_factory=list)
    packaging_code: str | None = Field(default=None, description="lading packaging code, e.g. 'CTN25'")
    lading_quantity: DecimalStr | None = None
    measures: list[Measure] = Field(default_factory=list, description="shipment weight/volume")
    fob: list[str] = Field(default_factory=list)
    orders: list[ShipOrder] = Field(default_factory=list)
    totals: Totals | None = None


ShipItem.model_rebuild()
Pack.model_rebuild()

__all__ = ["SCHEMA_VERSION", "Pack", "ShipItem", "ShipNotice", "ShipOrder", "Tare"]
