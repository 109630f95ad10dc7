"""``edigate init DIR``: a complete, working dev setup on loopback only."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

CONFIG_TEMPLATE = """\
# edigate configuration: a dev setup written by `edigate init`.
# Every relative path is relative to this file's folder.

[gateway]
site = "dev"
state_dir = "state"            # journal (SQLite) and raw-bytes spool
partners_dir = "partners.d"    # one TOML profile per trading partner
default_sinks = ["local"]      # where documents go when a profile names no sink
ack_dir = "outbox"             # 997/999/TA1/CONTRL for partners: outbox/<partner>/
log_level = "info"

[journal]
retention_days = 30            # delivered messages are purged after this
min_free_mb = 64               # below this much free disk, intake refuses new files
max_message_mb = 64            # larger files are refused

[pipeline]
workers = 128                   # messages in translation at once (they share fsyncs)
max_inflight_mb = 256           # and at most this much of their raw bytes in memory
batch_max_kb = 64               # smaller files reach the worker processes many at a time

[delivery]
max_attempts = 25
max_age_hours = 72
backoff_initial_seconds = 1
backoff_max_seconds = 600
# ordered_sinks = ["local"]    # default: every odoo sink and partner transport keep partner order

# Downlink (Odoo pull -> partners).  A [mail] section (relay_host, relay_port, starttls,
# username, password_env, from_address, timeout_seconds) is needed for mail partners.
[outbound]
pull_interval_seconds = 30
ack_check_interval_seconds = 30

# Drop folders: inbox/<partner>/ — files are taken once complete, then archived.
[[sources.directory]]
name = "drop"
path = "inbox"
archive = "archive"

# Partners' network intake, on loopback only in this dev setup.
[[sources.sftp]]
name = "sftp"
host = "127.0.0.1"
port = 2222
host_key_file = "state/ssh_host_ed25519_key"   # generated on first start
roots_dir = "sftp"                             # sftp/<account>/inbound|outbound

[[sources.smtp]]
name = "smtp"
host = "127.0.0.1"
port = 2525
tls_cert_file = "certs/dev-cert.pem"
tls_key_file = "certs/dev-key.pem"

[[sources.as2]]
name = "as2"
host = "127.0.0.1"
port = 4080
as2_names = ["OURWAREHOUSE"]
decryption_keys = [{ key_file = "certs/dev-key.pem", cert_file = "certs/dev-cert.pem" }]
signing_key = { key_file = "certs/dev-key.pem", cert_file = "certs/dev-cert.pem" }

[[sources.ftp]]
name = "ftps"
host = "127.0.0.1"
port = 2121
roots_dir = "ftp"
cert_file = "certs/dev-cert.pem"
key_file = "certs/dev-key.pem"
passive_ports = [30000, 30049]

# Canonical JSON, one file per document: out/<partner>/<type>-<key>.json
[[sinks]]
name = "local"
kind = "directory"
path = "out"
"""

_MINIMAL_PROFILE = """\
# A minimal partner profile: files dropped in inbox/{name}/ belong to this partner.
id = "{name}"
name = "Example partner {name}"

[identities]
inbox = "{name}"
"""


def _example_profiles() -> list[tuple[str, bytes]]:
    try:
        folder = resources.files("partners") / "examples"
        return sorted((f.name, f.read_bytes()) for f in folder.iterdir() if f.name.endswith(".toml"))
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        return []


def create_dev_setup(target: Path, *, force: bool = False) -> list[str]:
    """Write the dev setup into ``target``; returns what was created, one line each.

    Existing files are kept (the config only with ``force``), so running it
    twice is harmless.
    """
    created: list[str] = []
    target.mkdir(parents=True, exist_ok=True)
    config = target / "edigate.toml"
    if force or not config.exists():
        config.write_text(CONFIG_TEMPLATE, encoding="utf-8")
        created.append(f"created {config}")
    else:
        created.append(f"kept    {config} (exists; --force to overwrite)")
    partners_dir = target / "partners.d"
    partners_dir.mkdir(exist_ok=True)
    inboxes: list[str] = []
    examples = _example_profiles()
    for name, data in examples:
        dest = partners_dir / name
        if not dest.exists():
            dest.write_bytes(_dev_routing(data))
            created.append(f"created {dest}")
        inboxes.append(_inbox_of(dest))
    if not examples:
        dest = partners_dir / "acme.toml"
        if not dest.exists():
            dest.write_text(_MINIMAL_PROFILE.format(name="acme"), encoding="utf-8")
            created.append(f"created {dest}")
        inboxes.append("acme")
    certs = target / "certs"
    if not (certs / "dev-key.pem").exists():
        certs.mkdir(exist_ok=True)
        _dev_certificate(certs)
        created.append(f"created {certs}/dev-key.pem, dev-cert.pem  (self-signed, for AS2/FTPS/STARTTLS)")
    created += _dev_partner_files(target)
    for sub in ("state", "archive", "out", "outbox", "sftp", "ftp"):
        folder = target / sub
        if not folder.exists():
            folder.mkdir()
            created.append(f"created {folder}/")
    for inbox in inboxes:
        folder = target / "inbox" / inbox
        if not folder.exists():
            folder.mkdir(parents=True)
            created.append(f"created {folder}/  (drop {inbox}'s files here)")
    (target / "state").chmod(0o700)
    created.append(f"run it:   edigate run --config {config}")
    created.append(f"watch it: edigate status --config {config}")
    return created


def _dev_partner_files(target: Path) -> list[str]:
    """Give the example partners what their delivery settings name, so the dev setup starts clean.

    The FTP partner's password file gets a placeholder, the AS2 partner's
    certificate is the dev certificate, and our AS2 signing key for it is the
    dev key (appended to its ``[certificates]`` table, the file's last table).
    Nothing here is fit for production: these are loopback-only dev values.
    """
    created: list[str] = []
    partners_dir = target / "partners.d"
    ftp = partners_dir / "fastfreight.toml"
    secret = partners_dir / "secrets" / "fastfreight.ftp"
    if ftp.exists() and not secret.exists():
        secret.parent.mkdir(mode=0o700, exist_ok=True)
        secret.write_text("change-me\n", encoding="utf-8")
        secret.chmod(0o600)
        created.append(f"created {secret}  (placeholder FTP password)")
    as2 = partners_dir / "nordwaren.toml"
    partner_cert = partners_dir / "certs" / "nordwaren.pem"
    dev_cert = target / "certs" / "dev-cert.pem"
    if as2.exists() and dev_cert.exists() and not partner_cert.exists():
        partner_cert.parent.mkdir(exist_ok=True)
        partner_cert.write_bytes(dev_cert.read_bytes())
        text = as2.read_text(encoding="utf-8")
        if "as2_ours" not in text and text.rstrip().splitlines()[-1].startswith("as2_partner"):
            as2.write_text(
                text.rstrip()
                + '\nas2_ours = "../certs/dev-cert.pem"\nas2_ours_key = "../certs/dev-key.pem"\n',
                encoding="utf-8",
            )
        created.append(f"created {partner_cert}  (dev certificate standing in for the partner's)")
    return created


def _dev_certificate(folder: Path) -> None:
    """A self-signed RSA key and certificate for the dev listeners (never for production)."""
    import datetime as _dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edigate dev OURWAREHOUSE")])
    now = _dt.datetime.now(_dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_path = folder / "dev-key.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    (folder / "dev-cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _dev_routing(profile: bytes) -> bytes:
    """Route an example profile to the dev setup's default sink.

    The examples name production sinks (odoo, tms); the dev setup has only
    the local directory sink, so their ``sinks = [...]`` lines are commented out.
    """
    out = []
    for line in profile.decode("utf-8").splitlines(keepends=True):
        if line.lstrip().startswith("sinks") and "=" in line:
            out.append("# dev setup uses [gateway] default_sinks instead:  " + line.lstrip())
        else:
            out.append(line)
    return "".join(out).encode("utf-8")


def _inbox_of(profile: Path) -> str:
    import tomllib

    try:
        data = tomllib.loads(profile.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return profile.stem
    identity = data.get("identities", {}) if isinstance(data.get("identities"), dict) else {}
    inbox = data.get("inbox") or identity.get("inbox") or data.get("id") or profile.stem
    return str(inbox)


__all__ = ["CONFIG_TEMPLATE", "create_dev_setup"]
