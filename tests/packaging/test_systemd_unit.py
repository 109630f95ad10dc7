"""The shipped systemd unit: it loads cleanly and stays hardened.

``systemd-analyze verify`` checks syntax, unknown keys and that every Exec
binary exists; the unit names ``/usr/bin/edigate``, so the test verifies a
copy whose Exec paths point at this checkout's ``edigate`` (everything else
byte-identical).  Warnings count as failures: systemd only warns about an
unknown key, and a typo in a hardening key silently removes the hardening.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "edigate.service"
LOW_PORTS = REPO / "systemd" / "edigate-low-ports.conf"
EDIGATE = Path(sys.executable).parent / "edigate"
MAX_EXPOSURE = 2.0


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (Debian package 'systemd'); these tests need it", pytrace=False)
    return path


def _unit_dir(tmp_path: Path, *, low_ports: bool) -> Path:
    assert EDIGATE.exists(), f"{EDIGATE} missing: install the project into the venv (make venv)"
    folder = tmp_path / "units"
    folder.mkdir()
    text = UNIT.read_text(encoding="utf-8").replace("/usr/bin/edigate", str(EDIGATE))
    (folder / "edigate.service").write_text(text, encoding="utf-8")
    if low_ports:
        (folder / "edigate.service.d").mkdir()
        shutil.copy(LOW_PORTS, folder / "edigate.service.d" / "low-ports.conf")
    return folder


def _directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


@pytest.mark.parametrize("low_ports", [False, True], ids=["unit", "unit+low-ports"])
def test_verify_is_clean(tmp_path, low_ports):
    folder = _unit_dir(tmp_path, low_ports=low_ports)
    # SYSTEMD_UNIT_PATH makes verify load the drop-in folder beside the copy.
    proc = subprocess.run(
        [_tool("systemd-analyze"), "verify", str(folder / "edigate.service")],
        capture_output=True,
        text=True,
        env={"SYSTEMD_UNIT_PATH": f"{folder}:", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "", f"systemd-analyze verify warned:\n{proc.stderr}"


def _exposure(args: list[str]) -> tuple[float, str]:
    proc = subprocess.run(
        [_tool("systemd-analyze"), "security", "--offline=yes", "--no-pager", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", proc.stdout)
    assert m, f"no exposure line (rc {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr}"
    return float(m.group(1)), proc.stdout


def test_exposure_is_low():
    level, out = _exposure([str(UNIT)])
    assert level <= MAX_EXPOSURE, out


def test_low_ports_drop_in_is_applied_and_stays_low(tmp_path):
    root = tmp_path / "root"
    system = root / "etc" / "systemd" / "system"
    (system / "edigate.service.d").mkdir(parents=True)
    shutil.copy(UNIT, system / "edigate.service")
    base, _ = _exposure([f"--root={root}", "edigate.service"])
    shutil.copy(LOW_PORTS, system / "edigate.service.d" / "low-ports.conf")
    level, out = _exposure([f"--root={root}", "edigate.service"])
    # The drop-in must really be read (exposure changes) and still be acceptable.
    assert level > base, out
    assert level <= MAX_EXPOSURE, out


def test_unit_keeps_its_promises():
    d = _directives(UNIT.read_text(encoding="utf-8"))
    assert d["Type"] == ["notify"]
    assert d["WatchdogSec"]
    assert d["ExecStartPre"] == ["/usr/bin/edigate validate"]
    assert d["ExecReload"] == ["/usr/bin/edigate validate --no-environment", "/bin/kill -HUP $MAINPID"]
    for key in ("StateDirectory", "LogsDirectory", "ConfigurationDirectory"):
        assert d[key] == ["edigate"], key
    assert "-/var/spool/edigate" in d["ReadWritePaths"]
    assert d["ProtectSystem"] == ["strict"]
    assert d["NoNewPrivileges"] == ["yes"]
    assert d["CapabilityBoundingSet"] == [""]
    assert d["AmbientCapabilities"] == [""]


def test_low_ports_drop_in_grants_only_net_bind_service():
    d = _directives(LOW_PORTS.read_text(encoding="utf-8"))
    assert d == {
        "CapabilityBoundingSet": ["CAP_NET_BIND_SERVICE"],
        "AmbientCapabilities": ["CAP_NET_BIND_SERVICE"],
        "PrivateUsers": ["no"],
    }


def test_sysusers_and_tmpfiles_cover_the_unit():
    users = (REPO / "systemd" / "edigate.sysusers").read_text(encoding="utf-8")
    assert re.search(r"^u edigate ", users, re.M)
    tmpfiles = (REPO / "systemd" / "edigate.tmpfiles").read_text(encoding="utf-8")
    assert re.search(r"^d /var/spool/edigate\s", tmpfiles, re.M)
