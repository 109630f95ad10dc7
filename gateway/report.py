"""Read-only views of the journal for people: status, listings, traces.

Plain functions over a read-only SQLite connection, so the CLI can answer
even when the daemon is down (``edigate status`` still shows the journal's
figures and exits 3).
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from .states import MessageState

_ACTIVE = ("received", "translated", "queued")
FAILED_STATES = ("rejected", "dead")


def partner_summary(conn: sqlite3.Connection, now: float | None = None) -> list[dict[str, Any]]:
    """Per partner: counts by state, today's intake, oldest undelivered age, last error."""
    now = now or time.time()
    day_start = now - (now % 86400)
    partners: dict[str, dict[str, Any]] = {}

    def entry(name: str | None) -> dict[str, Any]:
        key = name or "(unidentified)"
        return partners.setdefault(
            key,
            {
                "partner": key,
                "states": {s.value: 0 for s in MessageState},
                "received_today": 0,
                "oldest_undelivered_seconds": None,
                "last_error": None,
                "last_error_at": None,
                "last_received_at": None,
            },
        )

    for r in conn.execute("SELECT partner, state, COUNT(*) FROM messages GROUP BY partner, state"):
        entry(r[0])["states"][r[1]] = int(r[2])
    for r in conn.execute(
        "SELECT partner, COUNT(*), MAX(received_at) FROM messages WHERE received_at >= ? GROUP BY partner",
        (day_start,),
    ):
        e = entry(r[0])
        e["received_today"] = int(r[1])
    for r in conn.execute("SELECT partner, MAX(received_at) FROM messages GROUP BY partner"):
        entry(r[0])["last_received_at"] = r[1]
    for r in conn.execute(
        "SELECT partner, MIN(received_at) FROM messages WHERE state IN ('received','translated','queued')"
        " GROUP BY partner"
    ):
        entry(r[0])["oldest_undelivered_seconds"] = round(now - float(r[1]), 1)
    for r in conn.execute(
        "SELECT m.partner, m.reason, m.updated_at FROM messages m JOIN ("
        " SELECT partner, MAX(updated_at) AS at FROM messages WHERE state IN ('rejected','dead')"
        " GROUP BY partner"
        ") last ON last.partner IS m.partner AND last.at = m.updated_at WHERE m.state IN ('rejected','dead')"
    ):
        e = entry(r[0])
        e["last_error"] = r[1]
        e["last_error_at"] = r[2]
    return sorted(partners.values(), key=lambda e: str(e["partner"]))


def totals(conn: sqlite3.Connection) -> dict[str, int]:
    """Message counts by state over the whole journal."""
    out = {s.value: 0 for s in MessageState}
    for r in conn.execute("SELECT state, COUNT(*) FROM messages GROUP BY state"):
        out[str(r[0])] = int(r[1])
    return out


def sink_backlog(conn: sqlite3.Connection, now: float | None = None) -> list[dict[str, Any]]:
    """Per sink: pending deliveries and the age of the oldest."""
    now = now or time.time()
    return [
        {
            "sink": r[0],
            "pending": int(r[1]),
            "oldest_seconds": round(now - float(r[2]), 1),
            "last_error": r[3],
        }
        for r in conn.execute(
            "SELECT sink, COUNT(*), MIN(created_at), MAX(last_error) FROM deliveries WHERE state = 'pending'"
            " GROUP BY sink ORDER BY sink"
        )
    ]


def list_messages(
    conn: sqlite3.Connection,
    *,
    states: tuple[str, ...] | None = None,
    partner: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The newest messages, optionally filtered."""
    sql = (
        "SELECT id, partner, transport, file_name, size, state, reason, standard, received_at, updated_at"
        " FROM messages"
    )
    where: list[str] = []
    args: list[Any] = []
    if states:
        where.append(f"state IN ({','.join('?' * len(states))})")
        args.extend(states)
    if partner:
        where.append("partner = ?")
        args.append(partner)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    return [dict(r) for r in conn.execute(sql, args)]


def message_detail(conn: sqlite3.Connection, message_id: int) -> dict[str, Any] | None:
    """A message with its documents and deliveries (no raw bytes)."""
    row = conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        return None
    out = dict(row)
    out["meta"] = json.loads(out.get("meta") or "{}")
    out["documents"] = [
        {
            "id": r["id"],
            "seq": r["seq"],
            "document_type": r["document_type"],
            "idempotency_key": r["idempotency_key"],
        }
        for r in conn.execute(
            "SELECT id, seq, document_type, idempotency_key FROM documents WHERE message_id = ? ORDER BY seq",
            (message_id,),
        )
    ]
    out["deliveries"] = [
        dict(r)
        for r in conn.execute(
            "SELECT id, document_id, sink, state, attempts, next_at, last_error, updated_at FROM deliveries"
            " WHERE message_id = ? ORDER BY id",
            (message_id,),
        )
    ]
    out["replies"] = [
        {"kind": r[0], "bytes": r[1], "at": r[2]}
        for r in conn.execute(
            "SELECT kind, length(payload), at FROM replies WHERE message_id = ?", (message_id,)
        )
    ]
    return out


def message_trace(conn: sqlite3.Connection, message_id: int) -> dict[str, Any] | None:
    """Everything about one message: history, canonical JSON, every delivery attempt."""
    detail = message_detail(conn, message_id)
    if detail is None:
        return None
    detail["history"] = [
        {"at": r[0], "state": r[1], "reason": r[2]}
        for r in conn.execute(
            "SELECT at, state, reason FROM history WHERE message_id = ? ORDER BY rowid", (message_id,)
        )
    ]
    detail["canonical"] = [
        json.loads(r[0])
        for r in conn.execute(
            "SELECT envelope FROM documents WHERE message_id = ? ORDER BY seq", (message_id,)
        )
    ]
    for d in detail["deliveries"]:
        d["attempts_log"] = [
            {"at": r[0], "ok": bool(r[1]), "error": r[2]}
            for r in conn.execute(
                "SELECT at, ok, error FROM attempts WHERE delivery_id = ? ORDER BY rowid", (d["id"],)
            )
        ]
    detail["ack_payloads"] = {
        r[0]: bytes(r[1]).decode("latin-1")
        for r in conn.execute("SELECT kind, payload FROM replies WHERE message_id = ?", (message_id,))
    }
    return detail


def recent_events(conn: sqlite3.Connection, since: float) -> dict[str, int]:
    """Counts of operational events (auth failures...) since a time."""
    return {
        str(r[0]): int(r[1])
        for r in conn.execute("SELECT kind, COUNT(*) FROM events WHERE at >= ? GROUP BY kind", (since,))
    }


__all__ = [
    "FAILED_STATES",
    "list_messages",
    "message_detail",
    "message_trace",
    "partner_summary",
    "recent_events",
    "sink_backlog",
    "totals",
]
