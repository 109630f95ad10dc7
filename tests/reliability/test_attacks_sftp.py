"""SFTP attacks with the OpenSSH ``sftp`` client against ``SftpSource`` on the real journal.

The source runs in-process (its own event loop in a thread) because the daemon
does not wire SFTP yet (``gateway/daemon.py:build_sources``).  Two accounts,
``acme`` and ``bob``; an outside folder with a secret sits next to the roots,
and a symlink inside acme's root points at it (an admin's mistake).  Every
escape must fail *and* leave no trace outside the account's root; a brute
force must lock the account even for the right key.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.journal import Journal, JournalOptions
from gateway.sources.sftp import SftpAccount, SftpSettings, SftpSource
from tests.harness import make_850
from tests.support.running import RunningSource


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed; install the Debian package openssh-client")
    return path


class Accounts:
    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys

    def lookup(self, username: str) -> SftpAccount | None:
        key = self.keys.get(username)
        return (
            None if key is None else SftpAccount(username=username, partner=username, authorized_keys=(key,))
        )


@dataclass
class SftpSite:
    work: Path
    roots: Path
    state: Path
    port: int
    keys: dict[str, Path]

    def sftp(
        self, batch: str, user: str = "acme", key: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        batch_file = self.work / "batch"
        batch_file.write_text(batch)
        args = [
            require("sftp"), "-b", str(batch_file), "-P", str(self.port), "-i", str(self.keys[key or user]),
            "-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={self.work / 'known_hosts'}",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=20", f"{user}@127.0.0.1",
        ]  # fmt: skip
        return subprocess.run(args, cwd=self.work, capture_output=True, text=True, timeout=60, check=False)

    def rows(self) -> list[tuple[str, str]]:
        db = sqlite3.connect(f"file:{self.state / 'journal.sqlite'}?mode=ro", uri=True)
        try:
            return [(str(r[0]), str(r[1])) for r in db.execute("SELECT file_name, partner FROM messages")]
        finally:
            db.close()

    def events(self, kind: str) -> list[dict[str, object]]:
        db = sqlite3.connect(f"file:{self.state / 'journal.sqlite'}?mode=ro", uri=True)
        try:
            return [json.loads(r[0]) for r in db.execute("SELECT detail FROM events WHERE kind = ?", (kind,))]
        finally:
            db.close()


def _keygen(path: Path) -> str:
    subprocess.run([require("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_name(path.name + ".pub").read_text().strip()


@pytest.fixture
def sftp_site(tmp_path: Path) -> Iterator[SftpSite]:
    keys = {name: tmp_path / f"{name}_key" for name in ("acme", "bob", "mallory")}
    pubs = {name: _keygen(path) for name, path in keys.items()}
    roots = tmp_path / "roots"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for partners\n")
    settings = SftpSettings(
        name="sftp-attacks", host="127.0.0.1", port=0, host_key_file=tmp_path / "host_key", roots_dir=roots,
        auth_failure_delay=0.0, auth_max_failures=3, auth_window_seconds=600, auth_lockout_seconds=600,
        shutdown_grace=2.0,
    )  # fmt: skip
    source = SftpSource(settings, Accounts({"acme": pubs["acme"], "bob": pubs["bob"]}))
    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
    server = RunningSource(source, journal).start()
    host_pub = (tmp_path / "host_key.pub").read_text().split()
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{server.port} {host_pub[0]} {host_pub[1]}\n")
    (tmp_path / "po.edi").write_bytes(make_850(1, "PO1"))
    site = SftpSite(tmp_path, roots, tmp_path / "state", server.port, keys)
    # the first login creates acme's and bob's folders
    assert site.sftp("ls /\n").returncode == 0
    assert site.sftp("ls /\n", user="bob").returncode == 0
    os.symlink(outside, roots / "acme" / "inbound" / "escape")
    try:
        yield site
    finally:
        server.stop()
        journal.close()


def _outside_untouched(site: SftpSite) -> None:
    outside = site.work / "outside"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert not (site.work / "pwn.edi").exists() and not Path("/pwn.edi").exists()
    assert not (site.roots / "pwn.edi").exists()
    assert [p.name for p in (site.roots / "bob" / "inbound").iterdir()] == []


ESCAPES = {
    "put_dotdot": "put po.edi ../../pwn.edi\n",
    "put_dotdot_from_inbound": "cd /inbound\nput po.edi ../../../outside/pwn.edi\n",
    "put_absolute_host_path": f"put po.edi {'/' + '/'.join(['..'] * 12)}/tmp/pwn.edi\n",
    "put_through_symlink": "put po.edi /inbound/escape/pwn.edi\n",
    "get_dotdot": "get ../../outside/secret.txt stolen.txt\n",
    "get_through_symlink": "get /inbound/escape/secret.txt stolen.txt\n",
    "ls_through_symlink": "ls /inbound/escape/\n",
    "make_symlink": "symlink /etc/passwd /inbound/link.edi\n",
    "make_hardlink": "ln /inbound/escape/secret.txt /inbound/hard.edi\n",
    "rename_across_roots": "put po.edi /inbound/x.part\nrename /inbound/x.part ../bob/inbound/x.edi\n",
    "rename_absolute_across_roots": (
        "put po.edi /inbound/y.part\nrename /inbound/y.part /../bob/inbound/y.edi\n"
    ),
    "mkdir_outside": "mkdir ../../outside/newdir\n",
    "remove_outside": "rm ../../outside/secret.txt\n",
}


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_chroot_escape_fails_and_leaves_no_trace(sftp_site: SftpSite, name: str) -> None:
    r = sftp_site.sftp(ESCAPES[name])
    assert r.returncode == 1, f"{name}: sftp exit {r.returncode} (expected a refused command)\n{r.stderr}"
    _outside_untouched(sftp_site)
    assert (sftp_site.work / "outside" / "secret.txt").read_text() == "not for partners\n"
    assert not (sftp_site.work / "stolen.txt").exists()
    # nothing was journaled under another partner's name
    assert all(partner == "acme" for _name, partner in sftp_site.rows())


def test_absolute_paths_map_into_the_root(sftp_site: SftpSite) -> None:
    r = sftp_site.sftp("put po.edi /inbound/ok.edi\nls /\n")
    assert r.returncode == 0, r.stderr
    assert sftp_site.rows() == [("ok.edi", "acme")]
    _outside_untouched(sftp_site)


def test_brute_force_locks_the_account_even_for_the_right_key(sftp_site: SftpSite) -> None:
    for _ in range(4):
        wrong = sftp_site.sftp("ls /\n", user="acme", key="mallory")
        assert wrong.returncode == 255, wrong.stderr
    locked = sftp_site.sftp("ls /\n", user="acme")
    assert locked.returncode == 255, "a locked-out account must be refused even with the right key"
    # another account from the same address is locked too (per-address throttle)
    assert sftp_site.sftp("ls /\n", user="bob").returncode == 255
    failures = sftp_site.events("auth_failure")
    assert len(failures) >= 3, failures
    assert not any("mallory" in json.dumps(e) and "PRIVATE" in json.dumps(e) for e in failures)
