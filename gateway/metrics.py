"""Prometheus metrics: what flows, what waits, how long it takes.

Strategy: the HTTP server (prometheus-client's, on its own thread) never
touches the event loop or the journal writer.  The daemon pushes a
:class:`Snapshot` every few seconds (:meth:`GatewayMetrics.update`, built on a
journal reader thread by :func:`read_figures`), and the collector renders the
latest one.  So a scrape costs nothing, and a slow scraper cannot stall
intake.

Latency histograms are fed from the journal's own records, which are the
truth about when things happened:

* intake latency (per partner): from receipt to ``queued`` (journaled,
  identified, translated, ready to deliver), read from ``history``;
* delivery latency (per sink): from the delivery being queued to the sink
  accepting it, read from successful ``attempts``.

Both tables only grow by rowid, so each push reads only rows after the last
seen rowid (an index range scan).  Code that knows a latency first-hand can
also call :meth:`GatewayMetrics.observe_intake` / :meth:`observe_delivery`.

The registry is private (not prometheus-client's global one) and the server
only binds loopback addresses: metrics name partners, so they stay on the host
unless an admin puts a proxy in front.
"""

from __future__ import annotations

import ipaddress
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

#: seconds; EDI latency spans sub-second translation to hours of sink outage
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` → (host, port); the host must be a loopback address.

    Raises:
        ValueError: not ``host:port``, or the host is not loopback.
    """
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"metrics_listen {value!r}: expected host:port, e.g. 127.0.0.1:9464")
    host = host.strip("[]")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"metrics_listen {value!r}: only a loopback address (127.0.0.1, ::1) is allowed")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"metrics_listen {value!r}: port out of range")
    return host, port


@dataclass(slots=True)
class Marks:
    """The last journal rows already turned into latency observations."""

    history: int | None = None
    attempts: int | None = None

    def reset(self, conn: sqlite3.Connection) -> None:
        """Start at the journal's current end (history before this process is not observed)."""
        self.history = int(conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM history").fetchone()[0])
        self.attempts = int(conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM attempts").fetchone()[0])


@dataclass(slots=True)
class Snapshot:
    """Figures for one scrape, built off the event loop."""

    #: (partner, document type, state) → messages
    messages: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: per sink: backlog, oldest_seconds, up (1/0, None when unknown), retries, delivered, dead
    sinks: dict[str, dict[str, Any]] = field(default_factory=dict)
    dead_letters: int = 0
    journal_bytes: dict[str, int] = field(default_factory=dict)
    disk_free_bytes: int | None = None
    disk_floor_bytes: int | None = None
    intake: list[tuple[str, float]] = field(default_factory=list)
    delivery: list[tuple[str, float]] = field(default_factory=list)


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def read_figures(
    conn: sqlite3.Connection, *, db_path: Path, summary: dict[str, Any], live: dict[str, Any], marks: Marks
) -> Snapshot:
    """Build a snapshot (on a journal reader thread); advances ``marks``.

    Args:
        conn: a journal connection (read-only use).
        db_path: the journal database file (its size and its WAL's are reported).
        summary: ``summary`` of :func:`gateway.status_view.collect` (sinks, disk).
        live: the daemon's live status (engine counters per sink).
        marks: latency rows seen so far; ``None`` marks start at the current end,
            so history from before this process is not replayed into histograms.
    """
    snap = Snapshot()
    for partner, document, state, count in conn.execute(
        "SELECT COALESCE(m.partner, '(unidentified)'), COALESCE(d.document_type, '-'), m.state,"
        " COUNT(DISTINCT m.id) FROM messages m LEFT JOIN documents d ON d.message_id = m.id"
        " GROUP BY 1, 2, 3"
    ):
        snap.messages[(str(partner), str(document), str(state))] = int(count)
    snap.dead_letters = sum(n for (_, _, state), n in snap.messages.items() if state in ("rejected", "dead"))
    spool = conn.execute("SELECT COALESCE(SUM(size), 0) FROM messages").fetchone()[0]
    snap.journal_bytes = {
        "database": _file_size(db_path),
        "wal": _file_size(db_path.with_name(db_path.name + "-wal")),
        "spool": int(spool),
    }
    engine = {s["name"]: s for s in live.get("sinks", []) if isinstance(s, dict)}
    for s in summary.get("sinks", []):
        e = engine.get(s["name"], {})
        snap.sinks[s["name"]] = {
            "backlog": s["backlog"],
            "oldest_seconds": s["oldest_seconds"] or 0.0,
            "up": None if s["state"] == "unknown" else int(s["state"] == "up"),
            "retries": int(e.get("failed_attempts", 0)),
            "delivered": int(e.get("delivered", 0)),
            "dead": int(e.get("dead", 0)),
        }
    disk = summary.get("disk") or {}
    snap.disk_free_bytes = disk.get("free_bytes")
    snap.disk_floor_bytes = disk.get("floor_bytes")
    _latencies(conn, snap, marks)
    return snap


def _latencies(conn: sqlite3.Connection, snap: Snapshot, marks: Marks) -> None:
    if marks.history is None or marks.attempts is None:
        marks.reset(conn)
        return
    # reason IS NULL: the pipeline's own move to queued, not an operator's replay.
    for rowid, partner, seconds in conn.execute(
        "SELECT h.rowid, COALESCE(m.partner, '(unidentified)'), h.at - m.received_at FROM history h"
        " JOIN messages m ON m.id = h.message_id"
        " WHERE h.rowid > ? AND h.state = 'queued' AND h.reason IS NULL ORDER BY h.rowid",
        (marks.history,),
    ):
        snap.intake.append((str(partner), max(0.0, float(seconds))))
        marks.history = int(rowid)
    marks.history = max(
        marks.history, int(conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM history").fetchone()[0])
    )
    for rowid, sink, seconds in conn.execute(
        "SELECT a.rowid, d.sink, a.at - d.created_at FROM attempts a"
        " JOIN deliveries d ON d.id = a.delivery_id WHERE a.rowid > ? AND a.ok = 1 ORDER BY a.rowid",
        (marks.attempts,),
    ):
        snap.delivery.append((str(sink), max(0.0, float(seconds))))
        marks.attempts = int(rowid)
    marks.attempts = max(
        marks.attempts, int(conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM attempts").fetchone()[0])
    )


class _SnapshotCollector(Collector):
    def __init__(self, owner: GatewayMetrics) -> None:
        self.owner = owner

    def collect(self) -> Iterable[Any]:
        with self.owner.lock:
            snap = self.owner.snapshot
        if snap is None:
            return []
        messages = GaugeMetricFamily(
            "edigate_messages",
            "Messages in the journal by partner, document type and state",
            labels=["partner", "document", "state"],
        )
        for (partner, document, state), n in sorted(snap.messages.items()):
            messages.add_metric([partner, document, state], n)
        backlog = GaugeMetricFamily("edigate_sink_backlog", "Deliveries waiting per sink", labels=["sink"])
        oldest = GaugeMetricFamily(
            "edigate_sink_oldest_seconds", "Age of the oldest waiting delivery per sink", labels=["sink"]
        )
        up = GaugeMetricFamily("edigate_sink_up", "1 when the sink's circuit is closed", labels=["sink"])
        retries = CounterMetricFamily(
            "edigate_delivery_retries",
            "Failed delivery attempts since start (each is retried)",
            labels=["sink"],
        )
        delivered = CounterMetricFamily(
            "edigate_deliveries", "Successful deliveries since start", labels=["sink"]
        )
        dead = CounterMetricFamily(
            "edigate_dead_deliveries", "Deliveries given up since start", labels=["sink"]
        )
        for name, s in sorted(snap.sinks.items()):
            backlog.add_metric([name], s["backlog"])
            oldest.add_metric([name], s["oldest_seconds"])
            if s["up"] is not None:
                up.add_metric([name], s["up"])
            retries.add_metric([name], s["retries"])
            delivered.add_metric([name], s["delivered"])
            dead.add_metric([name], s["dead"])
        out: list[Any] = [messages, backlog, oldest, up, retries, delivered, dead]
        out.append(
            GaugeMetricFamily(
                "edigate_dead_letters",
                "Rejected or dead messages waiting for a replay",
                value=snap.dead_letters,
            )
        )
        size = GaugeMetricFamily("edigate_journal_bytes", "Journal size by part", labels=["part"])
        for part, n in sorted(snap.journal_bytes.items()):
            size.add_metric([part], n)
        out.append(size)
        if snap.disk_free_bytes is not None:
            out.append(
                GaugeMetricFamily(
                    "edigate_disk_free_bytes",
                    "Free space where the journal lives",
                    value=snap.disk_free_bytes,
                )
            )
        if snap.disk_floor_bytes is not None:
            out.append(
                GaugeMetricFamily(
                    "edigate_disk_floor_bytes",
                    "Intake stops below this much free space",
                    value=snap.disk_floor_bytes,
                )
            )
        return out


class GatewayMetrics:
    """The gateway's metrics registry and its loopback HTTP server."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.lock = threading.Lock()
        self.snapshot: Snapshot | None = None
        self.marks = Marks()
        self.intake_latency = Histogram(
            "edigate_intake_latency_seconds",
            "From receipt to ready for delivery (journaled, translated, queued)",
            ["partner"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.delivery_latency = Histogram(
            "edigate_delivery_latency_seconds",
            "From queued to accepted by the sink",
            ["sink"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.registry.register(_SnapshotCollector(self))
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.address: tuple[str, int] | None = None

    def observe_intake(self, partner: str, seconds: float) -> None:
        """Record one message's intake latency."""
        self.intake_latency.labels(partner=partner).observe(seconds)

    def observe_delivery(self, sink: str, seconds: float) -> None:
        """Record one delivery's latency."""
        self.delivery_latency.labels(sink=sink).observe(seconds)

    def update(self, snap: Snapshot) -> None:
        """Publish a new snapshot and feed its latency rows into the histograms."""
        for partner, seconds in snap.intake:
            self.observe_intake(partner, seconds)
        for sink, seconds in snap.delivery:
            self.observe_delivery(sink, seconds)
        with self.lock:
            self.snapshot = snap

    def start(self, listen: str) -> tuple[str, int]:
        """Serve ``/metrics`` on a loopback ``host:port``; returns the bound address.

        Raises:
            ValueError: ``listen`` is not a loopback host:port.
            OSError: the port cannot be bound.
        """
        host, port = parse_listen(listen)
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        self.address = (host, int(self._server.server_port))
        return self.address

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


__all__ = ["LATENCY_BUCKETS", "GatewayMetrics", "Marks", "Snapshot", "parse_listen", "read_figures"]
