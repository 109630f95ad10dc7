"""FTPS intake throughput: our FTP source with journaling vs Debian ``vsftpd`` in the same run.

Usage::

    .venv/bin/python bench/bench_ftp.py [--files 200] [--rounds 3] [--size 1024] [--parallel 1]

Both servers listen on a free 127.0.0.1 port, require explicit TLS (``AUTH TLS``,
``PROT P``, RFC 4217) with the same test certificate, and receive the same
uploads from the same client: one ``lftp`` session doing ``mput -P PARALLEL`` of
``--files`` files of ``--size`` bytes (distinct contents).  Measured is the wall
time of the whole ``lftp`` run (connect, TLS, login, every STOR with its own
TLS data connection, exit), so both sides pay the same handshakes.

* **ours**: :class:`gateway.sources.ftp.FtpSource` (pyftpdlib in threads) with
  the real :class:`gateway.journal.Journal`: every upload is fsynced into SQLite
  + spool before its ``226``; on its own loop in a thread of this process.
* **reference**: ``vsftpd`` writing plain files (no fsync), configured as in
  ``tests/agent/test_ftp_client.py`` (anonymous upload folder, chroot, TLS forced).

Rounds alternate the two; the medians and their ratio are printed.  The run is
bounded to about 60 s (fewer rounds if time is short).  Needs root (vsftpd's
chroot) and the Debian packages lftp and vsftpd.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pwd
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

import trustme

from gateway.journal import Journal, JournalOptions
from gateway.sources.ftp import FtpAccount, FtpSource, FtpSourceConfig
from gateway.sources.sftp import hash_password

BUDGET_SECONDS = 55.0
PASSWORD = "bench-password"

VSFTPD_CONFIG = """\
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={port}
background=NO
anonymous_enable=YES
anon_root={root}
no_anon_password=YES
write_enable=YES
anon_upload_enable=YES
anon_umask=022
local_enable=NO
max_per_ip=0
max_clients=0
pasv_enable=YES
pasv_min_port={pasv_min}
pasv_max_port={pasv_max}
pasv_address=127.0.0.1
ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=YES
force_anon_data_ssl=YES
require_ssl_reuse=YES
rsa_cert_file={certs}/cert.pem
rsa_private_key_file={certs}/key.pem
seccomp_sandbox=NO
secure_chroot_dir={empty}
xferlog_enable=NO
"""


def _need(binary: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if path is None:
        sys.exit(f"bench_ftp: {binary} is not installed (Debian packages lftp, vsftpd)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_run(count: int) -> tuple[int, int]:
    """``count`` consecutive ports that are free now (a passive range)."""
    for _ in range(100):
        first = _free_port()
        if first + count > 65535:
            continue
        socks: list[socket.socket] = []
        try:
            for p in range(first, first + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return first, first + count - 1
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    sys.exit("bench_ftp: no free run of ports for a passive range")


def _wait_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit(f"bench_ftp: nothing listening on 127.0.0.1:{port}")


class OurServer:
    """FtpSource + real journal on a loop in a thread."""

    def __init__(self, work: Path) -> None:
        self.journal = Journal.open(work / "journal", JournalOptions(min_free_bytes=0))
        account = FtpAccount(username="bench", partner="BENCH", password_hash=hash_password(PASSWORD))

        class Accounts:
            def lookup(self, username: str) -> FtpAccount | None:
                return account if username == "bench" else None

        settings = FtpSourceConfig(
            name="bench",
            host="127.0.0.1",
            port=0,
            roots_dir=work / "roots",
            cert_file=work.parent / "cert.pem",
            key_file=work.parent / "key.pem",
            passive_ports=_port_run(64),
            max_upload_bytes=1 << 20,
            shutdown_grace=5.0,
        )
        self.source = FtpSource(settings, Accounts())
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.task: asyncio.Task[None] | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        if not self.ready.wait(30) or self.source.bound_port is None:
            sys.exit("bench_ftp: our FTP server did not start")
        self.port = self.source.bound_port

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


class ReferenceVsftpd:
    """vsftpd with TLS forced, anonymous uploads into a chrooted folder."""

    def __init__(self, work: Path) -> None:
        if os.geteuid() != 0:
            sys.exit("bench_ftp: the reference vsftpd needs root (chroot)")
        ftp_user = pwd.getpwnam("ftp")
        root = work / "anon"
        self.inbound = root / "inbound"
        self.inbound.mkdir(parents=True)
        root.chmod(0o755)
        os.chown(self.inbound, ftp_user.pw_uid, ftp_user.pw_gid)
        (work / "empty").mkdir()
        self.port = _free_port()
        pasv_min, pasv_max = _port_run(64)
        conf = work / "vsftpd.conf"
        conf.write_text(
            VSFTPD_CONFIG.format(
                port=self.port,
                root=root,
                certs=work.parent,
                empty=work / "empty",
                pasv_min=pasv_min,
                pasv_max=pasv_max,
            )
        )
        self.proc = subprocess.Popen(
            [_need("vsftpd"), str(conf)], stdout=subprocess.DEVNULL, stderr=(work / "vsftpd.err").open("w")
        )
        _wait_port(self.port, time.monotonic() + 15)

    def count(self) -> int:
        return len(list(self.inbound.iterdir()))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)


def upload(
    lftp: str, work: Path, ca: Path, port: int, user: str, password: str, names: list[str], par: int
) -> float:
    script = "; ".join(
        [
            "set ftp:ssl-force true",
            "set ftp:ssl-protect-data true",
            f"set ssl:ca-file {ca}",
            "set net:max-retries 1",
            "set cmd:fail-exit true",
            "set xfer:clobber true",
            f"open -u {user},{password} -p {port} 127.0.0.1",
            f"mput -P {par} -O /inbound {' '.join(names)}",
            "bye",
        ]
    )
    started = time.perf_counter()
    result = subprocess.run(
        [lftp, "-c", script],
        cwd=work / "files",
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "HOME": str(work)},
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(
            f"bench_ftp: lftp to port {port} failed ({result.returncode}): {result.stderr.strip()[-500:]}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--parallel", type=int, default=1, help="lftp mput -P: uploads at once")
    args = parser.parse_args()
    lftp = _need("lftp")
    begun = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-ftp-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        cert.private_key_pem.write_to_path(str(work / "key.pem"))
        os.chmod(work / "key.pem", 0o600)  # our FTPS source refuses a key readable by others
        cert.cert_chain_pems[0].write_to_path(str(work / "cert.pem"))
        ca.cert_pem.write_to_path(str(work / "ca.pem"))
        (work / "files").mkdir()
        ours_dir, ref_dir = work / "ours", work / "ref"
        ours_dir.mkdir()
        ref_dir.mkdir()
        ours = OurServer(ours_dir)
        ref = ReferenceVsftpd(ref_dir)
        times: dict[str, list[float]] = {"ours": [], "vsftpd": []}
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
                order = [("ours", ours.port, "bench", PASSWORD), ("vsftpd", ref.port, "anonymous", "bench@")]
                if rnd % 2:
                    order.reverse()
                for label, port, user, password in order:
                    times[label].append(
                        upload(lftp, work, work / "ca.pem", port, user, password, names, args.parallel)
                    )
            expected = args.files * len(times["ours"])
            if ours.count() != expected or ref.count() != expected:
                sys.exit(
                    f"bench_ftp: expected {expected} files, journal has {ours.count()}, vsftpd wrote {ref.count()}"
                )
        finally:
            ours.stop()
            ref.stop()
    ours_t, ref_t = statistics.median(times["ours"]), statistics.median(times["vsftpd"])
    print(
        f"FTPS uploads of {args.files} x {args.size} B files per lftp session (mput -P {args.parallel}), "
        f"{len(times['ours'])} rounds (medians; client: lftp; AUTH TLS + PROT P; 127.0.0.1)"
    )
    print(
        f"  ours (pyftpdlib + journal fsync per file): {args.files / ours_t:8.1f} files/s  ({ours_t:.2f} s/run)"
    )
    print(
        f"  reference vsftpd (plain files, no fsync):  {args.files / ref_t:8.1f} files/s  ({ref_t:.2f} s/run)"
    )
    print(f"  ratio ours / reference throughput: {ref_t / ours_t:.2f}")
    print(
        f"  per round (s): ours {[round(t, 2) for t in times['ours']]},"
        f" vsftpd {[round(t, 2) for t in times['vsftpd']]}"
    )
    print(f"  total run time: {time.monotonic() - begun:.1f} s")


if __name__ == "__main__":
    main()
