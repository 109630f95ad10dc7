"""Building blocks shared by every canonical business document.

Strategy: the documents are standard-neutral.  A field is named after the
business fact (``order_number``), never after the segment that carries it
(``BEG03``), so an X12 850 and an EDIFACT ORDERS land in the same shape.
Codes the standards define (party roles, reference qualifiers, date
qualifiers, unit codes) are kept as the partner sent them, because the
receiving side (Odoo, a WMS) matches on them and a lossy translation here
could never be undone.

Invariants every map keeps:

* amounts and quantities are decimal numbers written as strings
  (``"12.50"``), never floats, so nothing is rounded on the way;
* dates are ISO 8601 strings (``YYYY-MM-DD``), times ``HH:MM`` or
  ``HH:MM:SS``;
* anything a map could not place goes into ``extensions``: nothing is dropped.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

#: A decimal number as text: optional sign, digits, optional fraction.
DecimalStr = Annotated[
    str,
    Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$", description="decimal number as a string, e.g. '12.50'"),
]
#: An ISO 8601 calendar date.
IsoDate = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description="ISO date YYYY-MM-DD")]
#: An ISO 8601 time of day.
IsoTime = Annotated[
    str, Field(pattern=r"^[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?$", description="time HH:MM or HH:MM:SS")
]

Extensions = Annotated[
    dict[str, Any],
    Field(description="source data the map did not place (kept, never dropped)"),
]


class CanonicalModel(BaseModel):
    """Base of every canonical model: unknown keys are errors, not silently kept."""

    model_config = ConfigDict(extra="forbid")


class Reference(CanonicalModel):
    """A qualified reference number (X12 REF/N9/L11, EDIFACT RFF)."""

    qualifier: str = Field(description="reference qualifier as sent (X12 128, EDIFACT 1153), e.g. 'DP'")
    value: str = Field(description="the reference itself")
    description: str | None = Field(default=None, description="free-text description, if any")
    text: list[str] = Field(
        default_factory=list, description="free-form messages attached to the reference (X12 N9/MSG)"
    )


class DateTime(CanonicalModel):
    """A qualified date/time (X12 DTM/G62/AT7, EDIFACT DTM)."""

    qualifier: str = Field(description="date qualifier as sent (X12 374/432, EDIFACT 2005), e.g. '002'")
    date: IsoDate | None = None
    time: IsoTime | None = None
    time_qualifier: str | None = Field(default=None, description="separate time qualifier (X12 G6203)")
    time_zone: str | None = Field(default=None, description="time code as sent (X12 623), e.g. 'ET'")


class Note(CanonicalModel):
    """Free text (X12 NTE/MSG/K1, EDIFACT FTX)."""

    qualifier: str | None = Field(default=None, description="note reference code, e.g. 'GEN'")
    text: str


class Address(CanonicalModel):
    """A postal address (X12 N3/N4, EDIFACT NAD street/city fields)."""

    lines: list[str] = Field(default_factory=list, description="street lines in order")
    city: str | None = None
    state: str | None = Field(default=None, description="state or province code")
    postal_code: str | None = None
    country: str | None = Field(default=None, description="country code as sent (ISO 3166 usually)")


class Contact(CanonicalModel):
    """A contact person or department (X12 PER/G61, EDIFACT CTA/COM)."""

    function: str | None = Field(default=None, description="contact function code, e.g. 'IC'")
    name: str | None = None
    phone: str | None = None
    fax: str | None = None
    email: str | None = None
    other: list[Reference] = Field(
        default_factory=list, description="other communication numbers (qualifier = X12 365 code)"
    )


class Party(CanonicalModel):
    """A party playing a role in the document (X12 N1 loop, EDIFACT NAD group)."""

    role: str = Field(description="role code as sent (X12 98 / EDIFACT 3035), e.g. 'ST', 'BY', 'DP'")
    id: str | None = Field(default=None, description="party identifier, e.g. a GLN or DUNS")
    id_qualifier: str | None = Field(
        default=None, description="what the id is (X12 66, e.g. '92', '9'; EDIFACT 3055 agency)"
    )
    name: str | None = None
    additional_names: list[str] = Field(default_factory=list, description="N2 / NAD name continuation")
    address: Address | None = None
    contacts: list[Contact] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)


class ProductIds(CanonicalModel):
    """Identifiers of one product; ``other`` keeps qualifiers with no field of their own."""

    gtin: str | None = Field(default=None, description="GTIN-8/12/13/14 (X12 EN/UK/UA, EDIFACT SRV)")
    upc: str | None = Field(default=None, description="UPC-A consumer package code (X12 UP)")
    vendor_part: str | None = Field(
        default=None, description="seller's item number (X12 VN/VP/VA, EDIFACT SA)"
    )
    buyer_part: str | None = Field(default=None, description="buyer's item number (X12 BP/IN/CB, EDIFACT IN)")
    sku: str | None = Field(default=None, description="stock keeping unit (X12 SK)")
    other: list[Reference] = Field(default_factory=list, description="any other qualified product id")


class Measure(CanonicalModel):
    """A physical measure: weight, volume, dimension (X12 MEA/TD1/PO4, EDIFACT MEA)."""

    kind: str = Field(description="'weight', 'volume', 'length', 'width', 'height' or 'measurement'")
    qualifier: str | None = Field(
        default=None, description="qualifier as sent, e.g. 'G' gross weight (X12 187), 'WT' (X12 738)"
    )
    value: DecimalStr
    unit: str | None = Field(default=None, description="unit code as sent, e.g. 'LB', 'KG', 'CF'")


class Packaging(CanonicalModel):
    """Pack configuration of an item (X12 PO4, EDIFACT PAC)."""

    pack: DecimalStr | None = Field(default=None, description="number of inner units per outer pack")
    size: DecimalStr | None = Field(default=None, description="size of each inner unit")
    unit: str | None = Field(default=None, description="unit of the size")
    packaging_code: str | None = Field(default=None, description="packaging code, e.g. 'CTN25'")
    inner_pack: DecimalStr | None = None
    measures: list[Measure] = Field(default_factory=list)


class Carrier(CanonicalModel):
    """Carrier and routing (X12 TD5/TD3/W27/W66, EDIFACT TDT)."""

    routing_sequence: str | None = Field(default=None, description="X12 TD501 routing sequence code")
    scac: str | None = Field(default=None, description="carrier code, e.g. SCAC")
    id_qualifier: str | None = Field(default=None, description="qualifier of the carrier code (X12 66)")
    name: str | None = Field(default=None, description="carrier name or routing text")
    transport_method: str | None = Field(default=None, description="mode code, e.g. 'M' motor, 'A' air")
    service_level: str | None = None
    payment_method: str | None = Field(default=None, description="freight payment code, e.g. 'PP', 'CC'")
    equipment_type: str | None = None
    equipment_number: str | None = None
    tracking_number: str | None = None


class PaymentTerms(CanonicalModel):
    """Terms of sale (X12 ITD, EDIFACT PAT)."""

    type_code: str | None = None
    basis_date_code: str | None = None
    discount_percent: DecimalStr | None = None
    discount_due_date: IsoDate | None = None
    discount_days: int | None = None
    net_due_date: IsoDate | None = None
    net_days: int | None = None
    discount_amount: DecimalStr | None = None
    description: str | None = None


class AllowanceCharge(CanonicalModel):
    """An allowance or charge (X12 SAC, EDIFACT ALC/MOA)."""

    indicator: str = Field(description="'A' allowance, 'C' charge, 'N' no allowance or charge")
    code: str | None = Field(default=None, description="allowance/charge code, e.g. 'D240' freight")
    amount: DecimalStr | None = None
    percent: DecimalStr | None = None
    description: str | None = None


class Tax(CanonicalModel):
    """A tax amount (X12 TXI, EDIFACT TAX/MOA)."""

    type_code: str
    amount: DecimalStr | None = None
    percent: DecimalStr | None = None
    jurisdiction: str | None = None


class Totals(CanonicalModel):
    """Control totals of a document (X12 CTT/AMT/TDS, EDIFACT CNT/MOA)."""

    line_count: int | None = Field(default=None, description="number of line items declared by the sender")
    quantity: DecimalStr | None = Field(default=None, description="hash total of quantities")
    weight: DecimalStr | None = None
    weight_unit: str | None = None
    volume: DecimalStr | None = None
    volume_unit: str | None = None
    amount: DecimalStr | None = Field(default=None, description="total monetary amount")
    amounts: list[Reference] = Field(
        default_factory=list, description="other qualified amounts (qualifier + value)"
    )


__all__ = [
    "Address",
    "AllowanceCharge",
    "CanonicalModel",
    "Carrier",
    "Contact",
    "DateTime",
    "DecimalStr",
    "Extensions",
    "IsoDate",
    "IsoTime",
    "Measure",
    "Note",
    "Packaging",
    "Party",
    "PaymentTerms",
    "ProductIds",
    "Reference",
    "Tax",
    "Totals",
]
