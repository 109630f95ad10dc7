"""Segment order and loops of each transaction set the maps cover, as compact data.

Notation, one segment per line: ``<TAG> <M|O> <max use>`` where max use is a
number or ``>1`` (unbounded).  A line starting with ``+`` opens a loop named
after its first segment (the trigger) with the loop's own requirement and
repeat limit; the loop's segments follow, indented two more spaces, the
trigger first.  Lists are a tolerant subset of the set definitions (common
segments in their standard order), written in this project's own notation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

_N1_LOOP = """
+N1 O 200
  N1 M 1
  N2 O 2
  N3 O 2
  N4 O >1
  NX2 O >1
  REF O 12
  PER O >1
  SI O >1
  FOB O 1
  TD1 O 2
  TD5 O 12
  TD3 O 12
  TD4 O 5
  PKG O 200
"""

_W_N1_LOOP = """
+N1 O 10
  N1 M 1
  N2 O 2
  N3 O 2
  N4 O 1
  G61 O 3
  PER O 3
"""

_DEFS: dict[str, str] = {
    "850": f"""
ST M 1
BEG M 1
CUR O 1
REF O >1
PER O 3
NTE O 100
TAX O >1
FOB O >1
CTP O >1
PAM O 10
CSH O 5
TC2 O >1
+SAC O 25
  SAC M 1
  CUR O 1
ITD O >1
DIS O 20
INC O 1
DTM O 10
LDT O 12
LIN O 5
SI O >1
PID O 200
MEA O 40
PWK O 25
PKG O 200
TD1 O 2
TD5 O 12
TD3 O 12
TD4 O 5
MAN O 10
PCT O >1
CTB O 5
TXI O >1
+AMT O >1
  AMT M 1
  REF O >1
  DTM O 1
+N9 O 1000
  N9 M 1
  DTM O >1
  MSG O 1000
{_N1_LOOP}
+PO1 M 100000
  PO1 M 1
  LIN O >1
  SI O >1
  CUR O 1
  CN1 O 1
  PO3 O 25
  +CTP O >1
    CTP M 1
    CUR O 1
  PAM O 10
  MEA O 40
  +PID O 1000
    PID M 1
    MEA O 10
  PWK O 25
  PO4 O >1
  REF O >1
  PER O 3
  +SAC O 25
    SAC M 1
    CUR O 1
    CTP O 1
  IT8 O 1
  CSH O >1
  ITD O 2
  DIS O 20
  INC O 1
  TAX O >1
  FOB O >1
  SDQ O 500
  IT3 O 5
  DTM O 10
  TC2 O >1
  TD1 O 1
  TD5 O 12
  TD3 O 12
  TD4 O 5
  PCT O >1
  MAN O 10
  MSG O >1
  SPI O >1
  TXI O >1
  CTB O >1
  +QTY O >1
    QTY M 1
    SI O >1
  +SCH O 200
    SCH M 1
    TD1 O 2
    TD5 O 12
    TD3 O 12
    TD4 O 5
    REF O >1
  +PKG O 200
    PKG M 1
    MEA O >1
  LS O 1
  +N9 O 1000
    N9 M 1
    DTM O >1
    MEA O 40
    MSG O 1000
  +N1 O 200
    N1 M 1
    N2 O 2
    N3 O 2
    N4 O 1
    QTY O >1
    NX2 O >1
    REF O 12
    PER O 3
    SI O >1
    DTM O 1
    FOB O 1
    TD1 O 2
    TD5 O 12
    TD3 O 12
    TD4 O 5
    PKG O 200
  +SLN O 1000
    SLN M 1
    MSG O >1
    SI O >1
    PID O 1000
    PO3 O 104
    TC2 O >1
    ADV O >1
    DTM O 10
    CTP O 25
    PAM O 10
    PO4 O 1
    TAX O 3
    N9 O >1
    SAC O 25
    QTY O >1
    N1 O 10
  +AMT O >1
    AMT M 1
    REF O 1
+CTT O 1
  CTT M 1
  AMT O 1
SE M 1
""",
    "855": f"""
ST M 1
BAK M 1
CUR O 1
REF O 12
PER O 3
NTE O 100
TAX O 3
FOB O >1
CTP O >1
PAM O 10
CSH O 1
+SAC O 25
  SAC M 1
  CUR O 1
ITD O 5
DIS O 20
INC O 1
DTM O 10
LDT O 12
LIN O 5
SI O >1
PID O 200
MEA O 40
PWK O 25
PKG O 200
TD1 O 2
TD5 O 12
TD3 O 12
TD4 O 5
MAN O 10
TXI O >1
CTB O 5
+N9 O 1000
  N9 M 1
  DTM O >1
  MSG O 1000
{_N1_LOOP}
+PO1 O 100000
  PO1 M 1
  LIN O >1
  SI O >1
  CUR O 1
  PO3 O 25
  +CTP O >1
    CTP M 1
    CUR O 1
  PAM O 10
  MEA O 40
  +PID O 1000
    PID M 1
    MEA O 10
  PWK O 25
  PO4 O >1
  REF O >1
  PER O 3
  +SAC O 25
    SAC M 1
    CUR O 1
  IT8 O 1
  CSH O >1
  ITD O 2
  DIS O 20
  INC O 1
  TAX O >1
  FOB O >1
  SDQ O 500
  IT3 O 5
  DTM O 10
  TC2 O >1
  TD1 O 1
  TD5 O 12
  TD3 O 12
  TD4 O 5
  PCT O >1
  MAN O 10
  MSG O >1
  SPI O >1
  TXI O >1
  CTB O >1
  +ACK O 104
    ACK M 1
    DTM O 10
  +SCH O 200
    SCH M 1
    TD1 O 2
    TD5 O 12
    TD3 O 12
    TD4 O 5
    REF O >1
  +N9 O 1000
    N9 M 1
    DTM O >1
    MSG O 1000
  +N1 O 200
    N1 M 1
    N2 O 2
    N3 O 2
    N4 O 1
    NX2 O >1
    REF O 12
    PER O 3
  +SLN O 1000
    SLN M 1
    MSG O >1
    SI O >1
    PID O 1000
    PO3 O 104
    ACK O 104
    DTM O 10
+CTT O 1
  CTT M 1
  AMT O 1
SE M 1
""",
    "856": """
ST M 1
BSN M 1
DTM O 10
+HL M 200000
  HL M 1
  LIN O 1
  SN1 O 1
  SLN O 1000
  PRF O 1
  PO4 O 1
  PID O 200
  MEA O 40
  PWK O 25
  PKG O 25
  TD1 O 20
  TD5 O 12
  TD3 O 12
  TD4 O 5
  REF O >1
  PER O 3
  +CLD O 200
    CLD M 1
    REF O 200
    DTP O 1
  MAN O >1
  DTM O 10
  FOB O 1
  PAL O 1
  +N1 O 200
    N1 M 1
    N2 O 2
    N3 O 2
    N4 O 1
    REF O 12
    PER O 3
    FOB O 1
  SDQ O 50
  ETD O 1
  CUR O 1
  +SAC O >1
    SAC M 1
    CUR O 1
  GF O 1
  YNQ O 10
CTT O 1
SE M 1
""",
    "810": """
ST M 1
BIG M 1
NTE O 100
CUR O 1
REF O 12
YNQ O 10
PER O 3
+N1 O 200
  N1 M 1
  N2 O 2
  N3 O 2
  N4 O 1
  REF O 12
  PER O 3
  DMG O 1
ITD O >1
DTM O 10
FOB O 1
PID O 200
MEA O 40
PWK O 25
PKG O 25
L7 O 1
BAL O >1
+N9 O 1000
  N9 M 1
  MSG O 10
+IT1 O 200000
  IT1 M 1
  CRC O 1
  QTY O 5
  CUR O 1
  IT3 O 5
  TXI O 10
  CTP O 25
  PAM O 10
  MEA O 40
  +PID O 1000
    PID M 1
    MEA O 10
  PWK O 25
  PKG O 25
  PO4 O 1
  ITD O 2
  REF O >1
  YNQ O 10
  PER O 5
  SDQ O 500
  DTM O 10
  CAD O >1
  L7 O >1
  SR O 1
  +SAC O 25
    SAC M 1
    TXI O 10
  +SLN O 1000
    SLN M 1
    DTM O 1
    REF O >1
    PID O 1000
    SAC O 25
    TC2 O >1
    TXI O 10
  +N1 O 200
    N1 M 1
    N2 O 2
    N3 O 2
    N4 O 1
    REF O 12
    PER O 3
    DMG O 1
TDS M 1
TXI O 10
CAD O 1
AMT O >1
+SAC O 25
  SAC M 1
  TXI O 10
+ISS O >1
  ISS M 1
  PID O 1
CTT O 1
SE M 1
""",
    "940": f"""
ST M 1
W05 M 1
{_W_N1_LOOP}
N9 O 10
G62 O 10
NTE O 10
W66 O 1
+LX M 9999
  LX M 1
  MAN O >1
  +W01 M 1
    W01 M 1
    G69 O 5
    N9 O 200
    G62 O 10
    NTE O 10
    W20 O 1
W76 M 1
SE M 1
""",
    "945": f"""
ST M 1
W06 M 1
{_W_N1_LOOP}
N9 O 30
G62 O 10
NTE O 10
W27 O 1
W28 O 1
W10 O 1
+LX M 9999
  LX M 1
  MAN O >1
  N9 O >1
  +W12 M 1
    W12 M 1
    G69 O 5
    N9 O 200
    G62 O 10
    NTE O 10
    W20 O 1
W03 M 1
SE M 1
""",
    "943": f"""
ST M 1
W06 M 1
{_W_N1_LOOP}
N9 O 10
G62 O 5
NTE O 10
W27 O 1
W28 O 1
+LX O 9999
  LX M 1
  +W04 M 9999
    W04 M 1
    G69 O 5
    N9 O 200
    G62 O 10
    NTE O 10
    W20 O 1
+W04 O 9999
  W04 M 1
  G69 O 5
  N9 O 200
  G62 O 10
  NTE O 10
  W20 O 1
W03 M 1
SE M 1
""",
    "944": f"""
ST M 1
W17 M 1
{_W_N1_LOOP}
N9 O 30
G62 O 5
NTE O 10
+LX O 9999
  LX M 1
  +W07 M 9999
    W07 M 1
    G69 O 5
    N9 O 200
    G62 O 10
    NTE O 10
    W20 O 1
    W13 O 10
+W07 O 9999
  W07 M 1
  G69 O 5
  N9 O 200
  G62 O 10
  NTE O 10
  W20 O 1
  W13 O 10
W14 M 1
SE M 1
""",
    "846": """
ST M 1
BIA M 1
CUR O 1
REF O 12
PER O 3
NTE O 100
MEA O 10
DTM O 10
+N1 O 200
  N1 M 1
  N2 O 2
  N3 O 2
  N4 O 1
  REF O 12
  PER O 3
+LIN O 10000
  LIN M 1
  SLN O 100
  PID O 200
  DTM O 10
  REF O 12
  PER O 3
  MEA O 40
  CTP O 25
  PO4 O >1
  +QTY O >1
    QTY M 1
    UIT O 1
    DTM O 1
    SCH O >1
  +N1 O >1
    N1 M 1
    N2 O 2
    N3 O 2
    N4 O 1
    REF O 12
    PER O 3
    QTY O >1
CTT O 1
SE M 1
""",
    "214": """
ST M 1
B10 M 1
L11 O 300
MAN O 9999
K1 O 10
+N1 O 10
  N1 M 1
  N2 O 1
  N3 O 2
  N4 O 1
  G61 O 1
  L11 O 10
MS3 O 1
+LX O 999999
  LX M 1
  +AT7 O 10
    AT7 M 1
    MS1 O 1
    MS2 O 2
  L11 O 10
  MAN O 9999
  Q7 O 10
  K1 O 10
  AT5 O 10
  AT8 O 10
  +N1 O 10
    N1 M 1
    N2 O 1
    N3 O 2
    N4 O 1
    G61 O 1
  +SPO O 9999
    SPO M 1
    SDQ O 10
SE M 1
""",
    "204": """
ST M 1
B2 M 1
B2A M 1
L11 O 50
G62 O 1
MS3 O 1
AT5 O 6
PLD O 1
LH6 O 6
NTE O 10
+N1 O 5
  N1 M 1
  N2 O 1
  N3 O 2
  N4 O 1
  L11 O >1
  G61 O 3
+N7 O 10
  N7 M 1
  N7A O 1
  N7B O 1
  MEA O 1
  M7 O 2
+S5 M 999
  S5 M 1
  L11 O 50
  G62 O 2
  AT8 O 10
  LAD O 999
  AT5 O 6
  PLD O 1
  NTE O 20
  +N1 O 1
    N1 M 1
    N2 O 1
    N3 O 2
    N4 O 1
    G61 O 3
  +L5 O >1
    L5 M 1
    AT8 O 1
    L11 O >1
  +OID O 999
    OID M 1
    G62 O 2
    LAD O 999
    L5 O >1
    AT8 O 10
    G61 O 3
    L11 O >1
L3 O 1
SE M 1
""",
    "990": """
ST M 1
B1 M 1
N9 O >1
V9 O 1
K1 O >1
NTE O >1
SE M 1
""",
    "210": """
ST M 1
B3 M 1
C3 O 1
ITD O 1
N9 O 300
G62 O 6
R3 O 12
H3 O 6
K1 O 10
+N1 O 10
  N1 M 1
  N2 O 1
  N3 O 2
  N4 O 1
  N9 O 5
+N7 O 10
  N7 M 1
+LX O 9999
  LX M 1
  N9 O 5
  POD O 1
  L5 O 30
  L0 O 10
  L1 O 50
  L4 O 10
  L7 O 10
  K1 O 10
L3 M 1
SE M 1
""",
    "997": """
ST M 1
AK1 M 1
+AK2 O 999999
  AK2 M 1
  +AK3 O 999999
    AK3 M 1
    AK4 O 99
  AK5 M 1
AK9 M 1
SE M 1
""",
    "999": """
ST M 1
AK1 M 1
+AK2 O 999999
  AK2 M 1
  +IK3 O 999999
    IK3 M 1
    CTX O 9
    +IK4 O 99
      IK4 M 1
      CTX O 10
  IK5 M 1
AK9 M 1
SE M 1
""",
}


@dataclass(frozen=True, slots=True)
class Node:
    """A segment (``children`` None) or a loop (its trigger is ``children[0]``)."""

    tag: str
    required: bool
    max_use: int  # 0 = unbounded
    children: tuple[Node, ...] | None = None


def _parse(text: str) -> tuple[Node, ...]:
    lines = [ln for ln in text.splitlines() if ln.strip()]

    def block(start: int, indent: int) -> tuple[tuple[Node, ...], int]:
        nodes: list[Node] = []
        i = start
        while i < len(lines):
            line = lines[i]
            depth = len(line) - len(line.lstrip(" "))
            if depth < indent:
                break
            tag, req, max_use = line.split()
            limit = 0 if max_use == ">1" else int(max_use)
            if tag.startswith("+"):
                children, i = block(i + 1, depth + 2)
                nodes.append(Node(tag[1:], req == "M", limit, children))
                continue
            nodes.append(Node(tag, req == "M", limit))
            i += 1
        return tuple(nodes), i

    nodes, _ = block(0, 0)
    return nodes


#: set id -> top-level nodes, ST first and SE last.
STRUCTURES: Final[dict[str, tuple[Node, ...]]] = {set_id: _parse(text) for set_id, text in _DEFS.items()}


def _tags(nodes: tuple[Node, ...], into: set[str]) -> set[str]:
    for node in nodes:
        if node.children is None:
            into.add(node.tag)
        else:
            _tags(node.children, into)
    return into


#: set id -> every segment tag the set may contain somewhere.
SET_TAGS: Final[dict[str, frozenset[str]]] = {
    sid: frozenset(_tags(nodes, set())) for sid, nodes in STRUCTURES.items()
}

__all__ = ["SET_TAGS", "STRUCTURES", "Node"]
