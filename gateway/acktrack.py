"""Tracking the partner's acknowledgments of what we send (997/999 and CONTRL).

Strategy:

* Every outbound interchange is recorded in ``outbound_acks`` (its own small
  table in the journal database, created by :func:`ensure_schema`) in the
  same journal operation that queues its delivery, with the deadline taken
  from the profile's ``acks.expect_ack_within_hours``.
* Inbound acknowledgments already flow through the normal pipeline and end
  up as ``functional_ack`` rows in the journal's ``documents`` table.
  :func:`apply_acks` walks those rows after a persisted cursor and settles
  the matching outbound rows: a 997/999 names our GS06 (AK1-02), a CONTRL
  our UNB 0020 (UCI 0020).  The walk is idempotent, so no pipeline hook is
  needed and a crash at any point only repeats work.
* :func:`ack_overview` is the status query: rows still waiting past their
  deadline are "overdue", in plain words.

X12 status codes (715): A accepted, E accepted with errors, P partially
accepted, R/M/W/X rejected.  CONTRL (0083): 7 → A, 4 → R, partial → P.

Asynchronous AS2 MDNs (RFC 4130 §7.3) are tracked the same way in
``as2_receipts``: :func:`expect_mdn` records the Message-ID, the MIC we
computed and the deadline *before* the POST (a fast partner may post the MDN
before its HTTP answer reaches us), in state ``sending``; :func:`mdn_sent`
moves it to ``waiting`` after the 2xx; after a failed POST it stays ``sending``
(the retry sends a new Message-ID).  :func:`settle_mdn` applies
the verified MDN the AS2 listener received: ``accepted``, or ``rejected``
with the reason, written also into the message's history and reason so
``edigate messages trace`` shows it.  A ``sending`` row left by a crash is
never flagged: we cannot know whether the partner got it (an MDN for it still settles it).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbound_acks (
    message_id INTEGER PRIMARY KEY,
    partner TEXT NOT NULL,
    standard TEXT NOT NULL,
    document_type TEXT NOT NULL,
    interchange_control TEXT NOT NULL,
    group_control TEXT,
    sent_at REAL NOT NULL,
    expect_by REAL,
    state TEXT NOT NULL,
    ack_message_id INTEGER,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS outbound_acks_x12 ON outbound_acks(partner, standard, group_control);
CREATE INDEX IF NOT EXISTS outbound_acks_edifact ON outbound_acks(partner, standard, interchange_control);
CREATE INDEX IF NOT EXISTS outbound_acks_state ON outbound_acks(state, expect_by);
CREATE TABLE IF NOT EXISTS as2_receipts (
    as2_message_id TEXT PRIMARY KEY,
    partner TEXT NOT NULL,
    delivery_id INTEGER,
    message_id INTEGER,
    mic TEXT NOT NULL,
    mic_algorithm TEXT NOT NULL,
    signed INTEGER NOT NULL,
    sent_at REAL NOT NULL,
    expect_by REAL NOT NULL,
    state TEXT NOT NULL,
    settled_at REAL,
    detail TEXT,
    mdn BLOB
);
CREATE INDEX IF NOT EXISTS as2_receipts_state ON as2_receipts(state, expect_by);
"""

_CURSOR_KEY = "acktrack_document_cursor"

#: X12 715 / CONTRL-derived statuses that mean the partner took the document.
_ACCEPTED = frozenset({"A", "E"})
_PARTIAL = frozenset({"P"})

#: ``outbound_acks.state`` values
WAITING = "waiting"
ACCEPTED = "accepted"
PARTIAL = "partially_accepted"
REJECTED = "rejected"
NOT_EXPECTED = "not_expected"
#: ``as2_receipts.state``: recorded before the POST, its outcome not known yet
SENDING = "sending"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundInterchange:
    """One interchange we sent, as recorded for acknowledgment tracking."""

    message_id: int
    partner: str
    standard: str
    document_type: str
    interchange_control: str
    group_control: str | None
    expect_within_hours: int | None


def ensure_schema(c: sqlite3.Connection) -> None:
    """Create the tracking table (idempotent; run as a journal write op)."""
    for statement in SCHEMA.strip().split(";"):
        if statement.strip():
            c.execute(statement)


def record_sent(c: sqlite3.Connection, item: OutboundInterchange, now: float) -> None:
    """Record an outbound interchange (journal write op, inside the queuing transaction)."""
    ensure_schema(c)
    expect_by = None if item.expect_within_hours is None else now + item.expect_within_hours * 3600.0
    state = WAITING if expect_by is not None else NOT_EXPECTED
    c.execute(
        "INSERT OR REPLACE INTO outbound_acks(message_id, partner, standard, document_type,"
        " interchange_control, group_control, sent_at, expect_by, state) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            item.message_id,
            item.partner,
            item.standard,
            item.document_type,
            item.interchange_control,
            item.group_control,
            now,
            expect_by,
            state,
        ),
    )


def _settle(status: str | None) -> str:
    if status in _ACCEPTED:
        return ACCEPTED
    if status in _PARTIAL:
        return PARTIAL
    return REJECTED


def _number(value: Any) -> str | None:
    # Control numbers are compared as integers: ISA13 is zero-padded, GS06 and UCI 0020 need not be.
    text = str(value or "").strip()
    return str(int(text)) if text.isdigit() else (text or None)


def apply_acks(c: sqlite3.Connection) -> int:
    """Settle outbound interchanges from the functional acks journaled since the last call.

    Runs as one journal write op; the cursor moves in the same transaction,
    so a crash repeats at most one walk.

    Returns:
        How many outbound interchanges changed state.
    """
    ensure_schema(c)
    row = c.execute("SELECT value FROM meta WHERE key = ?", (_CURSOR_KEY,)).fetchone()
    cursor = int(row[0]) if row is not None else 0
    changed = 0
    last = cursor
    for doc in c.execute(
        "SELECT d.id, d.message_id, d.envelope, m.partner FROM documents d JOIN messages m"
        " ON m.id = d.message_id WHERE d.id > ? AND d.document_type = 'functional_ack' ORDER BY d.id",
        (cursor,),
    ).fetchall():
        last = int(doc["id"])
        envelope = json.loads(doc["envelope"])
        ack = envelope.get("document") or {}
        partner = doc["partner"]
        kind = str(ack.get("ack_type") or "")
        state = _settle(ack.get("status"))
        detail = f"{kind} status {ack.get('status') or '?'}"
        if ack.get("error_codes"):
            detail += f", errors {', '.join(map(str, ack['error_codes']))}"
        if kind == "CONTRL":
            control = _number(ack.get("interchange_control_number"))
            where, standard = "interchange_control", "edifact"
        else:
            control = _number(ack.get("group_control_number"))
            where, standard = "group_control", "x12"
        if control is None:
            continue
        cur = c.execute(
            f"UPDATE outbound_acks SET state = ?, ack_message_id = ?, detail = ?"
            f" WHERE partner = ? AND standard = ? AND {where} = ?",
            (state, int(doc["message_id"]), detail, partner, standard, control),
        )
        changed += cur.rowcount
    if last != cursor:
        c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (_CURSOR_KEY, str(last)))
    return changed


def ack_overview(
    c: sqlite3.Connection, *, now: float | None = None, partner: str | None = None
) -> dict[str, Any]:
    """What the partners acknowledged of what we sent, for ``edigate status`` (read-only).

    Args:
        c: a journal connection (read-only is fine).
        now: the clock (tests).
        partner: only this partner.

    Returns:
        ``counts`` by state, and ``overdue``: interchanges still unacknowledged
        past their deadline, each with a sentence saying so.
    """
    at = time.time() if now is None else now
    exists = c.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbound_acks'"
    ).fetchone()
    if exists is None:
        return {"counts": {}, "overdue": [], "rejected": []}
    where, args = ("WHERE partner = ?", [partner]) if partner else ("", [])
    counts = {
        str(r[0]): int(r[1])
        for r in c.execute(f"SELECT state, COUNT(*) FROM outbound_acks {where} GROUP BY state", args)
    }
    overdue = []
    for r in c.execute(
        "SELECT * FROM outbound_acks WHERE state = ? AND expect_by < ?"
        + (" AND partner = ?" if partner else "")
        + " ORDER BY expect_by",
        [WAITING, at, *args],
    ):
        hours = (at - float(r["sent_at"])) / 3600.0
        overdue.append(
            {
                "message_id": int(r["message_id"]),
                "partner": r["partner"],
                "interchange_control": r["interchange_control"],
                "reason": (
                    f"{r['partner']} has not acknowledged our {r['document_type']} "
                    f"(interchange {r['interchange_control']}) sent {hours:.1f} h ago"
                ),
            }
        )
    rejected = [
        {
            "message_id": int(r["message_id"]),
            "partner": r["partner"],
            "interchange_control": r["interchange_control"],
            "reason": f"{r['partner']} rejected our {r['document_type']} "
            f"(interchange {r['interchange_control']}): {r['detail']}",
        }
        for r in c.execute(
            "SELECT * FROM outbound_acks WHERE state = ?" + (" AND partner = ?" if partner else ""),
            [REJECTED, *args],
        )
    ]
    return {"counts": counts, "overdue": overdue, "rejected": rejected}


# --------------------------------------------------------------------- AS2 asynchronous MDNs


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectedMdn:
    """An AS2 message we send with an asynchronous MDN requested.

    Attributes:
        as2_message_id: our Message-ID (the MDN's Original-Message-ID), with its angle brackets.
        partner: partner id.
        delivery_id: the journal delivery that carries the file (None outside the engine).
        mic: the Received-Content-MIC we expect (base64).
        mic_algorithm: its algorithm label.
        signed: a signed MDN was requested, so an unsigned one is refused.
        within_seconds: how long the partner has for the MDN.
    """

    as2_message_id: str
    partner: str
    delivery_id: int | None
    mic: str
    mic_algorithm: str
    signed: bool
    within_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingMdn:
    """What :func:`find_mdn` returns: the expectation and where it stands."""

    as2_message_id: str
    partner: str
    message_id: int | None
    mic: str
    mic_algorithm: str
    signed: bool
    state: str


def _mdn_key(as2_message_id: str) -> str:
    # Partners echo the Message-ID with or without angle brackets and spaces.
    return as2_message_id.strip().strip("<>").strip()


def expect_mdn(c: sqlite3.Connection, item: ExpectedMdn, now: float) -> None:
    """Record an expected asynchronous MDN in state ``sending`` (journal write op, before the POST)."""
    ensure_schema(c)
    message_id = None
    if item.delivery_id is not None:
        row = c.execute("SELECT message_id FROM deliveries WHERE id = ?", (item.delivery_id,)).fetchone()
        message_id = None if row is None else int(row[0])
    c.execute(
        "INSERT OR REPLACE INTO as2_receipts(as2_message_id, partner, delivery_id, message_id, mic,"
        " mic_algorithm, signed, sent_at, expect_by, state) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            _mdn_key(item.as2_message_id),
            item.partner,
            item.delivery_id,
            message_id,
            item.mic,
            item.mic_algorithm,
            int(item.signed),
            now,
            now + item.within_seconds,
            SENDING,
        ),
    )


def mdn_sent(c: sqlite3.Connection, as2_message_id: str) -> None:
    """The partner answered 2xx: the MDN is now awaited (unless it already came)."""
    ensure_schema(c)
    c.execute(
        "UPDATE as2_receipts SET state = ? WHERE as2_message_id = ? AND state = ?",
        (WAITING, _mdn_key(as2_message_id), SENDING),
    )


def find_mdn(c: sqlite3.Connection, partner: str, as2_message_id: str) -> PendingMdn | None:
    """The expectation an MDN from ``partner`` answers, or None (unknown Original-Message-ID)."""
    ensure_schema(c)
    r = c.execute(
        "SELECT * FROM as2_receipts WHERE as2_message_id = ? AND partner = ?",
        (_mdn_key(as2_message_id), partner),
    ).fetchone()
    if r is None:
        return None
    return PendingMdn(
        as2_message_id=str(r["as2_message_id"]),
        partner=str(r["partner"]),
        message_id=None if r["message_id"] is None else int(r["message_id"]),
        mic=str(r["mic"]),
        mic_algorithm=str(r["mic_algorithm"]),
        signed=bool(r["signed"]),
        state=str(r["state"]),
    )


def settle_mdn(
    c: sqlite3.Connection,
    as2_message_id: str,
    *,
    accepted: bool,
    detail: str,
    mdn: bytes,
    now: float,
) -> bool:
    """Mark an expected MDN accepted or rejected (journal write op).

    The outcome is also appended to the message's history (its state stays
    ``delivered``: the file did reach the partner), and a rejection becomes the
    message's reason, so ``edigate messages list/trace`` show it.

    Returns:
        False when it was settled already (a repeated MDN changes nothing).
    """
    ensure_schema(c)
    key = _mdn_key(as2_message_id)
    r = c.execute("SELECT state, message_id FROM as2_receipts WHERE as2_message_id = ?", (key,)).fetchone()
    if r is None or r["state"] not in (SENDING, WAITING):
        return False
    state = ACCEPTED if accepted else REJECTED
    c.execute(
        "UPDATE as2_receipts SET state = ?, settled_at = ?, detail = ?, mdn = ? WHERE as2_message_id = ?",
        (state, now, detail, mdn, key),
    )
    if r["message_id"] is not None:
        mid = int(r["message_id"])
        row = c.execute("SELECT state FROM messages WHERE id = ?", (mid,)).fetchone()
        if row is not None:
            c.execute("INSERT INTO history VALUES (?,?,?,?)", (mid, now, row[0], detail))
            if not accepted:
                c.execute("UPDATE messages SET reason = ?, updated_at = ? WHERE id = ?", (detail, now, mid))
    return True


def mdn_overview(
    c: sqlite3.Connection, *, now: float | None = None, partner: str | None = None
) -> dict[str, Any]:
    """Asynchronous MDNs for ``edigate status`` (read-only): counts, overdue and rejected ones.

    Args:
        c: a journal connection (read-only is fine).
        now: the clock (tests).
        partner: only this partner.

    Returns:
        ``counts`` by state, ``overdue`` (still waiting at or past the deadline)
        and ``rejected``, each item with a sentence saying what happened.
    """
    at = time.time() if now is None else now
    exists = c.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'as2_receipts'"
    ).fetchone()
    if exists is None:
        return {"counts": {}, "overdue": [], "rejected": []}
    where, args = (" AND partner = ?", [partner]) if partner else ("", [])
    counts = {
        str(r[0]): int(r[1])
        for r in c.execute(
            "SELECT state, COUNT(*) FROM as2_receipts WHERE 1=1" + where + " GROUP BY state", args
        )
    }
    overdue = []
    for r in c.execute(
        "SELECT * FROM as2_receipts WHERE state = ? AND expect_by <= ?" + where + " ORDER BY expect_by",
        [WAITING, at, *args],
    ):
        minutes = (at - float(r["sent_at"])) / 60.0
        overdue.append(
            {
                "message_id": r["message_id"],
                "partner": r["partner"],
                "as2_message_id": r["as2_message_id"],
                "reason": (
                    f"{r['partner']} has not sent the AS2 MDN for message {r['message_id']} "
                    f"(AS2 Message-ID <{r['as2_message_id']}>) sent {minutes:.0f} min ago"
                ),
            }
        )
    rejected = [
        {
            "message_id": r["message_id"],
            "partner": r["partner"],
            "as2_message_id": r["as2_message_id"],
            "reason": str(r["detail"]),
        }
        for r in c.execute(
            "SELECT * FROM as2_receipts WHERE state = ?" + where + " ORDER BY settled_at", [REJECTED, *args]
        )
    ]
    return {"counts": counts, "overdue": overdue, "rejected": rejected}


def ack_state(c: sqlite3.Connection, message_id: int) -> str | None:
    """The acknowledgment state of one outbound message, or None when it is not tracked."""
    exists = c.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbound_acks'"
    ).fetchone()
    if exists is None:
        return None
    row = c.execute("SELECT state FROM outbound_acks WHERE message_id = ?", (message_id,)).fetchone()
    return None if row is None else str(row[0])


__all__ = [
    "ACCEPTED",
    "NOT_EXPECTED",
    "PARTIAL",
    "REJECTED",
    "SENDING",
    "WAITING",
    "ExpectedMdn",
    "OutboundInterchange",
    "PendingMdn",
    "ack_overview",
    "ack_state",
    "apply_acks",
    "ensure_schema",
    "expect_mdn",
    "find_mdn",
    "mdn_overview",
    "mdn_sent",
    "record_sent",
    "settle_mdn",
]
