"""The daemon: the composition root that wires journal, sources, pipeline and sinks.

Lifecycle (after uvicorn's ``Server.serve``): ``startup()`` opens the journal,
loads partner profiles, builds sinks and sources, resumes unfinished work and
starts every listener; ``READY=1`` goes to systemd only once every source has
said it is accepting.  ``main_loop()`` ticks: watchdog pings, STATUS line,
retention purge, reload on SIGHUP.  ``shutdown()`` stops intake first, lets
translation and in-flight deliveries finish (bounded), then closes the
journal.  Signal handlers only set flags.

This is the only module of ``gateway`` that imports ``agent``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agent import DeliveryEngine, RetryPolicy, Sink, build_sink

from . import report
from .config import Config, load_config
from .control import serve_control
from .errors import ConfigError, GatewayError, JournalWriteError
from .journal import Journal, JournalOptions
from .notify import sd_notify, watchdog_interval
from .pipeline import Pipeline, RegistryLike
from .resources import Resource, find_conflicts
from .sources.dirwatch import DirectorySource, DirectorySourceConfig
from .spool import write_file_durably
from .workers import translation_pool

log = logging.getLogger("edigate.daemon")

VERSION = "0.1.0"
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_STARTUP_FAILURE = 3


class SourceLike(Protocol):
    """What the daemon needs from an intake source."""

    name: str

    def resources(self) -> list[Resource]: ...

    async def run(self, journal: Journal, ready: asyncio.Event) -> None: ...


@dataclass(slots=True)
class GatewayState:
    """Process state shared by the daemon's parts (uvicorn's ``ServerState``)."""

    started_at: float = field(default_factory=time.time)
    ready: bool = False
    reloads: int = 0
    last_reload_error: str | None = None
    profile_errors: list[str] = field(default_factory=list)
    purged: int = 0


def load_partners(folder: Path) -> tuple[RegistryLike | None, list[str]]:
    """Load partner profiles; returns (registry or None, problems in words)."""
    if not folder.is_dir():
        return None, [f"{folder}: partner folder does not exist"]
    import partners

    registry, errors = partners.load_registry(folder)
    return registry, [str(e) for e in errors]


def build_sources(cfg: Config, registry: Any) -> tuple[list[SourceLike], list[str]]:
    """Instantiate every configured source; returns (sources, problems)."""
    models, problems = cfg.source_models()
    sources: list[SourceLike] = []

    def partner_for_inbox(name: str) -> str | None:
        reg = registry() if callable(registry) else registry
        if reg is None:
            return name
        profile = reg.by_inbox(name) or reg.get(name)
        return profile.id if profile is not None else name

    def current() -> Any:
        return registry() if callable(registry) else registry

    for model in models:
        kind = getattr(model, "kind", "?")
        if isinstance(model, DirectorySourceConfig):
            sources.append(DirectorySource(model, partner_for_inbox))
        elif kind == "as2":
            from .sources.as2 import As2Source, RegistryAs2Partners

            try:
                sources.append(As2Source(model, RegistryAs2Partners(current)))  # type: ignore[arg-type]
            except (OSError, ValueError) as exc:
                problems.append(f"sources.as2: {getattr(model, 'name', '?')}: {exc}")
        else:
            problems.append(
                f"sources.{getattr(model, 'kind', '?')}: {getattr(model, 'name', '?')}: "
                "this source kind is not wired into the daemon yet"
            )
    return sources, problems


def build_sinks(cfg: Config) -> tuple[dict[str, Sink], list[str]]:
    """Instantiate every configured sink; returns (sinks, problems)."""
    sinks: dict[str, Sink] = {}
    problems: list[str] = []
    for sc in cfg.sinks:
        if sc.name in sinks:
            problems.append(f"sinks: {sc.name}: the name is used twice")
            continue
        try:
            sinks[sc.name] = build_sink(sc.model_dump())
        except (ValueError, GatewayError) as exc:
            problems.append(f"sinks: {sc.name}: {exc}")
    for name in cfg.gateway.default_sinks:
        if name not in {s.name for s in cfg.sinks}:
            problems.append(f"gateway.default_sinks: {name!r} is not a configured sink")
    return sinks, problems


def check_config(cfg: Config, *, environment: bool = True) -> list[str]:
    """Every problem with a loaded config (``edigate validate``)."""
    problems: list[str] = []
    registry, profile_problems = load_partners(cfg.gateway.partners_dir)
    problems.extend(f"partners: {p}" for p in profile_problems)
    sources, source_problems = build_sources(cfg, registry)
    problems.extend(source_problems)
    sinks, sink_problems = build_sinks(cfg)
    problems.extend(sink_problems)
    known = {sc.name for sc in cfg.sinks}
    for profile in getattr(registry, "profiles", ()) or ():
        for name in getattr(profile, "sinks", ()) or ():
            if name not in known:
                where = getattr(profile, "source_path", profile.id)
                problems.append(
                    f"partners: {where}: routing.sinks names {name!r}, which is not a configured sink"
                )
    claims: list[tuple[str, Resource]] = [(f"source {s.name}", r) for s in sources for r in s.resources()]
    for n, s in sinks.items():
        sink_path = getattr(getattr(s, "config", None), "path", None)
        if sink_path is not None:
            claims.append((f"sink {n}", Resource("dir", str(sink_path))))
    claims.append(("journal", Resource("dir", str(cfg.gateway.state_dir))))
    problems.extend(find_conflicts(claims))
    if not cfg.gateway.default_sinks and not cfg.sinks:
        problems.append("sinks: no sink is configured; documents would have nowhere to go")
    if environment:
        problems.extend(_environment_problems(cfg))
    return problems


def _environment_problems(cfg: Config) -> list[str]:
    problems: list[str] = []
    state = cfg.gateway.state_dir
    probe = state if state.exists() else state.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        problems.append(f"gateway.state_dir: {state} is not writable by uid {os.getuid()}")
    return problems


class Daemon:
    """Runs the gateway until SIGTERM/SIGINT.

    Args:
        config: the loaded configuration.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.state = GatewayState()
        self.should_exit = False
        self.force_exit = False
        self.reload_requested = False
        self.journal: Journal | None = None
        self.registry: RegistryLike | None = None
        self.sources: list[SourceLike] = []
        self.sinks: dict[str, Sink] = {}
        self.engine: DeliveryEngine | None = None
        self.pipeline: Pipeline | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._control: asyncio.AbstractServer | None = None
        self._watch_stop: Any = None
        self._fatal: BaseException | None = None
        self._pool: ProcessPoolExecutor | None = None

    # ------------------------------------------------------------------ signals

    def _handle_exit(self, sig: int) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True

    def _handle_hup(self) -> None:
        self.reload_requested = True

    # ------------------------------------------------------------------ lifecycle

    async def serve(self) -> int:
        """Run until asked to stop; returns the process exit code."""
        loop = asyncio.get_running_loop()
        # Journal reads, spool reads, sink fsyncs and translations all run on
        # threads; the default pool (cores + 4) starves under fsync latency.
        loop.set_default_executor(ThreadPoolExecutor(max_workers=64, thread_name_prefix="edigate"))
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._handle_exit, sig)
        loop.add_signal_handler(signal.SIGHUP, self._handle_hup)
        try:
            await self.startup()
        except (ConfigError, GatewayError, OSError) as exc:
            log.error("startup failed: %s", exc)
            await self._close()
            return EXIT_STARTUP_FAILURE
        code = await self.main_loop()
        await self.shutdown()
        return code

    async def startup(self) -> None:
        """Open the journal, build everything, resume, start listeners."""
        cfg = self.config
        jcfg = cfg.journal
        self.journal = Journal.open(
            cfg.gateway.state_dir,
            JournalOptions(
                min_free_bytes=jcfg.min_free_mb * 1024 * 1024,
                max_message_bytes=int(jcfg.max_message_mb * 1024 * 1024),
            ),
        )
        self.registry, problems = load_partners(cfg.gateway.partners_dir)
        self.state.profile_errors = problems
        for p in problems:
            log.warning("partner profile problem: %s", p)
        self.sinks, sink_problems = build_sinks(cfg)
        self.sources, source_problems = build_sources(cfg, lambda: self.registry)
        if sink_problems or source_problems:
            raise ConfigError(sink_problems + source_problems)
        d = cfg.delivery
        self.engine = DeliveryEngine(
            self.journal,
            self.sinks,
            policy=RetryPolicy(
                max_attempts=d.max_attempts,
                max_age=d.max_age_hours * 3600,
                backoff_initial=d.backoff_initial_seconds,
                backoff_max=d.backoff_max_seconds,
                breaker_failures=d.breaker_failures,
                breaker_reset=d.breaker_reset_seconds,
            ),
            concurrency=d.concurrency,
        )
        translate_fn = None
        if self.registry is not None:
            import partners

            translate_fn = partners.translate_with_profile
        self.pipeline = Pipeline(
            self.journal,
            registry=lambda: self.registry,
            default_sinks=cfg.gateway.default_sinks,
            on_queued=self._queued,
            on_acks=self._write_acks,
            translate_fn=translate_fn,
            workers=cfg.pipeline.workers,
            executor=self._translation_pool(),
        )
        self.pipeline.known_sinks = frozenset(self.sinks)
        self.journal.on_received = self.pipeline.submit
        pending = await self.engine.load_pending()
        resumed = await self.pipeline.resume()
        log.info("journal open: %d message(s) to translate, %d deliveries pending", resumed, pending)
        self._spawn(self.pipeline.run(), "pipeline")
        self._spawn(self.engine.run(), "delivery")
        readies: list[asyncio.Event] = []
        for source in self.sources:
            ready = asyncio.Event()
            readies.append(ready)
            self._spawn(self._run_source(source, ready), f"source {source.name}")
        self._control = await serve_control(cfg.gateway.socket_path, self._on_control)
        self._start_profile_watch()
        waiters = [asyncio.ensure_future(r.wait()) for r in readies]
        if waiters:
            _, pending_w = await asyncio.wait(waiters, timeout=30)
            for w in pending_w:
                w.cancel()
            if pending_w:
                raise GatewayError("a source did not start listening within 30 s")
        self.state.ready = True
        sd_notify(
            f"READY=1\nSTATUS=edigate {VERSION}: {len(self.sources)} source(s), {len(self.sinks)} sink(s)"
        )
        log.info("ready: %d source(s), %d sink(s)", len(self.sources), len(self.sinks))

    def _translation_pool(self) -> Executor | None:
        processes = self.config.pipeline.processes
        if processes == 0:
            return None
        self._pool = translation_pool(processes or os.cpu_count() or 1)
        return self._pool

    def _spawn(self, coro: Any, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("%s stopped: %s", task.get_name(), exc, exc_info=exc)
            self.should_exit = True
            self._fatal = exc

    async def _run_source(self, source: SourceLike, ready: asyncio.Event) -> None:
        assert self.journal is not None
        await source.run(self.journal, ready)

    def _queued(self, pairs: list[tuple[int, str]]) -> None:
        assert self.engine is not None
        for delivery_id, sink in pairs:
            self.engine.enqueue(delivery_id, sink)

    async def _write_acks(self, partner: str, message_id: int, acks: Sequence[tuple[str, bytes]]) -> None:
        root = self.config.gateway.ack_dir or self.config.base_dir / "outbox"
        folder = root / partner
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        for kind, payload in acks:
            await asyncio.to_thread(write_file_durably, folder / f"{message_id}-{kind}.edi", payload)

    def _start_profile_watch(self) -> None:
        folder = self.config.gateway.partners_dir
        watch = getattr(self.registry, "watch", None)
        if watch is None:
            return
        loop = asyncio.get_running_loop()

        def changed(registry: RegistryLike, errors: list[Any]) -> None:
            def swap() -> None:
                self.registry = registry
                self.state.reloads += 1
                self.state.profile_errors = [str(e) for e in errors]
                for e in errors:
                    log.warning("partner profile problem (previous version keeps serving): %s", e)
                log.info("partner profiles reloaded")

            loop.call_soon_threadsafe(swap)

        self._watch_stop = watch(folder, changed).stop

    async def main_loop(self) -> int:
        """Tick until asked to exit; returns the exit code."""
        assert self.journal is not None
        ping = watchdog_interval()
        last_ping = last_purge = 0.0
        while not self.should_exit:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            if self.journal.failed is not None:
                log.error("journal write failed, stopping: %s", self.journal.failed)
                return EXIT_FAILURE
            if ping is not None and now - last_ping >= ping:
                last_ping = now
                sd_notify("WATCHDOG=1\nSTATUS=" + self._status_line())
            if now - last_purge > 3600:
                last_purge = now
                self._spawn(self._purge(), "purge")
            if self.reload_requested:
                self.reload_requested = False
                await self.reload()
        return EXIT_FAILURE if self._fatal is not None else EXIT_OK

    async def _purge(self) -> None:
        assert self.journal is not None
        cutoff = time.time() - self.config.journal.retention_days * 86400
        count, files = await self.journal.purge(cutoff)
        self.state.purged += count
        if count:
            log.info("retention: purged %d delivered message(s) and %d spool file(s)", count, files)

    async def reload(self) -> None:
        """SIGHUP: re-read config and profiles; swap the partner snapshot if valid."""
        sd_notify("RELOADING=1")
        path = self.config.path
        try:
            if path is None:
                raise ConfigError(["no config file to reload"])
            new_cfg = load_config(path)
            problems = check_config(new_cfg, environment=False)
            if problems:
                raise ConfigError(problems)
        except ConfigError as exc:
            self.state.last_reload_error = "; ".join(exc.problems)
            log.error("reload refused, the running configuration stays: %s", exc)
            sd_notify("READY=1")
            return
        registry, errors = load_partners(new_cfg.gateway.partners_dir)
        if registry is not None:
            self.registry = registry
        self.state.profile_errors = errors
        self.state.reloads += 1
        self.state.last_reload_error = None
        if new_cfg.model_dump(exclude={"path"}) != self.config.model_dump(exclude={"path"}):
            log.warning("config changed: partner profiles reloaded; source and sink changes need a restart")
        log.info("reloaded")
        sd_notify("READY=1")

    async def shutdown(self) -> None:
        """Stop intake, finish in-flight work, close the journal."""
        sd_notify("STOPPING=1")
        log.info("stopping: intake closed, finishing work in flight")
        for source in self.sources:
            stop = getattr(source, "stop", None)
            if stop is not None:
                stop()
        source_tasks = [t for t in self._tasks if t.get_name().startswith("source ")]
        if source_tasks:
            _, still = await asyncio.wait(source_tasks, timeout=20)
            for t in still:
                t.cancel()
        if self.pipeline is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.pipeline.idle(), timeout=10)
        if self.engine is not None:
            self.engine.stop()
            await self.engine.drain(timeout=10)
        await self._close()

    async def _close(self) -> None:
        if self._watch_stop is not None:
            with contextlib.suppress(Exception):
                self._watch_stop()
        if self._control is not None:
            self._control.close()
            with contextlib.suppress(FileNotFoundError):
                self.config.gateway.socket_path.unlink()
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for sink in self.sinks.values():
            with contextlib.suppress(Exception):
                await sink.aclose()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self.journal is not None:
            await asyncio.to_thread(self.journal.close)
            self.journal = None

    # ------------------------------------------------------------------ status

    def _status_line(self) -> str:
        backlog = self.engine.backlog() if self.engine else 0
        translating = self.pipeline.backlog() if self.pipeline else 0
        return f"{translating} translating, {backlog} to deliver"

    async def _on_control(self, request: dict[str, Any]) -> dict[str, Any]:
        command = request.get("command")
        if command == "status":
            return {"ok": True, **self.live_status()}
        if command == "replay":
            return await self._replay(request)
        if command == "ping":
            return {"ok": True}
        return {"ok": False, "error": f"unknown command {command!r}"}

    def live_status(self) -> dict[str, Any]:
        """What only the running process knows."""
        sources = []
        for s in self.sources:
            st = getattr(s, "status", None)
            sources.append(st() if st is not None else {"name": s.name})
        free = self.journal.free_bytes() if self.journal else None
        return {
            "running": True,
            "pid": os.getpid(),
            "version": VERSION,
            "ready": self.state.ready,
            "started_at": self.state.started_at,
            "uptime_seconds": round(time.time() - self.state.started_at, 1),
            "sources": sources,
            "sinks": self.engine.status() if self.engine else [],
            "pipeline": {
                "backlog": self.pipeline.backlog() if self.pipeline else 0,
                "translated": self.pipeline.stats.translated if self.pipeline else 0,
                "rejected": self.pipeline.stats.rejected if self.pipeline else 0,
            },
            "profiles": {
                "errors": self.state.profile_errors,
                "reloads": self.state.reloads,
                "last_reload_error": self.state.last_reload_error,
            },
            "disk_free_bytes": free,
            "disk_floor_bytes": self.config.journal.min_free_mb * 1024 * 1024,
        }

    async def _replay(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.journal is not None and self.pipeline is not None and self.engine is not None
        ids: list[int]
        if request.get("all"):
            ids = [
                int(m["id"])
                for m in await self.journal.read(
                    lambda c: report.list_messages(c, states=report.FAILED_STATES, limit=1_000_000)
                )
            ]
        else:
            ids = [int(i) for i in request.get("ids", [])]
        done: list[dict[str, Any]] = []
        for mid in ids:
            try:
                action = await self.journal.replay(mid)
            except (GatewayError, ValueError) as exc:
                done.append({"id": mid, "ok": False, "error": str(exc)})
                continue
            if action == "retranslate":
                self.pipeline.submit(mid)
            else:
                for p in await self.journal.pending_deliveries():
                    if p.message_id == mid:
                        self.engine.enqueue(p.delivery_id, p.sink)
            done.append({"id": mid, "ok": True, "action": action})
        return {"ok": True, "replayed": done}


def run(config: Config) -> int:
    """Run the daemon in the foreground; returns the exit code."""
    daemon = Daemon(config)
    try:
        return asyncio.run(daemon.serve())
    except JournalWriteError as exc:
        log.error("journal write failed: %s", exc)
        return EXIT_FAILURE


__all__ = ["VERSION", "Daemon", "GatewayState", "check_config", "run"]
