"""Foundation benchmarks: journal group commit, drop→delivered, latency, restart.

Prints, side by side in one run:

1. raw write+fsync+rename(+fsync dir) of the same files by one writer vs
   journaled intake of the same files by concurrent intakes (group commit);
2. drop→delivered throughput of a real gateway process (directory source →
   pipeline with the X12 translator → directory sink);
3. p50/p99 drop→delivered latency at a steady 100 files/s;
4. restart time (process start → ready) with 1 M journal rows vs an empty journal.

Usage: .venv/bin/python bench/bench_journal.py [--files N] [--rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gateway.journal import Intake, Journal, JournalOptions  # noqa: E402
from tests.harness import GatewayProcess, make_850, write_config  # noqa: E402


def raw_writes(folder: Path, payloads: list[bytes]) -> float:
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    for i, data in enumerate(payloads):
        tmp = folder / f".{i}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        os.replace(tmp, folder / f"{i}.edi")
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
    return time.perf_counter() - t0


def journaled(state: Path, payloads: list[bytes], concurrency: int, *, process: bool) -> float:
    async def main() -> float:
        journal = Journal.open(state, JournalOptions(min_free_bytes=0, writer_process=process))
        sem = asyncio.Semaphore(concurrency)

        async def one(data: bytes) -> None:
            async with sem:
                await journal.append(Intake(transport="bench", data=data, partner="acme"))

        t0 = time.perf_counter()
        await asyncio.gather(*(one(d) for d in payloads))
        elapsed = time.perf_counter() - t0
        journal.close()
        return elapsed

    return asyncio.run(main())


def drop_files(inbox: Path, start: int, count: int, rate: float | None) -> dict[str, float]:
    dropped: dict[str, float] = {}
    t0 = time.monotonic()
    for n, i in enumerate(range(start, start + count)):
        if rate:
            target = t0 + n / rate
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        tmp = inbox / f".f{i}.tmp"
        tmp.write_bytes(make_850(i, f"PO{i}"))
        os.replace(tmp, inbox / f"f{i}.edi")
        dropped[f"f{i}.edi"] = time.time()
    return dropped


def wait_delivered(gw: GatewayProcess, names: set[str], timeout: float = 600) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with gw.db() as c:
            rows = c.execute(
                "SELECT file_name, updated_at FROM messages WHERE state = 'delivered'"
            ).fetchall()
        done = {r[0]: float(r[1]) for r in rows if r[0] in names}
        if len(done) == len(names):
            return done
        time.sleep(0.05)
    raise SystemExit(f"only {len(done)} of {len(names)} delivered within {timeout}s")


def fill_journal(state: Path, rows: int) -> None:
    """A journal with ``rows`` delivered messages (and their history/documents/deliveries)."""
    journal = Journal.open(state, JournalOptions(min_free_bytes=0))
    journal.close()
    conn = sqlite3.connect(state / "journal.sqlite")
    conn.execute("PRAGMA synchronous=OFF")
    now = time.time()
    # Generated inside SQLite (recursive CTE): a million rows in seconds, not minutes.
    seq = f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})"
    with conn:
        conn.execute(
            f"{seq} INSERT INTO messages(id, transport, partner, file_name, sha256, size, state, received_at,"
            " updated_at, meta) SELECT i, 'directory', 'p' || (i % 50), 'f' || i || '.edi', printf('%064x', i),"
            f" 900, 'delivered', {now - 3600}, {now - 3000}, '{{}}' FROM n"
        )
        conn.execute(f"{seq} INSERT INTO history SELECT i, {now - 3000}, 'delivered', NULL FROM n")
        conn.execute(
            f"{seq} INSERT INTO documents(id, message_id, seq, idempotency_key, document_type, envelope)"
            " SELECT i, i, 0, 'k' || i, 'purchase_order', '{}' FROM n"
        )
        conn.execute(
            f"{seq} INSERT INTO deliveries(id, document_id, message_id, sink, state, attempts, next_at,"
            f" created_at, updated_at) SELECT i, i, i, 'local', 'delivered', 1, {now}, {now}, {now} FROM n"
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def start_time(root: Path) -> float:
    gw = GatewayProcess(root / "edigate.toml")
    t0 = time.perf_counter()
    gw.start(timeout=120)
    elapsed = time.perf_counter() - t0
    gw.stop()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--bursts", type=int, default=3, help="drop->delivered bursts, each reported")
    ap.add_argument("--latency-files", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edigate-bench-"))
    try:
        payloads = [make_850(i, f"PO{i}") for i in range(1, args.files + 1)]
        size = sum(len(p) for p in payloads) / len(payloads)
        print(f"1. durable intake of {args.files} files (~{size:.0f} B each)")
        raw = raw_writes(work / "raw", payloads)
        jr = journaled(work / "j", payloads, concurrency=64, process=True)
        jt = journaled(work / "jt", payloads, concurrency=64, process=False)
        print(f"   raw write+fsync+rename+fsync(dir), one writer : {args.files / raw:8.0f} files/s")
        print(
            f"   journal.append, 64 concurrent intakes          : {args.files / jr:8.0f} files/s (writer process, as the daemon)"
        )
        print(f"   the same, writer on a thread (tools)           : {args.files / jt:8.0f} files/s")
        print(f"   ratio journaled/raw                            : {raw / jr:8.2f}x  (goal >= 1)")

        print(
            f"2. drop->delivered throughput, real gateway process, {args.bursts} bursts of {args.files} X12 850 files"
        )
        root = work / "gw"
        root.mkdir()
        write_config(root)
        gw = GatewayProcess(root / "edigate.toml")
        gw.start()
        try:
            inbox = root / "inbox" / "acme"
            # Several bursts, each reported: one burst on this shared VM ranged
            # from 300 to 560 files/s between runs minutes apart.
            rates: list[float] = []
            for burst in range(args.bursts):
                first = 1 + burst * args.files
                t0 = time.time()
                dropped = drop_files(inbox, first, args.files, rate=None)
                done = wait_delivered(gw, set(dropped))
                elapsed = max(done.values()) - t0
                rates.append(args.files / elapsed)
                print(
                    f"   burst {burst + 1}: {args.files} files in {elapsed:.2f} s = {rates[-1]:8.0f} files/s"
                )
            print(f"   median of {len(rates)} bursts: {statistics.median(rates):8.0f} files/s (goal >= 500)")

            n = args.latency_files
            print(f"3. latency at 100 files/s ({n} files)")
            dropped = drop_files(inbox, 100_001, n, rate=100.0)
            done = wait_delivered(gw, set(dropped))
            lat = sorted(done[k] - dropped[k] for k in dropped)
            p50 = statistics.median(lat)
            p99 = lat[int(len(lat) * 0.99) - 1]
            print(
                f"   p50 {p50 * 1000:7.0f} ms   p99 {p99 * 1000:7.0f} ms   max {lat[-1] * 1000:7.0f} ms (goal p99 <= 1 s)"
            )
        finally:
            gw.stop()

        print(f"4. restart time with {args.rows:,} journal rows")
        empty = work / "empty"
        empty.mkdir()
        write_config(empty)
        t_empty = statistics.median(start_time(empty) for _ in range(3))
        big = work / "big"
        big.mkdir()
        write_config(big)
        t0 = time.perf_counter()
        fill_journal(big / "state", args.rows)
        print(
            f"   (filled in {time.perf_counter() - t0:.1f} s; db {os.path.getsize(big / 'state' / 'journal.sqlite') / 1e6:.0f} MB)"
        )
        t_big = statistics.median(start_time(big) for _ in range(3))
        print(f"   empty journal: start->ready {t_empty:.2f} s")
        print(
            f"   {args.rows:,} rows : start->ready {t_big:.2f} s  (ratio {t_big / t_empty:.2f}x; goal <= 3 s)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
