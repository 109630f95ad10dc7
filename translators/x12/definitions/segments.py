"""Element definitions of the segments the maps read, as compact data.

Each segment is one string of ``;``-separated element specs, element 1 first:
``"<req> <type> <min> <max> [<code list>]"`` where ``req`` is M (mandatory),
O (optional) or X (conditional, see :data:`RELATIONS`); ``type`` is one of
AN, ID, DT, TM, R, N0..N9 or C (composite: only its presence is checked).
Lengths follow X12.6: for numeric types the sign and the decimal point do
not count.  Code lists name an entry of
:data:`CODES`; only small, closed lists the maps depend on are checked, so a
partner's code we simply do not know is never reported.

These definitions are written from general knowledge of segment usage and
the public sample files, in this project's own notation; they are a
tolerant subset, not a copy of the standard.  Versions before 004010 write
DT as YYMMDD, which the checker accepts for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Closed code lists (X12 data element number -> codes).
CODES: Final[dict[str, frozenset[str]]] = {
    # 715 functional group acknowledge code (AK901)
    "715": _codes("A E M P R W X"),
    # 717 transaction set acknowledgment code (AK501 / IK501)
    "717": _codes("A E M R W X"),
    # 720 segment syntax error code (AK304 / IK304)
    "720": _codes("1 2 3 4 5 6 7 8 I4 I6 I7 I8 I9"),
    # 723 element syntax error code (AK403 / IK403)
    "723": _codes("1 2 3 4 5 6 7 8 9 10 12 13 I6 I9 I10 I11 I12 I13"),
    # 1005 hierarchical structure code (BSN05), the common ASN layouts
    "1005": _codes("0001 0002 0003 0004 0005 0006"),
    # 1331-like shipment/order status used by W05-01 / W06-01 / W17-01 reporting codes
    "W-STATUS": _codes("A C F N R S"),
}

_SPECS: dict[str, str] = {
    "ST": "M ID 3 3;M AN 4 9;O AN 1 35",
    "SE": "M N0 1 10;M AN 4 9",
    # purchase order family
    "BEG": "M ID 2 2;M ID 2 2;M AN 1 22;O AN 1 30;M DT 8 8;O AN 1 30;O ID 2 2;O ID 2 2;O ID 2 2;O ID 2 2;"
    "O ID 2 2;O DT 8 8",
    "CUR": "M ID 2 3;M ID 3 3;O R 4 10;O ID 2 3;O ID 3 3;O ID 3 3",
    "REF": "M ID 2 3;X AN 1 50;X AN 1 80;O C 1 1",
    "PER": "M ID 2 2;O AN 1 60;X ID 2 2;X AN 1 256;X ID 2 2;X AN 1 256;X ID 2 2;X AN 1 256;O AN 1 20",
    "FOB": "M ID 2 2;X ID 2 2;O AN 1 80;O ID 2 2;X ID 3 3;X ID 2 2;O AN 1 30;O ID 2 2;O AN 1 30",
    "CSH": "O ID 1 2;X ID 1 1;X R 1 9;O AN 1 35;X DT 8 8",
    "SAC": "M ID 1 1;X ID 4 4;X ID 2 2;X AN 1 10;O N2 1 18;X ID 1 1;O R 1 6;O R 1 9;X ID 2 2;"
    "X R 1 15;O R 1 15;"
    "O ID 2 2;X AN 1 30;O AN 1 30;X AN 1 80;O ID 2 3",
    "ITD": "O ID 2 2;O ID 1 2;O R 1 6;X DT 8 8;X N0 1 3;X DT 8 8;O N0 1 3;O N2 1 10;O N2 1 10;O N2 1 10;"
    "O R 1 10;O AN 1 80;O N0 1 2;O ID 1 1;O N0 1 2",
    "DTM": "M ID 3 3;X DT 8 8;X TM 4 8;O ID 2 2;X ID 2 3;X AN 1 35",
    "PKG": "M ID 1 1;O ID 2 2;X ID 2 3;X AN 1 12;X AN 1 80;O ID 2 2",
    "TD1": "O ID 3 5;X N0 1 7;O ID 1 1;X AN 1 30;O AN 1 50;O ID 1 2;X R 1 10;X ID 2 2;X R 1 8;X ID 2 2",
    "TD5": "O ID 1 2;X ID 1 2;X AN 2 80;X ID 1 2;X AN 1 35;X ID 2 2;O ID 1 2;X AN 1 30;O ID 2 2;X ID 2 2;"
    "X R 1 4;O ID 2 3;O ID 2 3;O ID 2 3;O ID 2 3",
    "TD3": "X ID 2 2;O AN 1 4;X AN 1 10;O ID 1 2;X R 1 10;X ID 2 2;O ID 1 1;O AN 2 15;O ID 4 4;O ID 1 1",
    "N9": "M ID 2 3;X AN 1 50;X AN 1 45;O DT 8 8;X TM 4 8;O ID 2 2;O C 1 1",
    "MSG": "M AN 1 264;O ID 2 2;O N0 1 9",
    "NTE": "O ID 3 3;M AN 1 80",
    "N1": "M ID 2 3;X AN 1 60;X ID 1 2;X AN 2 80;O ID 2 2;O ID 2 3",
    "N2": "M AN 1 60;O AN 1 60",
    "N3": "M AN 1 55;O AN 1 55",
    "N4": "O AN 2 30;O ID 2 2;O ID 3 15;O ID 2 3;X ID 1 2;O AN 1 30;O ID 2 2",
    "PO1": "O AN 1 20;X R 1 15;O ID 2 2;X R 1 17;O ID 2 2" + ";X ID 2 2;X AN 1 48" * 10,
    "PID": "M ID 1 1;O ID 2 3;X ID 2 3;X AN 1 12;X AN 1 80;O ID 2 2;O ID 2 2;O ID 1 1;O ID 2 3",
    "PO4": "O R 1 6;X R 1 8;X ID 2 2;X ID 3 5;O ID 1 2;X R 1 9;X ID 2 2;X R 1 9;X ID 2 2;X R 1 8;X R 1 8;"
    "X R 1 8;X ID 2 2;O R 1 6;O ID 2 2;O AN 1 10;O AN 1 45;O N0 1 8",
    "SLN": "M AN 1 20;O AN 1 20;M ID 1 1;X R 1 15;X C 1 1;X R 1 17;X ID 2 2;O ID 1 1"
    + ";X ID 2 2;X AN 1 48" * 10,
    "CTP": "O ID 2 2;X ID 3 3;X R 1 17;X R 1 15;X C 1 1;O ID 3 3;O R 1 10;O R 1 15;O AN 1 2;"
    "O R 1 10;O R 1 10",
    "CTT": "M N0 1 6;O R 1 10;X R 1 10;X ID 2 2;X R 1 8;X ID 2 2;O AN 1 80",
    "AMT": "M ID 1 3;M R 1 18;O ID 1 1",
    "TXI": "M ID 2 2;X R 1 18;X R 1 10;X ID 2 2;X AN 1 30;X ID 1 1;O ID 1 1;O R 1 15;O AN 1 20;O AN 1 20",
    "MEA": "O ID 2 2;O ID 1 3;X R 1 20;X C 1 1;X R 1 20;X R 1 20;X ID 2 2;X ID 2 3;O ID 1 2;O ID 1 1",
    # order response
    "BAK": "M ID 2 2;M ID 2 2;M AN 1 22;M DT 8 8;O AN 1 30;O AN 1 45;O AN 1 30;O AN 1 22;O DT 8 8;O ID 2 2",
    "ACK": "M ID 2 2;X R 1 15;X ID 2 2;X ID 3 3;O DT 8 8;O AN 1 45" + ";X ID 2 2;X AN 1 48" * 10,
    # ship notice
    "BSN": "M ID 2 2;M AN 2 30;M DT 8 8;M TM 4 8;O ID 4 4 1005;O ID 2 2;O ID 2 2",
    "HL": "M AN 1 12;O AN 1 12;M ID 1 2;O ID 1 1",
    "PRF": "M AN 1 22;O AN 1 30;O AN 1 8;O DT 8 8;O AN 1 30;O ID 2 2",
    "MAN": "M ID 1 2;M AN 1 48;O AN 1 48;X ID 2 2;X AN 1 48;O AN 1 48",
    "LIN": "O AN 1 20" + ";X ID 2 2;X AN 1 48" * 15,
    "SN1": "O AN 1 20;M R 1 10;M ID 2 2;O R 1 15;X R 1 15;X ID 2 2;O ID 1 2;O ID 2 2",
    # invoice
    "BIG": "M DT 8 8;M AN 1 22;O DT 8 8;O AN 1 22;O AN 1 30;O AN 1 8;O ID 2 2;O ID 2 2;O ID 1 2;O AN 1 22",
    "IT1": "O AN 1 20;X R 1 10;X ID 2 2;X R 1 17;O ID 2 2" + ";X ID 2 2;X AN 1 48" * 10,
    "TDS": "M N2 1 15;O N2 1 15;O N2 1 15;O N2 1 15",
    "CAD": "O ID 1 2;O AN 2 4;O AN 1 10;X ID 2 4;X AN 1 35;O ID 2 2;X ID 2 3;X AN 1 50;O ID 2 2",
    "ISS": "X R 1 15;X ID 2 2;X R 1 10;X ID 2 2;O R 1 8;O ID 2 2",
    # warehouse
    "W05": "M ID 1 1 W-STATUS;M AN 1 22;O AN 1 22;O AN 1 10;O AN 1 10;O ID 2 2;O ID 2 2",
    "W66": "M ID 2 2;M ID 1 2;O ID 1 1;O ID 2 2;O AN 1 35;O DT 8 8;O TM 4 8;X ID 1 2;X AN 2 80;O ID 2 4",
    "LX": "M N0 1 6",
    "W01": "M R 1 7;M ID 2 2;X AN 1 48;X ID 2 2;X AN 1 48;X ID 2 2;X AN 1 48;O ID 2 5;O ID 1 1;O ID 1 1;"
    "O AN 1 30;O AN 1 4;O AN 1 12;O ID 1 3;X ID 2 2;X AN 1 48;O ID 1 1",
    "G69": "M AN 1 45",
    "W20": "O N0 1 6;X R 1 8;X ID 2 2;X R 1 10;X ID 1 2;X ID 1 1;O R 1 8;X ID 1 1;X R 1 8;X ID 2 2;O N0 1 8",
    "W76": "M R 1 7;X R 1 10;X ID 2 2;X R 1 8;X ID 2 2;O ID 1 2",
    "G62": "X ID 2 2;X DT 8 8;X ID 1 1;X TM 4 8;O ID 2 2",
    "G61": "M ID 2 2;M AN 1 60;X ID 2 2;X AN 1 256;O AN 1 20",
    "W06": "M ID 1 1 W-STATUS;O AN 1 22;O DT 8 8;O AN 1 30;O AN 1 30;O AN 1 22;O AN 1 10;O AN 1 10;O ID 2 2",
    "W27": "M ID 1 2;O ID 2 4;O AN 1 35;O ID 2 2;O ID 2 2;X AN 1 4;X AN 1 10;O AN 1 30;O ID 2 2;X ID 2 2",
    "W12": "M ID 2 2;O R 1 9;O R 1 9;O R 1 9;M ID 2 2;X AN 1 48;X ID 2 2;X AN 1 48;O AN 1 12;X R 1 10;"
    "X ID 1 2;X ID 1 1;X R 1 10;X ID 1 2;X ID 1 1;O AN 1 48;X ID 2 2;X AN 1 48;O ID 2 2;O AN 1 30;"
    "X ID 2 2;X AN 1 48",
    "W03": "M R 1 7;X R 1 10;X ID 1 2;X R 1 8;X ID 2 2;X R 1 7;X ID 2 2",
    "W04": "M R 1 7;M ID 2 2;X AN 1 48;X ID 2 2;X AN 1 48;X ID 2 2;X AN 1 48;O ID 2 5;O ID 1 1;O ID 1 1;"
    "O AN 1 30;O AN 1 4;O AN 1 12;O ID 1 3;X ID 2 2;X AN 1 48",
    "W17": "M ID 1 1 W-STATUS;M DT 8 8;M AN 1 12;M AN 1 22;O AN 1 30",
    "W07": "M R 1 15;M ID 2 2;X AN 1 48;X ID 2 2;X AN 1 48;X ID 2 2;X AN 1 48;O AN 1 12;O AN 1 30;X ID 2 2;"
    "X AN 1 48",
    "W13": "M R 1 9;M ID 2 2;M ID 2 2;X R 1 9;X ID 2 2;X ID 2 2;X AN 1 48;X ID 2 2;X AN 1 48",
    "W14": "M R 1 10;O R 1 10;O R 1 10;O R 1 10;O R 1 10",
    # inventory
    "BIA": "M ID 2 2;M ID 2 2;M AN 1 50;M DT 8 8;O TM 4 8;O ID 1 2",
    "QTY": "M ID 2 2;X R 1 15;X C 1 1;X AN 1 30",
    "UIT": "M C 1 1;X R 1 17;X ID 2 2",
    # transport
    "B10": "M AN 1 30;M AN 1 30;M ID 2 4;O N0 1 3;O ID 2 3;O ID 2 2;O ID 1 2;O ID 1 1",
    "L11": "X AN 1 50;X ID 2 3;X AN 1 80;O DT 8 8;O AN 1 80",
    "AT7": "X ID 2 2;X ID 2 2;X ID 2 2;X ID 2 2;O DT 8 8;X TM 4 8;X ID 2 2",
    "MS1": "X AN 2 30;X ID 2 2;X ID 2 3;X R 1 9;X R 1 9;X ID 1 1;X ID 1 1",
    "MS2": "M ID 2 4;M AN 1 10;O ID 2 2;O ID 1 1",
    "AT8": "X ID 1 2;X ID 1 1;X R 1 10;X N0 1 7;X N0 1 7;X ID 1 1;X R 1 8",
    "K1": "M AN 1 30;O AN 1 30;O ID 2 2",
    "B2": "O ID 2 2;O ID 2 4;O ID 2 9;O AN 1 30;O ID 1 1;M ID 2 2;O ID 1 1;O N0 1 5;O ID 2 2;"
    "O ID 1 2;O ID 1 1;"
    "O ID 1 1",
    "B2A": "M ID 2 2;O ID 2 2",
    "N7": "O AN 1 4;M AN 1 10;O R 1 10;X ID 1 2;O R 1 8;O R 1 6;O R 1 8;O ID 1 1;O N0 1 5;X ID 1 1;"
    "O ID 2 2;O ID 2 4;O AN 4 4;O ID 2 2;O R 1 8;O R 1 8;O ID 1 1;O AN 1 4;O ID 2 2;X R 1 8;"
    "X N0 1 5;O AN 1 10",
    "S5": "M N0 1 3;M ID 2 2;X R 1 10;X ID 1 1;X R 1 10;X ID 2 2;X R 1 8;X ID 1 1;O AN 1 80;O ID 2 2",
    "OID": "X AN 1 50;X AN 1 22;O AN 1 30;X ID 2 5;X R 1 15;X ID 1 1;X R 1 10;X ID 1 1;X R 1 8",
    "L5": "O N0 1 3;O AN 1 50;X AN 1 30;X ID 1 1;O AN 3 5;X AN 1 48;X ID 1 2;X ID 1 1;X AN 1 30;O ID 1 1",
    "L3": "X R 1 10;X ID 1 2;X R 1 15;X ID 2 2;O N2 1 12;O N2 1 12;O N2 1 12;O ID 2 3;X R 1 8;X ID 1 1;"
    "O N0 1 7;X ID 1 1;O N2 1 9;O ID 2 2;O ID 2 2",
    "PLD": "M N0 1 3;O ID 1 1;X ID 1 1;X R 1 10",
    "B1": "O ID 2 4;M AN 1 30;O DT 8 8;O ID 1 1;O ID 1 2;O AN 1 30",
    "V9": "M ID 3 3;O AN 1 25;O DT 8 8;O TM 4 8;O AN 2 30;O ID 2 2;O ID 2 3;O AN 1 6;O ID 3 3;O N0 1 6;"
    "O AN 1 30;O N0 1 4;O N0 1 4;O N0 1 2;O N0 1 6;O R 1 8;O N0 1 7",
    "B3": "O ID 1 1;M AN 1 22;O AN 1 30;M ID 2 2;O ID 1 1;M DT 8 8;M N2 1 12;O ID 2 2;O DT 8 8;O ID 3 3;"
    "M ID 2 4;O DT 8 8;O ID 2 2;O ID 1 2",
    "C3": "M ID 3 3;O R 4 10;O ID 3 3;O ID 3 3",
    "L0": "O N0 1 3;X R 1 11;X ID 2 2;X R 1 10;X ID 1 2;X R 1 8;X ID 1 1;X N0 1 7;X ID 3 3;O N0 1 2;"
    "X ID 1 1;O ID 1 2;O ID 1 1",
    "L1": "O N0 1 3;X R 1 9;X ID 2 2;X N2 1 12;O N2 1 12;O N2 1 12;O N2 1 12;O ID 3 3;O AN 1 25;O ID 1 1;"
    "O ID 2 4;O AN 1 35;O ID 1 1;O ID 2 3;O ID 3 3;O ID 1 1;O ID 2 2;O ID 3 3;O ID 1 2;O N0 1 2;O ID 1 2",
    "L7": "O N0 1 3;O ID 2 4;O AN 1 10;O AN 1 10;O AN 1 6;O AN 1 4;O AN 1 5;O AN 1 16;O AN 1 6;O ID 1 2;"
    "O ID 1 1;O AN 1 6;O DT 8 8;O AN 1 15",
    # functional acknowledgments
    "AK1": "M ID 2 2;M N0 1 9;O AN 1 12",
    "AK2": "M ID 3 3;M AN 4 9;O AN 1 35",
    "AK3": "M ID 2 3;M N0 1 10;O AN 1 4;O ID 1 3 720",
    "IK3": "M ID 2 3;M N0 1 10;O AN 1 4;M ID 1 3 720",
    "AK4": "M C 1 1;O N0 1 4;M ID 1 3 723;O AN 1 99",
    "IK4": "M C 1 1;O N0 1 4;M ID 1 3 723;O AN 1 99",
    "AK5": "M ID 1 1 717;O ID 1 3;O ID 1 3;O ID 1 3;O ID 1 3;O ID 1 3",
    "IK5": "M ID 1 1 717;O ID 1 3;O ID 1 3;O ID 1 3;O ID 1 3;O ID 1 3",
    "AK9": "M ID 1 1 715;M N0 1 6;M N0 1 6;M N0 1 6;O ID 1 3;O ID 1 3;O ID 1 3;O ID 1 3;O ID 1 3",
    "CTX": "M C 1 1;O ID 2 3;O N0 1 10;O AN 1 4;O C 1 1;O C 1 1",
}

#: Syntax notes (X12.6 relational conditions) per segment, written
#: ``<kind><positions>`` with two-digit positions: P paired (all or none),
#: R required (at least one), E exclusion (at most one), C conditional (if
#: the first is present, all others are required).
RELATIONS: dict[str, tuple[str, ...]] = {
    "REF": ("R0203",),
    "PER": ("P0304", "P0506", "P0708"),
    "N1": ("R0203", "P0304"),
    "N9": ("R0203",),
    "DTM": ("R020305", "C0403", "P0506"),
    "PO1": ("C0302", "C0504", "P0607", "P0809", "P1011", "P1213", "P1415"),
    "IT1": ("P020304", "P0607", "P0809", "P1011"),
    "LIN": ("P0203", "P0405", "P0607", "P0809"),
    "SN1": ("P0506",),
    "CTT": ("P0304", "P0506"),
    "TD1": ("C0102", "C0304", "C0607", "P0708", "P0910"),
    "TD5": ("R0204050612", "C0203", "C0708", "C1011", "C1312", "C1413", "C1512"),
    "G62": ("R0103", "P0102", "P0304"),
    "W01": ("P0405", "P0607", "P1516"),
    "W04": ("P0405", "P0607", "P1516"),
    "W07": ("R0304", "P0405", "P0607", "P1011"),
    "W12": ("P0708", "P1011", "P1314", "P1718"),
    "AT7": ("R0105", "P0102", "P0304", "C0706"),
    "AT8": ("P010203", "P0607"),
    "L11": ("R0103",),
    "OID": ("R0102", "P0405", "P0607", "P0809"),
    "SAC": ("R0203", "P0910", "C1413"),
    "MEA": ("R03050608", "C0504", "C0604", "E0803"),
    "ITD": ("L03040513", "L08040513", "L091011"),
}


@dataclass(frozen=True, slots=True)
class ElementDef:
    """One element of a segment definition."""

    required: str  # "M", "O" or "X"
    type: str  # AN, ID, DT, TM, R, Nn, C
    min: int
    max: int
    codes: str | None = None


def _parse(spec: str) -> tuple[ElementDef, ...]:
    out: list[ElementDef] = []
    for item in spec.split(";"):
        parts = item.split()
        out.append(
            ElementDef(parts[0], parts[1], int(parts[2]), int(parts[3]), parts[4] if len(parts) > 4 else None)
        )
    return tuple(out)


#: tag -> element definitions (index 0 is element 1).
SEGMENTS: Final[dict[str, tuple[ElementDef, ...]]] = {tag: _parse(spec) for tag, spec in _SPECS.items()}


def _relation(note: str) -> tuple[str, tuple[int, ...]]:
    digits = note[1:]
    return note[0], tuple(int(digits[i : i + 2]) for i in range(0, len(digits), 2))


#: tag -> parsed relational conditions: (kind, positions)
CONDITIONS: Final[dict[str, tuple[tuple[str, tuple[int, ...]], ...]]] = {
    tag: tuple(_relation(n) for n in notes) for tag, notes in RELATIONS.items()
}

__all__ = ["CODES", "CONDITIONS", "SEGMENTS", "ElementDef"]
