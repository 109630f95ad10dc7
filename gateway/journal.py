"""The journal: the gateway's only durable state.

Strategy:

* Raw bytes go to a content-addressed :class:`~gateway.spool.Spool`; rows go
  to SQLite in WAL mode with ``synchronous=FULL``.
* Every write goes through one writer (:mod:`gateway.writer`): in the
  daemon a process of its own, for tools a thread.  It takes every operation
  waiting in its queue, writes their spool files (fsyncs issued together),
  runs the operations in one transaction, commits once, and only then
  resolves the callers' futures: concurrent intakes share one fsync (group
  commit), yet each operation is all-or-nothing (one that raises is undone
  alone).
* :meth:`Journal.append` returns only after that commit, so a source may
  acknowledge the partner as soon as it returns.  If the disk refuses, the
  journal raises :class:`JournalWriteError` and the daemon stops (fail-stop,
  as Vector does with its disk buffer) rather than acknowledge what it could
  not keep.
* Readers (CLI, status) open their own read-only connections; WAL lets them
  read while the daemon writes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .errors import (
    DiskFloorError,
    JournalWriteError,
    MessageTooLargeError,
    UnknownMessageError,
)
from .filebatch import SyncMode
from .iopool import read_pool
from .spool import Spool, sha256_hex
from .states import ACTIVE_STATES, DeliveryState, MessageState, can_move
from .writer import WriterProcess, run_batch, writing_spool

_T = TypeVar("_T")

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: raw files up to this size are read on the event loop (page cache, microseconds)
_INLINE_READ_BYTES = 256 * 1024
#: Raw bytes of just-received messages kept in memory for their translation,
#: in all and per file: the pipeline reads them moments after intake wrote them.
_FRESH_LIMIT = 64 * 1024 * 1024
_FRESH_FILE_LIMIT = 1024 * 1024
#: Free space is measured at most this often (seconds) while far above the
#: floor, and on every file within the margin (bytes) of it.
_FREE_SPACE_TTL = 0.5
_FREE_SPACE_MARGIN = 64 * 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    transport TEXT NOT NULL,
    partner TEXT,
    file_name TEXT,
    external_id TEXT,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    standard TEXT,
    duplicate_of INTEGER,
    received_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS messages_active ON messages(state)
    WHERE state IN ('received', 'translated', 'queued');
CREATE INDEX IF NOT EXISTS messages_partner_sha ON messages(partner, sha256);
CREATE INDEX IF NOT EXISTS messages_sha ON messages(sha256);
CREATE INDEX IF NOT EXISTS messages_received ON messages(received_at);
CREATE INDEX IF NOT EXISTS messages_state_updated ON messages(state, updated_at);
CREATE UNIQUE INDEX IF NOT EXISTS messages_external ON messages(transport, partner, external_id)
    WHERE external_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS history (
    message_id INTEGER NOT NULL,
    at REAL NOT NULL,
    state TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS history_message ON history(message_id);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    document_type TEXT NOT NULL,
    envelope TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_message ON documents(message_id);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    sink TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries(sink, next_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_message ON deliveries(message_id);
CREATE TABLE IF NOT EXISTS attempts (
    delivery_id INTEGER NOT NULL,
    at REAL NOT NULL,
    ok INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts(delivery_id);
CREATE TABLE IF NOT EXISTS replies (
    message_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL,
    at REAL NOT NULL,
    -- NULL until the acknowledgment file is in the partner's outbox: a crash
    -- in between must not lose what we owe the partner.
    sent_at REAL,
    PRIMARY KEY (message_id, kind)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    at REAL NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind, at);
CREATE TABLE IF NOT EXISTS counters (
    partner TEXT NOT NULL,
    direction TEXT NOT NULL,
    kind TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (partner, direction, kind)
);
CREATE TABLE IF NOT EXISTS interchanges (
    partner TEXT NOT NULL,
    standard TEXT NOT NULL,
    sender TEXT NOT NULL,
    control TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS interchanges_key ON interchanges(partner, standard, sender, control);
-- A sender's interchanges since the last sequence sweep, without reading
-- every interchange the partner ever sent.
CREATE INDEX IF NOT EXISTS interchanges_recent ON interchanges(partner, standard, sender, at);
-- The last control number judged per sender (see _sweep_sequence).
CREATE TABLE IF NOT EXISTS sequence_marks (
    partner TEXT NOT NULL,
    standard TEXT NOT NULL,
    sender TEXT NOT NULL,
    last INTEGER NOT NULL,
    at REAL NOT NULL,
    seen INTEGER NOT NULL,
    PRIMARY KEY (partner, standard, sender)
);
-- "Is anything of this partner still waiting for translation?", per store.
CREATE INDEX IF NOT EXISTS messages_waiting ON messages(partner) WHERE state = 'received';
"""

#: An interchange number seen before.  INDEXED BY: for ``ORDER BY i.at`` the
#: planner (the journal keeps no ANALYZE statistics) preferred
#: interchanges_recent, which scans every interchange of the sender inside
#: the window (tens of thousands for a busy partner) to find one control
#: number; the key index finds the handful that match.
_EARLIER_INTERCHANGE = (
    "SELECT i.message_id FROM interchanges i INDEXED BY interchanges_key"
    " JOIN messages m ON m.id = i.message_id"
    " WHERE i.partner = ? AND i.standard = ? AND i.sender = ? AND i.control = ? AND i.at >= ?"
    " AND m.state != 'rejected'"
)

#: control numbers wrap inside the 9 digits ISA13/GS06 allow
_COUNTER_MAX = 999_999_999


@dataclass(frozen=True, slots=True, kw_only=True)
class Intake:
    """One file handed over by a source.

    Attributes:
        transport: ``directory``, ``sftp``, ``ftp``, ``as2``, ``smtp``, ``nats``, ``odoo``.
        data: the raw bytes exactly as received.
        partner: known from the inbox/account/AS2 name; None = identify by envelope.
        file_name: the name the partner gave it.
        external_id: AS2 Message-ID and the like; unique per (transport, partner).
        meta: JSON-able context (remote address, account, headers...).
        rejected_reason: keep the bytes as evidence of a refused intake (bad
            signature, unknown sender): the row is recorded ``rejected`` with
            this reason at once and never translated.
    """

    transport: str
    data: bytes
    partner: str | None = None
    file_name: str | None = None
    external_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    rejected_reason: str | None = None


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What :meth:`Journal.append` made durable."""

    message_id: str
    sha256: str
    duplicate_of: str | None
    #: when the row was written (None for an earlier message found again)
    received_at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentRecord:
    """One canonical document to store with a translated message."""

    idempotency_key: str
    document_type: str
    envelope_json: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DuplicateRule:
    """What to do with a message repeating an interchange the partner sent before.

    Attributes:
        policy: ``reject``, ``quarantine`` (rejected, for review) or ``suppress``
            (kept, not delivered again).
        since: only interchanges received after this time count (the window).
    """

    policy: str
    since: float


@dataclass(frozen=True, slots=True)
class Stored:
    """What :meth:`Journal.store_translation_once` did."""

    delivery_ids: list[int]
    #: the earlier message this one repeats, if any
    duplicate_of: int | None = None
    #: why it was rejected instead of stored (a repeat under reject/quarantine)
    rejected: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingDelivery:
    """A delivery waiting for its next attempt."""

    delivery_id: int
    sink: str
    next_at: float
    message_id: int
    partner: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryPayload:
    """What a sink needs to attempt one delivery."""

    delivery_id: int
    message_id: int
    sink: str
    partner: str
    idempotency_key: str
    document_type: str
    envelope_json: str
    attempts: int
    created_at: float
    state: str


@dataclass(slots=True)
class _Op:
    fn: Callable[[sqlite3.Connection], Any]
    #: a thread's future, or a coroutine's future with its loop
    future: Future[Any] | asyncio.Future[Any]
    spool_items: list[tuple[str, bytes]] = field(default_factory=list)
    loop: asyncio.AbstractEventLoop | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalOptions:
    """Limits the journal enforces.

    Attributes:
        min_free_bytes: refuse intake when the state folder has less free space.
        max_message_bytes: refuse larger files.
        batch_max: at most this many operations share one commit.
        writer_process: run the database writer in a child process (the
            daemon does; see :mod:`gateway.writer`) rather than on a thread.
        sync: how the spool makes a batch durable (see :mod:`gateway.filebatch`).
    """

    min_free_bytes: int = 256 * 1024 * 1024
    max_message_bytes: int = 256 * 1024 * 1024
    batch_max: int = 512
    writer_process: bool = False
    sync: SyncMode = "auto"


def connect(db_path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with the journal's pragmas.

    Args:
        db_path: the journal database file.
        readonly: open read-only (CLI and status readers).
    """
    if readonly:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30, check_same_thread=False)
    else:
        conn = sqlite3.connect(db_path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed transaction survives power loss, not just a crash.
        conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.row_factory = sqlite3.Row
    return conn


class Journal:
    """Durable store of messages, documents, deliveries and their history.

    Open with :meth:`open`; every ``async`` method is safe to call from the
    event loop; the ``*_sync`` readers are for tools outside the daemon.
    """

    def __init__(self, state_dir: Path, options: JournalOptions | None = None) -> None:
        self.state_dir = state_dir
        self.options = options or JournalOptions()
        self.db_path = state_dir / "journal.sqlite"
        self.spool = Spool(state_dir / "spool", self.options.sync)
        self._conn = connect(self.db_path)
        self._conn.executescript(_SCHEMA)
        self._conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        _add_sent_at(self._conn)
        if self.options.writer_process:
            # The child has its own connection; this one only made the schema.
            self._conn.close()
        self._reader = connect(self.db_path)
        self._reader_lock = threading.Lock()
        # The event loop's own connection for indexed point reads: a few
        # microseconds inline cost less than a hop to a thread and back, and
        # it never waits on the lock a long report query holds.
        self._point_reader = connect(self.db_path)
        self._queue: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        # Raw bytes are fsynced by their own stage, so the database writer
        # commits one batch while the next batch's files are being written:
        # the two fsync kinds overlap instead of taking turns.
        self._spool_queue: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._failed: BaseException | None = None
        self.commits = 0
        self.ops_committed = 0
        #: time the writer spent in COMMIT (the fsync), for metrics
        self.commit_seconds = 0.0
        self._process: WriterProcess | None = None
        self._closing = False
        self._spooler: threading.Thread | None = None
        if self.options.writer_process:
            # Started by the thread that drives it: the child dies with that thread.
            started: Future[None] = Future()
            self._writer = threading.Thread(
                target=self._drive_process, args=(started,), name="journal-writer", daemon=True
            )
            self._writer.start()
            started.result()
        else:
            self._writer = threading.Thread(target=self._write_loop, name="journal-writer", daemon=True)
            self._writer.start()
            self._spooler = threading.Thread(target=self._spool_loop, name="journal-spool", daemon=True)
            self._spooler.start()
        #: called on the event loop with the id of each new message to translate
        self.on_received: Callable[[int], None] | None = None
        # Every read on the event loop gives the GIL up and waits to get it back
        # behind the I/O threads; the bytes intake just made durable need not
        # be read back from the spool (they never change: content-addressed).
        # Their rows too: the pipeline would otherwise read back, on the event
        # loop, the row intake has just written.
        self._fresh: dict[int, tuple[bytes, dict[str, Any]]] = {}
        self._fresh_bytes = 0
        # Messages whose acknowledgments reached the outbox, recorded in one
        # operation per half second rather than one per file.
        self._sent: list[int] = []
        self._sent_flush: asyncio.TimerHandle | None = None
        # See _free_estimate.
        self._free_measured = 0
        self._free_at = -_FREE_SPACE_TTL
        self._written_since = 0

    @classmethod
    def open(cls, state_dir: Path, options: JournalOptions | None = None) -> Journal:
        """Open (or create) the journal in ``state_dir`` and clean up after a crash.

        Raises:
            JournalWriteError: the folder or database cannot be written.
        """
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            journal = cls(state_dir, options)
            journal.spool.remove_temporaries()
        except (OSError, sqlite3.Error) as exc:
            raise JournalWriteError(f"cannot open the journal in {state_dir}: {exc}") from exc
        return journal

    # ------------------------------------------------------------------ writer

    def _next_batch(self, source: queue.SimpleQueue[_Op | None]) -> list[_Op] | None:
        """Wait for one operation, then take whatever else is queued; None means stop."""
        op = source.get()
        if op is None:
            return None
        batch = [op]
        while len(batch) < self.options.batch_max:
            try:
                nxt = source.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                source.put(None)  # seen again by the next call
                break
            batch.append(nxt)
        return batch

    def _write_loop(self) -> None:
        while (batch := self._next_batch(self._queue)) is not None:
            try:
                self._run_batch(batch)
            except Exception as exc:  # noqa: BLE001 - a dead writer thread would hang every caller
                self._failed = exc
                failure = JournalWriteError(f"journal writer failed: {exc!r}")
                _settle_all([(op, None, failure) for op in batch])

    def _drive_process(self, started: Future[None]) -> None:
        """The writer thread of a journal whose writer is a child process."""
        try:
            self._process = WriterProcess(self.db_path, self.spool.root, self.options.sync)
        except (JournalWriteError, OSError) as exc:
            started.set_exception(exc)
            return
        started.set_result(None)
        try:
            self._write_loop()
        finally:
            self._process.close()

    def _spool_loop(self) -> None:
        """Write the raw bytes of queued appends, then hand the appends to the writer.

        A row may only point at a durable spool file, so an append reaches
        the database writer only after its bytes are fsynced.
        """
        while (batch := self._next_batch(self._spool_queue)) is not None:
            if self._failed is None:
                try:
                    self.spool.write_many([item for op in batch for item in op.spool_items])
                except OSError as exc:
                    self._failed = exc
            if self._failed is not None:
                failure = JournalWriteError(f"journal write failed: {self._failed}")
                _settle_all([(op, None, failure) for op in batch])
                continue
            for op in batch:
                self._queue.put(op)

    def _run_batch(self, batch: list[_Op]) -> None:
        if self._failed is not None:
            failure = JournalWriteError(f"journal stopped after a write failure: {self._failed}")
            _settle_all([(op, None, failure) for op in batch])
            return
        fns = [op.fn for op in batch]
        try:
            if self._process is not None:
                outcomes, seconds = self._process.run(fns, [item for op in batch for item in op.spool_items])
            else:
                outcomes, seconds = run_batch(self._conn, self.spool, fns)
        except (OSError, sqlite3.Error, JournalWriteError) as exc:
            self._failed = exc
            failure = (
                exc
                if isinstance(exc, JournalWriteError)
                else JournalWriteError(f"journal write failed: {exc}")
            )
            _settle_all([(op, None, failure) for op in batch])
            return
        self.commit_seconds += seconds
        self.commits += 1
        self.ops_committed += len(batch)
        _settle_all([(op, value, error) for op, (value, error) in zip(batch, outcomes, strict=True)])

    def _submit(
        self, fn: Callable[[sqlite3.Connection], _T], spool_items: list[tuple[str, bytes]] | None = None
    ) -> Future[_T]:
        if self._failed is not None:
            raise JournalWriteError(f"journal stopped after a write failure: {self._failed}")
        fut: Future[_T] = Future()
        if spool_items and self._spooler is not None:
            self._spool_queue.put(_Op(fn, fut, spool_items))
        else:
            # The writer process writes a batch's spool files before its rows.
            self._queue.put(_Op(fn, fut, spool_items or []))
        return fut

    async def _run(
        self, fn: Callable[[sqlite3.Connection], _T], spool_items: list[tuple[str, bytes]] | None = None
    ) -> _T:
        # A loop future settled by the writer in one callback per batch: no
        # thread-safe future, lock or loop wake-up per operation (those cost
        # the event loop more GIL time than the SQL itself).
        if self._failed is not None:
            raise JournalWriteError(f"journal stopped after a write failure: {self._failed}")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[_T] = loop.create_future()
        op = _Op(fn, fut, spool_items or [], loop)
        if spool_items and self._spooler is not None:
            self._spool_queue.put(op)
        else:
            self._queue.put(op)
        return await fut

    async def write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run a write op of a module with its own tables (``gateway.acktrack``); returns after commit.

        ``fn`` must pickle (a module-level function, or one bound to its
        arguments with ``functools.partial``): the daemon's writer runs in a
        process of its own.  One that does not fails with a TypeError.
        """
        return await self._run(fn)

    def run_sync(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run a write operation and wait for its commit (threads, tools)."""
        return self._submit(fn).result()

    def close(self) -> None:
        """Finish queued writes and close."""
        self._closing = True
        if self._sent_flush is not None:
            self._sent_flush.cancel()
            self._sent_flush = None
        self._flush_sent()  # queued ahead of the writer's stop below, so written before it exits
        if self._spooler is not None:
            self._spool_queue.put(None)
            self._spooler.join()
        self._queue.put(None)
        self._writer.join()
        self.spool.close()
        if self._process is None:
            self._conn.close()
        self._reader.close()
        self._point_reader.close()

    @property
    def failed(self) -> BaseException | None:
        """The write error that stopped the journal, if any (a dead writer process counts at once)."""
        writer = self._process
        if self._failed is None and writer is not None and not self._closing and not writer.alive():
            self._failed = JournalWriteError(f"journal writer process is gone ({writer.describe()})")
        return self._failed

    # ------------------------------------------------------------------ intake

    def free_bytes(self) -> int:
        """Free space on the state folder's filesystem, for unprivileged writers."""
        st = os.statvfs(self.state_dir)
        return st.f_bavail * st.f_frsize

    def _free_estimate(self, size: int) -> int:
        """Free space now, from a recent measurement less what intake wrote since.

        A ``statvfs`` per file gave the GIL up on the event loop and waited to
        get it back behind the I/O threads.  Close to the floor, every file
        measures again: there the answer must be exact.
        """
        now = time.monotonic()
        estimate = self._free_measured - self._written_since
        if (
            now - self._free_at > _FREE_SPACE_TTL
            or estimate - size < self.options.min_free_bytes + _FREE_SPACE_MARGIN
        ):
            estimate = self._free_measured = self.free_bytes()
            self._free_at = now
            self._written_since = 0
        return estimate

    def check_intake(self, size: int) -> None:
        """Raise when a file of ``size`` bytes may not be taken now.

        Raises:
            MessageTooLargeError: over ``max_message_bytes``.
            DiskFloorError: free space would drop under ``min_free_bytes``.
        """
        if size > self.options.max_message_bytes:
            raise MessageTooLargeError(
                f"file of {size} bytes is over the limit of {self.options.max_message_bytes} bytes"
            )
        free = self._free_estimate(size)
        if free - size < self.options.min_free_bytes:
            raise DiskFloorError(
                f"only {free // (1024 * 1024)} MiB free on {self.state_dir}; intake pauses below "
                f"{self.options.min_free_bytes // (1024 * 1024)} MiB"
            )

    async def append(self, intake: Intake) -> AppendResult:
        """Make one received file durable.

        Returns only after the bytes and the row are fsynced; the caller may
        then acknowledge the partner.  The same bytes from the same partner
        (while the earlier copy is not rejected) are recorded as a duplicate;
        the same external id returns the earlier message.

        Raises:
            MessageTooLargeError: over the size limit; nothing stored.
            DiskFloorError: not enough free space; nothing stored.
            JournalWriteError: the disk refused; the daemon must stop.
        """
        self.check_intake(len(intake.data))
        if len(intake.data) > 1024 * 1024:
            sha = await asyncio.to_thread(sha256_hex, intake.data)
        else:
            sha = sha256_hex(intake.data)
        result = await self._run(functools.partial(_op_append, intake=intake, sha=sha), [(sha, intake.data)])
        self._written_since += len(intake.data)
        if result.duplicate_of is None and intake.rejected_reason is None and self.on_received is not None:
            mid = int(result.message_id)
            size = len(intake.data)
            if size <= _FRESH_FILE_LIMIT and self._fresh_bytes + size <= _FRESH_LIMIT:
                self._fresh[mid] = (intake.data, _received_row(mid, intake, result))
                self._fresh_bytes += size
            self.on_received(mid)
        return result

    def append_sync(self, intake: Intake) -> AppendResult:
        """:meth:`append` for threads outside the event loop."""
        self.check_intake(len(intake.data))
        sha = sha256_hex(intake.data)
        result = self._submit(
            functools.partial(_op_append, intake=intake, sha=sha), [(sha, intake.data)]
        ).result()
        self._written_since += len(intake.data)
        return result

    # ------------------------------------------------------------------ transitions

    @staticmethod
    def _move(c: sqlite3.Connection, mid: int, new: MessageState, reason: str | None, now: float) -> None:
        Journal._move_through(c, mid, [(new, reason)], now)

    @staticmethod
    def _move_through(
        c: sqlite3.Connection,
        mid: int,
        steps: list[tuple[MessageState, str | None]],
        now: float,
        *,
        identified: tuple[str, str | None] | None = None,
    ) -> None:
        """Transitions in a row (and the identified partner and standard), in a few statements.

        Each step is checked against the state machine and gets its history
        row; a step to the state the message is already in is a no-op.  One
        UPDATE for all of them: every round trip into SQLite makes the writer
        thread wait for the GIL again.
        """
        row = c.execute("SELECT state FROM messages WHERE id = ?", (mid,)).fetchone()
        if row is None:
            raise UnknownMessageError(f"no message {mid}")
        state = MessageState(row[0])
        history: list[tuple[int, float, str, str | None]] = []
        final_reason: str | None = None
        for new, reason in steps:
            if state is new:
                continue
            if not can_move(state, new):
                raise ValueError(f"message {mid}: cannot move from {state.value} to {new.value}")
            history.append((mid, now, new.value, reason))
            state, final_reason = new, reason
        if identified is not None:
            c.execute("UPDATE messages SET partner = ?, standard = ? WHERE id = ?", (*identified, mid))
        if not history:
            return
        c.execute(
            "UPDATE messages SET state = ?, reason = ?, updated_at = ? WHERE id = ?",
            (state.value, final_reason, now, mid),
        )
        c.executemany("INSERT INTO history VALUES (?,?,?,?)", history)

    async def reject(
        self,
        message_id: int,
        reason: str,
        *,
        partner: str | None = None,
        standard: str | None = None,
        replies: dict[str, bytes] | None = None,
    ) -> None:
        """Mark a message rejected (bad input) with a plain-language reason.

        ``replies`` are the negative acknowledgments owed to the partner, kept
        in the same transaction until :meth:`replies_sent` says they went out.
        """

        await self._run(
            functools.partial(
                _op_reject,
                message_id=message_id,
                reason=reason,
                partner=partner,
                standard=standard,
                replies=replies,
            )
        )

    async def store_translation(
        self,
        message_id: int,
        *,
        partner: str,
        standard: str | None,
        documents: list[DocumentRecord],
        sinks: list[str],
        replies: dict[str, bytes] | None = None,
        interchanges: list[tuple[str, str]] | None = None,
        warnings: str | None = None,
        check_sequence: bool = False,
    ) -> list[int]:
        """Store a translated message's documents and queue their deliveries.

        One operation: the message moves ``received → translated → queued``
        (straight on to ``delivered`` when there is nothing to deliver).  A
        document whose idempotency key is already journaled is not queued
        again: at-least-once intake, exactly-once effect.

        Args:
            message_id: the message.
            partner: the identified partner.
            standard: x12, edifact, csv...
            documents: canonical envelopes to store.
            sinks: names of the sinks every document goes to.
            replies: acknowledgments generated for the partner, by kind.
            interchanges: (sender, control) pairs, for duplicate detection.
            warnings: non-fatal problems, kept as the state reason.
            check_sequence: judge the sender's interchange control numbers once
                the partner's backlog is translated (see :func:`_sweep_sequence`).

        Returns:
            The ids of the deliveries created.
        """

        stored = await self.store_translation_once(
            message_id,
            duplicate=None,
            partner=partner,
            standard=standard,
            documents=documents,
            sinks=sinks,
            replies=replies,
            interchanges=interchanges,
            warnings=warnings,
            check_sequence=check_sequence,
        )
        return stored.delivery_ids

    async def store_translation_once(
        self,
        message_id: int,
        *,
        duplicate: DuplicateRule | None,
        partner: str,
        standard: str | None,
        documents: list[DocumentRecord],
        sinks: list[str],
        replies: dict[str, bytes] | None = None,
        interchanges: list[tuple[str, str]] | None = None,
        warnings: str | None = None,
        check_sequence: bool = True,
    ) -> Stored:
        """:meth:`store_translation`, unless the partner sent one of ``interchanges`` before.

        The earlier interchange is looked up by the writer, in the storing
        transaction: no read on the event loop, and two copies in one batch
        see each other.  A repeat is then rejected or quarantined (the
        message is rejected, nothing stored) or, with policy ``suppress``,
        stored without documents.  The sender's control-number sequence is
        judged only for a first receipt.  ``duplicate=None`` stores
        without looking (policy ``accept``).
        """
        stored: Stored = await self._run(
            functools.partial(
                _op_store_translation,
                message_id=message_id,
                partner=partner,
                standard=standard,
                documents=documents,
                sinks=sinks,
                replies=replies,
                interchanges=interchanges,
                warnings=warnings,
                check_sequence=check_sequence,
                duplicate=duplicate,
            )
        )
        return stored

    async def record_reply(self, message_id: str | int, kind: str, payload: bytes) -> None:
        """Durably keep what we answered (an MDN, an ack) so a resend gets the same answer.

        The caller has answered already (an MDN goes back on the partner's own
        connection): the reply is recorded as sent.
        """
        mid = int(message_id)

        await self._run(functools.partial(_op_record_reply, mid=mid, kind=kind, payload=payload))

    def replies_sent(self, message_id: int) -> None:
        """The message's acknowledgments are in the partner's outbox (recorded within half a second).

        Until then they count as unsent: a crash in between makes the next
        start write them again (at least once: the partner may see one twice,
        never none).
        """
        self._sent.append(message_id)
        if self._sent_flush is None:
            self._sent_flush = asyncio.get_running_loop().call_later(0.5, self._flush_sent)

    def _flush_sent(self) -> None:
        # Queued at once (no task): a flush racing close() still lands ahead
        # of the writer's stop, or, at worst, the acknowledgments are written
        # again at the next start.
        self._sent_flush = None
        ids, self._sent = self._sent, []
        if not ids:
            return
        try:
            marked = self._submit(functools.partial(_mark_replies_sent, ids=ids))
        except JournalWriteError as exc:
            log.error("could not record acknowledgments as sent (written again at the next start): %s", exc)
            return
        marked.add_done_callback(_log_mark_failure)

    async def unsent_replies(self) -> list[tuple[int, str, list[tuple[str, bytes]]]]:
        """Acknowledgments owed to partners and not known to be in their outbox.

        Returns:
            (message id, partner, [(kind, payload)]) per message, oldest first.
        """

        def query(c: sqlite3.Connection) -> list[tuple[int, str, list[tuple[str, bytes]]]]:
            owed: dict[int, tuple[str, list[tuple[str, bytes]]]] = {}
            for mid, partner, kind, payload in c.execute(
                "SELECT r.message_id, m.partner, r.kind, r.payload FROM replies r"
                " JOIN messages m ON m.id = r.message_id WHERE r.sent_at IS NULL"
                " ORDER BY r.message_id, r.kind"
            ):
                acks = owed.setdefault(int(mid), (str(partner or "unknown"), []))[1]
                acks.append((str(kind), bytes(payload)))
            return [(mid, partner, acks) for mid, (partner, acks) in owed.items()]

        return await self.read(query)

    async def find_external(
        self, transport: str, partner: str | None, external_id: str
    ) -> tuple[str, dict[str, bytes]] | None:
        """The earlier message with that external id and the replies we sent, or None."""

        def query(c: sqlite3.Connection) -> tuple[str, dict[str, bytes]] | None:
            row = c.execute(
                "SELECT id FROM messages WHERE transport = ? AND partner IS ? AND external_id = ?",
                (transport, partner, external_id),
            ).fetchone()
            if row is None:
                return None
            replies = {
                r["kind"]: bytes(r["payload"])
                for r in c.execute("SELECT kind, payload FROM replies WHERE message_id = ?", (row[0],))
            }
            return str(row[0]), replies

        return await self.read(query)

    async def note_event(self, kind: str, detail: dict[str, Any]) -> None:
        """Record an operational event (auth failure, listener change) for status."""

        await self._run(functools.partial(_op_note_event, kind=kind, detail=detail))

    async def sweep_sequences(self, older_than: float) -> int:
        """Judge interchange numbers received before ``older_than`` that no settled moment judged.

        Under endless load a partner's backlog is never empty, so the check
        :meth:`store_translation` makes never runs; this sweep, run
        periodically, judges them anyway once they are old enough.

        Returns:
            How many numbers were found out of sequence.
        """

        return await self._run(functools.partial(_op_sweep_sequences, older_than=older_than))

    async def next_control_number(self, partner: str, direction: str, kind: str) -> int:
        """The next control number for a partner; durable before it is returned, so never reused."""
        return await self._run(
            functools.partial(_bump_counter, partner=partner, direction=direction, kind=kind)
        )

    # ------------------------------------------------------------------ deliveries

    async def delivery_succeeded(self, delivery_id: int) -> None:
        """A sink accepted the delivery; the message is delivered when all its deliveries are."""

        await self._run(functools.partial(_op_delivery_succeeded, delivery_id=delivery_id))

    async def deliveries_succeeded(self, delivery_ids: list[int]) -> set[int]:
        """Record many accepted deliveries in one transaction (one commit, one fsync).

        Same effect per delivery as :meth:`delivery_succeeded`; durable when it returns.

        Returns:
            The ids that are not in the journal (nothing was recorded for them).
        """

        return await self._run(functools.partial(_op_deliveries_succeeded, delivery_ids=delivery_ids))

    async def delivery_failed(self, delivery_id: int, error: str, *, retry_at: float | None) -> None:
        """Record a failed attempt; ``retry_at=None`` gives up (dead-letter)."""

        await self._run(
            functools.partial(_op_delivery_failed, delivery_id=delivery_id, error=error, retry_at=retry_at)
        )

    async def replay(self, message_id: int) -> str:
        """Put a rejected or dead message back into the flow.

        Returns:
            ``"retranslate"`` (rejected → received) or ``"redeliver"`` (dead → queued).

        Raises:
            UnknownMessageError: no such message.
            ValueError: the message is not rejected or dead.
        """

        return await self._run(functools.partial(_op_replay, message_id=message_id))

    # ------------------------------------------------------------------ reads

    async def read(self, query: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run a read-only query on a thread.

        On the journal's read threads rather than ``asyncio.to_thread``: the
        delivery engine reads each batch's payloads here, and the default
        executor's per-call overhead (see :mod:`gateway.iopool`) showed up
        as a twentieth of the daemon's time in a burst.
        """
        return await read_pool.run(self.read_sync, query)

    def read_sync(self, query: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run a read-only query on the calling thread."""
        with self._reader_lock:
            return query(self._reader)

    async def raw_bytes(self, message_id: int) -> bytes:
        """The raw bytes of a message from the spool."""

        def query(c: sqlite3.Connection) -> str:
            row = c.execute("SELECT sha256 FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                raise UnknownMessageError(f"no message {message_id}")
            return str(row[0])

        sha = await self.read(query)
        return await asyncio.to_thread(self.spool.read, sha)

    def read_point(self, query: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run an indexed point query inline, on the event loop's own connection.

        Only for queries that touch a handful of rows through an index; a
        scan or report belongs in :meth:`read`, on a thread.
        """
        return query(self._point_reader)

    def message_size(self, message_id: int) -> int:
        """The size of a message's raw bytes (an inline point read).

        Raises:
            UnknownMessageError: no such message.
        """
        fresh = self._fresh.get(message_id)
        if fresh is not None:
            return len(fresh[0])
        row = self._point_reader.execute("SELECT size FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise UnknownMessageError(f"no message {message_id}")
        return int(row[0])

    async def message_with_bytes(self, message_id: int) -> tuple[Mapping[str, Any], bytes]:
        """The message's row and its raw bytes.

        Both come from memory when intake just wrote them (the row as it was
        committed: ``received``), else from the database and the spool: small
        files inline, large ones on a thread.  Either way once: the in-memory
        copy is handed over, not kept.
        """
        fresh = self._fresh.pop(message_id, None)
        if fresh is not None:
            self._fresh_bytes -= len(fresh[0])
            return fresh[1], fresh[0]
        row = self._point_reader.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise UnknownMessageError(f"no message {message_id}")
        sha = str(row["sha256"])
        if int(row["size"]) <= _INLINE_READ_BYTES:
            return row, self.spool.read(sha)
        return row, await asyncio.to_thread(self.spool.read, sha)

    async def message_row(self, message_id: int) -> sqlite3.Row:
        """The message's row."""

        def query(c: sqlite3.Connection) -> sqlite3.Row:
            row = c.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                raise UnknownMessageError(f"no message {message_id}")
            return row  # type: ignore[no-any-return]

        return await self.read(query)

    async def unfinished_messages(self) -> list[int]:
        """Messages that still need translation (received or translated), oldest first."""

        def query(c: sqlite3.Connection) -> list[int]:
            return [
                int(r[0])
                for r in c.execute(
                    "SELECT id FROM messages WHERE state IN ('received', 'translated') ORDER BY id"
                )
            ]

        return await self.read(query)

    async def pending_deliveries(self) -> list[PendingDelivery]:
        """Every delivery still waiting, for the delivery engine at start."""

        def query(c: sqlite3.Connection) -> list[PendingDelivery]:
            return [
                PendingDelivery(
                    delivery_id=int(r["id"]),
                    sink=str(r["sink"]),
                    next_at=float(r["next_at"]),
                    message_id=int(r["message_id"]),
                    partner=r["partner"],
                )
                for r in c.execute(
                    "SELECT d.id, d.sink, d.next_at, d.message_id, m.partner FROM deliveries d"
                    " JOIN messages m ON m.id = d.message_id WHERE d.state = 'pending' ORDER BY d.id"
                )
            ]

        return await self.read(query)

    async def delivery_payload(self, delivery_id: int) -> DeliveryPayload:
        """Everything a sink needs for one attempt."""

        def query(c: sqlite3.Connection) -> DeliveryPayload:
            r = c.execute(_PAYLOAD_SELECT + " WHERE d.id = ?", (delivery_id,)).fetchone()
            if r is None:
                raise UnknownMessageError(f"no delivery {delivery_id}")
            return _payload(r)

        return await self.read(query)

    async def delivery_payloads(self, delivery_ids: list[int]) -> dict[int, DeliveryPayload]:
        """What :meth:`delivery_payload` gives, for many deliveries in one read.

        Returns:
            Payloads by delivery id; ids not in the journal are absent.
        """

        def query(c: sqlite3.Connection) -> dict[int, DeliveryPayload]:
            found: dict[int, DeliveryPayload] = {}
            for chunk in _chunks(delivery_ids, 500):
                marks = ",".join("?" * len(chunk))
                for r in c.execute(_PAYLOAD_SELECT + f" WHERE d.id IN ({marks})", chunk):
                    found[int(r["id"])] = _payload(r)
            return found

        return await self.read(query)

    async def find_interchange(
        self, partner: str, standard: str, sender: str, control: str, since: float
    ) -> int | None:
        """An earlier message carrying the same interchange, within the window."""

        def query(c: sqlite3.Connection) -> int | None:
            row = c.execute(
                _EARLIER_INTERCHANGE + " ORDER BY i.at LIMIT 1",
                (partner, standard, sender, control, since),
            ).fetchone()
            return None if row is None else int(row[0])

        return self.read_point(query)

    # ------------------------------------------------------------------ retention

    async def purge(self, older_than: float) -> tuple[int, int]:
        """Delete delivered messages last updated before ``older_than`` and unreferenced spool files.

        Returns:
            (messages purged, spool files removed)
        """

        count, orphans = await self._run(functools.partial(_op_purge, older_than=older_than))

        removed = await self._run(functools.partial(_op_unlink_orphans, orphans=orphans))
        return count, removed


# ------------------------------------------------------------------ write operations
# Module-level functions of the write connection and keyword arguments, so
# that they pickle for the writer process (see gateway.writer).


def _op_append(c: sqlite3.Connection, *, intake: Intake, sha: str) -> AppendResult:
    now = time.time()
    spool = writing_spool()
    if not spool.exists(sha):
        # The spool stage skipped it as already stored, and a purge removed
        # that copy since: store it again before a row points at it.
        spool.write_many([(sha, intake.data)])
    if intake.external_id is not None:
        row = c.execute(
            "SELECT id FROM messages WHERE transport = ? AND partner IS ? AND external_id = ?",
            (intake.transport, intake.partner, _text(intake.external_id)),
        ).fetchone()
        if row is not None:
            return AppendResult(str(row[0]), sha, str(row[0]))
    dup = c.execute(
        "SELECT id FROM messages WHERE partner IS ? AND sha256 = ? AND state != 'rejected' "
        "AND duplicate_of IS NULL ORDER BY id LIMIT 1",
        (intake.partner, sha),
    ).fetchone()
    state = MessageState.RECEIVED
    reason = None
    duplicate_of = None
    if intake.rejected_reason is not None:
        state = MessageState.REJECTED
        reason = intake.rejected_reason
    elif dup is not None:
        duplicate_of = int(dup[0])
        state = MessageState.REJECTED
        reason = (
            f"duplicate: the same bytes from this partner were already received as message {duplicate_of}"
        )
    cur = c.execute(
        "INSERT INTO messages(transport, partner, file_name, external_id, sha256, size, state, reason,"
        " duplicate_of, received_at, updated_at, meta) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            intake.transport,
            intake.partner,
            _text(intake.file_name),
            _text(intake.external_id),
            sha,
            len(intake.data),
            state.value,
            reason,
            duplicate_of,
            now,
            now,
            json.dumps(intake.meta, default=str),
        ),
    )
    mid = int(cur.lastrowid or 0)
    c.execute("INSERT INTO history VALUES (?,?,?,?)", (mid, now, MessageState.RECEIVED.value, None))
    if state is MessageState.REJECTED:
        c.execute("INSERT INTO history VALUES (?,?,?,?)", (mid, now, state.value, reason))
    return AppendResult(str(mid), sha, None if duplicate_of is None else str(duplicate_of), now)


def _op_reject(
    c: sqlite3.Connection,
    *,
    message_id: int,
    reason: str,
    partner: str | None,
    standard: str | None,
    replies: dict[str, bytes] | None,
) -> None:
    now = time.time()
    if partner is not None or standard is not None:
        c.execute(
            "UPDATE messages SET partner = COALESCE(?, partner), standard = COALESCE(?, standard)"
            " WHERE id = ?",
            (partner, standard, message_id),
        )
    Journal._move(c, message_id, MessageState.REJECTED, reason, now)
    _store_replies(c, message_id, replies, now)


def _op_store_translation(
    c: sqlite3.Connection,
    *,
    message_id: int,
    partner: str,
    standard: str | None,
    documents: list[DocumentRecord],
    sinks: list[str],
    replies: dict[str, bytes] | None,
    interchanges: list[tuple[str, str]] | None,
    warnings: str | None,
    check_sequence: bool,
    duplicate: DuplicateRule | None = None,
) -> Stored:
    now = time.time()
    earlier = None
    if duplicate is not None and interchanges:
        earlier = _earlier_interchange(
            c,
            message_id=message_id,
            partner=partner,
            standard=standard or "",
            interchanges=interchanges,
            since=duplicate.since,
        )
    if earlier is not None:
        if duplicate is not None and duplicate.policy in ("reject", "quarantine"):
            verb = "quarantined for review" if duplicate.policy == "quarantine" else "rejected"
            why = f"duplicate interchange {verb}: already received in message {earlier}"
            _op_reject(c, message_id=message_id, reason=why, partner=partner, standard=standard, replies=None)
            return Stored([], earlier, why)
        documents = []  # suppress: recorded, translated, not delivered again
        check_sequence = False  # a repeat says nothing about the sender's numbering
    reason = warnings
    for sender, control in interchanges or []:
        c.execute(
            "INSERT INTO interchanges VALUES (?,?,?,?,?,?)",
            (partner, standard or "", sender, control, message_id, now),
        )
    if check_sequence and interchanges and _backlog_translated(c, partner, message_id):
        found: list[str] = []
        for sender in sorted({s for s, _ in interchanges}):
            swept = _sweep_sequence(c, partner=partner, standard=standard or "", sender=sender, now=now)
            found += swept.get(message_id, [])
        reason = "; ".join(filter(None, [warnings, *found]))[:2000] or None
    created: list[int] = []
    for seq, doc in enumerate(documents):
        cur = c.execute(
            "INSERT OR IGNORE INTO documents(message_id, seq, idempotency_key, document_type,"
            " envelope)"
            " VALUES (?,?,?,?,?)",
            (message_id, seq, doc.idempotency_key, doc.document_type, doc.envelope_json),
        )
        if cur.rowcount == 0:
            continue
        doc_id = int(cur.lastrowid or 0)
        for sink in sinks:
            dcur = c.execute(
                "INSERT INTO deliveries(document_id, message_id, sink, state, attempts, next_at,"
                " created_at, updated_at) VALUES (?,?,?,?,0,?,?,?)",
                (doc_id, message_id, sink, DeliveryState.PENDING.value, now, now, now),
            )
            created.append(int(dcur.lastrowid or 0))
    _store_replies(c, message_id, replies, now)
    steps = [(MessageState.TRANSLATED, reason), (MessageState.QUEUED, None)]
    if not created:
        steps.append((MessageState.DELIVERED, "nothing to deliver"))
    Journal._move_through(c, message_id, steps, now, identified=(partner, standard))
    return Stored(created, earlier)


def _earlier_interchange(
    c: sqlite3.Connection,
    *,
    message_id: int,
    partner: str,
    standard: str,
    interchanges: list[tuple[str, str]],
    since: float,
) -> int | None:
    """Another, not rejected, message that carried one of these interchanges since ``since``."""
    for sender, control in interchanges:
        row = c.execute(
            _EARLIER_INTERCHANGE + " AND i.message_id != ? ORDER BY i.at LIMIT 1",
            (partner, standard, sender, control, since, message_id),
        ).fetchone()
        if row is not None:
            return int(row[0])
    return None


def _op_record_reply(c: sqlite3.Connection, *, mid: int, kind: str, payload: bytes) -> None:
    now = time.time()
    c.execute(
        "INSERT OR REPLACE INTO replies(message_id, kind, payload, at, sent_at) VALUES (?,?,?,?,?)",
        (mid, kind, payload, now, now),
    )


def _op_note_event(c: sqlite3.Connection, *, kind: str, detail: dict[str, Any]) -> None:
    c.execute("INSERT INTO events(kind, at, detail) VALUES (?,?,?)", (kind, time.time(), json.dumps(detail)))


def _op_sweep_sequences(c: sqlite3.Connection, *, older_than: float) -> int:
    keys = {
        (str(p), str(st), str(se))
        for p, st, se in c.execute(
            "SELECT partner, standard, sender FROM sequence_marks UNION "
            "SELECT DISTINCT partner, standard, sender FROM interchanges "
            "WHERE rowid > (SELECT IFNULL(MAX(rowid), 0) - 100000 FROM interchanges)"
        ).fetchall()
    }
    now = time.time()
    found = 0
    for partner, standard, sender in sorted(keys):
        swept = _sweep_sequence(
            c, partner=partner, standard=standard, sender=sender, now=now, up_to=older_than
        )
        found += sum(len(v) for v in swept.values())
    return found


def _op_delivery_succeeded(c: sqlite3.Connection, *, delivery_id: int) -> None:
    _mark_delivered(c, delivery_id, _delivery_message(c, delivery_id), time.time())


def _op_deliveries_succeeded(c: sqlite3.Connection, *, delivery_ids: list[int]) -> set[int]:
    now = time.time()
    messages = _delivery_messages(c, delivery_ids)
    for delivery_id in dict.fromkeys(delivery_ids):
        mid = messages.get(delivery_id)
        if mid is not None:
            _mark_delivered(c, delivery_id, mid, now)
    return set(delivery_ids) - messages.keys()


def _op_delivery_failed(
    c: sqlite3.Connection, *, delivery_id: int, error: str, retry_at: float | None
) -> None:
    now = time.time()
    mid = _delivery_message(c, delivery_id)
    if retry_at is None:
        c.execute(
            "UPDATE deliveries SET state = ?, attempts = attempts + 1, last_error = ?, updated_at = ?"
            " WHERE id = ?",
            (DeliveryState.DEAD.value, error, now, delivery_id),
        )
    else:
        c.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, next_at = ?,"
            " updated_at = ?"
            " WHERE id = ?",
            (error, retry_at, now, delivery_id),
        )
    c.execute("INSERT INTO attempts VALUES (?,?,0,?)", (delivery_id, now, error))
    if retry_at is None:
        _settle_message(c, mid, now)


def _op_replay(c: sqlite3.Connection, *, message_id: int) -> str:
    now = time.time()
    row = c.execute("SELECT state FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        raise UnknownMessageError(f"no message {message_id}")
    state = MessageState(row[0])
    if state is MessageState.REJECTED:
        c.execute("UPDATE messages SET duplicate_of = NULL WHERE id = ?", (message_id,))
        Journal._move(c, message_id, MessageState.RECEIVED, "replayed by operator", now)
        return "retranslate"
    if state is MessageState.DEAD:
        c.execute(
            "UPDATE deliveries SET state = ?, attempts = 0, next_at = ?, updated_at = ?"
            " WHERE message_id = ? AND state = ?",
            (DeliveryState.PENDING.value, now, now, message_id, DeliveryState.DEAD.value),
        )
        Journal._move(c, message_id, MessageState.QUEUED, "replayed by operator", now)
        return "redeliver"
    raise ValueError(f"message {message_id} is {state.value}; only rejected or dead messages can be replayed")


def _op_purge(c: sqlite3.Connection, *, older_than: float) -> tuple[int, list[str]]:
    ids = [
        int(r[0])
        for r in c.execute(
            "SELECT id FROM messages WHERE state = 'delivered' AND updated_at < ? LIMIT 50000",
            (older_than,),
        )
    ]
    shas: set[str] = set()
    for chunk in _chunks(ids, 500):
        marks = ",".join("?" * len(chunk))
        shas.update(str(r[0]) for r in c.execute(f"SELECT sha256 FROM messages WHERE id IN ({marks})", chunk))
        c.execute(
            "DELETE FROM attempts WHERE delivery_id IN"
            f" (SELECT id FROM deliveries WHERE message_id IN ({marks}))",
            chunk,
        )
        for table in ("deliveries", "documents", "history", "replies", "interchanges"):
            c.execute(f"DELETE FROM {table} WHERE message_id IN ({marks})", chunk)
        c.execute(f"DELETE FROM messages WHERE id IN ({marks})", chunk)
    orphans = [
        sha
        for sha in shas
        if c.execute("SELECT 1 FROM messages WHERE sha256 = ? LIMIT 1", (sha,)).fetchone() is None
    ]
    return len(ids), orphans


def _op_unlink_orphans(c: sqlite3.Connection, *, orphans: list[str]) -> int:
    # On the writer, after the purge committed: an append of the same
    # bytes either committed before (its row keeps the file) or comes
    # after (and stores the bytes again, see _op_append).
    still = [
        sha
        for sha in orphans
        if c.execute("SELECT 1 FROM messages WHERE sha256 = ? LIMIT 1", (sha,)).fetchone() is None
    ]
    return writing_spool().delete(still)


def _settle_all(outcomes: list[tuple[_Op, Any, BaseException | None]]) -> None:
    """Settle a batch: threads' futures now, each loop's futures in one callback on that loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Op, Any, BaseException | None]]] = {}
    for outcome in outcomes:
        loop = outcome[0].loop
        if loop is None:
            _settle(outcome[0].future, outcome[1], outcome[2])
        else:
            by_loop.setdefault(loop, []).append(outcome)
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_on_loop, items)
        except RuntimeError:
            # The loop is closed: nobody is waiting any more.
            continue


def _settle_on_loop(items: list[tuple[_Op, Any, BaseException | None]]) -> None:
    for op, value, error in items:
        _settle(op.future, value, error)


def _settle(future: Future[Any] | asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    """Hand an operation's outcome to its caller, unless the caller gave up waiting.

    A caller cancelled during shutdown must not crash the writer thread: the
    operation itself is committed (or rolled back) either way.
    """
    if future.done():
        return
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
    except (InvalidStateError, asyncio.InvalidStateError):
        # Cancelled between the check and the call.
        return


#: a number this far below the last one judged starts a new series (a reset counter)
_SEQUENCE_RESET = 10_000
#: how far back the wall clock may step without an interchange escaping the sequence check
_SEQUENCE_CLOCK_SLACK = 300.0


def _sweep_sequence(
    c: sqlite3.Connection,
    *,
    partner: str,
    standard: str,
    sender: str,
    now: float,
    up_to: float | None = None,
) -> dict[int, list[str]]:
    """Judge a sender's newly received interchange control numbers, in number order.

    A gap usually means an interchange was lost on the way (or sent to
    another gateway); a jump back, a partner whose counter was reset.
    Files arrive and are translated concurrently and out of order, so a
    number is not judged against whatever came before it, but once the
    partner's backlog is translated (or, under endless load, once it is
    ``up_to`` old): then the numbers received since the last sweep are
    sorted and compared with the last number judged.  A late number that
    fills an earlier hole is simply accepted.

    Returns:
        The findings by message id; each is also an ``out_of_sequence`` event.
    """
    mark = c.execute(
        "SELECT last, at, seen FROM sequence_marks WHERE partner = ? AND standard = ? AND sender = ?",
        (partner, standard, sender),
    ).fetchone()
    last: int | None = None if mark is None else int(mark[0])
    since = 0.0 if mark is None else float(mark[1]) - _SEQUENCE_CLOCK_SLACK
    seen = 0 if mark is None else int(mark[2])
    top = c.execute("SELECT IFNULL(MAX(rowid), 0) FROM interchanges").fetchone()[0]
    if seen > int(top):
        seen = 0  # retention purged the newest rows and their rowids are being reused
    # Rows after the mark: ``seen`` (rowid) is exact; ``at`` only narrows the
    # index range, with slack for a clock stepped back.
    rows = c.execute(
        "SELECT rowid, control, message_id, at FROM interchanges"
        " WHERE partner = ? AND standard = ? AND sender = ? AND at >= ? AND rowid > ? ORDER BY rowid",
        (partner, standard, sender, since, seen),
    ).fetchall()
    width: dict[int, int] = {}
    owner: dict[int, int] = {}
    newest = 0.0 if mark is None else float(mark[1])
    for rowid, control, mid, at in rows:
        if up_to is not None and at > up_to:
            break
        newest = max(newest, float(at))
        seen = int(rowid)
        if str(control).isdecimal():
            number = int(control)
            owner.setdefault(number, int(mid))
            width[number] = len(str(control))
    findings: dict[int, list[str]] = {}
    for number in sorted(owner):
        reset = last is not None and number < last and (number <= 1 or last - number > _SEQUENCE_RESET)
        if last is not None and number <= last and not reset:
            continue  # a duplicate, or a late number that fills a hole reported before
        if last is not None and number != last + 1:
            previous = f"{last:0{width[number]}d}"
            received = f"{number:0{width[number]}d}"
            kind = "out of sequence" if number > last else "out of sequence (counter reset?)"
            text = (
                f"interchange control number {received} from {sender} is {kind}: "
                f"expected {last + 1:0{width[number]}d} after {previous}"
            )
            detail = {
                "partner": partner,
                "sender": sender,
                "previous": previous,
                "received": received,
                "message_id": owner[number],
            }
            c.execute(
                "INSERT INTO events(kind, at, detail) VALUES (?,?,?)",
                ("out_of_sequence", now, json.dumps(detail)),
            )
            findings.setdefault(owner[number], []).append(text)
        last = number
    if last is not None:
        c.execute(
            "INSERT OR REPLACE INTO sequence_marks VALUES (?,?,?,?,?,?)",
            (partner, standard, sender, last, newest, seen),
        )
    return findings


def _backlog_translated(c: sqlite3.Connection, partner: str, message_id: int) -> bool:
    """No other message of the partner is waiting for translation."""
    row = c.execute(
        "SELECT 1 FROM messages WHERE partner IS ? AND state = 'received' AND id != ? LIMIT 1",
        (partner, message_id),
    ).fetchone()
    return row is None


def _log_mark_failure(marked: Future[None]) -> None:
    # Not fatal here: a write failure stops the daemon through ``Journal.failed``.
    if marked.exception() is not None:
        log.error(
            "could not record acknowledgments as sent (written again at the next start): %s",
            marked.exception(),
        )


def _add_sent_at(c: sqlite3.Connection) -> None:
    """Give a journal made before ``replies.sent_at`` the column; its replies all went out then."""
    columns = {str(r[1]) for r in c.execute("PRAGMA table_info(replies)")}
    if "sent_at" not in columns:
        c.execute("BEGIN IMMEDIATE")
        c.execute("ALTER TABLE replies ADD COLUMN sent_at REAL")
        c.execute("UPDATE replies SET sent_at = at")
        c.execute("COMMIT")


def _store_replies(
    c: sqlite3.Connection, message_id: int, replies: dict[str, bytes] | None, now: float
) -> None:
    for kind, payload in (replies or {}).items():
        c.execute(
            "INSERT OR REPLACE INTO replies(message_id, kind, payload, at, sent_at) VALUES (?,?,?,?,NULL)",
            (message_id, kind, payload, now),
        )


def _mark_replies_sent(c: sqlite3.Connection, ids: list[int]) -> None:
    now = time.time()
    for chunk in _chunks(sorted(set(ids)), 500):
        marks = ",".join("?" * len(chunk))
        c.execute(
            f"UPDATE replies SET sent_at = ? WHERE sent_at IS NULL AND message_id IN ({marks})", (now, *chunk)
        )


def _received_row(mid: int, intake: Intake, result: AppendResult) -> dict[str, Any]:
    """The row :meth:`Journal._op_append` wrote for a new message, as ``SELECT *`` gives it."""
    at = result.received_at
    return {
        "id": mid,
        "transport": intake.transport,
        "partner": intake.partner,
        "file_name": _text(intake.file_name),
        "external_id": _text(intake.external_id),
        "sha256": result.sha256,
        "size": len(intake.data),
        "state": MessageState.RECEIVED.value,
        "reason": None,
        "standard": None,
        "duplicate_of": None,
        "received_at": at,
        "updated_at": at,
        "meta": json.dumps(intake.meta, default=str),
    }


def _text(value: str | None) -> str | None:
    """Names from the wire may hold undecodable bytes (surrogates); SQLite needs valid UTF-8."""
    if value is None:
        return None
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _bump_counter(c: sqlite3.Connection, partner: str, direction: str, kind: str) -> int:
    row = c.execute(
        "SELECT value FROM counters WHERE partner = ? AND direction = ? AND kind = ?",
        (partner, direction, kind),
    ).fetchone()
    value = 1 if row is None else int(row[0]) % _COUNTER_MAX + 1
    c.execute("INSERT OR REPLACE INTO counters VALUES (?,?,?,?)", (partner, direction, kind, value))
    return value


_PAYLOAD_SELECT = (
    "SELECT d.id, d.message_id, d.sink, d.attempts, d.created_at, d.state, m.partner,"
    " doc.idempotency_key, doc.document_type, doc.envelope FROM deliveries d"
    " JOIN documents doc ON doc.id = d.document_id JOIN messages m ON m.id = d.message_id"
)


def _payload(r: sqlite3.Row) -> DeliveryPayload:
    return DeliveryPayload(
        delivery_id=int(r["id"]),
        message_id=int(r["message_id"]),
        sink=str(r["sink"]),
        partner=str(r["partner"]),
        idempotency_key=str(r["idempotency_key"]),
        document_type=str(r["document_type"]),
        envelope_json=str(r["envelope"]),
        attempts=int(r["attempts"]),
        created_at=float(r["created_at"]),
        state=str(r["state"]),
    )


def _mark_delivered(c: sqlite3.Connection, delivery_id: int, message_id: int, now: float) -> None:
    c.execute(
        "UPDATE deliveries SET state = ?, attempts = attempts + 1, last_error = NULL, updated_at = ?"
        " WHERE id = ?",
        (DeliveryState.DELIVERED.value, now, delivery_id),
    )
    c.execute("INSERT INTO attempts VALUES (?,?,1,NULL)", (delivery_id, now))
    _settle_message(c, message_id, now)


def _delivery_messages(c: sqlite3.Connection, delivery_ids: list[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for chunk in _chunks(delivery_ids, 500):
        marks = ",".join("?" * len(chunk))
        for row in c.execute(f"SELECT id, message_id FROM deliveries WHERE id IN ({marks})", chunk):
            found[int(row[0])] = int(row[1])
    return found


def _delivery_message(c: sqlite3.Connection, delivery_id: int) -> int:
    row = c.execute("SELECT message_id FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
    if row is None:
        raise UnknownMessageError(f"no delivery {delivery_id}")
    return int(row[0])


def _settle_message(c: sqlite3.Connection, message_id: int, now: float) -> None:
    counts = dict(
        c.execute(
            "SELECT state, COUNT(*) FROM deliveries WHERE message_id = ? GROUP BY state", (message_id,)
        ).fetchall()
    )
    if counts.get(DeliveryState.PENDING.value):
        return
    state = c.execute("SELECT state FROM messages WHERE id = ?", (message_id,)).fetchone()
    if state is None or MessageState(state[0]) is not MessageState.QUEUED:
        return
    if counts.get(DeliveryState.DEAD.value):
        err = c.execute(
            "SELECT sink, last_error FROM deliveries WHERE message_id = ? AND state = 'dead' LIMIT 1",
            (message_id,),
        ).fetchone()
        reason = f"delivery to {err[0]} gave up: {err[1]}"
        c.execute(
            "UPDATE messages SET state = ?, reason = ?, updated_at = ? WHERE id = ?",
            (MessageState.DEAD.value, reason, now, message_id),
        )
        c.execute("INSERT INTO history VALUES (?,?,?,?)", (message_id, now, MessageState.DEAD.value, reason))
    else:
        c.execute(
            "UPDATE messages SET state = ?, reason = NULL, updated_at = ? WHERE id = ?",
            (MessageState.DELIVERED.value, now, message_id),
        )
        c.execute(
            "INSERT INTO history VALUES (?,?,?,?)", (message_id, now, MessageState.DELIVERED.value, None)
        )


__all__ = [
    "ACTIVE_STATES",
    "AppendResult",
    "DeliveryPayload",
    "DocumentRecord",
    "Intake",
    "Journal",
    "JournalOptions",
    "PendingDelivery",
    "connect",
]
