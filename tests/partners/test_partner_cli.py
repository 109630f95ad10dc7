"""``edigate partners ...`` sub-commands, driven through their argparse entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.commands.partners import main
from partners import Registry, load_registry, parse_profile_text
from partners.scaffold import sample_envelopes

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "partners" / "examples"
FLAT_PROFILES = Path(__file__).resolve().parent / "data" / "flat"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["partners", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--json", "--partners-dir", str(EXAMPLES))
    assert code == 0
    listed = json.loads(out)
    assert {p["id"] for p in listed["partners"]} == {
        "acme-retail",
        "nordwaren",
        "fastfreight",
        "legacy-wms",
        "webshop",
    }
    assert listed["errors"] == []
    code, out, _ = run(capsys, "list", "--partners-dir", str(EXAMPLES))
    assert code == 0 and "acme-retail" in out and "inbound x12 850 004010" in out

    code, out, _ = run(capsys, "show", "nordwaren", "--partners-dir", str(EXAMPLES))
    assert code == 0 and "Nordwaren Handels GmbH" in out and "edifact 4012345000009:14" in out
    code, out, _ = run(capsys, "show", "webshop", "--json", "--partners-dir", str(EXAMPLES))
    shown = json.loads(out)
    assert shown["profile"]["layouts"]["orders_xml"]["root"] == "Orders"
    code, _, err = run(capsys, "show", "nobody", "--partners-dir", str(EXAMPLES))
    assert code == 1 and "nobody" in err


def test_validate_reports_every_error_with_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "validate", str(EXAMPLES))
    assert code == 0 and out == ""
    bad = tmp_path / "bad.toml"
    bad.write_text('id = "Bad Id"\nname = "x"\n[acks]\nta1 = "sometimes"\n', encoding="utf-8")
    code, out, err = run(capsys, "validate", str(bad))
    assert code == 1
    lines = out.splitlines()
    assert f"{bad}:1: id: " in lines[0]
    assert any(line.startswith(f"{bad}:4: acks.ta1: ") for line in lines)
    assert "2 problem(s)" in err
    # folder form, default taken from --partners-dir
    code, out, _ = run(capsys, "validate", "--partners-dir", str(tmp_path))
    assert code == 1 and out.count(str(bad)) == 2
    code, _, _ = run(capsys, "validate", str(tmp_path / "missing.toml"))
    assert code == 66


def test_schema_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0
    assert json.loads(out)["title"] == "edigate partner profile"


def test_test_shows_documents_and_the_ack(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    sample = CORPUS / "x12" / "node-x12__850.edi"
    code, out, _ = run(
        capsys, "new", "--from-sample", str(sample), "--id", "node850", "-o", str(tmp_path / "n.toml")
    )
    assert code == 0
    code, out, _ = run(capsys, "test", "node850", str(sample), "--json", "--partners-dir", str(tmp_path))
    report = json.loads(out)
    assert code == 0 and report["accepted"] is True
    assert [d["document_type"] for d in report["documents"]] == ["purchase_order"]
    assert report["documents"][0]["envelope"]["sender_id"].strip() == "4405197800"
    assert [a["kind"] for a in report["acks"]] == ["997"]
    assert report["acks"][0]["payload"].startswith("ISA")
    code, out, _ = run(capsys, "test", "node850", str(sample), "--partners-dir", str(tmp_path))
    assert code == 0 and out.startswith("ACCEPTED") and "--- 997 we would send (accepting):" in out


def test_test_rejects_a_file_from_someone_else(capsys: pytest.CaptureFixture[str]) -> None:
    sample = CORPUS / "x12" / "node-x12__850.edi"
    code, out, _ = run(capsys, "test", "acme-retail", str(sample), "--json", "--partners-dir", str(EXAMPLES))
    report = json.loads(out)
    assert code == 65 and report["accepted"] is False
    assert any("unknown partner" in p and "4405197800" in p for p in report["problems"])


def test_test_rejects_a_broken_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    sample = CORPUS / "x12" / "pyx12__fail_no_IEA.txt"
    profile = tmp_path / "p.toml"
    assert run(capsys, "new", "--from-sample", str(sample), "-o", str(profile))[0] == 0
    code, out, _ = run(capsys, "test", str(profile), str(sample), "--json")
    report = json.loads(out)
    assert code == 65 and report["accepted"] is False and report["problems"]


def test_test_reads_flat_files_through_the_layout(capsys: pytest.CaptureFixture[str]) -> None:
    sample = CORPUS / "flat" / "smooks-examples__pipelines_input-message.csv"
    code, out, _ = run(
        capsys, "test", "smooks-orders-csv", str(sample), "--json", "--partners-dir", str(FLAT_PROFILES)
    )
    report = json.loads(out)
    assert code == 0, report["problems"]
    assert [d["document"]["order_number"] for d in report["documents"]] == ["128576", "128577", "128578"]
    assert report["acks"] == []


SAMPLES = [
    "x12/node-x12__850.edi",
    "x12/bots-plugins__856_1.x12",
    "x12/staedi__invoice810_po850_dual.edi",
    "x12/EDI.Net__214-MGCTLYST-SAMPLE.EDI",
    "x12/EdiEngine__940.OK.edi",
    "x12/stupidedi__004010_SM204_case_1.edi",
    "edifact/bots-plugins__desadv1.edi",
    "edifact/bots-plugins__invoic01.edi",
    "edifact/EDI.Net__edifact.ORDRSP.edi",
    "edifact/php-edifact__D95BCOARRI.edi",
]


@pytest.mark.parametrize("sample", SAMPLES)
def test_new_from_sample_validates_and_identifies(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sample: str
) -> None:
    path = CORPUS / sample
    code, out, _ = run(capsys, "new", "--from-sample", str(path))
    assert code == 0
    model, errors = parse_profile_text(out, tmp_path / "scaffold.toml")
    assert errors == [] and model is not None
    (tmp_path / "scaffold.toml").write_text(out, encoding="utf-8")
    registry, errors = load_registry(tmp_path)
    assert errors == []
    for env in sample_envelopes(path.read_bytes()):
        found = registry.identify_interchange(
            env.standard, env.sender_qualifier, env.sender_id, env.receiver_qualifier, env.receiver_id
        )
        assert found is not None and found.id == model.id
    found_types = {t for env in sample_envelopes(path.read_bytes()) for t, _ in env.documents}
    assert {d.type for d in model.documents} == found_types - {"997", "999", "TA1", "CONTRL"}


# Samples whose content the X12/EDIFACT translators accept as a whole: translating the sample
# with the scaffolded profile must give documents and an accepting ack.
TRANSLATABLE = [
    ("x12/node-x12__850.edi", {"purchase_order"}),
    ("x12/bots-plugins__856_1.x12", {"ship_notice"}),
    ("x12/staedi__invoice810_po850_dual.edi", {"invoice", "purchase_order"}),
    ("x12/EDI.Net__214-MGCTLYST-SAMPLE.EDI", {"shipment_status"}),
    ("x12/EdiEngine__940.OK.edi", {"warehouse_shipping_order"}),
    ("edifact/bots-plugins__desadv1.edi", {"ship_notice"}),
    ("edifact/bots-plugins__invoic01.edi", {"invoice"}),
]


@pytest.mark.parametrize(("sample", "types"), TRANSLATABLE)
def test_scaffolded_profile_translates_its_sample(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sample: str, types: set[str]
) -> None:
    path = CORPUS / sample
    assert (
        run(capsys, "new", "--from-sample", str(path), "-o", str(tmp_path / "p.toml"), "--id", "sample")[0]
        == 0
    )
    code, out, _ = run(capsys, "test", "sample", str(path), "--json", "--partners-dir", str(tmp_path))
    report = json.loads(out)
    assert code == 0, report["problems"]
    assert {d["document_type"] for d in report["documents"]} == types
    assert report["acks"]  # the functional ack we would send (AK5*E for accepted-with-errors)


def test_new_refuses_a_non_edi_sample(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "new", "--from-sample", str(CORPUS / "flat" / "bots-plugins__alto_ETRHDR.csv"))
    assert code == 65 and "not an X12 or EDIFACT" in err


def test_new_does_not_overwrite(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "p.toml"
    target.write_text("keep me", encoding="utf-8")
    code, _, err = run(
        capsys, "new", "--from-sample", str(CORPUS / "x12" / "node-x12__850.edi"), "-o", str(target)
    )
    assert code == 1 and "exists" in err
    assert target.read_text(encoding="utf-8") == "keep me"


def test_registry_type_is_what_the_cli_uses() -> None:
    registry, _ = load_registry(EXAMPLES)
    assert isinstance(registry, Registry)
