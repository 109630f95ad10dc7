"""AS2 interop with pyas2lib 1.4.4 as one more independent partner (peers.md §2, libraries.md).

pyas2lib (GPL) is not an edigate dependency: ``tests/support/pyas2lib_env.py`` builds it into a
cached, separate venv with peers.md's oscrypto patch, and every pyas2lib call runs in a
subprocess of that venv's python. No PyPI on the first run means these tests FAIL (never skip).

* pyas2lib → our ``As2Source`` (real journal, loopback HTTP via httpx): pyas2lib builds the
  message, pyas2lib's ``Mdn().parse`` judges our signed sync MDN (``processed`` = MIC matched).
  Payload bytes: ``application/octet-stream`` is sent CTE binary and must be journaled byte-exact;
  ``application/edi-x12`` is sent by pyas2lib as 7bit with every LF turned into CRLF (peers.md
  gotcha 3), so what we journal is the CRLF form — that is what pyas2lib signed and sent.
* ``gateway.as2.build_message`` → pyas2lib's ``Message().parse`` (PKCS#1 v1.5 and OAEP-SHA1: the
  only OAEP pyas2lib decrypts), and its signed MDN through our ``parse_mdn`` + ``check_mdn``.
* negatives: a signature by a key we do not have for the partner, and an unknown AS2-From, get
  ``authentication-failed`` from us, which pyas2lib reads as ``processed/Error``; OAEP-SHA256
  (pyas2lib cannot decrypt it) comes back as pyas2lib's ``decryption-failed`` MDN.
* a pyas2lib quirk pinned: it computes its MIC with the signing digest, not the micalg it asks
  for, so with ``digest_alg != mdn_digest_alg`` our (RFC-correct) MDN gets ``processed/warning``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.util
import json
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.as2 import (
    As2NegativeMdn,
    As2Partner,
    build_message,
    check_mdn,
    load_certificates,
    parse_mdn,
)
from gateway.journal import Journal, JournalOptions
from gateway.sources.as2 import As2Source, As2SourceConfig, StaticAs2Partners
from tests.support.pyas2lib_env import (
    Pyas2lib,
    Pyas2libEnvError,
    TestIdentity,
    b64,
    ensure_venv,
    make_identity,
    unb64,
)


def _load_kit() -> Any:
    if "test_as2_kit" in sys.modules:  # already imported by another AS2 test module in this run
        return sys.modules["test_as2_kit"]
    path = Path(__file__).resolve().parents[1] / "gateway" / "test_as2_kit.py"
    spec = importlib.util.spec_from_file_location("test_as2_kit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


kit = _load_kit()

PYAS2_NAME = "PYAS2LIB"
#: octet-stream payload: LF-only X12 plus bytes a text path would mangle (NUL, 8-bit, lone CR, no final LF)
BINARY_PAYLOAD = kit.PAYLOAD + b"\x00\x01\xfe\xff lone CR\r then LF\n trailing spaces   \n\tlast"


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pyas2lib_python(request: pytest.FixtureRequest) -> Path | Pyas2libEnvError:
    """The python of the cached pyas2lib venv (built on first use), or why it could not be had.

    The error is returned, not raised: raised in a fixture it would show as a setup ERROR; each
    test instead FAILS with it when it first needs pyas2lib (see :attr:`Env.lib`).
    """
    capman = request.config.pluginmanager.getplugin("capturemanager")

    def progress(message: str) -> None:
        ctx = capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext()
        with ctx:
            print(f"\n[pyas2lib] {message}", file=sys.stderr, flush=True)

    try:
        return ensure_venv(progress=progress)
    except Pyas2libEnvError as exc:
        progress(f"UNAVAILABLE, the pyas2lib tests will fail: {exc}")
        return exc


@dataclass
class Env:
    pki: Any
    python: Path | Pyas2libEnvError
    work: Path
    own: TestIdentity  #: pyas2lib's key and certificate (the one we configure for the partner)
    rogue: TestIdentity  #: another key with the same subject, unknown to us
    _lib: Pyas2lib | None = None

    @property
    def lib(self) -> Pyas2lib:
        """pyas2lib in its venv; FAILS the test (never skips) when the venv could not be built."""
        if isinstance(self.python, Pyas2libEnvError):
            pytest.fail(f"pyas2lib test environment unavailable: {self.python}", pytrace=False)
        if self._lib is None:
            self._lib = Pyas2lib(python=self.python, work=self.work)
        return self._lib

    def org(self, identity: TestIdentity | None = None, name: str = PYAS2_NAME) -> dict[str, Any]:
        return {"as2_name": name, "key_file": str((identity or self.own).combined)}

    def gateway_partner(self, **settings: Any) -> dict[str, Any]:
        """pyas2lib's view of us: our certificate (checked against the test CA) for both directions."""
        cert, ca = str(self.pki.path("gateway", "pem")), str(self.pki.path("ca", "pem"))
        return {
            "as2_name": "GATEWAY",
            "verify_cert": cert,
            "verify_cert_ca": ca,
            "encrypt_cert": cert,
            "encrypt_cert_ca": ca,
            **settings,
        }

    def own_cert(self) -> Any:
        return load_certificates(self.own.cert.read_bytes())[0]


@pytest.fixture(scope="module")
def env(pyas2lib_python: Path | Pyas2libEnvError, tmp_path_factory: pytest.TempPathFactory) -> Env:
    root = tmp_path_factory.mktemp("pyas2lib")
    return Env(
        pki=kit.session_pki(tmp_path_factory),
        python=pyas2lib_python,
        work=root / "calls",
        own=make_identity(root / "keys", "pyas2lib", PYAS2_NAME),
        rogue=make_identity(root / "keys", "rogue", PYAS2_NAME),
    )


@asynccontextmanager
async def gateway(env: Env, state: Path) -> AsyncIterator[tuple[Journal, str]]:
    """Our receiver on a free loopback port, on the real journal, knowing pyas2lib by its certificate."""
    journal = Journal.open(state, JournalOptions(min_free_bytes=0))
    partner = As2Partner(partner_id="pyas2", as2_name=PYAS2_NAME, certificates=(env.own_cert(),))
    source = As2Source(
        As2SourceConfig(host="127.0.0.1", port=0, as2_names=["GATEWAY"]),
        StaticAs2Partners((partner,)),
        identity=env.pki.identity(),
        clock=lambda: kit.NOW,
    )
    ready = asyncio.Event()
    task = asyncio.create_task(source.run(journal, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield journal, f"http://127.0.0.1:{source.bound_port}/as2"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        journal.close()


def rows(journal: Journal) -> list[sqlite3.Row]:
    return journal.read_sync(lambda c: c.execute("SELECT * FROM messages ORDER BY id").fetchall())


async def post(url: str, headers: list[list[str]], body: bytes) -> tuple[int, bytes]:
    """POST as a pyas2lib application does (its headers and content); returns (status, raw MDN).

    The raw MDN is the response headers as received, a blank line and the body: the input
    ``Mdn().parse`` expects.
    """
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:  # loopback: no proxies
        response = await client.post(url, headers=[(k, v) for k, v in headers], content=body)
    head = b"".join(k + b": " + v + b"\r\n" for k, v in response.headers.raw)
    return response.status_code, head + b"\r\n" + response.content


# --- pyas2lib → our receiver ---------------------------------------------------------


@dataclass(frozen=True)
class Inbound:
    id: str
    content_type: str
    settings: dict[str, Any]  #: pyas2lib Partner settings (how pyas2lib sends to us)
    payload: bytes
    journaled: bytes  #: what we must store
    layers: tuple[str, ...]
    mic_label: str


INBOUND = [
    Inbound(
        id="octet-stream-sha256-aes256-compressed",
        content_type="application/octet-stream",
        settings={
            "sign": True,
            "digest_alg": "sha256",
            "encrypt": True,
            "enc_alg": "aes_256_cbc",
            "compress": True,
        },
        payload=BINARY_PAYLOAD,
        journaled=BINARY_PAYLOAD,  # CTE binary: byte-exact
        layers=("encrypted", "signed", "compressed"),
        mic_label="sha256",
    ),
    Inbound(
        id="edi-x12-3des-default",
        content_type="application/edi-x12",
        settings={"sign": True, "encrypt": True},  # pyas2lib defaults: sha256, tripledes_192_cbc
        payload=kit.PAYLOAD,
        journaled=kit.PAYLOAD.replace(b"\n", b"\r\n"),  # pyas2lib sends 7bit with CRLF (gotcha 3)
        layers=("encrypted", "signed"),
        mic_label="sha256",
    ),
    Inbound(
        id="edi-x12-sha512-compressed-signed-unencrypted",
        content_type="application/edi-x12",
        settings={"sign": True, "digest_alg": "sha512", "compress": True},
        payload=kit.PAYLOAD,
        journaled=kit.PAYLOAD.replace(b"\n", b"\r\n"),
        layers=("signed", "compressed"),
        mic_label="sha512",
    ),
]


@pytest.mark.parametrize("case", INBOUND, ids=[c.id for c in INBOUND])
def test_pyas2lib_sends_we_journal_and_pyas2lib_accepts_our_mdn(
    env: Env, case: Inbound, tmp_path: Path
) -> None:
    partner = env.gateway_partner(mdn_mode="SYNC", mdn_digest_alg=case.mic_label, **case.settings)
    built = env.lib.call(
        "build",
        {
            "org": env.org(),
            "partner": partner,
            "data": b64(case.payload),
            "filename": "po123.edi",
            "content_type": case.content_type,
        },
    )
    assert built["mic"], "pyas2lib computed no MIC for a signed message"

    async def scenario() -> tuple[int, bytes, list[sqlite3.Row], bytes]:
        async with gateway(env, tmp_path / "state") as (journal, url):
            status, raw_mdn = await post(url, built["headers"], unb64(built["body"]))
            found = rows(journal)
            stored = await journal.raw_bytes(found[0]["id"]) if found else b""
            return status, raw_mdn, found, stored

    status, raw_mdn, found, stored = asyncio.run(scenario())
    assert status == 200, raw_mdn.decode("latin-1")[:2000]
    [row] = found
    assert (row["transport"], row["partner"], row["state"]) == ("as2", "pyas2", "received"), dict(row)
    assert row["external_id"] == f"<{built['message_id']}>" and row["file_name"] == "po123.edi"
    assert stored == case.journaled
    meta = json.loads(row["meta"])
    assert tuple(meta["layers"]) == case.layers
    assert meta["content_type"] == case.content_type
    assert meta["mic"] == f"{built['mic']}, {case.mic_label}"  # our MIC = the digest pyas2lib signed

    verdict = env.lib.call(
        "parse_mdn",
        {
            "org": env.org(),
            "partner": partner,
            "message_id": built["message_id"],
            "mic": built["mic"],
            "raw": b64(raw_mdn),
        },
    )
    # pyas2lib: signature checked with our certificate, and "processed/warning" if the MIC differed.
    assert (verdict["status"], verdict["detail"]) == ("processed", None), verdict
    assert verdict["lookups"] == [[built["message_id"], "GATEWAY"]]


def test_mic_follows_requested_micalg_which_pyas2lib_ignores(env: Env, tmp_path: Path) -> None:
    """pyas2lib signs with sha256 but asks ``signed-receipt-micalg=optional, sha1``.

    RFC 4130 §7.3.1: the MIC is computed with the requested algorithm, so our MDN carries a sha1
    MIC; pyas2lib compares it with its own sha256 MIC and says ``processed/warning``. A partner
    using pyas2lib must set ``mdn_digest_alg`` equal to ``digest_alg`` (the tests above do).
    """
    partner = env.gateway_partner(
        sign=True, digest_alg="sha256", encrypt=True, mdn_mode="SYNC", mdn_digest_alg="sha1"
    )
    built = env.lib.call(
        "build",
        {
            "org": env.org(),
            "partner": partner,
            "data": b64(kit.PAYLOAD),
            "filename": "po123.edi",
            "content_type": "application/edi-x12",
        },
    )

    async def scenario() -> tuple[int, bytes, list[sqlite3.Row]]:
        async with gateway(env, tmp_path / "state") as (journal, url):
            status, raw_mdn = await post(url, built["headers"], unb64(built["body"]))
            return status, raw_mdn, rows(journal)

    status, raw_mdn, found = asyncio.run(scenario())
    assert status == 200
    [row] = found
    assert row["state"] == "received"
    value, _, label = json.loads(row["meta"])["mic"].partition(", ")
    assert label == "sha1" and len(base64.b64decode(value)) == 20  # a SHA-1 digest, as requested
    verdict = env.lib.call(
        "parse_mdn",
        {
            "org": env.org(),
            "partner": partner,
            "message_id": built["message_id"],
            "mic": built["mic"],
            "raw": b64(raw_mdn),
        },
    )
    assert (verdict["status"], verdict["detail"]) == ("processed/warning", "Message Integrity check failed.")


# --- our codec → pyas2lib --------------------------------------------------------------


@dataclass(frozen=True)
class Outbound:
    id: str
    content_type: str
    payload: bytes
    digest: str
    cipher: str
    oaep_hash: str | None
    compress: bool
    #: what pyas2lib reports as ``enc_alg``: its decrypt_message names only 3DES, AES gives None
    pyas2lib_cipher: str | None


OUTBOUND = [
    Outbound(
        id="pkcs1v15-aes256-sha256-edi-x12",
        content_type="application/edi-x12",
        payload=kit.PAYLOAD,  # LF-only, sent CTE binary
        digest="sha256",
        cipher="aes256_cbc",
        oaep_hash=None,
        compress=False,
        pyas2lib_cipher=None,
    ),
    Outbound(
        id="oaep-sha1-3des-sha384-compressed-octet-stream",
        content_type="application/octet-stream",
        payload=BINARY_PAYLOAD,
        digest="sha384",
        cipher="tripledes_3key",
        oaep_hash="sha1",
        compress=True,
        pyas2lib_cipher="tripledes_192_cbc",
    ),
]


def pyas2lib_receives(env: Env, headers: tuple[tuple[str, str], ...], body: bytes) -> dict[str, Any]:
    raw = b"".join(f"{k}: {v}\r\n".encode() for k, v in headers) + b"\r\n" + body
    return env.lib.call(
        "parse",
        {
            "org": env.org(),
            "partner": env.gateway_partner(sign=True, encrypt=True),  # pyas2lib insists on both
            "raw": b64(raw),
        },
    )


@pytest.mark.parametrize("case", OUTBOUND, ids=[c.id for c in OUTBOUND])
def test_we_send_pyas2lib_parses_and_its_mdn_checks_out(env: Env, case: Outbound) -> None:
    out = build_message(
        case.payload,
        as2_from="GATEWAY",
        as2_to=PYAS2_NAME,
        now=kit.NOW,
        content_type=case.content_type,
        file_name="po123.edi",
        signer=env.pki.keypair("gateway"),
        digest_name=case.digest,
        recipient=env.own_cert(),
        cipher=case.cipher,
        oaep_hash=case.oaep_hash,
        compress=case.compress,
        mdn_to="edi@gateway.example",
        mdn_signed=True,
    )
    got = pyas2lib_receives(env, out.headers, out.body)
    assert (got["status"], got["exception"]) == ("processed", None), got["traceback"]
    assert unb64(got["payload"]) == case.payload
    assert (got["signed"], got["encrypted"], got["compressed"]) == (True, True, case.compress)
    assert (got["enc_alg"], got["digest_alg"]) == (case.pyas2lib_cipher, case.digest)
    assert got["filename"] == "po123.edi"
    assert got["mic"] == out.mic.value  # same MIC computed on both sides

    assert got["mdn"] is not None, "pyas2lib built no MDN although one was requested"
    mdn = parse_mdn(
        got["mdn"]["headers"],
        unb64(got["mdn"]["body"]),
        certificates=[env.own_cert()],
        now=kit.NOW,
        require_signature=True,
    )
    assert mdn.signed and mdn.signer == env.own_cert()
    check_mdn(mdn, message_id=out.message_id, mic=out.mic)  # raises on a wrong id, negative MDN, MIC mismatch
    assert mdn.positive and mdn.disposition_type == "processed"


def test_oaep_sha256_is_refused_by_pyas2lib_and_we_read_its_negative_mdn(env: Env) -> None:
    """pyas2lib decrypts OAEP only with SHA-1 (peers.md gotcha 5): its error MDN must reach us as such."""
    out = build_message(
        kit.PAYLOAD,
        as2_from="GATEWAY",
        as2_to=PYAS2_NAME,
        now=kit.NOW,
        file_name="po123.edi",
        signer=env.pki.keypair("gateway"),
        recipient=env.own_cert(),
        oaep_hash="sha256",
        mdn_to="edi@gateway.example",
    )
    got = pyas2lib_receives(env, out.headers, out.body)
    assert got["status"] == "processed/Error" and "DecryptionError" in (got["exception"] or ""), got
    mdn = parse_mdn(
        got["mdn"]["headers"],
        unb64(got["mdn"]["body"]),
        certificates=[env.own_cert()],
        now=kit.NOW,
        require_signature=True,
    )
    assert mdn.modifier == "error: decryption-failed" and not mdn.positive
    with pytest.raises(As2NegativeMdn, match="decryption-failed"):
        check_mdn(mdn, message_id=out.message_id, mic=out.mic)


# --- negatives: pyas2lib → our receiver ------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "as2_from", "partner_id", "why"),
    [
        ("rogue", PYAS2_NAME, "pyas2", "not configured for the partner"),
        ("own", "NOBODY", None, "is not a configured trading partner"),
    ],
    ids=["signed-by-unknown-key", "unknown-as2-from"],
)
def test_refused_sender_gets_authentication_failed_read_by_pyas2lib(
    env: Env, tmp_path: Path, identity: str, as2_from: str, partner_id: str | None, why: str
) -> None:
    org = env.org(env.rogue if identity == "rogue" else env.own, name=as2_from)
    partner = env.gateway_partner(
        sign=True, encrypt=True, enc_alg="aes_256_cbc", mdn_mode="SYNC", mdn_digest_alg="sha256"
    )
    built = env.lib.call(
        "build",
        {
            "org": org,
            "partner": partner,
            "data": b64(kit.PAYLOAD),
            "filename": "po123.edi",
            "content_type": "application/edi-x12",
        },
    )

    async def scenario() -> tuple[int, bytes, list[sqlite3.Row]]:
        async with gateway(env, tmp_path / "state") as (journal, url):
            status, raw_mdn = await post(url, built["headers"], unb64(built["body"]))
            return status, raw_mdn, rows(journal)

    status, raw_mdn, found = asyncio.run(scenario())
    assert status == 200, raw_mdn.decode("latin-1")[:2000]
    [row] = found
    assert (row["state"], row["partner"], row["external_id"]) == ("rejected", partner_id, None)
    assert why in row["reason"], row["reason"]
    verdict = env.lib.call(
        "parse_mdn",
        {
            "org": org,
            "partner": partner,
            "message_id": built["message_id"],
            "mic": built["mic"],
            "raw": b64(raw_mdn),
        },
    )
    assert (verdict["status"], verdict["detail"]) == ("processed/Error", "authentication-failed"), verdict
