"""``functional_ack``: a partner acknowledges our documents (X12 997/999, EDIFACT CONTRL)."""

from __future__ import annotations

from pydantic import Field

from .common import CanonicalModel, Extensions

SCHEMA_VERSION = "1.0"


class ElementError(CanonicalModel):
    """An element-level error (X12 AK4/IK4, EDIFACT UCD)."""

    position: int | None = Field(default=None, description="element position in the segment")
    component_position: int | None = None
    repetition: int | None = None
    element_reference: str | None = Field(default=None, description="data element reference number")
    error_code: str | None = Field(default=None, description="X12 723/621 or EDIFACT 0085 code as sent")
    bad_value: str | None = None


class SegmentError(CanonicalModel):
    """A segment-level error (X12 AK3/IK3, EDIFACT UCS)."""

    segment_tag: str | None = None
    position: int | None = Field(default=None, description="segment position in the set, ST = 1")
    loop_id: str | None = None
    error_code: str | None = Field(default=None, description="X12 720/620 or EDIFACT 0085 code")
    context: list[str] = Field(default_factory=list, description="999 CTX contents, as sent")
    element_errors: list[ElementError] = Field(default_factory=list)


class AckedTransaction(CanonicalModel):
    """The answer for one transaction set / message (X12 AK2..AK5, EDIFACT UCM)."""

    set_id: str | None = Field(default=None, description="'850', 'ORDERS' ...")
    control_number: str
    implementation_reference: str | None = None
    status: str | None = Field(default=None, description="'A' accepted, 'E', 'M', 'P', 'R', 'W', 'X'")
    error_codes: list[str] = Field(default_factory=list)
    segment_errors: list[SegmentError] = Field(default_factory=list)


class FunctionalAck(CanonicalModel):
    """Acknowledgment of a functional group (or, for CONTRL, an interchange)."""

    ack_type: str = Field(description="'997', '999' or 'CONTRL'")
    functional_id: str | None = Field(default=None, description="acknowledged group's function, e.g. 'PO'")
    group_control_number: str | None = None
    version: str | None = Field(default=None, description="acknowledged group's version, e.g. '004010'")
    interchange_control_number: str | None = Field(default=None, description="CONTRL: UCI 0020")
    status: str | None = Field(default=None, description="group status: 'A', 'E', 'M', 'P', 'R', 'W', 'X'")
    transactions_included: int | None = None
    transactions_received: int | None = None
    transactions_accepted: int | None = None
    error_codes: list[str] = Field(default_factory=list)
    transactions: list[AckedTransaction] = Field(default_factory=list)
    extensions: Extensions = Field(default_factory=dict)


__all__ = ["SCHEMA_VERSION", "AckedTransaction", "ElementError", "FunctionalAck", "SegmentError"]
