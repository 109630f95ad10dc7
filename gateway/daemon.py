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
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agent import AgentError, DeliveryEngine, RetryPolicy, Sink, build_sink

from . import alerts, audit, metrics, report, status_view
from .config import Config, load_config
from .control import serve_control
from .errors import ConfigError, GatewayError, JournalWriteError
from .filebatch import BatchWriter, FileBatch, PendingFile
from .iopool import io_pool
from .journal import Journal, JournalOptions
from .notify import sd_notify, watchdog_interval
from .pipeline import Pipeline, RegistryLike
from .resources import Resource, find_conflicts
from .sources.dirwatch import DirectorySource, DirectorySourceConfig
from .workers import settle_collector, translation_pool, warm

log = logging.getLogger("edigate.daemon")

VERSION = "0.1.0"
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_STARTUP_FAILURE = 3


#: interchange numbers still unjudged after this long are judged by the periodic sweep
_SEQUENCE_SWEEP_SECONDS = 60.0


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
        elif kind == "sftp":
            from .adapters import RegistrySftpAccounts
            from .sources.sftp import SftpSource

            sources.append(SftpSource(model, RegistrySftpAccounts(current)))  # type: ignore[arg-type]
        elif kind == "smtp":
            from .adapters import RegistryMailSenders
            from .sources.smtp import SmtpSource

            try:
                sources.append(SmtpSource(model, RegistryMailSenders(current)))  # type: ignore[arg-type]
            except GatewayError as exc:
                problems.append(f"sources.smtp: {getattr(model, 'name', '?')}: {exc}")
        elif kind == "as2":
            from .sources.as2 import As2Source, RegistryAs2Partners

            try:
                sources.append(As2Source(model, RegistryAs2Partners(current)))  # type: ignore[arg-type]
            except (OSError, ValueError) as exc:
                problems.append(f"sources.as2: {getattr(model, 'name', '?')}: {exc}")
        # -- ftp source (FTP/FTPS intake; accounts from profiles' [identities.ftp] first,
        #    then [[sources.ftp.accounts]]) --
        elif kind == "ftp":
            from .sources.ftp import ConfigFtpAccounts, FtpSource, FtpSourceConfig, RegistryFtpAccounts

            assert isinstance(model, FtpSourceConfig)
            sources.append(FtpSource(model, RegistryFtpAccounts(current, ConfigFtpAccounts(model.accounts))))
        # -- end ftp source --
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
        except (ValueError, GatewayError, AgentError) as exc:
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
    problems.extend(_operations_problems(cfg))
    problems.extend(_outbound_problems(cfg, registry, environment=environment))
    if not cfg.gateway.default_sinks and not cfg.sinks:
        problems.append("sinks: no sink is configured; documents would have nowhere to go")
    if environment:
        problems.extend(_environment_problems(cfg))
    return problems


def _operations_problems(cfg: Config) -> list[str]:
    """Problems with the metrics listener and alert channels."""
    problems: list[str] = []
    if cfg.gateway.metrics_listen is not None:
        try:
            metrics.parse_listen(cfg.gateway.metrics_listen)
        except ValueError as exc:
            problems.append(f"gateway.metrics_listen: {exc}")
    pw = cfg.alerts.mail_password_file
    if pw is not None and not pw.is_absolute():
        problems.append(f"alerts.mail_password_file: {pw} must be an absolute path")
    elif pw is not None and pw.exists():
        from partners.permissions import private_file_problem

        problem = private_file_problem(pw, "alert mail password file")
        if problem is not None:
            problems.append(f"alerts.mail_password_file: {problem}")
    return problems


def _outbound_problems(cfg: Config, registry: Any, *, environment: bool) -> list[str]:
    """Problems with ``[delivery] ordered_sinks``, ``[outbound]`` and ``[mail]`` (the downlink)."""
    from .outbound import partner_sink_name

    problems = cfg.reference_problems()  # load_config raises these; a Config built in code may have them
    transports: dict[str, Any] = {}
    for profile in getattr(registry, "profiles", ()) or ():
        delivery = profile.model.delivery
        if delivery is None:
            continue
        transports[partner_sink_name(profile.id)] = delivery
        if delivery.transport == "mail" and cfg.mail.relay_host is None:
            problems.append(
                f"partners: {profile.source_path}: delivery: transport mail needs a relay: "
                "set [mail] relay_host in the gateway config"
            )
        if (
            delivery.transport == "as2"
            and getattr(delivery, "mdn", None) == "async"
            and not getattr(delivery, "async_mdn_url", None)
            and _as2_public_url(cfg) is None
        ):
            problems.append(
                f"partners: {profile.source_path}: delivery: mdn = 'async' needs async_mdn_url in the "
                "profile or public_url on an [[sources.as2]] listener"
            )
    for name in cfg.delivery.ordered_sinks or ():
        if name.startswith("partner:") and name not in transports:
            problems.append(
                f"delivery.ordered_sinks: {name!r} is not a partner transport "
                f"(partners with [delivery]: {sorted(transports) or 'none'})"
            )
    if environment and cfg.mail.relay_host is not None:
        try:
            cfg.mail.password()
        except ConfigError as exc:
            problems.extend(exc.problems)
    return problems


def _as2_public_url(cfg: Config) -> str | None:
    """Where partners POST asynchronous MDNs: the first ``[[sources.as2]]`` with a ``public_url``."""
    models, _ = cfg.source_models()
    urls = (getattr(m, "public_url", None) for m in models if getattr(m, "kind", None) == "as2")
    return next((str(u) for u in urls if u), None)


def ordered_sink_names(cfg: Config, partners: dict[str, bool | None]) -> set[str]:
    """The sinks whose deliveries keep each partner's journal order.

    Args:
        cfg: the configuration; ``[delivery] ordered_sinks`` when set, else
            every odoo sink and every partner transport.
        partners: partner transport sink name → the profile's ``routing.ordered``
            (``None``: follow the gateway default; ``True``/``False`` wins).
    """
    chosen = cfg.delivery.ordered_sinks
    if chosen is None:
        names = {sc.name for sc in cfg.sinks if sc.kind == "odoo"}
        return names | {name for name, choice in partners.items() if choice is not False}
    names = {sc.name for sc in cfg.sinks if sc.name in chosen}
    return names | {
        name for name, choice in partners.items() if choice or (choice is None and name in chosen)
    }


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

    def __init__(self, config: Config, *, tune_collector: bool = False) -> None:
        self.config = config
        #: freeze the long-lived objects out of the collector once ready (the
        #: process is ours: ``edigate run``, not a test embedding the daemon)
        self.tune_collector = tune_collector
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
        self._ack_writer: BatchWriter | None = None
        # Operations (metrics, alerts, audit): see _start_operations.
        self.metrics: metrics.GatewayMetrics | None = None
        self.audit: audit.AuditLog | None = None
        self.alerter = alerts.Alerter(config.alerts, site=config.gateway.site)
        self._ops_task: asyncio.Task[None] | None = None
        self._ops_last = 0.0
        self._alerts_last = 0.0

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
                writer_process=jcfg.writer == "process",
                sync=jcfg.sync,
            ),
        )
        self.registry, problems = load_partners(cfg.gateway.partners_dir)
        self.state.profile_errors = problems
        for p in problems:
            log.warning("partner profile problem: %s", p)
        self.sinks, sink_problems = build_sinks(cfg)
        self.sinks.update(self._outbound_sinks())  # downlink: one transport per partner, see _start_outbound
        self.sources, source_problems = build_sources(cfg, lambda: self.registry)
        operations_problems = _operations_problems(cfg)
        if sink_problems or source_problems or operations_problems:
            raise ConfigError(sink_problems + source_problems + operations_problems)
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
            ordered=self._outbound_ordered,
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
            max_inflight_bytes=cfg.pipeline.max_inflight_mb * 1024 * 1024,
            inline_max_bytes=cfg.pipeline.inline_max_bytes(),
            batch_max_bytes=cfg.pipeline.batch_max_kb * 1024,
            processes=self._processes(),
            executor=self._translation_pool(),
            pool_factory=self._new_translation_pool,
        )
        self.pipeline.known_sinks = frozenset(self.sinks)
        self.journal.on_received = self.pipeline.submit
        # In the background: workers importing the translators must not delay READY.
        self._spawn(self._warm_translation_pool(), "translation warm-up")
        await self._start_outbound()  # before pipeline.resume(): outbound messages are not inbound files
        await self._start_nats_downlinks()  # after outbound: hands NATS documents to it
        pending = await self.engine.load_pending()
        self._spawn(self.pipeline.resend_acks(), "acknowledgment resend")
        resumed = await self.pipeline.resume()
        log.info("journal open: %d message(s) to translate, %d deliveries pending", resumed, pending)
        self._start_operations()
        self._spawn(self.pipeline.run(), "pipeline")
        self._spawn(self.engine.run(), "delivery")
        self._start_ftp_fetch()  # after the pipeline: fetched files are inbound files
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
        if self.tune_collector:
            # Everything long-lived exists now (modules, config, journal, sources).
            settle_collector()
        sd_notify(
            f"READY=1\nSTATUS=edigate {VERSION}: {len(self.sources)} source(s), {len(self.sinks)} sink(s)"
        )
        log.info("ready: %d source(s), %d sink(s)", len(self.sources), len(self.sinks))

    def _processes(self) -> int:
        """How many translation processes run (0: translations run on threads)."""
        processes = self.config.pipeline.processes
        return (os.cpu_count() or 1) if processes is None else processes

    def _translation_pool(self) -> Executor | None:
        processes = self._processes()
        if processes == 0:
            return None
        self._pool = translation_pool(processes)
        return self._pool

    def _new_translation_pool(self) -> Executor:
        """A pool in place of one a dead worker broke (the pipeline shut the old one down)."""
        self._pool = translation_pool(max(1, self._processes()))
        return self._pool

    async def _warm_translation_pool(self) -> None:
        """Start a translation worker now, so the first file does not wait for one to import."""
        if self._pool is None:
            return
        try:
            # One worker: the first file no longer waits for a spawn, and the
            # others start as soon as two translations are pending at once.
            # Starting all of them would cost every start (and every test's
            # daemon) a second of CPU per worker whether or not files come.
            pids = await asyncio.wait_for(warm(self._pool, 1), timeout=120)
        except (TimeoutError, BrokenExecutor, OSError) as exc:
            # Not fatal: the first translations start the workers again (or,
            # with a broken pool, run on a thread); say why here.
            log.error("translation workers did not start ahead of the first file: %r", exc)
            return
        log.info("%d translation worker(s) ready", len(pids))

    def _spawn(self, coro: Any, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task in self._tasks and task.get_name() in (
            "purge",
            "sequence",
            "translation warm-up",
            "acknowledgment resend",
        ):
            self._tasks.remove(task)  # periodic chores: do not keep every finished one
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
        """Each acknowledgment as a durable file in the partner's outbox folder.

        The acknowledgments of a burst share their flushes (a batch at a
        time, see :mod:`gateway.filebatch`): one fsync per file, done on the
        shared I/O threads, kept intake's quick reads and renames waiting.

        Raises:
            OSError: a file could not be written or the batch not flushed.
        """
        root = self.config.gateway.ack_dir or self.config.base_dir / "outbox"
        writer = self._ack_writer
        if writer is None:
            # Once, at the first acknowledgment, on the loop: a mkdir and a stat.
            root.mkdir(parents=True, exist_ok=True)
            writer = self._ack_writer = BatchWriter(
                FileBatch(str(root), self.config.journal.sync, make_folders=True)
            )
        folder = os.path.join(root, partner)
        pid = os.getpid()
        files = [
            PendingFile(
                os.path.join(folder, f".{message_id}-{kind}.edi.tmp-{pid}"),
                os.path.join(folder, f"{message_id}-{kind}.edi"),
                payload,
            )
            for kind, payload in acks
        ]
        for error in await writer.write(files):
            if error is not None:
                raise error

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
                self._spawn(self._audit("profiles_changed", self._profiles_detail()), "audit")

            loop.call_soon_threadsafe(swap)

        self._watch_stop = watch(folder, changed).stop

    async def main_loop(self) -> int:
        """Tick until asked to exit; returns the exit code."""
        assert self.journal is not None
        ping = watchdog_interval()
        last_ping = last_purge = last_sweep = 0.0
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
            if now - last_sweep > _SEQUENCE_SWEEP_SECONDS:
                last_sweep = now
                self._spawn(self._sweep_sequences(), "sequence")
            if self.reload_requested:
                self.reload_requested = False
                await self.reload()
            self._operations_tick(now)
        return EXIT_FAILURE if self._fatal is not None else EXIT_OK

    async def _sweep_sequences(self) -> None:
        assert self.journal is not None
        try:
            found = await self.journal.sweep_sequences(time.time() - _SEQUENCE_SWEEP_SECONDS)
        except JournalWriteError:
            raise
        except Exception:
            # A report, not the flow: keep running and say so.
            log.exception("interchange sequence sweep failed")
            return
        if found:
            log.warning("%d interchange control number(s) out of sequence; see edigate status", found)

    async def _purge(self) -> None:
        assert self.journal is not None
        cutoff = time.time() - self.config.journal.retention_days * 86400
        count, files = await self.journal.purge(cutoff)
        self.state.purged += count
        if count:
            log.info("retention: purged %d delivered message(s) and %d spool file(s)", count, files)
            await self._audit("purge", {"messages": count, "spool_files": files, "older_than": cutoff})

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
            await self._audit("reload", {"outcome": "refused", "problems": exc.problems[:20]})
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
        await self._audit("reload", {"outcome": "applied", **self._reload_detail(new_cfg)})
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
            owed = self.pipeline.stop_ack_retries()
            if owed:
                log.warning("%d message(s) still owe acknowledgments; the next start sends them", owed)
        if self.engine is not None:
            self.engine.stop()
            await self.engine.drain(timeout=10)
        await self._close()

    async def _close(self) -> None:
        await self._stop_operations()
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
        if self._ack_writer is not None:
            await self._ack_writer.drain()
            self._ack_writer.close()
            self._ack_writer = None
        # A cancelled intake or sink may have left a rename or fsync running.
        await asyncio.to_thread(io_pool.wait_idle, 30)
        if self.journal is not None:
            await asyncio.to_thread(self.journal.close)
            self.journal = None

    # ------------------------------------------------------------------ outbound (downlink)
    # Odoo pull → gateway.outbound (render with control numbers) → partner transports
    # (agent.partner) driven by the delivery engine, ordered per partner.

    def _outbound_sinks(self) -> dict[str, Sink]:
        """One delivery-engine sink per partner profile with a ``[delivery]`` table.

        A partner whose transport cannot be built (certificate missing...) is
        reported as a profile problem; its outbound documents are rejected
        with the reason until the profile is fixed and they are replayed.
        """
        from agent.partner import build_partner_sink

        from .outbound import as2_codec_for, partner_sink_name

        self._outbound_ordered: set[str] = set()
        partner_order: dict[str, bool | None] = {}  # sink name -> the profile's routing.ordered
        sinks: dict[str, Sink] = {}
        for profile in getattr(self.registry, "profiles", ()) or ():
            delivery = profile.model.delivery
            if delivery is None:
                continue
            name = partner_sink_name(profile.id)
            try:
                codec = (
                    as2_codec_for(profile, async_mdn_url=self._as2_public_url(), journal=self.journal)
                    if delivery.transport == "as2"
                    else None
                )
                tls_ca = profile.model.certificates.tls_ca
                sinks[name] = build_partner_sink(
                    name,
                    delivery.model_dump(),
                    profile.resolve_path,
                    as2_codec=codec,
                    mail_relay=self._mail_relay() if delivery.transport == "mail" else None,
                    tls_ca=profile.resolve_path(tls_ca) if tls_ca else None,
                )
            except ConfigError as exc:  # [mail] password_env not set
                problem = f"{profile.source_path}: delivery: {'; '.join(exc.problems)}"
                self.state.profile_errors.append(problem)
                log.warning("partner delivery not available: %s", problem)
                continue
            except (OSError, ValueError) as exc:
                problem = f"{profile.source_path}: delivery: {exc}"
                self.state.profile_errors.append(problem)
                log.warning("partner delivery not available: %s", problem)
                continue
            partner_order[name] = profile.model.routing.ordered
        # [delivery] ordered_sinks, by default every partner transport and every odoo sink: Odoo
        # needs a partner's documents in order too (a ship notice validates the picking of an
        # order that must already exist).  Partners still proceed in parallel.
        self._outbound_ordered = ordered_sink_names(self.config, partner_order)
        return sinks

    def _as2_public_url(self) -> str | None:
        return _as2_public_url(self.config)

    def _mail_relay(self) -> Any:
        """The ``[mail]`` relay as an ``agent.partner.MailRelay``; ``None`` without ``relay_host``.

        Raises:
            ConfigError: ``[mail] password_env`` names a variable that is not set.
        """
        from agent.partner import MailRelay

        m = self.config.mail
        if m.relay_host is None:
            return None
        return MailRelay(
            host=m.relay_host,
            port=m.relay_port,
            starttls=m.starttls,
            username=m.username,
            password=m.password(),
            envelope_sender=m.from_address,
            timeout=m.timeout_seconds,
        )

    async def _start_outbound(self) -> None:
        """Route outbound messages to gateway.outbound, resume them, start the Odoo pull."""
        from agent.downlink.nats import DOWNLINK_APPEND
        from agent.pull import PULLING, OdooPull

        from . import acktrack
        from .outbound import OUTBOUND_TRANSPORTS, OutboundProcessor

        assert self.journal is not None and self.pipeline is not None and self.engine is not None
        engine, journal, pipeline = self.engine, self.journal, self.pipeline
        outbound = OutboundProcessor(
            journal,
            registry=lambda: self.registry,
            on_queued=lambda d, sink, partner, mid: engine.enqueue(d, sink, partner=partner, message_id=mid),
            known_sinks=lambda: frozenset(self.sinks),
        )
        self.outbound = outbound
        inbound_submit = pipeline.submit

        def route(message_id: int) -> None:
            # The Odoo pull and the NATS downlink append under their flags; all else is an inbound file.
            if PULLING.get() or DOWNLINK_APPEND.get():
                outbound.submit(message_id)
            else:
                inbound_submit(message_id)

        def inbound_only(message_id: int) -> None:
            # pipeline.submit is also called by resume and replay: an outbound message goes back
            # to the outbound processor (one indexed read; these paths are rare).
            if outbound.claims(message_id):
                return
            row = journal.read_sync(
                lambda c: c.execute("SELECT transport FROM messages WHERE id = ?", (message_id,)).fetchone()
            )
            if row is not None and row[0] in OUTBOUND_TRANSPORTS:
                outbound.submit(message_id)
            else:
                inbound_submit(message_id)

        journal.on_received = route
        pipeline.submit = inbound_only  # type: ignore[method-assign]
        await outbound.resume()
        self._spawn(outbound.run(), "outbound")
        self._spawn(self._ack_tracking(acktrack.apply_acks), "ack tracking")
        pull = self._odoo_pull_settings()
        if pull is not None:
            transport, settings = pull
            self.pull = OdooPull(transport, journal, settings, on_appended=outbound.submit)
            self._spawn(self._run_pull(self.pull, transport), "odoo pull")

    async def _ack_tracking(self, apply: Any) -> None:
        assert self.journal is not None
        while True:
            await self.journal._run(apply)
            await asyncio.sleep(self.config.outbound.ack_check_interval_seconds)

    async def _run_pull(self, pull: Any, transport: Any) -> None:
        try:
            await pull.run()
        finally:
            await transport.aclose()

    def _odoo_pull_settings(self) -> tuple[Any, Any] | None:
        """The pull runs against ``[outbound] pull_sink`` (default: the first odoo sink).

        It pulls for the partners that sink's options give a ``partner_ref``,
        every ``[outbound] pull_interval_seconds``.  Only partners whose
        profile declares outbound documents and a transport are pulled for;
        without any, no pull runs.
        """
        from agent.pull import PullSettings
        from agent.sinks.odoo import OdooSinkConfig

        from .outbound import partner_sink_name

        chosen = self.config.outbound.pull_sink
        for sc in self.config.sinks:
            if sc.kind != "odoo" or (chosen is not None and sc.name != chosen):
                continue
            config = OdooSinkConfig.model_validate(sc.model_dump())
            refs = {}
            for partner, options in config.options.items():
                profile = self.registry.get(partner) if self.registry is not None else None
                if (
                    options.partner_ref
                    and profile is not None
                    and profile.documents(direction="outbound")
                    and partner_sink_name(partner) in self.sinks
                ):
                    refs[options.partner_ref] = partner
            if not refs:
                return None
            return config.build_transport(), PullSettings(
                partner_refs=refs, interval=self.config.outbound.pull_interval_seconds
            )
        return None

    # ------------------------------------------------------------------ FTP fetch (partner servers)
    # (agent/partner/ftp_schedule.py) Partners whose profile has [delivery] transport = "ftp"
    # with a [delivery.fetch] table are polled every interval_seconds: files are journaled
    # (transport "ftp", then translated like any upload), then deleted or moved on the server.
    # A failed poll is logged, kept in live_status()["ftp_fetch"] and noted as an
    # "ftp_fetch_error" event; it never stops the gateway.

    def _start_ftp_fetch(self) -> None:
        """Start the fetch scheduler; it reads the current registry on every tick."""
        from agent.partner.ftp_schedule import FtpFetchScheduler

        assert self.journal is not None
        self.ftp_fetch: Any = FtpFetchScheduler(lambda: self.registry, self.journal)
        self._spawn(self.ftp_fetch.run(), "ftp fetch")

    def _ftp_fetch_status(self) -> dict[str, Any]:
        scheduler = getattr(self, "ftp_fetch", None)
        return scheduler.status() if scheduler is not None else {}

    # ------------------------------------------------------------------ NATS downlink
    # (agent/downlink/nats.py) A durable JetStream pull consumer per nats sink with a
    # [sinks.downlink] table: each document is journaled (transport "nats", bytes in the
    # edigate.outbound/1 shape), acked after the fsync, and handed to partner delivery
    # (self.outbound, gateway/outbound.py), exactly like a document from the Odoo pull.

    async def _start_nats_downlinks(self) -> None:
        """Start the NATS downlinks and resume the documents a previous run journaled."""
        from agent.downlink.nats import DOWNLINK_APPEND, TRANSPORT, NatsDownlink
        from agent.sinks.nats import NatsSinkConfig

        configs = [
            NatsSinkConfig.model_validate(sc.model_dump())
            for sc in self.config.sinks
            if sc.kind == "nats" and (sc.model_extra or {}).get("downlink") is not None
        ]
        if not configs:
            return
        assert self.journal is not None
        journal = self.journal
        outbound = getattr(self, "outbound", None)
        hand_off = outbound.submit if outbound is not None else self._downlink_unrouted
        routed = journal.on_received

        def route(message_id: int) -> None:
            # The downlink hands its documents on itself (on_journaled): they are canonical
            # JSON for a partner, and must never reach the inbound EDI pipeline.
            if not DOWNLINK_APPEND.get() and routed is not None:
                routed(message_id)

        journal.on_received = route

        def left_received(c: Any) -> list[int]:
            return [
                int(r[0])
                for r in c.execute(
                    "SELECT id FROM messages WHERE transport = ? AND state = 'received' ORDER BY id",
                    (TRANSPORT,),
                )
            ]

        # Queued before pipeline.resume(), so outbound.claims() keeps them out of the EDI pipeline.
        for message_id in await journal.read(left_received):
            hand_off(message_id)

        def known_partner(partner: str) -> bool:
            return self.registry is not None and self.registry.get(partner) is not None

        self.downlinks = []
        for cfg in configs:
            downlink = NatsDownlink(cfg, journal, known_partner=known_partner, on_journaled=hand_off)
            self.downlinks.append(downlink)
            self._spawn(downlink.run(), f"nats downlink {cfg.name}")

    def _downlink_unrouted(self, message_id: int) -> None:
        log.warning("nats downlink: message %s journaled, but partner delivery is not running", message_id)

    # ------------------------------------------------------------------ operations

    def _start_operations(self) -> None:
        """Open the audit log and start the metrics server (if configured)."""
        self.audit = audit.AuditLog(self.config.gateway.state_dir / audit.LOG_NAME)
        listen = self.config.gateway.metrics_listen
        if listen is not None:
            self.metrics = metrics.GatewayMetrics()
            # Latency histograms start now: files taken from here on are observed.
            self._reset_metric_marks()
            try:
                host, port = self.metrics.start(listen)
            except (OSError, ValueError) as exc:
                raise GatewayError(f"gateway.metrics_listen: cannot serve on {listen}: {exc}") from exc
            log.info("metrics on http://%s:%d/metrics", host, port)

    def _reset_metric_marks(self) -> None:
        """Point the metrics' latency cursor at the journal's current end."""
        if self.metrics is not None and self.journal is not None:
            self.journal.read_sync(self.metrics.marks.reset)

    async def _stop_operations(self) -> None:
        task = self._ops_task
        if task is not None and not task.done():
            # Let a refresh in flight finish: its journal read must not outlive the journal.
            _, pending = await asyncio.wait({task}, timeout=15)
            for t in pending:
                t.cancel()
        if self.metrics is not None:
            self.metrics.stop()
            self.metrics = None

    def _operations_tick(self, now: float) -> None:
        """Every few seconds: refresh metrics and evaluate alerts, off the event loop."""
        if self.metrics is None and not self.config.alerts.enabled:
            return
        if self._ops_task is not None and not self._ops_task.done():
            return
        if now - self._ops_last < 2.0:
            return
        self._ops_last = now
        every = self.config.alerts.evaluate_seconds
        alerts_due = self.config.alerts.enabled and now - self._alerts_last >= every
        if alerts_due:
            self._alerts_last = now
        self._ops_task = asyncio.create_task(self._operations_once(alerts_due), name="operations")
        self._ops_task.add_done_callback(self._operations_done)

    def _operations_done(self, task: asyncio.Task[None]) -> None:
        # Metrics and alerts must never stop the gateway, but a failure is logged, not hidden.
        if not task.cancelled() and task.exception() is not None:
            log.error("metrics/alerts refresh failed: %s", task.exception(), exc_info=task.exception())

    async def _operations_once(self, alerts_due: bool) -> None:
        assert self.journal is not None
        live = self.live_status()
        cfg = self.config
        db_path = self.journal.db_path
        marks = self.metrics.marks if self.metrics is not None else None

        def query(c: Any) -> tuple[dict[str, Any], metrics.Snapshot | None]:
            out = status_view.collect(
                code=status_view.RUNNING,
                live=live,
                conn=c,
                now=time.time(),
                state_dir=cfg.gateway.state_dir,
                disk_floor_bytes=cfg.journal.min_free_mb * 1024 * 1024,
                configured_sinks=[s.name for s in cfg.sinks],
            )
            snap = None
            if marks is not None:
                summary = out["summary"]
                snap = metrics.read_figures(c, db_path=db_path, summary=summary, live=live, marks=marks)
            return out["summary"], snap

        summary, snap = await self.journal.read(query)
        if snap is not None and self.metrics is not None:
            self.metrics.update(snap)
        if alerts_due:
            notes = self.alerter.evaluate(summary, time.time())
            for n in notes:
                log.warning("alert %s: %s", n.kind.value, n.summary)
            for n, error in await alerts.send(cfg.alerts, notes):
                log.error("alert not sent (will retry): %s", error)
                self.alerter.failed(n)

    async def _audit(self, action: str, detail: dict[str, Any], *, actor: Any = None) -> None:
        """Append an audit record; a failure is logged as an error (the action already happened)."""
        if self.audit is None:
            return
        who = audit.current_actor()
        if isinstance(actor, dict):
            # Claimed by the CLI over the 0600 control socket: only our own user or root can send it.
            who = {**who, "requested_by": {k: actor.get(k) for k in ("uid", "user")}}
        try:
            await asyncio.to_thread(self.audit.append, action, detail, actor=who)
        except OSError as exc:
            log.error("audit log %s not written for %s: %s", self.audit.path, action, exc)

    def _profiles_detail(self) -> dict[str, Any]:
        import hashlib

        folder = self.config.gateway.partners_dir
        files = {}
        if folder.is_dir():
            for f in sorted(folder.glob("*.toml")):
                with contextlib.suppress(OSError):
                    files[f.name] = hashlib.sha256(f.read_bytes()).hexdigest()
        return {"partners_dir": str(folder), "profiles": files, "problems": self.state.profile_errors[:20]}

    def _reload_detail(self, new_cfg: Config) -> dict[str, Any]:
        import hashlib

        old, new = self.config.model_dump(exclude={"path"}), new_cfg.model_dump(exclude={"path"})
        path = new_cfg.path
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path is not None and path.exists() else None
        return {
            "config": str(path),
            "config_sha256": digest,
            "changed_sections": sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k)),
            **self._profiles_detail(),
        }

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
        sources = [_source_status(s) for s in self.sources]
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
            "ftp_fetch": self._ftp_fetch_status(),
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
        await self._audit(
            "replay",
            {"all": bool(request.get("all")), "results": done, "via": "control socket"},
            actor=request.get("actor"),
        )
        return {"ok": True, "replayed": done}


def odoo_reconcile_link(
    cfg: Config,
) -> tuple[list[str], dict[str, str], Any, type[Exception]] | None:
    """For ``edigate reconcile``: odoo sink names, partner → ``res.partner.ref``, a transport,
    and the error type the transport raises when Odoo cannot answer.

    Lives here because only the composition root may import the agent.
    Returns None when no odoo sink is configured.
    """
    from agent import DeliveryError
    from agent.sinks.odoo import OdooSinkConfig

    names: list[str] = []
    refs: dict[str, str] = {}
    transport: Any = None
    for sc in cfg.sinks:
        if sc.kind != "odoo":
            continue
        config = OdooSinkConfig.model_validate(sc.model_dump())
        names.append(config.name)
        refs.update({p: o.partner_ref for p, o in config.options.items() if o.partner_ref})
        if transport is None:
            transport = config.build_transport()
    if transport is None:
        return None
    return names, refs, transport, DeliveryError


def _source_status(source: SourceLike) -> dict[str, Any]:
    """A source's own status, or what every listener can tell: kind, address, counters."""
    own = getattr(source, "status", None)
    if own is not None:
        result: dict[str, Any] = own()
        return result
    settings = getattr(source, "settings", None) or getattr(source, "config", None)
    host = getattr(settings, "host", None)
    port = getattr(source, "bound_port", None)
    out: dict[str, Any] = {
        "name": source.name,
        "kind": getattr(settings, "kind", "-"),
        "listening": f"{host}:{port}" if port is not None else "not listening",
    }
    stats = getattr(source, "stats", None)
    if stats is not None and hasattr(stats, "__dataclass_fields__"):
        counters = {k: getattr(stats, k) for k in stats.__dataclass_fields__}
        out["counters"] = counters
        out["taken"] = counters.get("received", "-")
        out["refused"] = counters.get("rejected", "-")
    return out


def run(config: Config) -> int:
    """Run the daemon in the foreground; returns the exit code."""
    daemon = Daemon(config, tune_collector=True)
    try:
        return asyncio.run(daemon.serve())
    except JournalWriteError as exc:
        log.error("journal write failed: %s", exc)
        return EXIT_FAILURE


__all__ = ["VERSION", "Daemon", "GatewayState", "check_config", "run"]
