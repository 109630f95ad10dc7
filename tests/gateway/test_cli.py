"""The CLI contract: commands, flags, exit codes (operators' scripts rely on them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.harness import CORPUS, make_850, write_config


def edigate(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=120,
    )


def test_init_creates_a_valid_setup_and_is_idempotent(tmp_path: Path) -> None:
    target = tmp_path / "dev"
    r = edigate("init", str(target))
    assert r.returncode == 0, r.stderr
    assert "created" in r.stdout and (target / "edigate.toml").exists()
    assert list((target / "partners.d").glob("*.toml"))
    assert any(p.is_dir() for p in (target / "inbox").iterdir())
    v = edigate("validate", "--config", str(target / "edigate.toml"))
    assert v.returncode == 0, v.stderr
    again = edigate("init", str(target))
    assert again.returncode == 0 and "kept" in again.stdout


def test_validate_reports_every_problem_and_exits_78(tmp_path: Path) -> None:
    cfg = tmp_path / "edigate.toml"
    (tmp_path / "partners.d").mkdir()
    cfg.write_text(
        """
[gateway]
state_dir = "state"
default_sinks = ["nowhere"]
colour = "blue"

[journal]
min_free_mb = -5

[[sources.directory]]
name = "a"
path = "inbox"

[[sources.directory]]
name = "b"
path = "inbox/sub"

[[sinks]]
name = "local"
kind = "directory"
path = "out"
""",
        encoding="utf-8",
    )
    r = edigate("validate", "--config", str(cfg), "--json")
    assert r.returncode == 78
    problems = json.loads(r.stdout)["problems"]
    text = "\n".join(problems)
    assert "gateway.colour" in text and "journal.min_free_mb" in text, text
    cfg.write_text(cfg.read_text().replace('colour = "blue"\n', "").replace("-5", "5"), encoding="utf-8")
    r = edigate("validate", "--config", str(cfg))
    assert r.returncode == 78
    assert "source a and source b both claim dir" in r.stderr
    assert "'nowhere' is not a configured sink" in r.stderr


def test_validate_missing_file_and_bad_toml(tmp_path: Path) -> None:
    r = edigate("validate", "--config", str(tmp_path / "nope.toml"))
    assert r.returncode == 78 and "file not found" in r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[gateway\n", encoding="utf-8")
    r = edigate("validate", "--config", str(bad))
    assert r.returncode == 78 and "not valid TOML" in r.stderr


def test_translate_good_and_bad_input(tmp_path: Path) -> None:
    good = tmp_path / "po.edi"
    good.write_bytes(make_850(5, "PO5"))
    r = edigate("translate", str(good))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["standard"] == "x12" and out["documents"]
    garbage = tmp_path / "junk.bin"
    garbage.write_bytes(b"\x00\x01 this is no EDI at all")
    r = edigate("translate", str(garbage))
    assert r.returncode == 65
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "unrecognised format" in r.stderr
    r = edigate("translate", str(CORPUS / "x12" / "pyx12__fail_no_IEA.txt"))
    assert r.returncode == 65 and "Traceback" not in r.stderr
    r = edigate("translate", str(tmp_path / "missing.edi"))
    assert r.returncode == 66


def test_status_when_not_running_exits_3_with_journal_figures(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    r = edigate("status", "--config", str(cfg), "--json")
    assert r.returncode == 3
    out = json.loads(r.stdout)
    assert out["running"] is False
    r = edigate("status", "--config", str(cfg))
    assert r.returncode == 3 and "NOT RUNNING" in r.stdout


def test_status_unknown_when_config_unreadable(tmp_path: Path) -> None:
    r = edigate("status", "--config", str(tmp_path / "missing.toml"))
    assert r.returncode == 4


def test_schema_prints_json_schema() -> None:
    r = edigate("schema")
    assert r.returncode == 0, r.stderr
    assert "properties" in json.loads(r.stdout) or "$defs" in json.loads(r.stdout)
    r = edigate("schema", "no_such_document")
    assert r.returncode == 64


def test_version() -> None:
    r = edigate("--version")
    assert r.returncode == 0 and r.stdout.startswith("edigate ")
