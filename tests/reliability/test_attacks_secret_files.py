"""Key and secret files that other users can read are refused, by ``edigate validate`` and at start.

OpenSSH's ``StrictModes`` rule, applied to every secret file the gateway is
given: the TLS keys of the FTPS, AS2 and SMTP listeners, the SFTP host key,
our mTLS client key and its passphrase file, the Odoo secret and the alert
mail password file.  Each case
sets one file to 0644: ``validate`` exits 78 and names the file, its mode and
``chmod 600``; ``edigate run`` exits without serving, with the same words.
Back at 0600, ``validate`` passes.  (The AS2 message keys and partner profiles
are covered in ``test_attacks_pipeline.py``.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from tests.harness import write_config
from tests.reliability.site import free_port
from tests.support.pki import make_pki

EX_CONFIG = 78
PASSPHRASE = "Sup3r-passphrase"


@dataclass(frozen=True)
class SecretSite:
    """A config whose listeners and sinks each name a secret file (all mode 0600 to begin with)."""

    config: Path
    files: dict[str, tuple[Path, str]]  #: case -> (file, the words the refusal uses for it)


def _private(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


@pytest.fixture
def secret_site(tmp_path: Path) -> SecretSite:
    root = tmp_path
    certs = root / "certs"
    certs.mkdir()
    ca = trustme.CA()
    listener = ca.issue_cert("127.0.0.1")
    (certs / "listener.pem").write_bytes(listener.cert_chain_pems[0].bytes())
    listener_key = listener.private_key_pem.bytes()
    ftps_key = _private(certs / "ftps.key", listener_key)
    as2_key = _private(certs / "as2-tls.key", listener_key)
    smtp_key = _private(certs / "smtp-tls.key", listener_key)
    host_key = _private(
        root / "ssh_host_ed25519_key", asyncssh.generate_private_key("ssh-ed25519").export_private_key()
    )
    pki = make_pki(certs)
    key = serialization.load_pem_private_key(pki.client.key.read_bytes(), password=None)
    encrypted = _private(
        certs / "client-encrypted.key",
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        ),
    )
    passphrase = _private(certs / "client.pass", PASSPHRASE.encode() + b"\n")
    odoo_secret = _private(root / "odoo.secret", b"s3cret-api-key\n")
    mail_password = _private(root / "alerts-mail.pass", b"relay-password\n")
    extra = f"""
[[sinks]]
name = "odoo"
kind = "odoo"
url = "http://127.0.0.1:9"
database = "edi"
login = "gateway"
secret_file = "odoo.secret"

[[sinks]]
name = "cloud"
kind = "https"
url = "https://127.0.0.1:9/edi"
[sinks.tls]
cert_file = "{pki.client.cert}"
key_file = "{pki.client.key}"
ca_file = "{pki.cloud_ca}"

[[sinks]]
name = "cloud-encrypted-key"
kind = "https"
url = "https://127.0.0.1:9/edi"
[sinks.tls]
cert_file = "{pki.client.cert}"
key_file = "{encrypted}"
key_password_file = "{passphrase}"
ca_file = "{pki.cloud_ca}"

[[sources.ftp]]
name = "ftps"
host = "127.0.0.1"
port = {free_port()}
roots_dir = "ftp"
cert_file = "certs/listener.pem"
key_file = "certs/ftps.key"

[[sources.as2]]
name = "as2"
host = "127.0.0.1"
port = {free_port()}
as2_names = ["GATEWAY"]
tls_cert_file = "certs/listener.pem"
tls_key_file = "certs/as2-tls.key"

[[sources.smtp]]
name = "smtp"
host = "127.0.0.1"
port = {free_port()}
tls_cert_file = "certs/listener.pem"
tls_key_file = "certs/smtp-tls.key"

[[sources.sftp]]
name = "sftp"
host = "127.0.0.1"
port = {free_port()}
host_key_file = "ssh_host_ed25519_key"
roots_dir = "sftp"

[alerts]
mail_relay = "127.0.0.1:9"
mail_to = ["ops@example.invalid"]
mail_username = "gateway"
mail_password_file = "{mail_password}"
"""
    config = write_config(root, extra=extra)
    return SecretSite(
        config=config,
        files={
            "ftps_tls_key": (ftps_key, "FTPS TLS private key"),
            "as2_tls_key": (as2_key, "AS2 TLS private key"),
            "smtp_tls_key": (smtp_key, "SMTP TLS private key"),
            "sftp_host_key": (host_key, "SFTP host key"),
            "mtls_client_key": (pki.client.key, "mTLS client private key"),
            "mtls_key_passphrase": (passphrase, "mTLS key passphrase file"),
            "odoo_secret": (odoo_secret, "Odoo secret"),
            "alert_mail_password": (mail_password, "alert mail password file"),
        },
    )


def _cli(command: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", command, "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False, cwd=config.parent, env=env,
    )  # fmt: skip


def _refusal(path: Path, what: str) -> str:
    words = f"the {what} is readable by other users (mode 0644)"
    return f"{path}: {words}; refusing to use it - run: chmod 600 {path}"


@pytest.mark.parametrize(
    "case",
    [
        "ftps_tls_key",
        "as2_tls_key",
        "smtp_tls_key",
        "sftp_host_key",
        "mtls_client_key",
        "mtls_key_passphrase",
        "odoo_secret",
        "alert_mail_password",
    ],
)
def test_secret_file_readable_by_others_is_refused(secret_site: SecretSite, case: str) -> None:
    path, what = secret_site.files[case]
    path.chmod(0o644)
    refused = _cli("validate", secret_site.config)
    assert refused.returncode == EX_CONFIG, refused.stdout + refused.stderr
    problems = refused.stderr.splitlines()
    assert len(problems) == 1 and problems[0].endswith(_refusal(path, what)), refused.stderr
    run = _cli("run", secret_site.config)  # a refusal exits at once; serving would hit the timeout
    assert run.returncode != 0, run.stderr
    assert _refusal(path, what) in run.stderr, run.stderr[-3000:]
    path.chmod(0o600)
    again = _cli("validate", secret_site.config)
    assert again.returncode == 0, again.stdout + again.stderr


def test_validate_lists_every_exposed_secret_file_at_once(secret_site: SecretSite) -> None:
    for path, _what in secret_site.files.values():
        path.chmod(0o640)  # group-readable is refused too
    refused = _cli("validate", secret_site.config)
    assert refused.returncode == EX_CONFIG, refused.stdout + refused.stderr
    for path, what in secret_site.files.values():
        expected = _refusal(path, what).replace("0644", "0640")
        assert sum(expected in line for line in refused.stderr.splitlines()) == 1, (what, refused.stderr)
