"""Registry: identification matrix, channel lookups, conflicts, translate_with_profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from partners import Registry, load_registry, translate_with_profile
from translators import RemoteSyntaxError, TranslatorOptions

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"

PROFILES = {
    "alpha.toml": """
id = "alpha"
name = "Alpha"
[identities]
x12 = [{ qualifier = "ZZ", id = "ACME" }, { qualifier = "01", id = "123456789" }]
edifact = [{ id = "4012345000009", qualifier = "14" }]
as2_name = "ACME AS2"
inbox = "alpha-in"
mail_senders = ["edi@acme.example"]
sftp = { user = "alpha", public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA alpha"] }
""",
    "beta.toml": """
id = "beta"
name = "Beta"
[identities]
x12 = [{ qualifier = "01", id = "ACME" }]
edifact = [{ id = "BETA" }]
mail_senders = ["@beta.example"]
""",
    "gamma.toml": """
id = "gamma"
name = "Gamma"
[identities]
x12 = [{ qualifier = "ZZ", id = "SHARED", application_codes = ["GAMMA"] }]
""",
    "delta.toml": """
id = "delta"
name = "Delta"
[identities]
x12 = [{ qualifier = "ZZ", id = "SHARED", application_codes = ["DELTA"] }]
""",
    "east.toml": """
id = "east"
name = "Twin for our east site"
[identities]
x12 = [{ qualifier = "ZZ", id = "TWIN" }]
[our_ids]
x12 = { qualifier = "ZZ", id = "OUREAST" }
""",
    "west.toml": """
id = "west"
name = "Twin for our west site"
[identities]
x12 = [{ qualifier = "ZZ", id = "TWIN" }]
[our_ids]
x12 = { qualifier = "ZZ", id = "OURWEST" }
""",
}


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    for name, text in PROFILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    loaded, errors = load_registry(tmp_path)
    assert errors == []
    return loaded


@pytest.mark.parametrize(
    ("standard", "qualifier", "sender", "receiver", "app", "expected"),
    [
        ("x12", "ZZ", "ACME           ", "OURS", None, "alpha"),  # ISA06 padding
        ("X12", "zz", "ACME", None, None, "alpha"),
        ("x12", "01", "ACME", None, None, "beta"),  # same ID, other qualifier, other partner
        ("x12", "12", "ACME", None, None, None),
        ("x12", "01", "123456789      ", None, None, "alpha"),  # second ID of one partner
        ("x12", "ZZ", "NOBODY", None, None, None),
        ("x12", None, "ACME", None, None, None),
        ("edifact", "14", "4012345000009", None, None, "alpha"),
        ("edifact", None, "4012345000009", None, None, None),
        ("edifact", "ZZZ", "BETA", None, None, "beta"),  # no qualifier in the profile: any
        ("edifact", None, "BETA", None, None, "beta"),
        ("edifact", "ZZ", "ACME", None, None, None),  # standards never mix
        ("x12", "ZZ", "SHARED", None, "GAMMA", "gamma"),
        ("x12", "ZZ", "SHARED", None, "DELTA", "delta"),
        ("x12", "ZZ", "SHARED", None, None, None),  # ambiguous without the GS02
        ("x12", "ZZ", "TWIN", "OURWEST        ", None, "west"),  # told apart by our receiver ID
        ("x12", "ZZ", "TWIN", "OUREAST", None, "east"),
        ("x12", "ZZ", "TWIN", None, None, None),
        ("tradacoms", "ZZ", "ACME", None, None, None),
    ],
)
def test_identification_matrix(
    registry: Registry,
    standard: str,
    qualifier: str | None,
    sender: str,
    receiver: str | None,
    app: str | None,
    expected: str | None,
) -> None:
    found = registry.identify_interchange(
        standard, qualifier, sender, "ZZ" if receiver else None, receiver, application_sender=app
    )
    assert (found.id if found else None) == expected


def test_channel_lookups(registry: Registry) -> None:
    def pid(p: object) -> str | None:
        return getattr(p, "id", None)

    assert pid(registry.by_inbox("alpha-in")) == "alpha"
    assert registry.by_inbox("beta") is None
    assert pid(registry.by_sftp_account("alpha")) == "alpha"
    assert registry.by_sftp_account("root") is None
    assert pid(registry.by_as2_name("ACME AS2")) == "alpha"
    assert pid(registry.by_as2_name('"ACME AS2"')) == "alpha"  # RFC 4130 quoted form
    assert registry.by_as2_name("acme as2") is None
    assert pid(registry.by_mail_sender("EDI Desk <EDI@Acme.example>")) == "alpha"
    assert pid(registry.by_mail_sender("anyone@beta.example")) == "beta"  # domain entry
    assert registry.by_mail_sender("anyone@acme.example") is None
    assert registry.by_mail_sender("not an address") is None
    assert pid(registry.get("gamma")) == "gamma" and registry.get("nobody") is None
    assert [p.id for p in registry.profiles] == sorted(p.id for p in registry.profiles)


def test_conflicting_profiles_are_refused_and_reported(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(PROFILES["alpha.toml"], encoding="utf-8")
    clash = PROFILES["alpha.toml"].replace('id = "alpha"', 'id = "copycat"').replace("alpha-in", "copy-in")
    (tmp_path / "b.toml").write_text(clash, encoding="utf-8")
    (tmp_path / "c.toml").write_text(PROFILES["beta.toml"].replace('"beta"', '"alpha"', 1), encoding="utf-8")
    registry, errors = load_registry(tmp_path)
    assert [p.id for p in registry.profiles] == ["alpha"]
    reasons = {(e.file.name, e.reason) for e in errors}
    assert ("b.toml", "X12 identity ZZ:ACME (already claimed by partner 'alpha' in a.toml)") in reasons
    located = {(e.file.name, e.field, e.line) for e in errors}
    assert ("b.toml", "identities.x12[0]", 5) in located
    assert ("b.toml", "identities.sftp.user", 10) in located
    assert ("c.toml", "id", 2) in located
    assert any(f == "b.toml" and "SFTP account 'alpha'" in r for f, r in reasons)
    assert any(f == "c.toml" and "partner id 'alpha' is used by a.toml" in r for f, r in reasons)


def test_a_serving_partner_wins_over_a_new_file(tmp_path: Path) -> None:
    (tmp_path / "z.toml").write_text(PROFILES["alpha.toml"], encoding="utf-8")
    first, _ = load_registry(tmp_path)
    clash = PROFILES["alpha.toml"].replace('id = "alpha"', 'id = "newcomer"')
    (tmp_path / "a.toml").write_text(clash, encoding="utf-8")
    second, errors = load_registry(tmp_path, previous=first)
    assert [p.id for p in second.profiles] == ["alpha"]
    assert errors and all(e.file.name == "a.toml" for e in errors)
    fresh, _ = load_registry(tmp_path)  # without history, file order decides
    assert [p.id for p in fresh.profiles] == ["newcomer"]


def test_broken_files_are_skipped_and_valid_ones_load(tmp_path: Path) -> None:
    (tmp_path / "alpha.toml").write_text(PROFILES["alpha.toml"], encoding="utf-8")
    (tmp_path / "broken.toml").write_text('id = "broken"\nname = 5\n', encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a profile", encoding="utf-8")
    registry, errors = load_registry(tmp_path)
    assert [p.id for p in registry.profiles] == ["alpha"]
    assert [(e.file.name, e.field, e.line) for e in errors] == [("broken.toml", "name", 2)]


def test_missing_folder_is_one_error(tmp_path: Path) -> None:
    registry, errors = load_registry(tmp_path / "nope")
    assert len(registry) == 0
    assert len(errors) == 1 and "cannot list" in errors[0].reason


def test_translate_with_profile_reads_x12_and_edifact(registry: Registry) -> None:
    options = TranslatorOptions()
    x12 = translate_with_profile(
        registry.get("alpha"), (CORPUS / "x12" / "node-x12__850.edi").read_bytes(), options
    )
    assert x12.standard == "x12"
    assert [d.document_type for d in x12.documents] == ["purchase_order"]
    edifact = translate_with_profile(
        None, (CORPUS / "edifact" / "bots-plugins__desadv1.edi").read_bytes(), options
    )
    assert edifact.standard == "edifact"
    assert edifact.documents and {d.document_type for d in edifact.documents} == {"ship_notice"}


def test_translate_with_profile_refuses_what_nothing_declares(registry: Registry) -> None:
    data = (CORPUS / "flat" / "bots-plugins__orders_test.csv").read_bytes()
    with pytest.raises(RemoteSyntaxError, match="no partner profile"):
        translate_with_profile(None, data, TranslatorOptions())
    with pytest.raises(RemoteSyntaxError, match="declares no inbound"):
        translate_with_profile(registry.get("alpha"), data, TranslatorOptions())
