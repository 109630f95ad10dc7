"""The gateway's one TOML configuration file, as data.

Config is plain data (like uvicorn's ``Config``); the :class:`~gateway.daemon.Daemon`
owns the runtime.  Every relative path is resolved against the folder of the
config file.  Loading reports every problem at once, each as
``file: key: reason``.
"""

from __future__ import annotations

import importlib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .alerts import AlertsSection
from .errors import ConfigError
from .filebatch import SyncMode

DEFAULT_CONFIG = Path("/etc/edigate/edigate.toml")

#: source kinds and the module:class of their settings model, imported lazily
SOURCE_KINDS: dict[str, str] = {
    "directory": "gateway.sources.dirwatch:DirectorySourceConfig",
    "sftp": "gateway.sources.sftp:SftpSettings",
    "smtp": "gateway.sources.smtp:SmtpSettings",
    "as2": "gateway.sources.as2:As2SourceConfig",
    "ftp": "gateway.sources.ftp:FtpSourceConfig",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GatewaySection(_Strict):
    """``[gateway]``: identity and where state lives."""

    site: str = Field(default="site", description="site name, used in NATS subjects and logs")
    state_dir: Path = Field(default=Path("state"), description="journal, spool, control socket")
    partners_dir: Path = Field(default=Path("partners.d"), description="one TOML profile per partner")
    control_socket: Path | None = Field(default=None, description="default: STATE_DIR/edigate.sock")
    default_sinks: list[str] = Field(default_factory=list, description="sinks for partners that name none")
    ack_dir: Path | None = Field(
        default=None, description="acknowledgments for partners land in ACK_DIR/<partner>/ (default: outbox)"
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    metrics_listen: str | None = Field(default=None, description="host:port for Prometheus, loopback only")

    @property
    def socket_path(self) -> Path:
        """The control socket's path."""
        return self.control_socket or self.state_dir / "edigate.sock"


class JournalSection(_Strict):
    """``[journal]``: durability limits and retention."""

    retention_days: float = Field(default=30, gt=0, description="purge delivered messages after this age")
    min_free_mb: int = Field(default=256, ge=0, description="refuse intake below this much free space")
    max_message_mb: float = Field(default=256, gt=0, description="largest file accepted")
    writer: Literal["process", "thread"] = Field(
        default="process",
        description="where the database writer runs: its own process (faster under load) or a daemon thread",
    )
    sync: SyncMode = Field(
        default="auto",
        description="how spool files are made durable: 'filesystem' flushes each batch with syncfs "
        "(Linux; the state folder's whole filesystem is flushed), 'file' fsyncs every file and folder; "
        "'auto' picks 'filesystem' where the platform has it",
    )


class PipelineSection(_Strict):
    """``[pipeline]``: translation workers."""

    workers: int = Field(
        default=128, ge=1, le=1024, description="messages translated at once; they share fsyncs"
    )
    max_inflight_mb: int = Field(
        default=256, ge=1, description="raw bytes of the messages being translated at once, in MiB"
    )
    processes: int | None = Field(
        default=None, ge=0, le=64, description="translation processes; default one per core, 0 = threads"
    )
    inline_max_kb: int | None = Field(
        default=None,
        ge=0,
        le=1024,
        description="files up to this size translate in the daemon itself; default 0 with translation "
        "processes (small files go to them in batches), 16 with processes = 0 (a thread costs more than "
        "translating a small file)",
    )
    batch_max_kb: int = Field(
        default=64,
        ge=0,
        le=16 * 1024,
        description="files up to this size (and over inline_max_kb) go to the translation processes "
        "many at a time: a burst costs one round trip per batch, not per file; 0 sends each on its own",
    )

    def inline_max_bytes(self) -> int:
        """``inline_max_kb`` in bytes, its default resolved."""
        if self.inline_max_kb is not None:
            return self.inline_max_kb * 1024
        return 16 * 1024 if self.processes == 0 else 0


class DeliverySection(_Strict):
    """``[delivery]``: retry policy shared by every sink unless it overrides it."""

    max_attempts: int = Field(default=25, ge=1)
    max_age_hours: float = Field(default=72, gt=0)
    backoff_initial_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=600.0, gt=0)
    concurrency: int = Field(default=32, ge=1, le=512, description="attempts in flight per sink")
    breaker_failures: int = Field(default=5, ge=1, description="consecutive failures that open the circuit")
    breaker_reset_seconds: float = Field(default=30.0, gt=0)
    ordered_sinks: list[str] | None = Field(
        default=None,
        description=(
            "sinks that deliver each partner's documents in journal order: names of [[sinks]] or "
            "partner transports (partner:<id>); default every odoo sink and every partner transport"
        ),
    )


class MailSection(_Strict):
    """``[mail]``: the site's SMTP relay, used by partners delivered by mail.

    The password is read from the environment variable ``password_env``
    names, never from this file.  (``[alerts]`` keeps its own relay keys.)
    """

    relay_host: str | None = Field(default=None, min_length=1, description="SMTP relay; unset = no mail")
    relay_port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = Field(default=False, description="upgrade the session with STARTTLS")
    username: str | None = Field(default=None, min_length=1, description="AUTH user; unset = no AUTH")
    password_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="environment variable holding the password",
    )
    from_address: str | None = Field(
        default=None,
        pattern=r"^[^@\s]+@[^@\s]+$",
        description="envelope sender (MAIL FROM) for partner mail; default each profile's sender",
    )
    timeout_seconds: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _auth_pair(self) -> Self:
        if self.username is not None and self.password_env is None:
            raise ValueError("username needs password_env (the password comes from the environment)")
        if self.password_env is not None and self.username is None:
            raise ValueError("password_env needs username")
        return self

    def password(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The relay password from the environment (``None`` without ``password_env``).

        Raises:
            ConfigError: ``password_env`` names a variable that is not set.
        """
        if self.password_env is None:
            return None
        value = (os.environ if environ is None else environ).get(self.password_env)
        if value is None:
            raise ConfigError([f"mail.password_env: environment variable {self.password_env} is not set"])
        return value


class OutboundSection(_Strict):
    """``[outbound]``: the Odoo pull and acknowledgment tracking of the downlink."""

    pull_interval_seconds: float = Field(default=30.0, gt=0, description="seconds between Odoo polls")
    ack_check_interval_seconds: float = Field(
        default=30.0, gt=0, description="seconds between applying partner acknowledgments"
    )
    pull_sink: str | None = Field(default=None, description="odoo sink the pull reads; default the first")


class SinkConfig(BaseModel):
    """``[[sinks]]``: one destination; the agent validates kind-specific keys."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    kind: str


class Config(_Strict):
    """The whole configuration file."""

    gateway: GatewaySection = Field(default_factory=GatewaySection)
    journal: JournalSection = Field(default_factory=JournalSection)
    pipeline: PipelineSection = Field(default_factory=PipelineSection)
    delivery: DeliverySection = Field(default_factory=DeliverySection)
    alerts: AlertsSection = Field(default_factory=AlertsSection)
    mail: MailSection = Field(default_factory=MailSection)
    outbound: OutboundSection = Field(default_factory=OutboundSection)
    sources: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    sinks: list[SinkConfig] = Field(default_factory=list)

    #: where the file was read from (not part of the TOML)
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("sources")
    @classmethod
    def _known_kinds(cls, value: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        unknown = sorted(set(value) - set(SOURCE_KINDS))
        if unknown:
            raise ValueError(f"unknown source kind(s) {unknown}; known: {sorted(SOURCE_KINDS)}")
        return value

    @property
    def base_dir(self) -> Path:
        """The folder relative paths are resolved against."""
        return self.path.parent if self.path else Path.cwd()

    def reference_problems(self) -> list[str]:
        """Names in ``[delivery]`` and ``[outbound]`` that no ``[[sinks]]`` entry defines.

        ``partner:<id>`` names in ``ordered_sinks`` are checked against the
        profiles by ``edigate validate`` (:func:`gateway.daemon.check_config`).
        """
        where = str(self.path or "config")
        problems: list[str] = []
        kinds = {sc.name: sc.kind for sc in self.sinks}
        for name in self.delivery.ordered_sinks or ():
            if name not in kinds and not name.startswith("partner:"):
                problems.append(
                    f"{where}: delivery.ordered_sinks: {name!r} is not a configured sink "
                    f"(sinks: {sorted(kinds) or 'none'}; partner transports are partner:<id>)"
                )
        pull = self.outbound.pull_sink
        if pull is not None:
            odoo = sorted(n for n, k in kinds.items() if k == "odoo")
            if pull not in kinds:
                problems.append(
                    f"{where}: outbound.pull_sink: {pull!r} is not a configured sink "
                    f"(odoo sinks: {odoo or 'none'})"
                )
            elif kinds[pull] != "odoo":
                problems.append(
                    f"{where}: outbound.pull_sink: {pull!r} is a {kinds[pull]} sink, not odoo "
                    f"(odoo sinks: {odoo or 'none'})"
                )
        return problems

    def source_models(self) -> tuple[list[BaseModel], list[str]]:
        """Build each source's settings model; returns (models, problems)."""
        models: list[BaseModel] = []
        problems: list[str] = []
        where = str(self.path or "config")
        for kind, tables in self.sources.items():
            try:
                model_cls = _load_model(SOURCE_KINDS[kind])
            except (ImportError, AttributeError) as exc:
                problems.append(f"{where}: sources.{kind}: this build has no {kind} source ({exc})")
                continue
            for i, table in enumerate(tables):
                try:
                    model = model_cls.model_validate({"kind": kind, **table})
                except ValidationError as exc:
                    problems.extend(_pydantic_problems(where, f"sources.{kind}[{i}]", exc))
                    continue
                model = _resolve_paths(model, self.base_dir)
                problems.extend(_private_file_problems(where, f"sources.{kind}[{i}]", model))
                models.append(model)
        return models, problems


def _private_file_problems(where: str, prefix: str, model: BaseModel) -> list[str]:
    """Secret files of a source that group or others can read (OpenSSH's ``StrictModes`` rule).

    A settings model lists its secret files with ``private_files()``, which
    returns ``(key, path, what)`` triples: the TLS private key of a listener,
    for instance.  Keys a source checks itself when it loads them (AS2
    decryption and signing keys, the SFTP host key) are not listed there.
    """
    private_files = getattr(model, "private_files", None)
    if private_files is None:
        return []
    from partners.permissions import private_file_problem  # the one check, shared with profiles and agent

    out: list[str] = []
    for key, path, what in private_files():
        problem = private_file_problem(path, what)
        if problem is not None:
            out.append(f"{where}: {prefix}.{key}: {problem}")
    return out


def _load_model(ref: str) -> type[BaseModel]:
    module, _, name = ref.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
        raise AttributeError(f"{ref} is not a settings model")
    return cls


def _resolve_paths(model: BaseModel, base: Path) -> BaseModel:
    """Make every relative Path in the model (nested models and lists too) absolute."""
    updates: dict[str, Any] = {}
    for name, value in model:
        new = _resolve_value(value, base)
        if new is not value:
            updates[name] = new
    return model.model_copy(update=updates) if updates else model


def _resolve_value(value: Any, base: Path) -> Any:
    if isinstance(value, Path):
        return value if value.is_absolute() else base / value
    if isinstance(value, BaseModel):
        return _resolve_paths(value, base)
    if isinstance(value, list):
        items = [_resolve_value(v, base) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value


def _pydantic_problems(where: str, prefix: str, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        key = f"{prefix}.{loc}" if prefix and loc else prefix or loc
        out.append(f"{where}: {key}: {err['msg']}")
    return out


def default_config_path() -> Path:
    """``$EDIGATE_CONFIG`` if set, else ``/etc/edigate/edigate.toml``."""
    env = os.environ.get("EDIGATE_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def load_config(path: Path) -> Config:
    """Read and validate the configuration file.

    Raises:
        ConfigError: the file is missing, not TOML, or invalid; lists every problem.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found (set --config or EDIGATE_CONFIG)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_pydantic_problems(str(path), "", exc)) from exc
    cfg = cfg.model_copy(update={"path": path.resolve()})
    base = cfg.base_dir
    g = cfg.gateway
    cfg.gateway = g.model_copy(
        update={
            "state_dir": _abs(base, g.state_dir),
            "partners_dir": _abs(base, g.partners_dir),
            "control_socket": _abs(base, g.control_socket) if g.control_socket else None,
            "ack_dir": _abs(base, g.ack_dir) if g.ack_dir else None,
        }
    )
    resolved_sinks = []
    for sink in cfg.sinks:
        extra = _resolve_file_keys(dict(sink.model_extra or {}), base)
        resolved_sinks.append(SinkConfig.model_validate({"name": sink.name, "kind": sink.kind, **extra}))
    cfg.sinks = resolved_sinks
    references = cfg.reference_problems()
    if references:
        raise ConfigError(references)
    return cfg


def _resolve_file_keys(table: dict[str, Any], base: Path) -> dict[str, Any]:
    """Resolve ``path`` and ``*_file`` keys of a sink table, nested tables (``[sinks.tls]``) included."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out[key] = _resolve_file_keys(value, base)
        elif isinstance(value, str) and value and (key == "path" or key.endswith(("_file", "_dir"))):
            out[key] = str(_abs(base, Path(value)))
        else:
            out[key] = value
    return out


def _abs(base: Path, p: Path) -> Path:
    return p if p.is_absolute() else base / p


__all__ = [
    "DEFAULT_CONFIG",
    "SOURCE_KINDS",
    "Config",
    "DeliverySection",
    "GatewaySection",
    "JournalSection",
    "MailSection",
    "OutboundSection",
    "PipelineSection",
    "SinkConfig",
    "default_config_path",
    "load_config",
]
