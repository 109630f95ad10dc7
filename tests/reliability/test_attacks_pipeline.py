"""Attacks through the whole running gateway (``edigate run``), not one component.

* XML external entities and billion laughs dropped by an XML partner: rejected
  with a reason, never delivered, no local file content anywhere, memory flat;
* path traversal in file names over AS2 (Content-Disposition) and FTPS
  (``STOR ../../x``): nothing written outside the gateway's folders, journaled
  names carry no folder part;
* secret-holding files readable by others (profile with a password hash, AS2
  private key at 0644): refused with an error that names the file and the fix;
* secrets (FTP password, wrong passwords tried, private key material, password
  hashes) never appear in the log, the journal events or ``edigate status --json``.
"""

from __future__ import annotations

import ftplib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import REPO, GatewayProcess, sink_envelopes, write_config
from tests.reliability.site import FTP_PASSWORD, Site, shared_pki

EXAMPLES = REPO / "partners" / "examples"
# a crypt(3) SHA-512 hash as profiles carry it (the value is irrelevant: the file mode is checked)
PROFILE_HASH = "$6$edigatesalt$" + "x" * 86
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Orders [<!ENTITY x SYSTEM "file:///etc/hostname">]>
<Orders><Order number="PO-X"><Date>2026-03-01</Date><Currency>&x;</Currency></Order></Orders>
"""
LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE Orders [<!ENTITY a "0123456789">'
    + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9))
    + b']>\n<Orders><Order number="&j;"><Date>2026-03-01</Date></Order></Orders>\n'
)
UTF16_XXE = (
    XXE.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16")
)
GOOD_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<Orders><Order number="PO-OK"><Date>2026-03-01</Date><Currency>EUR</Currency>
<Line no="1"><GTIN>05412345000013</GTIN><Qty unit="EA">12</Qty></Line></Order></Orders>
"""


def xml_site(root: Path) -> GatewayProcess:
    cfg = write_config(root)
    shutil.copy(EXAMPLES / "xml-partner.toml", root / "partners.d" / "webshop.toml")
    (root / "inbox" / "webshop").mkdir(parents=True)
    return GatewayProcess(cfg)


def test_xxe_and_billion_laughs_are_rejected_through_the_pipeline(tmp_path: Path) -> None:
    gw = xml_site(tmp_path)
    gw.start()
    secret = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else None
    try:
        inbox = tmp_path / "inbox" / "webshop"
        for name, data in (
            ("xxe.xml", XXE),
            ("laughs.xml", LAUGHS),
            ("utf16.xml", UTF16_XXE),
            ("ok.xml", GOOD_XML),
        ):
            (inbox / f".{name}").write_bytes(data)
            os.replace(inbox / f".{name}", inbox / name)
        states = gw.wait_settled(4, timeout=120)
        with gw.db() as c:
            rows = {r["file_name"]: dict(r) for r in c.execute("SELECT * FROM messages")}
        status = json.dumps(gw.control({"command": "status"}))
    finally:
        gw.kill()
    assert states.get("delivered") == 1, states
    for name in ("xxe.xml", "laughs.xml", "utf16.xml"):
        row = rows[name]
        assert row["state"] in ("rejected", "dead"), row
        reason = str(row.get("reason") or row.get("error") or row)
        assert "DOCTYPE" in reason or "entit" in reason.lower() or "XML" in reason, reason
    envelopes = sink_envelopes(tmp_path)
    assert [e["source"]["file_name"] for e in envelopes] == ["ok.xml"]
    if secret:
        dumped = json.dumps(envelopes) + status + (tmp_path / "gateway.log").read_text(errors="replace")
        assert secret not in dumped.replace("edigate", ""), "a local file's content leaked through an entity"


# ---------------------------------------------------------------- file names


@pytest.fixture
def site(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = Site(tmp_path, pki=shared_pki(tmp_path_factory))
    try:
        yield s
    finally:
        s.gw.kill()


def _files_outside(root: Path, before: set[Path]) -> set[Path]:
    allowed = ("state", "out", "archive", "ftp", "inbox", "outbox", "as2work", "w", "pki")
    now = {p for p in root.rglob("*") if p.is_file()}
    return {p for p in now - before if p.relative_to(root).parts[0] not in allowed}


def test_path_traversal_in_file_names_stays_inside(site: Site, tmp_path: Path) -> None:
    site.gw.start()
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    kit = site.kit
    try:
        # AS2: Content-Disposition filename with folders
        data = b"ISA" + b"x" * 10
        from tests.harness import make_850

        data = make_850(4242, "PO-TRAV")
        mime = kit.payload_mime(data, file_name="../../../../tmp/edigate-pwn.edi")
        work = tmp_path / "w"
        work.mkdir()
        entity = kit.openssl_sign(site.pki, work, mime)
        head, body = kit.split_top(entity)
        headers = dict(head)
        headers.update({"AS2-Version": "1.2", "AS2-From": "PARTNER", "AS2-To": "GATEWAY",
                        "Message-ID": "<trav@partner>", "MIME-Version": "1.0"})  # fmt: skip
        import httpx

        r = httpx.post(f"http://127.0.0.1:{site.as2_port}/as2", content=body, headers=headers, timeout=30)
        assert r.status_code == 200
        # FTPS: STOR with parent references and an absolute host path
        answers: list[str] = []
        with ftplib.FTP_TLS(context=site.ftp_ctx, timeout=30) as ftp:
            ftp.connect("127.0.0.1", site.ftp_port)
            ftp.login("acme", FTP_PASSWORD)
            ftp.prot_p()
            for target in (
                "../../../edigate-ftp-pwn.edi",
                "/../../tmp/edigate-ftp-pwn.edi",
                "/inbound/../../x.edi",
            ):
                try:
                    answers.append(
                        ftp.storbinary(f"STOR {target}", io.BytesIO(make_850(4300 + len(answers), "F")))
                    )
                except ftplib.error_perm as exc:
                    answers.append(str(exc))
        time.sleep(1)
        with site.db() as c:
            names = [
                str(r[0]) for r in c.execute("SELECT file_name FROM messages WHERE file_name IS NOT NULL")
            ]
    finally:
        site.gw.kill()
    assert not Path("/tmp/edigate-pwn.edi").exists() and not Path("/tmp/edigate-ftp-pwn.edi").exists()
    assert not _files_outside(tmp_path, before), _files_outside(tmp_path, before)
    assert not (tmp_path.parent / "edigate-ftp-pwn.edi").exists()
    for name in names:
        assert "/" not in name and "\\" not in name and not name.startswith(".."), names
    assert names, "the AS2 message itself is accepted (its name is cleaned, not trusted)"
    for answer in answers:
        assert answer.startswith(("226", "5")), answers


# ---------------------------------------------------------------- permissions


def _validate(cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "validate", "--config", str(cfg)],
        capture_output=True, text=True, timeout=120, check=False, cwd=cfg.parent,
    )  # fmt: skip


def test_profile_with_password_hash_readable_by_others_is_refused(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    profile = tmp_path / "partners.d" / "acme.toml"
    profile.write_text(
        profile.read_text().replace(
            'inbox = "acme"\n',
            f'inbox = "acme"\nsftp = {{ user = "acme", password_hash = "{PROFILE_HASH}" }}\n',
        )
    )
    os.chmod(profile, 0o644)
    r = _validate(cfg)
    assert r.returncode != 0, r.stdout
    out = r.stdout + r.stderr
    assert str(profile) in out and "readable by other users" in out and "chmod 600" in out, out
    os.chmod(profile, 0o600)
    r = _validate(cfg)
    assert r.returncode == 0, r.stdout + r.stderr


def test_as2_private_key_readable_by_others_is_refused(site: Site) -> None:
    key = site.pki.path("gateway", "key")
    os.chmod(key, 0o644)
    try:
        refused(site, key)
    finally:
        os.chmod(key, 0o600)
    r = _validate(site.config)
    assert r.returncode == 0, r.stdout + r.stderr


def refused(site: Site, key: Path) -> None:
    r = _validate(site.config)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert str(key) in out and "AS2 private key" in out and "chmod 600" in out, out


# ---------------------------------------------------------------- secrets


def test_secrets_never_reach_logs_events_or_status(site: Site, tmp_path: Path) -> None:
    wrong = "Wr0ng-guess-77"
    site.gw.start()
    try:
        assert site.ftp_put(1).startswith("226")
        with ftplib.FTP_TLS(context=site.ftp_ctx, timeout=30) as ftp:
            ftp.connect("127.0.0.1", site.ftp_port)
            with pytest.raises(ftplib.error_perm):
                ftp.login("acme", wrong)
        assert site.as2_post(2, tmp_path / "w") == "processed"
        status = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "status", "--json", "--config", str(site.config)],
            capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        json.loads(status.stdout)
    finally:
        site.gw.kill()
    with site.db() as c:
        events = " ".join(str(r[0]) for r in c.execute("SELECT detail FROM events"))
        meta = " ".join(str(r[0]) for r in c.execute("SELECT meta FROM messages"))
    key_body = site.pki.path("gateway", "key").read_text().splitlines()[1]
    config_text = site.config.read_text()
    password_hash = config_text.split('password_hash = "', 1)[1].split('"', 1)[0]
    log = (tmp_path / "gateway.log").read_text(errors="replace")
    for where, text in (("log", log), ("events", events), ("meta", meta), ("status --json", status.stdout)):
        for secret in (FTP_PASSWORD, wrong, key_body, password_hash):
            assert secret not in text, f"a secret appears in {where}"
