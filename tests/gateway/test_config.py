"""Config loading: every relative path is relative to the config file's folder."""

from __future__ import annotations

from pathlib import Path

from gateway.config import load_config


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "edigate.toml").write_text(
        """
[gateway]
state_dir = "state"
ack_dir = "outbox"

[[sources.directory]]
name = "drop"
path = "inbox"
archive = "/srv/archive"

[[sinks]]
name = "cloud"
kind = "https"
url = "https://localhost/"
secret_file = "secrets/token"
[sinks.tls]
cert_file = "certs/me.pem"
ca_file = "/etc/ssl/ca.pem"
""",
        encoding="utf-8",
    )
    cfg = load_config(tmp_path / "edigate.toml")
    assert cfg.gateway.state_dir == tmp_path / "state"
    assert cfg.gateway.ack_dir == tmp_path / "outbox"
    extra = cfg.sinks[0].model_extra or {}
    assert extra["secret_file"] == str(tmp_path / "secrets" / "token")
    assert extra["tls"] == {"cert_file": str(tmp_path / "certs" / "me.pem"), "ca_file": "/etc/ssl/ca.pem"}
    models, problems = cfg.source_models()
    assert problems == []
    (drop,) = models
    assert drop.path == tmp_path / "inbox"  # type: ignore[attr-defined]
    assert drop.archive == Path("/srv/archive")  # type: ignore[attr-defined]
