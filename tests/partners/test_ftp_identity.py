"""Partner FTP accounts (``[identities.ftp]``) and FTP fetch settings (``[delivery.fetch]``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.sources.ftp import ConfigFtpAccounts, FtpAccountConfig, RegistryFtpAccounts
from gateway.sources.sftp import hash_password, verify_password
from partners import load_registry

HASH = hash_password("s3cret-Pa55", salt=b"0123456789abcdef")
OTHER_HASH = hash_password("other-Pa55", salt=b"fedcba9876543210")


def write(path: Path, text: str) -> None:
    """Write a profile the way an operator must: private to its owner (it holds a hash)."""
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)


def profile(pid: str, user: str, *, extra: str = "", hash_: str = HASH) -> str:
    return f"""id = "{pid}"
name = "Partner {pid}"
[identities]
x12 = [{{ qualifier = "ZZ", id = "{pid.upper()}" }}]
sftp = {{ user = "{pid}", public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA {pid}"] }}

[identities.ftp]
user = "{user}"
password_hash = "{hash_}"
{extra}
"""


def test_lookup_by_ftp_account_and_the_source_adapter(tmp_path: Path) -> None:
    write(tmp_path / "alpha.toml", profile("alpha", "alpha-ftp", extra="allow_plain = true"))
    write(tmp_path / "beta.toml", profile("beta", "beta_ftp"))
    registry, errors = load_registry(tmp_path)
    assert errors == []
    alpha = registry.by_ftp_account("alpha-ftp")
    assert alpha is not None and alpha.id == "alpha"
    assert alpha.model.identities.ftp is not None and alpha.model.identities.ftp.allow_plain is True
    beta = registry.by_ftp_account("beta_ftp")
    assert beta is not None and beta.model.identities.ftp is not None
    assert beta.model.identities.ftp.allow_plain is False  # TLS unless the profile says otherwise
    assert registry.by_ftp_account("alpha") is None  # the SFTP login is not an FTP login
    assert registry.by_sftp_account("alpha-ftp") is None

    fallback = ConfigFtpAccounts(
        (
            FtpAccountConfig(user="cfg-only", partner="cfg", password_hash=OTHER_HASH),
            FtpAccountConfig(user="alpha-ftp", partner="stale", password_hash=OTHER_HASH),
        )
    )
    accounts = RegistryFtpAccounts(lambda: registry, fallback)
    found = accounts.lookup("alpha-ftp")  # the profile wins over the config list
    assert found is not None and (found.partner, found.allow_plain) == ("alpha", True)
    assert verify_password("s3cret-Pa55", found.password_hash)
    cfg = accounts.lookup("cfg-only")
    assert cfg is not None and cfg.partner == "cfg"
    assert accounts.lookup("nobody") is None


def test_duplicate_ftp_account_is_refused_with_file_and_line(tmp_path: Path) -> None:
    write(tmp_path / "a.toml", profile("alpha", "shared"))
    write(tmp_path / "b.toml", profile("beta", "shared"))
    registry, errors = load_registry(tmp_path)
    assert [p.id for p in registry.profiles] == ["alpha"]
    assert [(e.file.name, e.field, e.line) for e in errors] == [("b.toml", "identities.ftp.user", 8)]
    assert errors[0].reason == "FTP account 'shared' (already claimed by partner 'alpha' in a.toml)"
    assert registry.by_ftp_account("shared") is not None
    assert registry.by_ftp_account("shared").id == "alpha"  # type: ignore[union-attr]


def test_a_serving_ftp_account_wins_over_a_new_file(tmp_path: Path) -> None:
    write(tmp_path / "z.toml", profile("zulu", "shared"))
    first, _ = load_registry(tmp_path)
    write(tmp_path / "a.toml", profile("alpha", "shared"))
    second, errors = load_registry(tmp_path, previous=first)
    assert [p.id for p in second.profiles] == ["zulu"]
    assert [(e.file.name, e.field) for e in errors] == [("a.toml", "identities.ftp.user")]


@pytest.mark.parametrize(
    ("ftp_table", "field", "words"),
    [
        ('user = "x"\npassword_hash = "s3cret-Pa55"', "identities.ftp.password_hash", "pattern"),
        ('user = "x"\npassword_hash = "$2b$12$abcdefghijklmnopqrstuv"', "identities.ftp.password_hash", ""),
        ('user = "x"\npassword_hash = "scrypt$1000$8$1$AAAA$BBBB"', "identities.ftp.password_hash", "power"),
        ('user = "x"\npassword_hash = "scrypt$1024$1$1$AAAA$BBBB"', "identities.ftp.password_hash", "cost"),
        (f'user = "../etc"\npassword_hash = "{HASH}"', "identities.ftp.user", "pattern"),
        (f'user = "x"\npassword_hash = "{HASH}"\nallow_plain = "yes"', "identities.ftp.allow_plain", ""),
        (f'user = "x"\npassword_hash = "{HASH}"\npassword = "clear"', "identities.ftp.password", ""),
        (f'password_hash = "{HASH}"', "identities.ftp.user", "required"),
        ('user = "x"', "identities.ftp.password_hash", "required"),
    ],
)
def test_invalid_ftp_accounts_are_reported_on_their_line(
    tmp_path: Path, ftp_table: str, field: str, words: str
) -> None:
    write(tmp_path / "p.toml", f'id = "p"\nname = "P"\n\n[identities.ftp]\n{ftp_table}\n')
    registry, errors = load_registry(tmp_path)
    assert len(registry) == 0
    assert [e.field for e in errors] == [field], errors
    assert errors[0].file.name == "p.toml" and errors[0].line is not None and errors[0].line >= 4
    assert words.lower() in errors[0].reason.lower()
    assert "s3cret" not in str(errors[0])  # a clear password written by mistake is not echoed


def test_a_readable_profile_with_an_ftp_hash_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "alpha.toml"
    write(path, profile("alpha", "alpha-ftp"))
    path.chmod(0o644)
    registry, errors = load_registry(tmp_path)
    assert len(registry) == 0
    assert [(e.field, "chmod 600" in e.reason) for e in errors] == [("identities.ftp.password_hash", True)]
    path.chmod(0o600)
    assert load_registry(tmp_path)[0].by_ftp_account("alpha-ftp") is not None


FETCH = """id = "fetchy"
name = "Fetchy"

[delivery]
transport = "ftp"
host = "ftp.fetchy.example"
user = "us"
password_file = "fetchy.pw"
remote_dir = "/to-fetchy"
{fetch}
"""


def test_fetch_settings_are_validated(tmp_path: Path) -> None:
    write(
        tmp_path / "fetchy.toml",
        FETCH.format(
            fetch='[delivery.fetch]\nremote_dir = "/from-fetchy"\ninterval_seconds = 30\n'
            'after = "move:/from-fetchy/done"'
        ),
    )
    registry, errors = load_registry(tmp_path)
    assert errors == []
    fetchy = registry.get("fetchy")
    assert fetchy is not None
    delivery = fetchy.model.delivery
    assert delivery is not None and delivery.transport == "ftp" and delivery.fetch is not None
    assert (delivery.fetch.remote_dir, delivery.fetch.interval_seconds) == ("/from-fetchy", 30.0)
    assert delivery.fetch.archive_dir == "/from-fetchy/done"

    write(tmp_path / "fetchy.toml", FETCH.format(fetch="[delivery.fetch]\n"))
    registry, errors = load_registry(tmp_path)
    fetchy = registry.get("fetchy")
    assert errors == [] and fetchy is not None and fetchy.model.delivery is not None
    defaults = fetchy.model.delivery.fetch  # type: ignore[union-attr]
    assert defaults is not None
    assert (defaults.after, defaults.archive_dir, defaults.interval_seconds) == ("delete", None, 300.0)

    write(tmp_path / "fetchy.toml", FETCH.format(fetch=""))
    registry, errors = load_registry(tmp_path)
    fetchy = registry.get("fetchy")
    assert errors == [] and fetchy is not None and fetchy.model.delivery is not None
    assert fetchy.model.delivery.fetch is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fetch", "field"),
    [
        ('after = "archive"', "delivery.fetch.after"),
        ('after = "move:"', "delivery.fetch.after"),
        ("interval_seconds = 0", "delivery.fetch.interval_seconds"),
        ('remote = "/x"', "delivery.fetch.remote"),
    ],
)
def test_bad_fetch_settings_are_reported(tmp_path: Path, fetch: str, field: str) -> None:
    write(tmp_path / "fetchy.toml", FETCH.format(fetch=f"[delivery.fetch]\n{fetch}\n"))
    registry, errors = load_registry(tmp_path)
    assert len(registry) == 0
    assert [(e.file.name, e.field) for e in errors] == [("fetchy.toml", field)], errors
    assert errors[0].line == 11
