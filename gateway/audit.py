"""Append-only, hash-chained audit log of what people did to the gateway.

One JSON object per line in ``STATE_DIR/audit.log``.  Each record holds
``seq``, ``time``, ``actor`` (uid and user name), ``action``, ``detail``, the
``prev`` record's hash and its own ``hash`` = sha256 over the canonical JSON
of every other field (sorted keys, no blanks, UTF-8).  The first record's
``prev`` is 64 zeros.

Invariants:

* A record is written with ``O_APPEND`` and fsynced before :meth:`AuditLog.append`
  returns, so an action that was audited stays audited after a power loss.
* Editing, deleting or reordering any record breaks the chain at that record;
  :func:`verify` names the first broken one.
* Truncating the tail leaves a valid chain, so the newest ``seq`` and hash are
  also kept in ``audit.log.head`` (written atomically); a log shorter than its
  head is reported as broken.

This is tamper *evidence*, not tamper proofing: someone who can rewrite both
files as the gateway user can forge a consistent history.  Ship the log
off-host (journald, syslog) where that matters.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import pwd
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .filebatch import fsync_folder

GENESIS = "0" * 64
LOG_NAME = "audit.log"
HEAD_SUFFIX = ".head"

#: actions the gateway records
ACTIONS = frozenset({"reload", "profiles_changed", "replay", "purge", "delete"})


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes a record's hash covers: every field but ``hash``, canonical JSON."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(record: dict[str, Any]) -> str:
    """sha256 (hex) of :func:`canonical`."""
    return hashlib.sha256(canonical(record)).hexdigest()


def current_actor(uid: int | None = None) -> dict[str, Any]:
    """``{"uid", "user"}`` for a uid (default: this process's)."""
    uid = os.getuid() if uid is None else uid
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = f"uid {uid}"
    return {"uid": uid, "user": user}


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of :func:`verify`.

    Attributes:
        ok: the chain is intact.
        records: how many records were read.
        broken_at: 1-based line number of the first broken record (``None`` when ok).
        reason: what is wrong with it, in words.
    """

    ok: bool
    records: int
    broken_at: int | None = None
    reason: str | None = None


class AuditLog:
    """Writer of the audit log; one per process.

    Args:
        path: the log file (its folder must exist).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.head_path = path.with_name(path.name + HEAD_SUFFIX)
        self._lock = threading.Lock()
        self._seq, self._prev = self._tail()

    def _tail(self) -> tuple[int, str]:
        last: dict[str, Any] | None = None
        with contextlib.suppress(FileNotFoundError), self.path.open("rb") as f:
            for line in f:
                if line.strip():
                    last = json.loads(line)
        if last is None:
            return 0, GENESIS
        return int(last["seq"]), str(last["hash"])

    def append(
        self,
        action: str,
        detail: dict[str, Any],
        *,
        actor: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> dict[str, Any]:
        """Write one record and fsync it (blocking; call from a thread in async code).

        Args:
            action: one of :data:`ACTIONS`.
            detail: JSON-able facts (ids, counts, file hashes); never secrets.
            actor: who did it (default: this process's user).
            now: the time (default: the clock).

        Returns:
            the record as written.

        Raises:
            ValueError: unknown action.
            OSError: the log cannot be written; callers must not pretend it was.
        """
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        at = _dt.datetime.fromtimestamp(
            _dt.datetime.now(_dt.UTC).timestamp() if now is None else now, _dt.UTC
        ).isoformat(timespec="microseconds")
        with self._lock:
            record: dict[str, Any] = {
                "seq": self._seq + 1,
                "time": at,
                "actor": actor or current_actor(),
                "action": action,
                "detail": detail,
                "prev": self._prev,
            }
            record["hash"] = record_hash(record)
            line = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                fsync_folder(str(self.path.parent))
            self._write_head(record["seq"], record["hash"])
            self._seq, self._prev = record["seq"], record["hash"]
        return record

    def _write_head(self, seq: int, digest: str) -> None:
        tmp = self.head_path.with_name(self.head_path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps({"seq": seq, "hash": digest}).encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.head_path)
        fsync_folder(str(self.head_path.parent))


def verify(path: Path) -> VerifyResult:
    """Check the chain of an audit log and its head.

    Args:
        path: the log file.

    Returns:
        ``ok`` when every record's hash, ``prev`` and ``seq`` agree and the
        last record matches the head file; otherwise the first broken record.
        A missing log with no head is an intact, empty log.
    """
    head_path = path.with_name(path.name + HEAD_SUFFIX)
    head: dict[str, Any] | None = None
    with contextlib.suppress(FileNotFoundError):
        try:
            head = json.loads(head_path.read_text(encoding="utf-8"))
        except ValueError:
            return VerifyResult(False, 0, None, f"{head_path}: not valid JSON")
    prev, count = GENESIS, 0
    hashes: list[str] = []
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        lines = []
    for n, raw in enumerate(lines, start=1):
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            return VerifyResult(False, count, n, f"record {n} is not valid JSON ({exc})")
        if record.get("seq") != n:
            return VerifyResult(
                False, count, n, f"record {n} has seq {record.get('seq')!r}: a record was removed or moved"
            )
        if record.get("prev") != prev:
            return VerifyResult(
                False, count, n, f"record {n} does not follow record {n - 1}: a record was removed or moved"
            )
        if record.get("hash") != record_hash(record):
            return VerifyResult(False, count, n, f"record {n} was modified: its hash does not match")
        prev = record["hash"]
        hashes.append(prev)
        count = n
    if head is not None:
        if int(head.get("seq", -1)) > count:
            return VerifyResult(
                False, count, count + 1, f"record {count + 1} is missing: the head names record {head['seq']}"
            )
        # The head may lag one record behind (a crash between the two fsyncs).
        seq = int(head.get("seq", -1))
        if 1 <= seq <= count and head.get("hash") != hashes[seq - 1]:
            return VerifyResult(False, count, seq, f"record {seq} does not match the head")
    elif count:
        return VerifyResult(False, count, None, f"{head_path} is missing")
    return VerifyResult(True, count)


__all__ = [
    "ACTIONS",
    "GENESIS",
    "LOG_NAME",
    "AuditLog",
    "VerifyResult",
    "canonical",
    "current_actor",
    "verify",
]
