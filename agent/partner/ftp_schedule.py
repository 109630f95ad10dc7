"""Fetch mode on a timer: poll each partner whose profile says ``[delivery.fetch]``.

A profile with ``[delivery] transport = "ftp"`` and a ``[delivery.fetch]`` table
(``remote_dir``, ``interval_seconds``, ``after = "delete" | "move:<folder>"``) has
its server polled with :meth:`agent.partner.ftp.FtpFetcher.poll` every interval.

Rules:

* The profiles are read from the *current* registry snapshot on every tick, so
  a hot reload adds, changes or stops a partner's polling without a restart.
* One poll per partner at a time; partners are polled concurrently, so a slow or
  hanging server (bounded by the FTP timeout) does not hold the others up.
* A failed poll is never fatal: it is logged, counted in :meth:`FtpFetchScheduler.status`
  and recorded with ``journal.note_event("ftp_fetch_error", ...)``; the next poll
  comes at the next interval.  Files journaled before the failure are kept.
* The password (``password_file``) and the pinned CA (``certificates.tls_ca``) are
  read at each poll, so a rotated password needs no restart.  Passwords are never
  logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from agent.errors import PermanentDeliveryError, TlsConfigError

from .ftp import FetchJournal, FtpFetcher, settings_from_delivery

log = logging.getLogger(__name__)

EVENT_ERROR = "ftp_fetch_error"


class ScheduleJournal(FetchJournal, Protocol):
    """The part of :class:`gateway.journal.Journal` the scheduler uses."""

    async def note_event(self, kind: str, detail: dict[str, Any]) -> None:
        """Record an operational event for status."""
        ...


@dataclass(slots=True)
class FetchState:
    """What the scheduler knows about one partner's polling (see :meth:`FtpFetchScheduler.status`)."""

    partner: str
    server: str = ""
    interval_seconds: float = 0.0
    polls: int = 0
    fetched: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_poll_at: float | None = None
    last_ok_at: float | None = None
    last_error: str | None = None
    permanent: bool = False
    started: float | None = None  # monotonic start of the last poll
    task: asyncio.Task[None] | None = dataclasses.field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The state as plain data for the status command."""
        return {
            "server": self.server,
            "interval_seconds": self.interval_seconds,
            "polls": self.polls,
            "fetched": self.fetched,
            "failures": self.failures,
            "consecutive_failures": self.consecutive_failures,
            "last_poll_at": self.last_poll_at,
            "last_ok_at": self.last_ok_at,
            "last_error": self.last_error,
            "permanent": self.permanent,
            "polling": self.task is not None and not self.task.done(),
        }


def fetch_plans(registry: Any) -> dict[str, Any]:
    """The profiles of ``registry`` that ask for FTP fetch, by partner id.

    Args:
        registry: a :class:`partners.Registry` (or None before the first load).

    Returns:
        ``{partner id: profile}``.
    """
    plans: dict[str, Any] = {}
    for profile in getattr(registry, "profiles", ()) or ():
        delivery = profile.model.delivery
        if delivery is not None and delivery.transport == "ftp" and delivery.fetch is not None:
            plans[str(profile.id)] = profile
    return plans


def fetcher_for(profile: Any) -> FtpFetcher:
    """Build the :class:`FtpFetcher` a profile's ``[delivery]`` and ``[delivery.fetch]`` describe.

    Reads the ``password_file`` (blocking: call it from a worker thread).

    Args:
        profile: a :class:`partners.Profile` whose delivery is FTP with ``fetch``.

    Returns:
        The fetcher.

    Raises:
        OSError: the password file cannot be read.
        ValueError: the settings are not supported (implicit TLS, active mode).
    """
    delivery = profile.model.delivery
    fetch = delivery.fetch
    secret = delivery.password_file
    password = profile.resolve_path(secret).read_text(encoding="utf-8").strip() if secret else ""
    tls_ca = profile.model.certificates.tls_ca
    settings = settings_from_delivery(
        delivery.model_dump(), password, profile.resolve_path(tls_ca) if tls_ca else None
    )
    settings = dataclasses.replace(settings, remote_dir=fetch.remote_dir)
    archive = fetch.archive_dir
    return FtpFetcher(str(profile.id), settings, after="move" if archive else "delete", archive_dir=archive)


class FtpFetchScheduler:
    """Poll every fetch-mode partner at its interval, forever, never failing.

    Args:
        registry: returns the current partner registry snapshot (or None).
        journal: where fetched files are appended and errors recorded.
        tick: seconds between looks at the registry and the due times.
        clock: monotonic clock (tests).
    """

    def __init__(
        self,
        registry: Callable[[], Any],
        journal: ScheduleJournal,
        *,
        tick: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._journal = journal
        self._tick = tick
        self._clock = clock
        self._states: dict[str, FetchState] = {}

    def status(self) -> dict[str, dict[str, Any]]:
        """Per partner: polls, files fetched, failures, the last error and when."""
        return {pid: state.as_dict() for pid, state in sorted(self._states.items())}

    async def run(self) -> None:
        """Poll due partners until cancelled; cancelling stops the polls in flight too."""
        try:
            while True:
                self.start_due()
                await asyncio.sleep(self._tick)
        finally:
            running = [s.task for s in self._states.values() if s.task is not None and not s.task.done()]
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    def start_due(self) -> list[str]:
        """Start a poll for every partner that is due and not already polling.

        Returns:
            The partner ids whose poll was started.
        """
        plans = fetch_plans(self._registry())
        for gone in set(self._states) - set(plans):
            state = self._states.pop(gone)
            if state.task is not None:
                state.task.cancel()  # the profile no longer asks for fetch
        now = self._clock()
        started: list[str] = []
        for pid, profile in plans.items():
            state = self._states.setdefault(pid, FetchState(pid))
            delivery = profile.model.delivery
            state.interval_seconds = float(delivery.fetch.interval_seconds)
            state.server = f"ftp://{delivery.user}@{delivery.host}:{delivery.port}{delivery.fetch.remote_dir}"
            if state.task is not None and not state.task.done():
                continue
            if state.started is not None and now < state.started + state.interval_seconds:
                continue
            state.started = now
            state.task = asyncio.create_task(self.poll_once(profile, state), name=f"ftp fetch {pid}")
            started.append(pid)
        return started

    async def poll_once(self, profile: Any, state: FetchState) -> None:
        """One poll of one partner; every failure is recorded, none is raised.

        Args:
            profile: the partner's profile.
            state: its :class:`FetchState`, updated in place.
        """
        state.polls += 1
        state.last_poll_at = time.time()
        try:
            fetcher = await asyncio.to_thread(fetcher_for, profile)
            taken = await fetcher.poll(self._journal)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of one poll is reported, never fatal
            await self._failed(state, exc)
            return
        state.fetched += len(taken)
        state.consecutive_failures = 0
        state.last_ok_at = time.time()
        state.last_error = None
        state.permanent = False

    async def _failed(self, state: FetchState, exc: Exception) -> None:
        state.failures += 1
        state.consecutive_failures += 1
        state.last_error = str(exc) or type(exc).__name__
        state.permanent = isinstance(exc, (PermanentDeliveryError, TlsConfigError, ValueError, OSError))
        state.permanent = state.permanent and not isinstance(exc, (TimeoutError, ConnectionError))
        log.warning(
            "ftp fetch for partner %s failed (%d in a row; next try in %.0f s): %s",
            state.partner,
            state.consecutive_failures,
            state.interval_seconds,
            state.last_error,
        )
        detail = {
            "partner": state.partner,
            "server": state.server,
            "error": state.last_error,
            "error_type": type(exc).__name__,
            "permanent": state.permanent,
            "consecutive_failures": state.consecutive_failures,
        }
        with contextlib.suppress(Exception):  # the journal refusing an event must not stop polling
            await self._journal.note_event(EVENT_ERROR, detail)


__all__ = ["EVENT_ERROR", "FetchState", "FtpFetchScheduler", "ScheduleJournal", "fetch_plans", "fetcher_for"]
