"""Helpers to run a real gateway process and make EDI files for tests."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def make_850(icn: int, po: str, *, sender: str = "ACMESENDER", lines: int = 3, seg: str = "~\n") -> bytes:
    """A valid X12 004010 850 interchange with one transaction set."""
    isa = (
        f"ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*OURWAREHOUSE   *261129*1015*U*00401*"
        f"{icn:09d}*0*P*>"
    )
    body = [
        f"ST*850*{icn % 10000:04d}",
        f"BEG*00*SA*{po}**20261129",
        "REF*DP*042",
        "DTM*002*20261205",
        "N1*ST*STORE 42*92*0042",
    ]
    for i in range(1, lines + 1):
        body.append(f"PO1*{i}*{i * 2}*EA*{i}.25**UP*00012345678{i % 10}*VN*SKU-{i}")
        body.append(f"PID*F****ITEM {i}")
    body.append(f"CTT*{lines}")
    body.append(f"SE*{len(body) + 1}*{icn % 10000:04d}")
    segs = [
        isa,
        f"GS*PO*{sender.strip()}*OURWAREHOUSE*20261129*1015*{icn}*X*004010",
        *body,
        f"GE*1*{icn}",
        f"IEA*1*{icn:09d}",
    ]
    return (seg.join(segs) + seg).encode()


def translate_with_unencodable_document(profile: Any, data: bytes, options: Any) -> Any:
    """The pipeline's translation, except that a file holding ``PO-TUPLEKEY`` yields a document
    JSON cannot hold (a tuple key): a translator bug the pipeline must turn into a rejection.

    The document is made as the translators make theirs, so a worker's encoder (in ``options``)
    meets it while the file is being translated, and the daemon's encoder afterwards.
    """
    import dataclasses

    from gateway.pipeline import _default_translate
    from translators.documents import make_document

    result = _default_translate(profile, data, options)
    if b"PO-TUPLEKEY" not in data:
        return result
    first = result.documents[0]
    doc = make_document(
        document_type=first.document_type,
        schema_version=first.schema_version,
        document={("a", "b"): 1},
        envelope=first.envelope,
        transaction_set=first.transaction_set,
        extensions={},
        warnings=first.warnings,
        encoder=options.encoder,
    )
    return dataclasses.replace(result, documents=(doc,))


def write_config(
    root: Path, *, extra_gateway: str = "", extra: str = "", min_free_mb: int = 1, directory_extra: str = ""
) -> Path:
    """A dev-like config in ``root`` with one partner ``acme`` and a directory sink."""
    (root / "partners.d").mkdir(parents=True, exist_ok=True)
    (root / "partners.d" / "acme.toml").write_text(
        'id = "acme"\nname = "ACME Retail"\n\n[identities]\ninbox = "acme"\n\n'
        '[[identities.x12]]\nqualifier = "ZZ"\nid = "ACMESENDER"\n',
        encoding="utf-8",
    )
    (root / "inbox" / "acme").mkdir(parents=True, exist_ok=True)
    cfg = root / "edigate.toml"
    cfg.write_text(
        f"""
[gateway]
state_dir = "state"
partners_dir = "partners.d"
default_sinks = ["local"]
ack_dir = "outbox"
{extra_gateway}

[journal]
min_free_mb = {min_free_mb}

[delivery]
backoff_initial_seconds = 0.05
backoff_max_seconds = 0.5

[[sources.directory]]
name = "drop"
path = "inbox"
archive = "archive"
{directory_extra}

[[sinks]]
name = "local"
kind = "directory"
path = "out"
{extra}
""",
        encoding="utf-8",
    )
    return cfg


class GatewayProcess:
    """``edigate run`` in a child process."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.root = config.parent
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.root / "gateway.log"

    def start(self, timeout: float = 30) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("NOTIFY_SOCKET", None)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "run", "--config", str(self.config)],
                stdout=log,
                stderr=log,
                env=env,
                cwd=self.root,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"gateway exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}"
                )
            try:
                if self.control({"command": "status"}).get("ready"):
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gateway did not become ready:\n{self.log.read_text()[-3000:]}")

    def control(self, command: dict[str, Any]) -> dict[str, Any]:
        from gateway.control import request

        return request(self.root / "state" / "edigate.sock", command, timeout=10)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.root / 'state' / 'journal.sqlite'}?mode=ro", uri=True, timeout=30)
        conn.row_factory = sqlite3.Row
        return conn

    def states(self) -> dict[str, int]:
        with self.db() as c:
            return {r[0]: r[1] for r in c.execute("SELECT state, COUNT(*) FROM messages GROUP BY state")}

    def wait_settled(self, expected: int, timeout: float = 120) -> dict[str, int]:
        """Wait until ``expected`` messages are in final states and inboxes are empty."""
        deadline = time.monotonic() + timeout
        states: dict[str, int] = {}
        while time.monotonic() < deadline:
            try:
                states = self.states()
            except sqlite3.OperationalError:
                time.sleep(0.1)
                continue
            final = sum(states.get(s, 0) for s in ("delivered", "rejected", "dead"))
            active = sum(states.get(s, 0) for s in ("received", "translated", "queued"))
            if final >= expected and active == 0 and not inbox_files(self.root):
                return states
            time.sleep(0.1)
        raise AssertionError(f"not settled after {timeout}s: {states}, inbox {inbox_files(self.root)[:5]}")


def inbox_files(root: Path) -> list[Path]:
    return [p for p in (root / "inbox").rglob("*") if p.is_file()]


def sink_envelopes(root: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_bytes()) for p in sorted((root / "out").rglob("*.json"))]
