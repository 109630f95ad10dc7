"""FTP/FTPS source with accounts from partner profiles (``[identities.ftp]``), real lftp and curl.

The source is built as the daemon builds it (``RegistryFtpAccounts`` over the
current registry snapshot, the config list as fallback), over a registry loaded
from real profile files; the clients are the Debian ``lftp`` and ``curl``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from gateway.sources.ftp import (
    ConfigFtpAccounts,
    FtpAccountConfig,
    FtpSource,
    FtpSourceConfig,
    RegistryFtpAccounts,
)
from gateway.sources.sftp import hash_password
from partners import Registry, load_registry
from tests.gateway.test_source_ftp import PASSWORD, SAMPLE, Env, Running, free_port_range, sha

CONFIG_PASSWORD = "config-Pa55"


def write_profile(folder: Path, pid: str, body: str) -> None:
    path = folder / f"{pid}.toml"
    path.write_text(f'id = "{pid}"\nname = "Partner {pid}"\n{body}', encoding="utf-8")
    path.chmod(0o600)  # it holds a password hash


class Snapshot:
    """The daemon's ``lambda: self.registry``: swapped on reload."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.registry: Registry = self.reload()

    def reload(self) -> Registry:
        registry, errors = load_registry(self.folder)
        assert errors == [], errors
        self.registry = registry
        return registry


@pytest.fixture
def profiles_env(tmp_path: Path) -> Iterator[tuple[Env, Snapshot]]:
    partners_dir = tmp_path / "partners.d"
    partners_dir.mkdir()
    write_profile(
        partners_dir,
        "acme",
        f'[identities.ftp]\nuser = "acme-ftp"\npassword_hash = "{hash_password(PASSWORD)}"\n',
    )
    snapshot = Snapshot(partners_dir)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(str(key_file))
    key_file.chmod(0o600)
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    ca.cert_pem.write_to_path(str(ca_file))
    settings = FtpSourceConfig(
        name="ftp-profiles",
        host="127.0.0.1",
        port=0,
        roots_dir=tmp_path / "roots",
        cert_file=cert_file,
        key_file=key_file,
        passive_ports=free_port_range(20),
        auth_failure_delay=0.0,
        shutdown_grace=5.0,
        accounts=(
            FtpAccountConfig(user="cfg-only", partner="cfg", password_hash=hash_password(CONFIG_PASSWORD)),
            # a stale config entry for a user a profile now owns: the profile wins
            FtpAccountConfig(user="acme-ftp", partner="stale", password_hash=hash_password(CONFIG_PASSWORD)),
        ),
    )
    accounts = RegistryFtpAccounts(lambda: snapshot.registry, ConfigFtpAccounts(settings.accounts))
    work = tmp_path / "work"
    work.mkdir()
    running = Running(FtpSource(settings, accounts), tmp_path / "state").start()
    try:
        yield Env(work, tmp_path / "roots", tmp_path / "state", ca_file, running), snapshot
    finally:
        running.stop()


def test_profile_account_logs_in_over_ftps_and_uploads_are_the_partners(
    profiles_env: tuple[Env, Snapshot],
) -> None:
    env, snapshot = profiles_env
    data = SAMPLE.read_bytes()
    shutil.copy(SAMPLE, env.work / "po.edi")
    put = env.lftp("put po.edi -o /inbound/po.edi", user="acme-ftp")
    assert put.returncode == 0, put.stderr
    assert env.rows() == [("po.edi", "acme", sha(data), "received")]  # partner id from the profile
    assert env.inbound("acme-ftp") == []

    # the stale config password does not open the profile's account
    stale = env.curl("-T", "po.edi", env.url("/inbound/stale.edi"), user="acme-ftp", password=CONFIG_PASSWORD)
    assert stale.returncode != 0 and "530" in stale.stderr, stale.stderr
    # a user no profile claims falls back to the config list
    cfg = env.curl("-T", "po.edi", env.url("/inbound/cfg.edi"), user="cfg-only", password=CONFIG_PASSWORD)
    assert cfg.returncode == 0, cfg.stderr
    # TLS is required: the profile does not say allow_plain
    plain = env.lftp("ls /inbound", user="acme-ftp", tls=False)
    assert plain.returncode != 0

    # a reload that removes the account closes it to new logins
    (snapshot.folder / "acme.toml").write_text('id = "acme"\nname = "Partner acme"\n', encoding="utf-8")
    snapshot.reload()
    gone = env.curl("-T", "po.edi", env.url("/inbound/late.edi"), user="acme-ftp")
    assert gone.returncode != 0 and "530" in gone.stderr, gone.stderr

    rows = env.rows()
    assert [(r[0], r[1]) for r in rows] == [("po.edi", "acme"), ("cfg.edi", "cfg")]
    assert [e["user"] for e in env.events("auth_failure")][:1] == ["acme-ftp"]
