"""The journal's database writer: a batch of operations, one transaction, one commit.

An operation is a function of the write connection (``fn(conn) -> value``).
The writer runs every operation queued since its last commit in one
transaction and commits once (group commit); an operation that raises is
isolated by running the batch again with a savepoint per operation.

The writer runs either on a thread of the daemon or in a child process of
its own (:class:`WriterProcess`, the daemon's default).  On a thread, every
statement gives up the GIL and waits to get it back behind the event loop
and the I/O threads: profiles of a burst showed operations taking four to
five times as long as alone, with the writer, not the disk, the limit.  In
its own process the writer has an interpreter to itself, and the daemon
pays one pickled message per batch.  Operations must then be picklable:
module-level functions, bound to their arguments with ``functools.partial``.
"""

from __future__ import annotations

import contextlib
import pickle
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .errors import JournalWriteError
from .filebatch import SyncMode
from .spool import Spool

Operation = Callable[[sqlite3.Connection], Any]
#: an operation's value, or what it raised
Outcome = tuple[Any, BaseException | None]

_local = threading.local()


def writing_spool() -> Spool:
    """The spool of the journal whose batch this thread is running (for operations that touch files)."""
    spool: Spool = _local.spool
    return spool


def run_batch(
    conn: sqlite3.Connection, spool: Spool, fns: Sequence[Operation]
) -> tuple[list[Outcome], float]:
    """Run ``fns`` in one transaction and commit.

    Returns:
        Each operation's outcome, in order, and the seconds the commit took.

    Raises:
        OSError, sqlite3.Error: the disk or database refused; nothing of the
            batch is committed and the journal must stop.
    """
    _local.spool = spool
    try:
        conn.execute("BEGIN IMMEDIATE")
        results = _apply(conn, fns)
        if results is None:
            # An operation raised: undo the whole batch and run it again with
            # each operation under a savepoint, so only the failing ones fail.
            # Operations are functions of the database and their arguments,
            # so running one twice gives what running it once would have.
            conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
            results = _apply_isolated(conn, fns)
        committing = time.perf_counter()
        conn.execute("COMMIT")
        return results, time.perf_counter() - committing
    except (OSError, sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _apply(conn: sqlite3.Connection, fns: Sequence[Operation]) -> list[Outcome] | None:
    """Run the batch as one transaction; None when an operation raised.

    No savepoint per operation: every statement is a trip into SQLite (and,
    on a thread, a wait for the GIL), and operations almost never fail.
    """
    results: list[Outcome] = []
    for fn in fns:
        try:
            results.append((fn(conn), None))
        except sqlite3.OperationalError:
            raise  # disk I/O, full disk, corruption: the whole journal stops
        except Exception:  # noqa: BLE001 - the batch is run again, isolated, to find it
            return None
    return results


def _apply_isolated(conn: sqlite3.Connection, fns: Sequence[Operation]) -> list[Outcome]:
    results: list[Outcome] = []
    for i, fn in enumerate(fns):
        conn.execute(f"SAVEPOINT op{i}")
        try:
            value = fn(conn)
        except sqlite3.OperationalError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad operation fails its caller, not the writer
            conn.execute(f"ROLLBACK TO op{i}")
            conn.execute(f"RELEASE op{i}")
            results.append((None, exc))
            continue
        conn.execute(f"RELEASE op{i}")
        results.append((value, None))
    return results


class WriterProcess:
    """The writer in a child process, driven from one thread of the daemon.

    The child writes each batch's spool files (fsynced), then runs its
    operations and commits, then answers; it dies with the thread that
    started it (``PR_SET_PDEATHSIG``), so start it from the thread that
    drives it.

    Args:
        db_path: the journal database (its schema already created).
        spool_root: the spool folder.
        sync: how the spool makes a batch durable.
    """

    def __init__(self, db_path: Path, spool_root: Path, sync: SyncMode = "auto") -> None:
        import multiprocessing
        import os

        ctx = multiprocessing.get_context("spawn")
        self._pipe, child_end = ctx.Pipe()
        self._process = ctx.Process(
            target=_child_main,
            args=(child_end, str(db_path), str(spool_root), sync, os.getpid()),
            name="edigate-journal-writer",
            daemon=True,
        )
        self._process.start()
        child_end.close()
        # The child answers once it has opened the database: a journal that
        # cannot be written fails at open, not at the first intake.
        self._receive()

    @property
    def pid(self) -> int | None:
        """The child's process id."""
        return self._process.pid

    def alive(self) -> bool:
        """Whether the child is still running (false once it exited or was stopped)."""
        return self._process.is_alive()

    def describe(self) -> str:
        """How the child ended, in words."""
        code = self._process.exitcode
        if code is None:
            return "still running"
        if code < 0:
            return f"killed by signal {-code}"
        return f"exit code {code}"

    def run(
        self, fns: Sequence[Operation], spool_items: Sequence[tuple[str, bytes]]
    ) -> tuple[list[Outcome], float]:
        """Write ``spool_items``, run ``fns`` in one transaction, commit (in the child).

        An operation that does not pickle fails alone (a TypeError), as an
        operation that raises does.

        Raises:
            JournalWriteError: the child is gone, or the disk or database refused.
        """
        fns = list(fns)
        try:
            payload = pickle.dumps((fns, list(spool_items)), protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError):
            problems = picklable(fns)
            good = [fn for fn, problem in zip(fns, problems, strict=True) if problem is None]
            sent, took = self.run(good, spool_items) if good or spool_items else ([], 0.0)
            answers = iter(sent)
            return [(None, p) if p is not None else next(answers) for p in problems], took
        try:
            self._pipe.send_bytes(payload)
        except OSError as exc:
            self._process.join(1)
            how = self.describe() if self._process.exitcode is not None else str(exc)
            raise JournalWriteError(f"journal writer process is gone ({how})") from exc
        kind, value = self._receive()
        if kind == "refused":
            # The child could not read the batch (nothing was written): each
            # operation fails, the journal goes on.
            return [(None, RuntimeError(f"journal writer could not read the operation: {value}"))] * len(
                fns
            ), 0.0
        results: list[Outcome] = value[0]
        seconds: float = value[1]
        return results, seconds

    def _receive(self) -> Any:
        try:
            reply = pickle.loads(self._pipe.recv_bytes())
        except (EOFError, OSError) as exc:
            self._process.join(1)
            how = self.describe() if self._process.exitcode is not None else (str(exc) or type(exc).__name__)
            raise JournalWriteError(f"journal writer process is gone ({how})") from exc
        kind, value = reply
        if kind == "failed":
            raise JournalWriteError(f"journal write failed: {value}")
        return kind, value

    def close(self) -> None:
        """Stop the child once it has answered everything sent to it."""
        with contextlib.suppress(OSError):  # already gone: nothing left to stop
            self._pipe.send_bytes(b"")
        self._process.join(30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._pipe.close()


def picklable(fns: Sequence[Operation]) -> list[BaseException | None]:
    """For each operation, None if it pickles, else why not (a lambda, a closure, a lock...)."""
    problems: list[BaseException | None] = []
    for fn in fns:
        try:
            pickle.dumps(fn, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            problems.append(
                TypeError(f"journal operation {fn!r} cannot be sent to the writer process: {exc}")
            )
            continue
        problems.append(None)
    return problems


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives a trip through pickle, else a RuntimeError saying what it was."""
    try:
        back: BaseException = pickle.loads(pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # noqa: BLE001 - any failure means: send a plain description instead
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return back


def _child_main(pipe: Connection, db_path: str, spool_root: str, sync: SyncMode, parent_pid: int) -> None:
    from .journal import connect
    from .workers import die_with_parent

    die_with_parent(parent_pid)
    # Ctrl-C in a terminal reaches the whole process group: the daemon shuts
    # down in order and stops this process itself, last.  (systemd signals
    # only the daemon: KillMode=mixed.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn = connect(Path(db_path))
        spool = Spool(Path(spool_root), sync)
    except (OSError, sqlite3.Error) as exc:
        pipe.send_bytes(pickle.dumps(("failed", f"cannot open the journal: {exc}")))
        return
    pipe.send_bytes(pickle.dumps(("ok", None)))
    failed: str | None = None
    while True:
        try:
            message = pipe.recv_bytes()
        except EOFError:
            break  # the daemon is gone
        if not message:
            break
        reply: tuple[str, Any]
        if failed is not None:
            reply = ("failed", failed)
        else:
            try:
                fns, items = pickle.loads(message)
            except Exception as exc:  # noqa: BLE001 - an unreadable batch fails its operations, not the writer
                reply = ("refused", f"{type(exc).__name__}: {exc}")
                pipe.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
                continue
            try:
                if items:
                    spool.write_many(items)
                results, seconds = run_batch(conn, spool, fns)
                reply = ("ok", ([(v, None if e is None else _portable(e)) for v, e in results], seconds))
            except (OSError, sqlite3.Error) as exc:
                # Fail-stop, as on a thread: nothing more is written after the disk refused.
                failed = f"{type(exc).__name__}: {exc}"
                reply = ("failed", failed)
        try:
            pipe.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            # A value that does not pickle is the operation's bug; the batch is
            # committed, so say so rather than leave the daemon waiting.
            pipe.send_bytes(pickle.dumps(("failed", f"cannot return a journal result: {exc}")))
            failed = "a result could not be returned"
        except OSError:
            break
    spool.close()
    conn.close()


__all__ = ["Operation", "Outcome", "WriterProcess", "picklable", "run_batch", "writing_spool"]
