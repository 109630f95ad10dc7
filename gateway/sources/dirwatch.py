"""Directory intake: one inbox folder per partner under a watched root.

Never take a half-written file.  A rename alone does not mean complete (an
interrupted ``rsync --partial`` renames a truncated file to its final name)
and neither does CLOSE_WRITE or a quiet period (writers stall).  What is
reliable, in order:

1. naming conventions: dot-files, ``*.part``, ``*.tmp``, ``*~`` … are someone
   else's work in progress and are never taken;
2. marker files (``NAME.ok``) when the inbox is configured to require them;
3. content: an X12 or EDIFACT file is taken only when it holds whole
   envelopes (ISA…IEA / UNB…UNZ to its last byte), and its size and mtime
   held still for ``settle_seconds``; other files need ``quiet_seconds``.

A file is moved to the archive (or deleted) only after the journal has made
its bytes durable, so it is never lost and never taken twice; a crash
between the two is recognised on restart by the file's identity (path,
inode, mtime, size) and does not create a second message.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from watchdog.events import FileClosedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from translators import detect_standard, envelope_complete

from ..errors import DiskFloorError, JournalWriteError, MessageTooLargeError
from ..iopool import run_blocking
from ..journal import Intake, Journal
from ..resources import Resource

log = logging.getLogger("edigate.source.directory")

#: the shortest time between two scans of the inboxes (seconds)
_MIN_SCAN_GAP = 0.05

TEMP_SUFFIXES = (".part", ".tmp", ".partial", ".filepart", ".crdownload", ".swp", "~", ".lock")


class DirectorySourceConfig(BaseModel):
    """``[[sources.directory]]``: a root folder with one inbox per partner."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["directory"] = "directory"
    name: str = "drop"
    path: Path = Field(description="root; each sub-folder is one partner's inbox")
    archive: Path | None = Field(default=None, description="where taken files go; None with delete=true")
    delete: bool = Field(default=False, description="delete taken files instead of archiving them")
    marker_suffix: str = Field(default=".ok", description="marker file suffix (NAME.ok)")
    require_marker: bool = Field(default=False, description="take a file only once its marker exists")
    settle_seconds: float = Field(default=0.2, ge=0, description="EDI: size/mtime must hold this long")
    quiet_seconds: float = Field(default=2.0, ge=0, description="non-EDI: size/mtime must hold this long")
    poll_seconds: float = Field(default=0.1, gt=0, description="how often inboxes are looked at")
    max_parallel: int = Field(default=128, ge=1, description="files journaled at once (share fsyncs)")


@dataclass(slots=True)
class _Seen:
    size: int
    mtime_ns: int
    since: float
    waiting: str | None = None
    next_check: float = 0.0


@dataclass(frozen=True, slots=True)
class _Entry:
    """One file as a scan listed it."""

    path: str
    name: str
    size: int
    mtime_ns: int
    #: its marker file exists (always True when markers are not required)
    marked: bool


def is_temporary_name(name: str, marker_suffix: str) -> bool:
    """Names that belong to a writer still at work, or to markers."""
    return (
        name.startswith((".", "~$"))
        or name.endswith(TEMP_SUFFIXES)
        or (bool(marker_suffix) and name.endswith(marker_suffix))
    )


class DirectorySource:
    """Watches ``path/<inbox>/`` folders and journals complete files.

    Args:
        config: settings.
        partner_for_inbox: maps an inbox folder name to a partner id (None:
            the file is journaled with no partner and identified by envelope).
        clock: monotonic clock, injectable for tests.
    """

    def __init__(
        self,
        config: DirectorySourceConfig,
        partner_for_inbox: Callable[[str], str | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = config.name
        self.config = config
        self._partner_for_inbox = partner_for_inbox or (lambda name: name)
        self._clock = clock
        # Paths as str, not Path: a scan lists every file of every inbox, and
        # building Path objects for them was a tenth of the loop's time in a burst.
        self._seen: dict[str, _Seen] = {}
        self._busy: set[str] = set()
        #: archive folders known to exist (one mkdir per folder, not per file)
        self._archive_folders: set[str] = set()
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self.taken = 0
        self.refused = 0
        self.last_intake: dict[str, float] = {}
        self.last_error: str | None = None

    def resources(self) -> list[Resource]:
        """The root folder (and archive) this source owns."""
        res = [Resource("dir", str(self.config.path))]
        if self.config.archive is not None:
            res.append(Resource("dir", str(self.config.archive)))
        return res

    def status(self) -> dict[str, Any]:
        """Figures for ``edigate status``."""
        now = self._clock()
        waiting = sorted(
            ((now - s.since, p, s.waiting) for p, s in self._seen.items() if s.waiting), reverse=True
        )[:20]
        return {
            "name": self.name,
            "kind": "directory",
            "listening": str(self.config.path),
            "taken": self.taken,
            "refused": self.refused,
            "waiting": [
                {"file": str(p), "waiting_seconds": round(age, 1), "reason": reason}
                for age, p, reason in waiting
            ],
            "last_error": self.last_error,
            "last_intake": self.last_intake,
        }

    def stop(self) -> None:
        """Take no new files; those being journaled finish."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()

    async def run(self, journal: Journal, ready: asyncio.Event) -> None:
        """Watch and journal until stopped or cancelled."""
        root = self.config.path
        root.mkdir(parents=True, exist_ok=True)
        if self.config.archive is not None:
            self.config.archive.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        wake = self._wake
        observer = Observer()
        # Only "a file was written" nudges the scan; the rescan every
        # poll_seconds finds renamed and moved-in files.  Subscribing to moves
        # too would make watchdog pair every rename in Python (and our own
        # archive moves), which costs more GIL time than the intake itself.
        observer.schedule(_Nudge(loop, wake), str(root), recursive=True, event_filter=[FileClosedEvent])
        observer.start()
        sem = asyncio.Semaphore(self.config.max_parallel)
        tasks: set[asyncio.Task[None]] = set()
        ready.set()
        try:
            while not self._stopping:
                # Cleared before the listing: a file written while it runs wakes the next scan.
                wake.clear()
                listing = await run_blocking(self._list)
                now = self._clock()
                scanned_at = now
                for path in self._judge(listing, now):
                    if path in self._busy:
                        continue
                    self._busy.add(path)
                    await sem.acquire()
                    task = asyncio.create_task(self._take(journal, path, sem))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=self.config.poll_seconds)
                # A burst of drops wakes us once per file event; a scan lists
                # every inbox, so rescanning per event costs O(files²).  One
                # scan per interval sees the whole burst at the same latency.
                rest = _MIN_SCAN_GAP - (self._clock() - scanned_at)
                if rest > 0 and not self._stopping:
                    await asyncio.sleep(rest)
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            observer.stop()
            await asyncio.to_thread(observer.join, 5)

    def _list(self) -> list[_Entry]:
        """Every candidate file in every inbox, with its size and mtime (blocking: run on a thread).

        The listing and a stat per file are system calls, each of which gave
        the GIL up on the event loop and waited to get it back; a backlog of
        thousands of files made every scan hold the loop for a good part of a
        second.
        """
        cfg = self.config
        found: list[_Entry] = []
        try:
            inboxes = [
                e
                for e in os.scandir(cfg.path)
                if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
            ]
        except OSError as exc:
            self.last_error = f"cannot list {cfg.path}: {exc.strerror}"
            return found
        for inbox in inboxes:
            try:
                entries = list(os.scandir(inbox.path))
            except OSError as exc:
                self.last_error = f"cannot list {inbox.path}: {exc.strerror}"
                continue
            names = {e.name for e in entries}
            for entry in entries:
                if not entry.is_file(follow_symlinks=False) or is_temporary_name(
                    entry.name, cfg.marker_suffix
                ):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                marked = not cfg.require_marker or entry.name + cfg.marker_suffix in names
                found.append(_Entry(entry.path, entry.name, st.st_size, st.st_mtime_ns, marked))
        return found

    def _judge(self, listing: list[_Entry], now: float) -> list[str]:
        """The listed files that have held still long enough to be taken (on the event loop)."""
        ready: list[str] = []
        present: set[str] = set()
        cfg = self.config
        for item in listing:
            path = item.path
            present.add(path)
            seen = self._seen.get(path)
            if seen is None or seen.size != item.size or seen.mtime_ns != item.mtime_ns:
                self._seen[path] = _Seen(item.size, item.mtime_ns, now)
                continue
            if not item.marked:
                seen.waiting = f"waiting for marker {item.name}{cfg.marker_suffix}"
                continue
            if path in self._busy:
                continue
            if now - seen.since >= cfg.settle_seconds and now >= seen.next_check:
                ready.append(path)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return ready

    def _read_complete(self, path: str) -> tuple[bytes, os.stat_result] | str:
        """The file's bytes if it is complete now, else why not."""
        st = os.stat(path)
        with open(path, "rb") as fh:
            data = fh.read()
        st2 = os.stat(path)
        if (st.st_size, st.st_mtime_ns) != (st2.st_size, st2.st_mtime_ns) or len(data) != st2.st_size:
            return "still being written"
        complete = envelope_complete(data)
        if complete is False:
            std = detect_standard(data)
            trailer = "IEA" if std == "x12" else "UNZ"
            return f"incomplete {std} envelope (no matching {trailer} at the end yet)"
        if complete is None and not self.config.require_marker:
            seen = self._seen.get(path)
            if seen is not None and self._clock() - seen.since < self.config.quiet_seconds:
                return "quiet period"
        return data, st2

    async def _take(self, journal: Journal, path: str, sem: asyncio.Semaphore) -> None:
        try:
            try:
                outcome = await run_blocking(self._read_complete, path)
            except FileNotFoundError:
                return
            except OSError as exc:
                self.last_error = f"cannot read {path}: {exc.strerror}"
                return
            if isinstance(outcome, str):
                seen = self._seen.get(path)
                if seen is not None:
                    quiet = outcome == "quiet period"
                    seen.waiting = None if quiet else outcome
                    # Do not re-read a waiting file on every poll.
                    seen.next_check = (
                        (seen.since + self.config.quiet_seconds) if quiet else self._clock() + 1.0
                    )
                return
            data, st = outcome
            folder, name = os.path.split(path)
            inbox = os.path.basename(folder)
            partner = self._partner_for_inbox(inbox)
            identity = f"{path}:{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"
            try:
                result = await journal.append(
                    Intake(
                        transport="directory",
                        data=data,
                        partner=partner,
                        file_name=name,
                        external_id=identity,
                        meta={"source": self.name, "inbox": inbox, "path": path},
                    )
                )
            except (DiskFloorError, MessageTooLargeError) as exc:
                self.refused += 1
                self.last_error = f"{name}: {exc}"
                seen = self._seen.get(path)
                if seen is not None:
                    seen.waiting = str(exc)
                    seen.next_check = self._clock() + 5.0
                log.warning("not taking %s: %s", path, exc)
                return
            except JournalWriteError:
                raise
            self.taken += 1
            self.last_intake[partner or inbox] = time.time()
            await run_blocking(self._dispose, path, inbox, result.message_id)
            self._seen.pop(path, None)
            if self.config.require_marker:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path + self.config.marker_suffix)
            log.info("took %s", name, extra={"message_id": result.message_id, "partner": partner})
        finally:
            self._busy.discard(path)
            sem.release()

    def _dispose(self, path: str, inbox: str, message_id: str) -> None:
        if self.config.delete or self.config.archive is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return
        folder = os.path.join(self.config.archive, inbox, _dt.date.today().isoformat())
        if folder not in self._archive_folders:
            os.makedirs(folder, exist_ok=True)
            self._archive_folders.add(folder)
        target = os.path.join(folder, f"{message_id}-{os.path.basename(path)}")
        try:
            os.rename(path, target)
        except FileNotFoundError:
            if os.path.exists(path):
                # The archive folder was removed behind our back: make it again.
                self._archive_folders.discard(folder)
                os.makedirs(folder, exist_ok=True)
                os.rename(path, target)
            else:
                raise
        except OSError:
            shutil.move(path, target)


class _Nudge(FileSystemEventHandler):
    """Wakes the scan loop from watchdog's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        self._loop = loop
        self._wake = wake
        #: a wake-up is on its way to the loop; a burst's events share it
        self._pending = False

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write") or self._pending:
            return
        # Set here, cleared on the loop: at worst one extra wake-up, never a lost one.
        self._pending = True
        try:
            self._loop.call_soon_threadsafe(self._set)
        except RuntimeError:
            # The loop closed during shutdown; nothing left to wake.
            return

    def _set(self) -> None:
        self._pending = False
        self._wake.set()


__all__ = ["DirectorySource", "DirectorySourceConfig", "is_temporary_name"]
