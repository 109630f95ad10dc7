"""The downlink's settings: ``[delivery] ordered_sinks``, ``[routing] ordered``, ``[outbound]``, ``[mail]``.

Each setting is checked where it takes effect: the daemon is started in
process (loopback only) and its delivery engine, Odoo pull and partner
transports are inspected; the mail transport built from ``[mail]`` hands a
partner file to a real aiosmtpd relay on 127.0.0.1 (with AUTH and the
envelope sender from the config).  Each validation problem is checked
through ``edigate validate --json``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import sqlite3
import subprocess
import sys
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from agent.sinks.base import Delivery
from gateway.config import load_config
from gateway.daemon import Daemon, check_config
from gateway.errors import ConfigError
from tests.support import odoo_outbound as ob
from tests.support.partner_peers import free_port

EDI = b"ISA*00*          *00*          *ZZ*OURWAREHOUSE   *ZZ*MAILCO         *261129*1200*U*00401*~\n"


def _profile(folder: Path, pid: str, *, ordered: bool | None = None, delivery: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    routing = "" if ordered is None else f"\n[routing]\nordered = {str(ordered).lower()}\n"
    table = delivery or f'transport = "directory"\npath = "{folder.parent / "to" / pid}"'
    (folder / f"{pid}.toml").write_text(
        f'id = "{pid}"\nname = "Partner {pid}"\n\n[identities]\ninbox = "{pid}"\n{routing}\n'
        f"[delivery]\n{table}\n",
        encoding="utf-8",
    )


def _config(root: Path, *, delivery: str = "", extra: str = "", odoo: str = "") -> Path:
    cfg = root / "edigate.toml"
    cfg.write_text(
        f"""
[gateway]
state_dir = "state"
partners_dir = "partners.d"
default_sinks = ["local"]
control_socket = "state/c.sock"

[journal]
min_free_mb = 1

[pipeline]
processes = 0

[delivery]
backoff_initial_seconds = 0.05
{delivery}

[[sinks]]
name = "local"
kind = "directory"
path = "out"
{odoo}
{extra}
""",
        encoding="utf-8",
    )
    (root / "partners.d").mkdir(exist_ok=True)
    return cfg


def _odoo_sink(name: str, ref: str) -> str:
    # Nothing listens on port 9 of loopback: the pull only needs to be built, not to reach Odoo.
    return f"""
[[sinks]]
name = "{name}"
kind = "odoo"
url = "http://127.0.0.1:9"
database = "edi"
login = "gateway"
secret_env = "TEST_ODOO_SECRET"

[sinks.options.acme]
partner_ref = "{ref}"
"""


async def _started(cfg: Path) -> Daemon:
    daemon = Daemon(load_config(cfg))
    await daemon.startup()
    return daemon


def _nothing(c: sqlite3.Connection) -> None:
    """A journal write that writes nothing (module-level: the writer process must unpickle it)."""


def _run_daemon(cfg: Path, check: Any) -> Any:
    """Start the daemon in process, hand it to ``check``, shut it down."""

    async def scenario() -> Any:
        daemon = await _started(cfg)
        try:
            # Let the writes startup queued (the first acknowledgment pass) commit first: the
            # journal writer thread fails when an in-flight write is cancelled by a quick shutdown.
            await asyncio.sleep(0)
            assert daemon.journal is not None
            await daemon.journal._run(_nothing)
            result = check(daemon)
            if asyncio.iscoroutine(result):
                result = await result
            return result
        finally:
            await daemon.shutdown()

    return asyncio.run(scenario())


def _ordered(daemon: Daemon) -> dict[str, bool]:
    assert daemon.engine is not None
    return {name: lane.ordered for name, lane in daemon.engine.lanes.items()}


@pytest.fixture(autouse=True)
def _odoo_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_ODOO_SECRET", "s3cret")


# ----------------------------------------------------------------------------- ordering


def test_default_orders_odoo_and_partner_transports_and_a_profile_can_opt_out(tmp_path: Path) -> None:
    cfg = _config(tmp_path, odoo=_odoo_sink("odoo", "ACME01"))
    _profile(tmp_path / "partners.d", "alpha")
    _profile(tmp_path / "partners.d", "beta", ordered=False)
    lanes = _run_daemon(cfg, _ordered)
    assert lanes == {"local": False, "odoo": True, "partner:alpha": True, "partner:beta": False}


def test_ordered_sinks_replaces_the_default_and_a_profile_can_opt_in(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path, delivery='ordered_sinks = ["local", "partner:beta"]', odoo=_odoo_sink("odoo", "ACME01")
    )
    _profile(tmp_path / "partners.d", "alpha")
    _profile(tmp_path / "partners.d", "beta")
    _profile(tmp_path / "partners.d", "gamma", ordered=True)
    _profile(tmp_path / "partners.d", "delta", ordered=False)
    lanes = _run_daemon(cfg, _ordered)
    assert lanes == {
        "local": True,
        "odoo": False,
        "partner:alpha": False,
        "partner:beta": True,
        "partner:gamma": True,
        "partner:delta": False,
    }


# ----------------------------------------------------------------------------- [outbound]


def _acme_with_outbound_documents(root: Path) -> None:
    folder = root / "partners.d"
    folder.mkdir(exist_ok=True)
    drop = f'[delivery]\ntransport = "directory"\npath = "{root / "to-acme"}"\n'
    (folder / "acme.toml").write_text(ob.x12_profile(delivery=drop), encoding="utf-8")


def _pull(daemon: Daemon) -> tuple[dict[str, str], float]:
    pull = getattr(daemon, "pull", None)
    assert pull is not None, "no Odoo pull was started"
    return dict(pull.settings.partner_refs), pull.settings.interval


def test_pull_defaults_to_the_first_odoo_sink_every_30_seconds(tmp_path: Path) -> None:
    cfg = _config(tmp_path, odoo=_odoo_sink("erp1", "FIRST") + _odoo_sink("erp2", "SECOND"))
    _acme_with_outbound_documents(tmp_path)
    assert _run_daemon(cfg, _pull) == ({"FIRST": "acme"}, 30.0)


def test_pull_sink_and_pull_interval_are_used(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        odoo=_odoo_sink("erp1", "FIRST") + _odoo_sink("erp2", "SECOND"),
        extra='[outbound]\npull_sink = "erp2"\npull_interval_seconds = 7.5\n',
    )
    _acme_with_outbound_documents(tmp_path)
    assert _run_daemon(cfg, _pull) == ({"SECOND": "acme"}, 7.5)


class _CountingJournal:
    def __init__(self) -> None:
        self.runs = 0

    async def _run(self, fn: Any) -> None:
        self.runs += 1


@pytest.mark.parametrize(
    ("table", "at_least", "at_most"), [("", 1, 1), ("ack_check_interval_seconds = 0.05", 4, 20)]
)
def test_ack_check_interval_is_used(tmp_path: Path, table: str, at_least: int, at_most: int) -> None:
    daemon = Daemon(load_config(_config(tmp_path, extra=f"[outbound]\n{table}\n")))
    journal = _CountingJournal()
    daemon.journal = journal  # type: ignore[assignment]

    async def scenario() -> None:
        task = asyncio.create_task(daemon._ack_tracking(lambda c: None))
        await asyncio.sleep(0.4)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert at_least <= journal.runs <= at_most


# ----------------------------------------------------------------------------- [mail]


class _Relay:
    """aiosmtpd handler and authenticator: accepts user ``edigate`` with ``relay-pw`` only."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes, bool]] = []
        self.logins: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.content, session.authenticated)
        )
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            b"edigate",
            b"relay-pw",
        )
        if ok:
            self.logins.append(auth_data.login)
        return AuthResult(success=ok)


def _mail_delivery() -> Delivery:
    env = {
        "schema": "edigate.partner-file/1",
        "file_name": "mailco-856-000000007.x12",
        "content_type": "application/edi-x12",
        "document_type": "ship_notice",
        "interchange_control": "7",
        "content_b64": base64.b64encode(EDI).decode(),
        "sha256": hashlib.sha256(EDI).hexdigest(),
        "size": len(EDI),
    }
    return Delivery(
        delivery_id=1,
        idempotency_key="k",
        partner="mailco",
        document_type="ship_notice",
        envelope=env,
        body=b"",
    )


_MAIL_PROFILE = 'transport = "mail"\nto = ["edi@mailco.example"]\nsender = "edi@site.example"'


def test_mail_partner_built_from_the_mail_section_reaches_a_real_relay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = _Relay()
    controller = Controller(
        relay,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=relay.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        monkeypatch.setenv("TEST_RELAY_PASSWORD", "relay-pw")
        cfg = _config(
            tmp_path,
            extra=f"""
[mail]
relay_host = "127.0.0.1"
relay_port = {controller.port}
username = "edigate"
password_env = "TEST_RELAY_PASSWORD"
from_address = "bounces@site.example"
timeout_seconds = 10
""",
        )
        _profile(tmp_path / "partners.d", "mailco", delivery=_MAIL_PROFILE)

        async def deliver(daemon: Daemon) -> list[str]:
            await daemon.sinks["partner:mailco"].deliver(_mail_delivery())
            return list(daemon.state.profile_errors)

        assert _run_daemon(cfg, deliver) == []
    finally:
        controller.stop()
    [(mail_from, rcpt, content, authenticated)] = relay.received
    assert (mail_from, rcpt, authenticated) == ("bounces@site.example", ["edi@mailco.example"], True)
    assert relay.logins == [b"edigate"]
    msg = message_from_bytes(content)
    assert msg["From"] == "edi@site.example"
    [part] = [p for p in msg.walk() if p.get_filename()]
    assert part.get_filename() == "mailco-856-000000007.x12"
    assert part.get_payload(decode=True) == EDI


def test_mail_partner_without_a_relay_or_password_is_a_profile_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _profile(tmp_path / "partners.d", "mailco", delivery=_MAIL_PROFILE)

    def state(daemon: Daemon) -> tuple[bool, list[str]]:
        return "partner:mailco" in daemon.sinks, list(daemon.state.profile_errors)

    built, errors = _run_daemon(_config(tmp_path), state)
    assert not built and any("[mail] relay_host" in e for e in errors), errors
    monkeypatch.delenv("TEST_RELAY_PASSWORD", raising=False)
    cfg = _config(
        tmp_path,
        extra='[mail]\nrelay_host = "127.0.0.1"\nusername = "u"\npassword_env = "TEST_RELAY_PASSWORD"\n',
    )
    built, errors = _run_daemon(cfg, state)
    assert not built and any("TEST_RELAY_PASSWORD is not set" in e for e in errors), errors


# ----------------------------------------------------------------------------- validation


def _validate(cfg: Path) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "validate", "--json", "--config", str(cfg)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    out = json.loads(proc.stdout)
    assert proc.returncode == (0 if out["valid"] else 78), proc.stderr
    return list(out["problems"])


def test_validate_accepts_good_downlink_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_RELAY_PASSWORD", "pw")
    cfg = _config(
        tmp_path,
        delivery='ordered_sinks = ["odoo", "partner:mailco"]',
        odoo=_odoo_sink("odoo", "ACME01"),
        extra='[outbound]\npull_sink = "odoo"\n\n[mail]\nrelay_host = "127.0.0.1"\n'
        'username = "u"\npassword_env = "TEST_RELAY_PASSWORD"\n',
    )
    _profile(tmp_path / "partners.d", "mailco", delivery=_MAIL_PROFILE)
    assert _validate(cfg) == []


def test_validate_reports_unknown_sink_names(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        delivery='ordered_sinks = ["odo", "partner:nobody"]',
        odoo=_odoo_sink("odoo", "ACME01"),
        extra='[outbound]\npull_sink = "erp"\n',
    )
    problems = _validate(cfg)
    assert len(problems) == 2, problems
    assert "delivery.ordered_sinks: 'odo' is not a configured sink" in problems[0]
    assert "outbound.pull_sink: 'erp' is not a configured sink (odoo sinks: ['odoo'])" in problems[1]
    # partner:<id> names are checked against the profiles once the config itself loads
    cfg = _config(
        tmp_path, delivery='ordered_sinks = ["partner:nobody"]', extra='[outbound]\npull_sink = "local"\n'
    )
    problems = _validate(cfg)
    assert len(problems) == 1 and "outbound.pull_sink: 'local' is a directory sink, not odoo" in problems[0]
    cfg = _config(tmp_path, delivery='ordered_sinks = ["partner:nobody"]')
    _profile(tmp_path / "partners.d", "alpha")
    assert _validate(cfg) == [
        "delivery.ordered_sinks: 'partner:nobody' is not a partner transport "
        "(partners with [delivery]: ['partner:alpha'])"
    ]


def test_validate_reports_mail_partners_without_a_relay_and_bad_mail_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _profile(tmp_path / "partners.d", "mailco", delivery=_MAIL_PROFILE)
    [problem] = _validate(_config(tmp_path))
    assert "mailco.toml: delivery: transport mail needs a relay: set [mail] relay_host" in problem
    monkeypatch.delenv("TEST_RELAY_PASSWORD", raising=False)
    cfg = _config(
        tmp_path,
        extra='[mail]\nrelay_host = "127.0.0.1"\nusername = "u"\npassword_env = "TEST_RELAY_PASSWORD"\n',
    )
    assert _validate(cfg) == ["mail.password_env: environment variable TEST_RELAY_PASSWORD is not set"]
    cfg = _config(tmp_path, extra='[mail]\nrelay_host = "127.0.0.1"\nusername = "u"\npassword = "inline"\n')
    [problem] = _validate(cfg)
    assert problem.endswith("mail.password: Extra inputs are not permitted"), problem
    [problem] = _validate(_config(tmp_path, extra='[mail]\nrelay_host = "127.0.0.1"\nusername = "u"\n'))
    assert "mail: Value error, username needs password_env" in problem, problem


def test_check_config_reports_references_of_a_config_built_in_code(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path))
    cfg.delivery = cfg.delivery.model_copy(update={"ordered_sinks": ["nope"]})
    problems = check_config(cfg, environment=False)
    assert any("delivery.ordered_sinks: 'nope' is not a configured sink" in p for p in problems), problems


def test_load_config_refuses_unknown_names_before_the_daemon_starts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, extra='[outbound]\npull_sink = "missing"\n'))
    assert len(info.value.problems) == 1 and "outbound.pull_sink" in info.value.problems[0]
