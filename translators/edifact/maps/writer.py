"""Segment writer shared by the outbound maps (canonical document -> segments).

Strategy: the outbound maps are the inverse of the inbound tables, so every
canonical field is rendered in the segment and qualifier the inbound map
reads it from; a document mapped in, written out and mapped in again is
equal (the round-trip tests check exactly this).  Codes that the canonical
model keeps "as sent" (party roles, reference and date qualifiers) are
written back verbatim.

Segments are produced in the order of the UNTDID message structure (D96A);
trailing empty elements and components are omitted (ISO 9735-1 clause 7.1).
Values use ``.`` as decimal mark: choosing the mark is the interchange
serializer's job (UNA), not the map's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...errors import LocalTranslationError
from ..syntax import Element, Segment
from .segment import make
from .values import iso_to_edi_date

#: ProductIds slot -> 7143 code written in PIA (the GTIN goes in LIN C212).
PIA_CODES = (("upc", "UP"), ("vendor_part", "SA"), ("buyer_part", "IN"), ("sku", "SK"))

#: Measure.kind -> MEA 6313 written when a measure carries no qualifier
#: (AAD consignment gross weight, AAW gross volume, LN/WD/HT dimensions).
DEFAULT_MEASURE_QUALIFIERS = {"weight": "AAD", "volume": "AAW", "length": "LN", "width": "WD", "height": "HT"}

#: Contact field -> COM 3155 channel.
COM_CHANNELS = (("phone", "TE"), ("fax", "FX"), ("email", "EM"))


def _s(value: object) -> str:
    return "" if value is None else str(value)


class Writer:
    """Accumulates the segments of one outbound message.

    Args:
        directory: ``D96A``-style directory; decides the GTIN code (EANCOM on
            D96A uses ``EN``, on D01B and later ``SRV``).
    """

    def __init__(self, *, directory: str) -> None:
        self.segments: list[Segment] = []
        self.gtin_code = "EN" if directory.upper() < "D01B" else "SRV"

    def add(self, tag: str, *elements: Element) -> None:
        """Append one segment (trailing empties trimmed)."""
        self.segments.append(make(tag, *elements))

    @staticmethod
    def refuse(kind: str, node: Mapping[str, Any], fields: Iterable[str]) -> None:
        """Raise when ``node`` holds data in fields this message cannot carry.

        Raises:
            LocalTranslationError: naming the fields.
        """
        present = [f for f in fields if node.get(f) not in (None, "", [], {})]
        if present:
            raise LocalTranslationError(f"{kind} fields {present} have no place in this EDIFACT message")

    # -- header -----------------------------------------------------------
    def bgm(self, name: object, number: object, function: object, response: object = None) -> None:
        """BGM+1001+1004+1225(+4343); an absent value is left out, never invented."""
        self.add("BGM", _s(name), _s(number), _s(function), _s(response))

    def date(self, d: Mapping[str, Any]) -> None:
        """DTM from a canonical DateTime dict."""
        try:
            value, fmt = iso_to_edi_date(d.get("date"), d.get("time"))
        except ValueError as exc:
            raise LocalTranslationError(f"date {d!r} cannot be written as DTM: {exc}") from exc
        self.add("DTM", (_s(d.get("qualifier")), value, fmt))

    def named_date(self, qualifier: str, date: object, owner: Mapping[str, Any], time: object = None) -> None:
        """DTM for a named field, written before ``owner["dates"]``.

        The inbound maps fill a date-only field from the first DTM with its
        qualifier and, when that DTM also had a time, list it in ``dates``
        too; such an entry (first of its qualifier, same date, with a time)
        stands for the field, so the field is not written twice.
        """
        if not date and not time:
            return
        first = next((d for d in owner.get("dates") or () if d.get("qualifier") == qualifier), None)
        if first is not None and time is None and first.get("time") and first.get("date") == date:
            return
        self.date({"qualifier": qualifier, "date": date, "time": time})

    def dates(self, owner: Mapping[str, Any]) -> None:
        """Every DateTime in ``owner["dates"]``."""
        for d in owner.get("dates") or ():
            self.date(d)

    def named_reference(self, qualifier: str, value: object) -> None:
        """RFF+qualifier:value for a named field."""
        if value:
            self.add("RFF", (qualifier, _s(value)))

    def references(self, owner: Mapping[str, Any], key: str = "references") -> None:
        """RFF for every Reference (the description has no RFF place: refused)."""
        for r in owner.get(key) or ():
            if r.get("description"):
                raise LocalTranslationError(
                    f"reference {r.get('qualifier')} has a description, which RFF cannot carry"
                )
            self.add("RFF", (_s(r.get("qualifier")), _s(r.get("value"))))

    def party(self, p: Mapping[str, Any]) -> None:
        """NAD (+ RFF, CTA, COM) for one Party."""
        names = [_s(p.get("name")), *(p.get("additional_names") or ())]
        if len(names) > 5:
            raise LocalTranslationError(f"party {p.get('role')} has more than 5 name lines (NAD C080)")
        addr = p.get("address") or {}
        lines = list(addr.get("lines") or ())
        if len(lines) > 4:
            raise LocalTranslationError(f"party {p.get('role')} has more than 4 street lines (NAD C059)")
        self.add(
            "NAD",
            _s(p.get("role")),
            (_s(p.get("id")), "", _s(p.get("id_qualifier"))),
            "",
            tuple(names),
            tuple(lines),
            _s(addr.get("city")),
            _s(addr.get("state")),
            _s(addr.get("postal_code")),
            _s(addr.get("country")),
        )
        self.references(p)
        for c in p.get("contacts") or ():
            self.add("CTA", _s(c.get("function")), ("", _s(c.get("name"))))
            for field, channel in COM_CHANNELS:
                if c.get(field):
                    self.add("COM", (_s(c[field]), channel))
            for other in c.get("other") or ():
                self.add("COM", (_s(other.get("value")), _s(other.get("qualifier"))))

    def parties(self, owner: Mapping[str, Any]) -> None:
        """NAD groups for ``owner["parties"]``."""
        for p in owner.get("parties") or ():
            self.party(p)

    def currency(self, doc: Mapping[str, Any], usage: str) -> None:
        """CUX+2:currency:usage (6343 '9' ordering, '4' invoicing currency)."""
        if doc.get("currency"):
            self.add("CUX", ("2", _s(doc["currency"]), usage))

    def payment_terms(self, doc: Mapping[str, Any]) -> None:
        """PAT (+ DTM 13/12, PCD 12) for every PaymentTerms."""
        for t in doc.get("payment_terms") or ():
            unsupported = [k for k in ("discount_days", "discount_amount", "description") if t.get(k)]
            if unsupported:
                raise LocalTranslationError(f"payment terms fields {unsupported} have no PAT place")
            days = t.get("net_days")
            period = (
                (_s(t.get("basis_date_code")), "3", "D", str(days))
                if days is not None
                else (_s(t.get("basis_date_code")),)
            )
            self.add("PAT", _s(t.get("type_code")), "", period)
            if t.get("net_due_date"):
                self.date({"qualifier": "13", "date": t["net_due_date"]})
            if t.get("discount_due_date"):
                self.date({"qualifier": "12", "date": t["discount_due_date"]})
            if t.get("discount_percent"):
                self.add("PCD", ("12", _s(t["discount_percent"])))

    def carriers(self, doc: Mapping[str, Any]) -> None:
        """TDT+20 for every Carrier."""
        for c in doc.get("carriers") or ():
            unsupported = [
                k
                for k in ("service_level", "payment_method", "equipment_type", "equipment_number")
                if c.get(k)
            ]
            if unsupported:
                raise LocalTranslationError(f"carrier fields {unsupported} have no TDT place")
            self.add(
                "TDT",
                "20",
                _s(c.get("tracking_number")),
                _s(c.get("transport_method")),
                "",
                (_s(c.get("scac")), "", _s(c.get("id_qualifier")), _s(c.get("name"))),
            )

    def allowances(self, owner: Mapping[str, Any]) -> None:
        """ALC (+ PCD, MOA 8) for every AllowanceCharge."""
        for a in owner.get("allowances_charges") or ():
            self.add(
                "ALC",
                _s(a.get("indicator")),
                "",
                "",
                "",
                (_s(a.get("code")), "", "", _s(a.get("description"))),
            )
            if a.get("percent"):
                self.add("PCD", ("3", _s(a["percent"])))
            if a.get("amount"):
                self.add("MOA", ("8", _s(a["amount"])))

    def taxes(self, owner: Mapping[str, Any]) -> None:
        """TAX+7 (+ MOA 124) for every Tax."""
        for t in owner.get("taxes") or ():
            if t.get("jurisdiction"):
                raise LocalTranslationError("tax jurisdiction has no TAX place in this map")
            self.add("TAX", "7", _s(t.get("type_code")), "", "", ("", "", "", _s(t.get("percent"))))
            if t.get("amount"):
                self.add("MOA", ("124", _s(t["amount"])))

    def notes(self, owner: Mapping[str, Any]) -> None:
        """FTX for every Note (text lines become C108 components)."""
        for n in owner.get("notes") or ():
            lines = _s(n.get("text")).split("\n")
            if len(lines) > 5:
                raise LocalTranslationError("a note has more than 5 lines (FTX C108)")
            self.add("FTX", _s(n.get("qualifier")), "", "", tuple(lines))

    # -- lines --------------------------------------------------------------
    @staticmethod
    def items(doc: Mapping[str, Any], key: str) -> Sequence[Mapping[str, Any]]:
        """The list under ``key`` (empty when absent)."""
        value = doc.get(key)
        return value if isinstance(value, list) else []

    def lin(self, line: Mapping[str, Any], action: object = None, parent: object = None) -> None:
        """LIN (GTIN in C212; C829 '1' + parent line for a sub-line) + PIA ids + IMD description."""
        product = line.get("product") or {}
        gtin = product.get("gtin")
        self.add(
            "LIN",
            _s(line.get("line_number")),
            _s(action),
            (_s(gtin), self.gtin_code if gtin else ""),
            ("1", _s(parent)) if parent is not None else "",
        )
        ids: list[Element] = [(_s(product[slot]), code) for slot, code in PIA_CODES if product.get(slot)]
        ids += [(_s(o.get("value")), _s(o.get("qualifier"))) for o in product.get("other") or ()]
        for start in range(0, len(ids), 5):
            self.add("PIA", "1", *ids[start : start + 5])
        desc = line.get("description")
        if desc:
            self.add("IMD", "F", "", ("", "", "", desc[:35], desc[35:]))

    def measures(self, owner: Mapping[str, Any]) -> None:
        """MEA+PD for every Measure; a measure without qualifier gets the EANCOM code of its kind."""
        for m in owner.get("measures") or ():
            qual = m.get("qualifier") or DEFAULT_MEASURE_QUALIFIERS.get(str(m.get("kind")))
            if qual is None:
                raise LocalTranslationError(f"measure of kind {m.get('kind')!r} has no qualifier (MEA 6313)")
            self.add("MEA", "PD", qual, (_s(m.get("unit")), _s(m.get("value"))))

    def quantity(self, qualifier: str, value: object, unit: object) -> None:
        """QTY+qualifier:value:unit."""
        if value is not None:
            self.add("QTY", (qualifier, _s(value), _s(unit)))

    def line(
        self,
        line: Mapping[str, Any],
        *,
        quantity: tuple[str, str, str],
        extra_quantities: Iterable[tuple[str, str, str]] = (),
        amount: bool = False,
        action: object = None,
    ) -> None:
        """A whole LIN group in D96A order (LIN PIA IMD QTY DTM MOA FTX PRI RFF TAX NAD ALC)."""
        self.lin(line, action)
        for qual, qfield, ufield in (quantity, *extra_quantities):
            self.quantity(qual, line.get(qfield), line.get(ufield))
        self.dates(line)
        if amount and line.get("amount"):
            self.add("MOA", ("203", _s(line["amount"])))
        self.notes(line)
        if line.get("unit_price"):
            self.add("PRI", (_s(line.get("price_basis") or "AAA"), _s(line["unit_price"])))
        self.references(line)
        self.taxes(line)
        self.parties(line)
        self.allowances(line)

    def summary(self, doc: Mapping[str, Any], *, total_qualifier: str, taxes: bool = False) -> None:
        """UNS+S, then MOA totals, summary TAX groups and CNT."""
        totals = doc.get("totals") or {}
        self.add("UNS", "S")
        if totals.get("amount"):
            self.add("MOA", (total_qualifier, _s(totals["amount"])))
        for a in totals.get("amounts") or ():
            if a.get("description"):
                raise LocalTranslationError("a total amount has a description, which MOA cannot carry")
            self.add("MOA", (_s(a.get("qualifier")), _s(a.get("value"))))
        if taxes:
            self.taxes(doc)
        if totals.get("line_count") is not None:
            self.add("CNT", ("2", str(totals["line_count"])))
        if totals.get("quantity"):
            self.add("CNT", ("1", _s(totals["quantity"])))
        if totals.get("weight"):
            self.add("CNT", ("7", _s(totals["weight"]), _s(totals.get("weight_unit"))))
        unsupported = [k for k in ("volume", "volume_unit") if totals.get(k)]
        if unsupported:
            raise LocalTranslationError(f"totals fields {unsupported} have no CNT place in this map")


def envelope(
    segments: list[Segment],
    *,
    message: str,
    control: str,
    directory: str,
    agency: str,
    association: str | None,
) -> list[Segment]:
    """Wrap a body in UNH/UNT; UNT 0074 counts UNH and UNT themselves (ISO 9735-1)."""
    if len(directory) < 2:
        raise LocalTranslationError(f"directory {directory!r} is not like 'D96A'")
    ident: tuple[str, ...] = (message, directory[0], directory[1:], agency)
    if association:
        ident += (association,)
    out: list[Segment] = [("UNH", control, ident), *segments]
    out.append(("UNT", str(len(out) + 1), control))
    return out


__all__ = ["COM_CHANNELS", "DEFAULT_MEASURE_QUALIFIERS", "PIA_CODES", "Writer", "envelope"]
