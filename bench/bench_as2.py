"""AS2 receiver throughput vs the ``openssl cms`` CLI doing the same crypto, in one bounded run (< 60 s).

Measures signed + encrypted 10 KB messages per second through :class:`gateway.sources.as2.As2Source`
(real journal with fsync, signed synchronous MDN, httpx client with concurrency 4), and next to it a
loop of ``openssl cms -decrypt`` + ``-verify`` + ``-sign`` (one MDN-sized signature) per message, also
4 at a time. Prints both rates and their ratio.

Usage: ``.venv/bin/python bench/bench_as2.py [--seconds 15] [--concurrency 4]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.as2 import (
    As2Identity,
    As2Partner,
    OutboundMessage,
    build_message,
    load_certificates,
    load_key_pair,
)
from gateway.journal import Journal, JournalOptions
from gateway.sources.as2 import As2Source, As2SourceConfig, StaticAs2Partners


def sh(args: list[str], cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def make_pki(d: Path) -> None:
    """The peers.md §2 recipe: a CA, a partner and a gateway certificate."""
    sh(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-sha256",
            "-nodes",
            "-days",
            "30",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=Bench CA",
        ],
        d,
    )
    (d / "leaf.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth,emailProtection\n"
    )
    for name in ("partner", "gateway"):
        sh(
            [
                "openssl",
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                f"{name}.key",
                "-out",
                f"{name}.csr",
                "-subj",
                f"/CN={name.upper()}",
            ],
            d,
        )
        sh(
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                f"{name}.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "30",
                "-sha256",
                "-extfile",
                "leaf.ext",
                "-out",
                f"{name}.pem",
            ],
            d,
        )


def payload(i: int) -> bytes:
    line = f"LIN*{i}*VP*ITEM-{i:06d}*UP*0123456789012~PO4*1*12*EA~\r\n".encode()
    return (line * (10240 // len(line) + 1))[:10240]


async def bench_receiver(d: Path, messages: list[OutboundMessage], seconds: float, concurrency: int) -> float:
    partner_pair = load_key_pair((d / "partner.key").read_bytes(), None, (d / "partner.pem").read_bytes())
    gateway_pair = load_key_pair((d / "gateway.key").read_bytes(), None, (d / "gateway.pem").read_bytes())
    identity = As2Identity(as2_names=("GATEWAY",), decryption_keys=(gateway_pair,), signing_key=gateway_pair)
    partners = StaticAs2Partners(
        (As2Partner(partner_id="acme", as2_name="PARTNER", certificates=(partner_pair.cert,)),)
    )
    journal = Journal.open(d / "state", JournalOptions(min_free_bytes=0))
    source = As2Source(
        As2SourceConfig(host="127.0.0.1", port=0, as2_names=["GATEWAY"]), partners, identity=identity
    )
    ready = asyncio.Event()
    task = asyncio.create_task(source.run(journal, ready))
    await asyncio.wait_for(ready.wait(), 10)
    url = f"http://127.0.0.1:{source.bound_port}/as2"
    done = 0
    deadline = time.perf_counter() + seconds
    sequence = itertools.count()

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            n = next(sequence)
            msg = messages[n % len(messages)]
            # The pool is reused with a fresh Message-ID each time (it is not covered by the signature),
            # so every request is a new message to the receiver.
            headers = [(k, f"<bench-{n}@partner>" if k == "Message-ID" else v) for k, v in msg.headers]
            r = await http.post(url, content=msg.body, headers=headers)
            if (
                r.status_code != 200
                or b"processed" not in r.content
                or "multipart/signed" not in r.headers.get("content-type", "")
            ):
                raise SystemExit(f"unexpected answer {r.status_code}: {r.content[:200]!r}")
            done += 1

    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    journal.close()
    return done / elapsed


async def bench_openssl(d: Path, messages: list[OutboundMessage], seconds: float, concurrency: int) -> float:
    for i, msg in enumerate(messages[: concurrency * 4]):
        (d / f"m{i}.p7m").write_bytes(msg.body)
    (d / "report.txt").write_bytes(
        b"Content-Type: message/disposition-notification\r\n\r\nDisposition: processed\r\n"
    )
    done = 0
    deadline = time.perf_counter() + seconds

    async def run(*args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            *args, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"openssl failed: {' '.join(args)}: {err.decode()}")

    async def worker(w: int) -> None:
        nonlocal done
        i = w
        while time.perf_counter() < deadline:
            src = f"m{i % (concurrency * 4)}.p7m"
            await run(
                "openssl",
                "cms",
                "-decrypt",
                "-binary",
                "-in",
                src,
                "-inform",
                "DER",
                "-recip",
                "gateway.pem",
                "-inkey",
                "gateway.key",
                "-out",
                f"w{w}.mime",
            )
            await run(
                "openssl",
                "cms",
                "-verify",  # no -binary: the payload is CRLF text, and OpenSSL's S/MIME reader needs that
                "-in",
                f"w{w}.mime",
                "-inform",
                "SMIME",
                "-CAfile",
                "ca.pem",
                "-out",
                f"w{w}.payload",
            )
            await run(
                "openssl",
                "cms",
                "-sign",
                "-binary",
                "-in",
                "report.txt",
                "-signer",
                "gateway.pem",
                "-inkey",
                "gateway.key",
                "-md",
                "sha256",
                "-out",
                f"w{w}.mdn",
            )
            done += 1
            i += concurrency

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of each phase (default 15)")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    seconds = min(args.seconds, 25.0)  # two phases + setup stay under 60 s
    with tempfile.TemporaryDirectory(prefix="bench_as2_") as tmp:
        d = Path(tmp)
        make_pki(d)
        partner_pair = load_key_pair((d / "partner.key").read_bytes(), None, (d / "partner.pem").read_bytes())
        gateway_cert = load_certificates((d / "gateway.pem").read_bytes())[0]
        now = datetime.now(UTC) + timedelta(minutes=1)
        build_start = time.perf_counter()
        count = 0
        messages: list[OutboundMessage] = []
        while count < 64:
            messages.append(
                build_message(
                    payload(count),
                    as2_from="PARTNER",
                    as2_to="GATEWAY",
                    now=now,
                    signer=partner_pair,
                    recipient=gateway_cert,
                    mdn_to="edi@partner",
                    file_name=f"po{count}.edi",
                )
            )
            count += 1
        built_rate = count / (time.perf_counter() - build_start)
        print(f"built {count} signed+encrypted 10 KB messages in-process ({built_rate:.0f}/s, client side)")
        ours = asyncio.run(bench_receiver(d, messages, seconds, args.concurrency))
        ref = asyncio.run(bench_openssl(d, messages, seconds, args.concurrency))
    print(
        f"edigate As2Source (decrypt+verify+journal fsync+signed MDN, HTTP, c={args.concurrency}): "
        f"{ours:.1f} msg/s"
    )
    print(f"openssl cms CLI loop (decrypt+verify+sign, c={args.concurrency}): {ref:.1f} msg/s")
    print(f"ratio edigate/openssl-cli: {ours / ref:.2f}x  (cores: {os.cpu_count()})")


if __name__ == "__main__":
    main()
