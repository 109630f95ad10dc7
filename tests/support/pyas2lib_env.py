"""pyas2lib as an independent AS2 partner, in its own patched virtualenv (peers.md §2).

pyas2lib is GPL and is *not* a dependency of edigate: it lives in a separate
virtualenv under a cache directory (``$EDIGATE_PYAS2LIB_VENV``, default
``<tmp>/edigate-test-cache/pyas2lib-<version>-py<X.Y>``), built once and reused:

1. ``python -m venv`` + ``pip install pyas2lib==1.4.4``;
2. the oscrypto 1.3.0 libcrypto version regex is patched there, and only there,
   with the ``sed`` line from peers.md ("pyas2lib and OpenSSL ≥ 3.0.10"):
   ``\\d`` → ``\\d+``, else ``import pyas2lib`` fails on "OpenSSL 3.0.19";
3. ``import pyas2lib`` is checked with that venv's python.

pyas2lib code only ever runs in a subprocess of that python: :data:`HELPER`
(written next to the test's files) takes one operation and exchanges JSON files.
Any failure — no PyPI, patch not applicable, import error — is raised as
:class:`Pyas2libEnvError` for the test to *fail* with (never skip).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PYAS2LIB_VERSION = "1.4.4"
PIP_TIMEOUT_SECONDS = 900
#: peers.md §2, "pyas2lib and OpenSSL ≥ 3.0.10", verbatim (the sed expression, run on both files)
OSCRYPTO_SED = r"s/(\\\\d\\\\.\\\\d\\\\.\\\\d\[a-z\]\*)/(\\\\d+\\\\.\\\\d+\\\\.\\\\d+[a-z]*)/"
OSCRYPTO_FILES = ("oscrypto/_openssl/_libcrypto_cffi.py", "oscrypto/_openssl/_libcrypto_ctypes.py")
_PATCHED = r"(\\d+\\.\\d+\\.\\d+[a-z]*)"  # what the files contain afterwards
_UNPATCHED = r"(\\d\\.\\d\\.\\d[a-z]*)"
_MARKER = "edigate-pyas2lib.json"


class Pyas2libEnvError(RuntimeError):
    """The pyas2lib venv could not be built or used; the message says why and what to do."""


def default_venv_dir() -> Path:
    override = os.environ.get("EDIGATE_PYAS2LIB_VENV")
    if override:
        return Path(override)
    tag = f"pyas2lib-{PYAS2LIB_VERSION}-py{sys.version_info.major}.{sys.version_info.minor}"
    return Path(tempfile.gettempdir()) / "edigate-test-cache" / tag


def _run(args: list[str], *, timeout: float, what: str) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise Pyas2libEnvError(f"{what}: timed out after {timeout:.0f} s ({' '.join(args)})") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise Pyas2libEnvError(f"{what}: exit {proc.returncode} ({' '.join(args)})\n{tail}")
    return proc


def _python(root: Path) -> Path:
    return root / "bin" / "python"


def _purelib(python: Path) -> Path:
    out = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        timeout=60,
        what="locating site-packages of the pyas2lib venv",
    )
    return Path(out.stdout.strip())


def patch_oscrypto(python: Path) -> list[Path]:
    """Apply peers.md's one-line sed to oscrypto in this venv; check both files are patched after."""
    site = _purelib(python)
    files = [site / name for name in OSCRYPTO_FILES]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise Pyas2libEnvError(f"oscrypto files to patch are missing: {', '.join(missing)}")
    sed = shutil.which("sed")
    if sed is None:
        raise Pyas2libEnvError("the 'sed' binary is required to patch oscrypto (peers.md §2)")
    _run([sed, "-i", OSCRYPTO_SED, *map(str, files)], timeout=60, what="patching oscrypto with sed")
    for f in files:
        text = f.read_text()
        if _PATCHED not in text or _UNPATCHED in text:
            raise Pyas2libEnvError(
                f"{f}: the libcrypto version regex is not in the expected patched form after sed "
                "(oscrypto changed? see peers.md §2 'pyas2lib and OpenSSL ≥ 3.0.10')"
            )
    return files


def _import_check(python: Path) -> str:
    out = _run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, oscrypto, pyas2lib.as2; "
            "print('pyas2lib', m.version('pyas2lib'), 'oscrypto', m.version('oscrypto'), oscrypto.backend())",
        ],
        timeout=120,
        what="'import pyas2lib' in the pyas2lib venv",
    )
    return out.stdout.strip()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # two pytest runs (or xdist workers) build it once
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_venv(root: Path | None = None, *, progress: Callable[[str], None] = print) -> Path:
    """The python of a venv with pyas2lib (patched oscrypto), built on first use and then reused.

    Raises:
        Pyas2libEnvError: pip could not install pyas2lib (e.g. PyPI unreachable), the patch
            did not apply, or pyas2lib does not import afterwards.
    """
    root = root or default_venv_dir()
    python = _python(root)
    marker = root / _MARKER
    with _locked(root.with_name(root.name + ".lock")):
        if marker.is_file() and python.exists():
            try:
                # Cheap re-check each session: the cache dir may have been tampered with.
                patch_oscrypto(python)  # idempotent
                progress(f"pyas2lib venv reused: {root} ({_import_check(python)})")
                return python
            except Pyas2libEnvError as exc:
                progress(f"pyas2lib venv at {root} is unusable, rebuilding: {exc}")
        shutil.rmtree(root, ignore_errors=True)
        progress(f"pyas2lib venv: creating {root} (first run; pip needs PyPI, ~30-60 s)")
        _run([sys.executable, "-m", "venv", str(root)], timeout=300, what="python -m venv")
        progress(f"pyas2lib venv: pip install pyas2lib=={PYAS2LIB_VERSION} ...")
        try:
            _run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    f"pyas2lib=={PYAS2LIB_VERSION}",
                ],
                timeout=PIP_TIMEOUT_SECONDS,
                what=f"pip install pyas2lib=={PYAS2LIB_VERSION}",
            )
        except Pyas2libEnvError as exc:
            raise Pyas2libEnvError(
                f"could not install pyas2lib=={PYAS2LIB_VERSION} into {root}. These interop tests need "
                "PyPI (or a configured pip index) once; afterwards the venv is cached. They are never "
                f"skipped.\n{exc}"
            ) from exc
        progress("pyas2lib venv: patching oscrypto's libcrypto version regex (peers.md §2)")
        files = patch_oscrypto(python)
        versions = _import_check(python)
        marker.write_text(
            json.dumps({"pyas2lib": PYAS2LIB_VERSION, "patched": [str(f) for f in files], "check": versions})
        )
        progress(f"pyas2lib venv ready: {root} ({versions})")
        return python


# --- the helper that runs inside the pyas2lib venv --------------------------------

HELPER = r'''
"""Run one pyas2lib operation: python helper.py <op> <request.json> <response.json>."""
import base64
import json
import sys

from pyas2lib import Mdn, Message, Organization, Partner


def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def read(path):
    with open(path, "rb") as fh:
        return fh.read()


def org(spec):
    key = read(spec["key_file"]) if spec.get("key_file") else None
    return Organization(as2_name=spec["as2_name"], sign_key=key, decrypt_key=key, mdn_url=spec.get("mdn_url"))


def partner(spec):
    kw = dict(spec)
    for name in ("verify_cert", "encrypt_cert", "verify_cert_ca", "encrypt_cert_ca"):
        if kw.get(name):
            kw[name] = read(kw[name])
    return Partner(**kw)


def unfold(value):
    return " ".join(value.split())


def build(req):
    msg = Message(org(req["org"]), partner(req["partner"]))
    msg.build(
        base64.b64decode(req["data"]),
        filename=req.get("filename"),
        content_type=req["content_type"],
        message_id=req.get("message_id"),
    )
    return {
        "message_id": msg.message_id,
        "headers": [[k, unfold(v)] for k, v in msg.headers.items()],
        "body": b64(msg.content),
        "mic": msg.mic.decode() if msg.mic else None,
        "digest_alg": msg.digest_alg,
        "enc_alg": msg.enc_alg,
        "compressed": msg.compressed,
    }


def parse_mdn(req):
    # What a pyas2lib application does: rebuild the original Message from what it stored when sending.
    original = Message(org(req["org"]), partner(req["partner"]))
    original.message_id = req["message_id"]
    original.mic = req["mic"].encode() if req.get("mic") else None
    seen = []

    def find_message(message_id, recipient):
        seen.append([message_id, recipient])
        return original if message_id == original.message_id else None

    mdn = Mdn()
    status, detail = mdn.parse(base64.b64decode(req["raw"]), find_message)
    return {"status": status, "detail": detail, "lookups": seen, "orig_message_id": mdn.orig_message_id}


def parse(req):
    our_org, their = org(req["org"]), partner(req["partner"])
    msg = Message()
    status, (exc, tb), mdn = msg.parse(
        base64.b64decode(req["raw"]),
        find_org_cb=lambda name: our_org if name == our_org.as2_name else None,
        find_partner_cb=lambda name: their if name == their.as2_name else None,
    )
    payload = msg.payload.get_payload(decode=True) if msg.payload is not None else None
    out = {
        "status": status,
        "exception": None if exc is None else f"{type(exc).__name__}: {exc}",
        "traceback": tb,
        "payload": b64(payload) if isinstance(payload, bytes) else None,
        "content_type": msg.payload.get_content_type() if msg.payload is not None else None,
        "filename": msg.payload.get_filename() if msg.payload is not None else None,
        "signed": msg.signed,
        "encrypted": msg.encrypted,
        "compressed": msg.compressed,
        "enc_alg": msg.enc_alg,
        "digest_alg": msg.digest_alg,
        "mic": msg.mic.decode() if msg.mic else None,
        "mdn": None,
    }
    if mdn is not None:
        out["mdn"] = {
            "headers": [[k, unfold(v)] for k, v in mdn.headers.items()],
            "body": b64(mdn.content),
        }
    return out


if __name__ == "__main__":
    op, request, response = sys.argv[1:4]
    with open(request) as fh:
        req = json.load(fh)
    result = {"build": build, "parse_mdn": parse_mdn, "parse": parse}[op](req)
    with open(response, "w") as fh:
        json.dump(result, fh)
'''


@dataclass
class Pyas2lib:
    """Runs :data:`HELPER` operations with the pyas2lib venv's python."""

    python: Path
    work: Path

    def __post_init__(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.helper = self.work / "pyas2lib_helper.py"
        self.helper.write_text(HELPER)
        self._n = 0

    def call(self, op: str, request: dict[str, Any]) -> dict[str, Any]:
        """Run one operation; raises Pyas2libEnvError with pyas2lib's stderr when the helper crashes."""
        self._n += 1
        req = self.work / f"{self._n:03d}-{op}.request.json"
        resp = self.work / f"{self._n:03d}-{op}.response.json"
        req.write_text(json.dumps(request))
        _run(
            [str(self.python), str(self.helper), op, str(req), str(resp)],
            timeout=120,
            what=f"pyas2lib helper '{op}'",
        )
        result: dict[str, Any] = json.loads(resp.read_text())
        return result


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


# --- pyas2lib's own keys ----------------------------------------------------------


@dataclass(frozen=True)
class TestIdentity:
    """A key pair of the pyas2lib side: ``combined`` is key + cert in one PEM, as pyas2lib wants."""

    __test__ = False  # not a pytest class

    key: Path
    cert: Path
    combined: Path


def make_identity(directory: Path, name: str, common_name: str) -> TestIdentity:
    """A fresh RSA-2048 key and self-signed S/MIME certificate (valid from yesterday for 5 years)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _dt.datetime.now(_dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=5 * 365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    paths = TestIdentity(
        key=directory / f"{name}.key",
        cert=directory / f"{name}.pem",
        combined=directory / f"{name}.keycert.pem",
    )
    paths.key.write_bytes(key_pem)
    paths.cert.write_bytes(cert_pem)
    paths.combined.write_bytes(key_pem + cert_pem)
    return paths


__all__ = [
    "HELPER",
    "PYAS2LIB_VERSION",
    "Pyas2lib",
    "Pyas2libEnvError",
    "TestIdentity",
    "b64",
    "default_venv_dir",
    "ensure_venv",
    "make_identity",
    "patch_oscrypto",
    "unb64",
]
