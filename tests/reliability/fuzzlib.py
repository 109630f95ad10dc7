"""Fuzz targets shared by ``tests/reliability/test_fuzz_readers.py`` (short) and ``bench/fuzz.py`` (long).

Each target takes raw bytes a partner or an admin could hand the gateway and
checks the h11 fuzz invariant: the reader returns a result or raises *its own*
error type, never anything else.  A target raises :class:`FuzzFinding` (with
the original exception chained) when the invariant breaks.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.as2 import As2Error, As2Identity, As2Partner, open_message, parse_envelope, parse_mdn_bytes
from gateway.as2.mime import parse_entity
from gateway.sources.mail import NoEdiContentError, extract_edi
from partners import ProfileError, load_registry, parse_profile_text, translate_with_profile
from translators import TranslationError, TranslatorOptions, translate

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus"
FLAT_PROFILES = REPO / "tests" / "partners" / "data" / "flat"
EXAMPLES = REPO / "partners" / "examples"
OPTS = TranslatorOptions(max_interchange_bytes=256 * 1024)


class FuzzFinding(AssertionError):
    """The invariant broke: a reader let a foreign exception escape."""


@dataclass
class Target:
    name: str
    seeds: list[bytes]
    run: Callable[[bytes], None]


def _guard(allowed: tuple[type[BaseException], ...], name: str, fn: Callable[[], Any]) -> None:
    try:
        fn()
    except allowed:
        pass
    except RecursionError as exc:  # counts: a parser recursing on hostile nesting is a finding
        raise FuzzFinding(f"{name}: RecursionError") from exc
    except Exception as exc:
        raise FuzzFinding(f"{name}: {type(exc).__name__}: {exc}") from exc


def _corpus(folder: str, *suffixes: str) -> list[bytes]:
    base = CORPUS / folder
    if not base.is_dir():
        raise FuzzFinding(f"corpus folder {base} is missing (shared/corpus is required)")
    return [p.read_bytes() for p in sorted(base.iterdir()) if not suffixes or p.name.endswith(suffixes)]


def _standard_target(name: str, folder: str) -> Target:
    def run(data: bytes) -> None:
        _guard((TranslationError,), name, lambda: translate(data, OPTS))

    return Target(name, _corpus(folder), run)


def _profile_target(
    name: str, folder: Path, partner: str, seed_files: list[Path], extra: list[bytes]
) -> Target:
    registry, errors = load_registry(folder)
    if errors:
        raise FuzzFinding(f"{name}: seed profiles do not load: {errors}")
    profile = registry.get(partner)
    if profile is None:
        raise FuzzFinding(f"{name}: profile {partner} is missing from {folder}")

    def run(data: bytes) -> None:
        _guard((TranslationError,), name, lambda: translate_with_profile(profile, data, OPTS))

    return Target(name, [p.read_bytes() for p in seed_files if p.exists()] + extra, run)


XML_SEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<Orders><Order number="PO-1"><Date>2026-03-01</Date><Currency>EUR</Currency>
<ShipTo><Name>Store 12</Name><City>Gent</City><Zip>9000</Zip><Country>BE</Country></ShipTo>
<Line no="1"><GTIN>05412345000013</GTIN><Text>Widget &amp; bolt</Text><Qty unit="EA">12</Qty>
<Price>1.50</Price></Line></Order></Orders>
"""
XXE_SEED = (
    b"""<?xml version="1.0"?><!DOCTYPE o [<!ENTITY x SYSTEM "file:///etc/passwd">]><Orders>&x;</Orders>"""
)
LAUGHS_SEED = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><Orders><Order number="&c;"/></Orders>'
)


MAIL_SEED = (
    b"From: partner@partner.example\r\nTo: edi@gateway.example\r\nSubject: PO\r\n"
    b"Message-ID: <1@partner.example>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n'
    b"--XX\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
    b"--XX\r\nContent-Type: application/edi-x12\r\n"
    b'Content-Disposition: attachment; filename="../../po1.edi"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\nSVNBKjAwKiAgICAgICAgICAqMDAqfg==\r\n--XX--\r\n"
)


def _mail_target() -> Target:
    def run(data: bytes) -> None:
        def call() -> None:
            content = extract_edi(data)
            for part in content.parts:
                # the name is used as a file name: no folder part may survive
                if "/" in part.file_name or "\\" in part.file_name or part.file_name in ("", ".", ".."):
                    raise FuzzFinding(f"smtp: unsafe attachment name {part.file_name!r}")

        _guard((NoEdiContentError, FuzzFinding), "smtp", call)

    return Target("smtp", [MAIL_SEED, MAIL_SEED.replace(b"multipart/mixed", b"multipart/related")], run)


def _profile_text_target() -> Target:
    seeds = [p.read_bytes() for p in sorted(EXAMPLES.glob("*.toml"))]
    seeds += [p.read_bytes() for p in sorted(FLAT_PROFILES.glob("*.toml"))]
    scratch = Path(tempfile.mkdtemp(prefix="edigate-fuzz-profiles-"))

    def run(data: bytes) -> None:
        text = data.decode("utf-8", "replace")

        def call() -> None:
            profile, errors = parse_profile_text(text, Path("fuzz.toml"))
            if profile is None and not errors:
                raise FuzzFinding("toml: no profile and no error")
            (scratch / "fuzz.toml").write_bytes(data)
            _registry, reg_errors = load_registry(scratch)
            if profile is None and not reg_errors:
                raise FuzzFinding("toml: registry accepted a file parse_profile_text refused")

        _guard((ProfileError, FuzzFinding), "toml", call)

    return Target("toml", seeds, run)


class _As2Keys:
    """Throw-away keys for ``open_message`` (the target needs a partner and an identity)."""

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        from gateway.as2 import load_key_pair

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "FUZZ")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now.replace(year=now.year - 1))
            .not_valid_after(now.replace(year=now.year + 1))
            .sign(key, hashes.SHA256())
        )
        pem_key = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        pair = load_key_pair(pem_key, None, cert.public_bytes(serialization.Encoding.PEM))
        self.identity = As2Identity(
            as2_names=("pyas2lib", "GATEWAY"), decryption_keys=(pair,), signing_key=pair
        )
        self.partner = As2Partner(partner_id="p", as2_name="mecas2", certificates=(cert,))


def _as2_target() -> Target:
    keys = _As2Keys()
    now = datetime.now(UTC)

    def run(data: bytes) -> None:
        def call() -> None:
            entity = parse_entity(data)
            envelope = parse_envelope(entity.headers)
            open_message(
                envelope,
                entity.headers,
                entity.body,
                partner=keys.partner,
                identity=keys.identity,
                now=now,
                max_size=1024 * 1024,
            )

        _guard((As2Error,), "as2", call)

    return Target("as2", _corpus("as2", ".as2", ".msg"), run)


def _mdn_target() -> Target:
    def run(data: bytes) -> None:
        _guard((As2Error,), "as2-mdn", lambda: parse_mdn_bytes(data, now=datetime.now(UTC)))

    return Target("as2-mdn", _corpus("as2", ".mdn"), run)


def build_targets() -> dict[str, Target]:
    """Every reader the gateway exposes to partner or admin bytes."""
    flat = CORPUS / "flat"
    targets = [
        _standard_target("x12", "x12"),
        _standard_target("edifact", "edifact"),
        _profile_target(
            "csv",
            FLAT_PROFILES,
            "bots-orders-csv",
            [flat / "bots-plugins__orders_test.csv", flat / "smooks-examples__pipelines_input-message.csv"],
            [],
        ),
        _profile_target("fixed", FLAT_PROFILES, "bots-orders-fixed", [flat / "bots-plugins__060101.fix"], []),
        _profile_target("xml", EXAMPLES, "webshop", [], [XML_SEED, XXE_SEED, LAUGHS_SEED]),
        _as2_target(),
        _mdn_target(),
        _mail_target(),
        _profile_text_target(),
    ]
    for t in targets:
        if not t.seeds:
            raise FuzzFinding(f"{t.name}: no seed inputs")
    return {t.name: t for t in targets}


def mutate(rng: Any, data: bytes, rounds: int = 4) -> bytes:
    """Byte-level mutations (flip, insert, delete, truncate, splice a token) driven by ``rng``."""
    buf = bytearray(data)
    tokens = [b"~", b"*", b"'", b"+", b":", b"\r\n", b"\n\n", b"--", b'"', b"<", b"&", b"="]
    tokens += [b"[", b"]", b"\x00"]
    for _ in range(rng.randint(1, rounds)):
        op = rng.randint(0, 5)
        pos = rng.randint(0, max(len(buf) - 1, 0))
        if op == 0 and buf:
            buf[pos] = rng.randint(0, 255)
        elif op == 1:
            buf[pos:pos] = bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 8)))
        elif op == 2:
            del buf[pos : pos + rng.randint(1, 64)]
        elif op == 3:
            del buf[pos:]
        elif op == 4:
            buf[pos:pos] = rng.choice(tokens) * rng.randint(1, 4)
        else:
            end = min(len(buf), pos + rng.randint(1, 200))
            buf[pos:pos] = buf[pos:end]
    return bytes(buf)


__all__ = ["FuzzFinding", "Target", "build_targets", "mutate"]
