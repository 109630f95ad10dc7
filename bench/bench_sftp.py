"""SFTP intake throughput: our asyncssh server with journaling vs OpenSSH ``sshd`` in the same run.

Usage::

    .venv/bin/python bench/bench_sftp.py [--files 300] [--rounds 3] [--size 1024]

Both servers listen on a free 127.0.0.1 port and receive the same uploads from
the same client: one OpenSSH ``sftp -b`` batch of ``--files`` ``put`` commands of
``--size``-byte files (distinct contents).  Measured is the wall time of the
whole ``sftp`` run (connect, authenticate, all puts, exit), so both sides pay
the same handshake.

* **ours**: :class:`gateway.sources.sftp.SftpSource` with the real
  :class:`gateway.journal.Journal` (every upload fsynced into SQLite + spool
  before the client gets its CLOSE status), on its own loop in a thread.
* **reference**: OpenSSH ``sshd`` with ``internal-sftp`` chrooted, writing plain
  files (no fsync), run as in ``shared/reference/peers.md``: in a private mount
  namespace (``unshare``, root needed) with a tmpfs ``/run`` and a bind-mounted
  ``/srv`` so the host is left untouched.

Rounds alternate the two; the medians and their ratio are printed.  The run is
bounded to about 60 s (fewer rounds are run if time is short).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.journal import Journal, JournalOptions
from gateway.sources.sftp import SftpAccount, SftpSettings, SftpSource

BUDGET_SECONDS = 55.0

SSHD_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {work}/ssh_host_ed25519_key
PidFile {work}/sshd.pid
AuthorizedKeysFile {work}/authorized_keys/%u
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers nobody
AllowTcpForwarding no
Subsystem sftp internal-sftp
Match User nobody
    ChrootDirectory /srv/%u
    ForceCommand internal-sftp
"""


def _need(binary: str) -> str:
    path = shutil.which(binary) or (binary if os.path.exists(binary) else None)
    if path is None:
        sys.exit(f"bench_sftp: {binary} is not installed (Debian openssh-client / openssh-server)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit(f"bench_sftp: nothing listening on 127.0.0.1:{port}")


class OurServer:
    """SftpSource + real journal on a loop in a thread."""

    def __init__(self, work: Path, pub: str) -> None:
        self.work = work
        self.journal = Journal.open(work / "journal", JournalOptions(min_free_bytes=0))
        account = SftpAccount(username="bench", partner="BENCH", authorized_keys=(pub,))

        class Accounts:
            def lookup(self, username: str) -> SftpAccount | None:
                return account if username == "bench" else None

        settings = SftpSettings(
            name="bench",
            host="127.0.0.1",
            port=0,
            host_key_file=work / "host_key",
            roots_dir=work / "roots",
            max_upload_bytes=1 << 20,
            shutdown_grace=5.0,
        )
        self.source = SftpSource(settings, Accounts())
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.task: asyncio.Task[None] | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        if not self.ready.wait(30) or self.source.bound_port is None:
            sys.exit("bench_sftp: our SFTP server did not start")
        self.port = self.source.bound_port
        self.host_pub = (work / "host_key.pub").read_text().split()

    def _main(self) -> None:
        async def body() -> None:
            ready = asyncio.Event()
            self.task = asyncio.create_task(self.source.run(self.journal, ready))
            await ready.wait()
            self.ready.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

        self.loop.run_until_complete(body())
        self.loop.close()

    def count(self) -> int:
        return int(self.journal.read_sync(lambda c: c.execute("SELECT count(*) FROM messages").fetchone()[0]))

    def stop(self) -> None:
        if self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(30)
        self.journal.close()


class ReferenceSshd:
    """OpenSSH sshd with internal-sftp, chroot /srv/nobody, in a private mount namespace."""

    def __init__(self, work: Path, pub: str) -> None:
        if os.geteuid() != 0:
            sys.exit("bench_sftp: the reference sshd needs root (chroot, privilege separation)")
        sshd = _need("/usr/sbin/sshd")
        self.work = work
        chroot = work / "chroot"
        (chroot / "nobody" / "inbound").mkdir(parents=True)
        os.chmod(chroot, 0o755)
        os.chmod(chroot / "nobody", 0o755)
        shutil.chown(chroot / "nobody" / "inbound", "nobody", "nogroup")
        (work / "authorized_keys").mkdir()
        (work / "authorized_keys" / "nobody").write_text(pub + "\n")
        subprocess.run(
            [_need("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(work / "ssh_host_ed25519_key")],
            check=True,
        )
        self.port = _free_port()
        (work / "sshd_config").write_text(SSHD_CONFIG.format(port=self.port, work=work))
        self.proc = subprocess.Popen(
            [
                _need("unshare"),
                "--mount",
                "--propagation",
                "private",
                "--",
                "/bin/sh",
                "-c",
                "mount -t tmpfs -o mode=0755,size=1m sshd-run /run && mkdir -m 0755 /run/sshd && "
                'mount --bind "$1/chroot" /srv && "$2" -t -f "$1/sshd_config" && '
                'exec "$2" -D -e -f "$1/sshd_config"',
                "sh",
                str(work),
                sshd,
            ],
            stdout=subprocess.DEVNULL,
            stderr=(work / "sshd.log").open("w"),
        )
        _wait_port(self.port, time.monotonic() + 15)
        self.host_pub = (work / "ssh_host_ed25519_key.pub").read_text().split()
        self.inbound = chroot / "nobody" / "inbound"

    def count(self) -> int:
        return len(list(self.inbound.iterdir()))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)


def upload(sftp: str, work: Path, key: Path, port: int, host_pub: list[str], user: str, batch: Path) -> float:
    known = work / f"known_hosts_{port}"
    known.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    started = time.perf_counter()
    result = subprocess.run(
        [
            sftp,
            "-b",
            str(batch),
            "-P",
            str(port),
            "-i",
            str(key),
            "-F",
            "/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known}",
            f"{user}@127.0.0.1",
        ],
        cwd=work / "files",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"bench_sftp: sftp to port {port} failed ({result.returncode}): {result.stderr.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    sftp = _need("sftp")
    begun = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-sftp-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        key = work / "client_key"
        subprocess.run([_need("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        pub = key.with_name("client_key.pub").read_text().strip()
        (work / "files").mkdir()
        ours_dir, ref_dir = work / "ours", work / "ref"
        ours_dir.mkdir()
        ref_dir.mkdir()
        ours = OurServer(ours_dir, pub)
        ref = ReferenceSshd(ref_dir, pub)
        times: dict[str, list[float]] = {"ours": [], "sshd": []}
        try:
            for rnd in range(args.rounds):
                if (
                    rnd
                    and time.monotonic() - begun + 2.5 * sum(t[-1] for t in times.values()) > BUDGET_SECONDS
                ):
                    print(f"(stopping after {rnd} rounds to stay within {BUDGET_SECONDS:.0f} s)")
                    break
                names = []
                for i in range(args.files):
                    name = f"r{rnd}_{i:05d}.edi"
                    (work / "files" / name).write_bytes(
                        os.urandom(args.size // 2).hex().encode()[: args.size]
                    )
                    names.append(name)
                batch = work / f"batch_{rnd}"
                batch.write_text("cd /inbound\n" + "".join(f"put {n}\n" for n in names))
                order = [
                    ("ours", ours.port, ours.host_pub, "bench"),
                    ("sshd", ref.port, ref.host_pub, "nobody"),
                ]
                if rnd % 2:
                    order.reverse()
                for label, port, host_pub, user in order:
                    times[label].append(upload(sftp, work, key, port, host_pub, user, batch))
            expected = args.files * len(times["ours"])
            if ours.count() != expected or ref.count() != expected:
                sys.exit(
                    f"bench_sftp: expected {expected} files, journal has {ours.count()},"
                    f" sshd wrote {ref.count()}"
                )
        finally:
            ours.stop()
            ref.stop()
    ours_t, ref_t = statistics.median(times["ours"]), statistics.median(times["sshd"])
    print(
        f"SFTP uploads of {args.files} x {args.size} B files per sftp -b batch, {len(times['ours'])} rounds "
        f"(medians; client: OpenSSH sftp; 127.0.0.1)"
    )
    print(
        f"  ours (asyncssh + journal fsync per file): {args.files / ours_t:8.1f} files/s"
        f"  ({ours_t:.2f} s/batch)"
    )
    print(
        f"  reference OpenSSH sshd internal-sftp:     {args.files / ref_t:8.1f} files/s"
        f"  ({ref_t:.2f} s/batch)"
    )
    print(f"  ratio ours / reference throughput: {ref_t / ours_t:.2f}")
    print(
        f"  per round (s): ours {[round(t, 2) for t in times['ours']]},"
        f" sshd {[round(t, 2) for t in times['sshd']]}"
    )
    print(f"  total run time: {time.monotonic() - begun:.1f} s")


if __name__ == "__main__":
    main()
