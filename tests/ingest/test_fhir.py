"""FHIR R4 JSON into the contract (issue 13 §6, her2qa/ingest/formats/fhir).

The public examples (../shared/data/fhir: MII, mCODE, Synthea-derived) are each read and
every item accounted for with its reason; hand-made resources pin each mapping rule
(components, panels, misfits, code map, layouts); a generated network arrives as FHIR and
as CSV and stages the same; no patient identifier of a Patient reaches any table."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

import warehouse
from her2qa import config, staging
from her2qa.config import SourceConfig
from her2qa.generate import generate
from her2qa.ingest import extract, formats, inbox
from her2qa.ingest.formats import fhir
from her2qa.ingest.formats.fhir import codes as fc
from her2qa.ingest.formats.fhir import validate
from schemas import contract
from tests.conftest import SHARED, materialize_ingest

FIXTURES = SHARED / "data" / "fhir"
LOINC = fc.LOINC
SNOMED = fc.SNOMED

# What each public example yields: (rows, results). A row is an item (docs/formats/fhir.md):
# an Observation, a report without its results in the file; Patients, Specimens and other
# context resources are not rows.
EXPECTED_ITEMS = {
    "mcode-biomarker_Observation-CAPher2.json": (1, 0),
    "mcode-biomarker_Observation-biomarker-her2-ihc.json": (1, 1),
    "mcode-ig_DiagnosticReport-us-core-diagnosticreport-lab-jenny-m.json": (1, 0),
    "mcode-ig_Observation-tumor-marker-test-her2-jenny-m.json": (1, 0),
    "mcode-omop_Observation-her2-fish-string-gt1.8-f5a76211.json": (1, 0),
    "mcode-omop_Observation-her2-fish-string-lt1.8-c6483c76.json": (1, 0),
    "mcode-omop_Observation-her2-ihc-negative-be87be25.json": (1, 1),
    "mcode-omop_Observation-her2-ihc-positive-0e60186e.json": (1, 1),
    "mii-testdata_Bundle-mii-exa-test-data-bundle-mtb-1.json": (30, 3),
    "mii-testdata_Bundle-mii-exa-test-data-bundle-onkologie-1.json": (61, 1),
    "mii-testdata_Observation-mii-exa-test-data-mtb-biomarker-her2-status-1.json": (1, 0),
    "mii-testdata_Observation-mii-exa-test-data-mtb-copy-number-variant-1.json": (1, 0),
    "mii-testdata_Observation-mii-exa-test-data-mtb-immunohistochemistry-her2-1.json": (1, 1),
    "mii-testdata_Observation-mii-exa-test-data-mtb-insituhybridization-1.json": (1, 1),
    "mii-testdata_Observation-mii-exa-test-data-mtb-insituhybridization-her2-1.json": (1, 1),
    "mii-testdata_Observation-mii-exa-test-data-onko-mamma-her2neu-status-1.json": (1, 1),
    "mii-testdata_Observation-mii-exa-test-data-onko-mamma-her2neu-status-2.json": (1, 0),
}
# The patients of the public examples: none of this may reach a table.
FIXTURE_PHI = (
    "MTB-TEST-001",
    "Elena",
    "Tumorfall",
    "1971-04-12",
    "ONKO-TEST-001",
    "Musterperson",
    "1956-03-14",
)


# ----------------------------------------------------------------------------- helpers


def _read(path: Path, **source: object) -> list[dict]:
    src = SourceConfig(pattern="*", format="fhir", lab_id=source.pop("lab_id", None), raw=source)
    return fhir.read(path, src).table.to_pylist()


def _write(tmp_path: Path, resources: list[dict], name: str = "f.json", kind: str = "collection"):
    bundle = {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [{"resource": r} for r in resources],
    }
    path = tmp_path / name
    path.write_text(json.dumps(bundle, indent=2), encoding="utf-8")
    return path


def _concept(system: str, code: str, display: str | None = None) -> dict:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


PATIENT = {
    "resourceType": "Patient",
    "id": "pat1",
    "identifier": [{"type": _concept(fc.V2_IDENTIFIER_TYPE, "MR"), "value": "MRN-CANARY-4411"}],
    "name": [{"given": ["Xanthippe"], "family": "Quurlbeck"}],
    "birthDate": "1967-04-05",
}
CANARIES = ("MRN-CANARY-4411", "Xanthippe", "Quurlbeck", "1967-04-05")
SPECIMEN = {
    "resourceType": "Specimen",
    "id": "spec1",
    "accessionIdentifier": {
        "value": "S24-0001-A1",
        "assigner": {"type": "Organization", "identifier": {"value": "NORTH"}},
    },
    "subject": {"reference": "Patient/pat1"},
    "collection": {"collectedDateTime": "2024-03-01", "bodySite": {"text": "breast"}},
    "extension": [{"url": fc.EXT_SPECIMEN_ROLE, "valueCode": "primary"}],
}


def _obs(oid: str, code: str, system: str = LOINC, **fields: object) -> dict:
    return {
        "resourceType": "Observation",
        "id": oid,
        "identifier": [{"value": f"T-{oid}"}],
        "status": "final",
        "code": _concept(system, code),
        "subject": {"reference": "Patient/pat1"},
        "specimen": {"reference": "Specimen/spec1"},
        "issued": "2024-03-04T10:00:00+01:00",
        **fields,
    }


def _call(call: str) -> list[dict]:
    return [_concept(SNOMED, fc.CALL_SNOMED[call])]


def _ihc(oid: str = "ihc1", score: str = "2+", call: str = "equivocal", **fields) -> dict:
    value = {"valueCodeableConcept": _concept(LOINC, fc.IHC_ANSWERS[score], score)}
    return _obs(oid, fc.IHC_SCORE, **value, interpretation=_call(call), **fields)


def _quantity_component(code: str, value: object, unit: str | None = None) -> dict:
    quantity: dict = {"value": value}
    if unit:
        quantity["unit"] = unit
    return {"code": _concept(LOINC, code), "valueQuantity": quantity}


def _ish_components(her2=8.1, cep17=2.0, ratio=4.05, cells=20) -> list[dict]:
    return [
        _quantity_component(fc.ISH_HER2_PER_NUCLEUS, her2),
        _quantity_component(fc.ISH_CEP17_PER_NUCLEUS, cep17),
        _quantity_component(fc.ISH_RATIO, ratio),
        _quantity_component(fc.CELLS_COUNTED, cells),
    ]


def _only(rows: list[dict]) -> dict:
    assert len(rows) == 1, rows
    return rows[0]


def _result(rows: list[dict]) -> dict:
    row = _only(rows)
    assert row["malformed"] is None, row["malformed"]
    return {k: v for k, v in row.items() if v is not None and k not in ("source_row", "malformed")}


def _reason(rows: list[dict]) -> str:
    row = _only(rows)
    assert row["malformed"], row
    assert all(row[c] is None for c in row if c not in ("source_row", "malformed"))
    return row["malformed"]


def _run(root: Path, site: config.SiteConfig | None = None) -> None:
    """Ingest the inbox (with the site's [[sources]]) and stage it, in process."""
    with warehouse.connect(root / "her2.duckdb") as con:
        warehouse.ensure_schema(con)
        inbox.ingest_inbox(con, root / "inbox", root / "var" / "archive", _key(), "t", site=site)
        staging.stage_pending(con, site or config.SiteConfig())


def _key():
    from her2qa.ingest import phi

    return phi.load_key()


def _tables_text(wh) -> dict[str, str]:
    tables = wh.query(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database()"
    )
    return {
        f"{s}.{t}": json.dumps(wh.query(f'SELECT * FROM "{s}"."{t}"'), default=str)
        for s, t in tables
    }


def _assert_no_phi(wh, secrets: tuple[str, ...]) -> None:
    for table, text in _tables_text(wh).items():
        for secret in secrets:
            assert secret not in text, (table, secret)


# ------------------------------------------------------------- the public examples


def test_every_public_example_is_recognised_as_fhir():
    files = sorted(FIXTURES.glob("*.json"))
    assert {f.name for f in files} == set(EXPECTED_ITEMS)
    for path in files:
        assert formats.recognise(path.read_bytes()[:512]) == "fhir", path.name


@pytest.mark.parametrize("name", sorted(EXPECTED_ITEMS))
def test_every_public_example_is_read_item_by_item(name):
    rows = _read(FIXTURES / name)
    expected_rows, expected_results = EXPECTED_ITEMS[name]
    assert len(rows) == expected_rows
    assert [r["source_row"] for r in rows] == list(range(1, len(rows) + 1))
    assert sum(r["malformed"] is None for r in rows) == expected_results
    for row in rows:
        if row["malformed"] is None:
            assert row["assay"] in ("IHC", "ISH") and row["test_id"]
        else:  # a reason names the place, never a patient's value
            assert re.search(
                r"(Observation|DiagnosticReport) '[^']+' \((the resource|entry \d+)\)",
                row["malformed"],
            )
            assert not any(secret in row["malformed"] for secret in FIXTURE_PHI)


def test_public_examples_map_what_is_unambiguous_and_say_why_not_the_rest():
    def one(name: str) -> dict:
        return _only(_read(FIXTURES / name))

    ish = one("mii-testdata_Observation-mii-exa-test-data-mtb-insituhybridization-her2-1.json")
    assert ish["assay"] == "ISH" and ish["reported_result"] == "negative"  # SNOMED interpretation
    assert (ish["ish_ratio"], ish["ish_her2_per_cell"], ish["ish_cep17_per_cell"]) == (
        "1.8",  # valueRatio 1.8 / 1
        "3.6",
        "2",
    )
    assert ish["ish_cells_counted"] == "60"
    ihc = one("mcode-biomarker_Observation-biomarker-her2-ihc.json")
    assert (ihc["assay"], ihc["ihc_score"]) == ("IHC", "3+")  # LA11843-2
    assert ihc["reported_result"] == "Overexpressed"  # words: the vocabulary judges them
    positive = one("mcode-omop_Observation-her2-ihc-positive-0e60186e.json")
    assert (positive["reported_result"], positive["ihc_score"]) == ("positive", None)
    assert positive["collection_date"] == "2006-11-09"  # effectiveDateTime
    # a presence code carrying a ratio as text: quarantined, not guessed
    gt = one("mcode-omop_Observation-her2-fish-string-gt1.8-f5a76211.json")["malformed"]
    assert "code 85318-4" in gt and "holds a number" in gt
    # the overall status without the assay result it comes from
    status = one("mcode-ig_Observation-tumor-marker-test-her2-jenny-m.json")["malformed"]
    assert "neither IHC nor ISH" in status and "HER2 status" in status
    report = one("mcode-ig_DiagnosticReport-us-core-diagnosticreport-lab-jenny-m.json")
    assert "none of its 9 results is in this file" in report["malformed"]
    cap = one("mcode-biomarker_Observation-CAPher2.json")["malformed"]
    assert "not a HER2 IHC or ISH result (code 31012.100004300)" in cap
    cnv = one("mii-testdata_Observation-mii-exa-test-data-mtb-copy-number-variant-1.json")
    assert "(LOINC 69548-6)" in cnv["malformed"]
    both = one("mii-testdata_Observation-mii-exa-test-data-onko-mamma-her2neu-status-2.json")
    assert "holds both IHC and ISH results" in both["malformed"]


def test_bundles_resolve_patient_and_specimen_inside_the_file():
    rows = _read(FIXTURES / "mii-testdata_Bundle-mii-exa-test-data-bundle-mtb-1.json")
    results = [r for r in rows if r["malformed"] is None]
    assert {r["test_id"] for r in results} == {
        "mii-exa-test-data-mtb-immunohistochemistry-her2-1",
        "mii-exa-test-data-mtb-insituhybridization-1",
        "mii-exa-test-data-mtb-insituhybridization-her2-1",
    }
    for r in results:  # subject -> Patient (single identifier: the MRN); Specimen collection
        assert (r["patient_mrn"], r["patient_dob"]) == ("MTB-TEST-001", "1971-04-12")
        assert r["patient_name"] == "Elena Tumorfall"
        assert r["collection_date"] == "2024-01-20"
    reasons = [r["malformed"] for r in rows if r["malformed"]]
    assert any("(entry 26) says neither IHC nor ISH" in r for r in reasons)
    assert sum("is not a HER2 IHC or ISH result" in r for r in reasons) == 26
    onko = _read(FIXTURES / "mii-testdata_Bundle-mii-exa-test-data-bundle-onkologie-1.json")
    estrogen = [r["malformed"] for r in onko if r["malformed"] and "40556-3" in r["malformed"]]
    assert estrogen == [
        "Observation 'mii-exa-test-data-onko-mamma-rezeptorstatus-estrogen-1' (entry 61) "
        "is not a HER2 IHC or ISH result (LOINC 40556-3)"
    ]
    assert any(
        "lists no result (a report without its Observations" in r["malformed"]
        for r in onko
        if r["malformed"]
    )


def test_every_public_example_is_accounted_in_the_warehouse(wh):
    for path in FIXTURES.glob("*.json"):
        (wh.inbox / path.name).write_bytes(path.read_bytes())
    site = config.SiteConfig(sources=(SourceConfig(pattern="*.json", format="fhir", lab_id="MII"),))
    _run(wh.root, site)
    files = wh.query(
        "SELECT file_name, status, rows_read, rows_staged, rows_quarantined FROM ops.ingested_files"
    )
    assert len(files) == len(EXPECTED_ITEMS)
    for name, status, read, staged, quarantined in files:
        assert status == "ingested", name
        assert read == EXPECTED_ITEMS[name][0] == staged + quarantined, name
    # None of them is a complete result (no accession, no report date): each is quarantined
    # with every reason, the adapter's or the validation's.
    assert wh.one("SELECT count(*) FROM staging.her2_results_history") == 0
    no_reason = wh.one("SELECT count(*) FROM quarantine.rejected_rows WHERE len(reasons) = 0")
    assert no_reason == 0
    reasons = " | ".join(
        r[0]
        for r in wh.query("SELECT array_to_string(reasons, '; ') FROM quarantine.rejected_rows")
    )
    assert "accession_id is missing" in reasons and "report_date is missing" in reasons
    _assert_no_phi(wh, FIXTURE_PHI)


def test_cap_codes_are_mapped_through_the_configured_code_map(tmp_path):
    codes = {
        "https://cap.org/eCC|31012.100004300": "assay=IHC",
        "https://cap.org/eCC|31016.100004300": ["ihc_score=1+", "reported_result=negative"],
    }
    row = _result(_read(FIXTURES / "mcode-biomarker_Observation-CAPher2.json", codes=codes))
    assert (row["assay"], row["ihc_score"], row["reported_result"]) == ("IHC", "1+", "negative")
    assert row["collection_date"] == "2022-05-16"  # effectivePeriod.start
    assert "pathologist_id" not in row  # a performer's display name is not an identifier
    # a local code for the MII German status codes, any system
    mii = FIXTURES / "mii-testdata_Observation-mii-exa-test-data-onko-mamma-her2neu-status-1.json"
    local = {"N": "reported_result=negative", "negativ": "reported_result=negative"}
    row = _only(_read(mii, codes=local))
    assert row["reported_result"] == "negative" and row["ihc_score"] == "Mixed"


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        ("ihc_score", "must be a table"),
        ({"http://loinc.org|1-8": "patient_mrn"}, "does not name a contract column"),
        ({"http://loinc.org|1-8": "ihc_score="}, "sets ihc_score to nothing"),
        ({"http://loinc.org|": "ihc_score"}, "has no code"),
        ({"x|1": ["ihc_score", "ish_ratio"]}, "carries two columns"),
    ],
)
def test_a_wrong_code_map_is_one_clear_configuration_error(tmp_path, codes, message):
    path = _write(tmp_path, [_ihc()])
    with pytest.raises(config.ConfigError, match=message):
        _read(path, codes=codes)


# ---------------------------------------------------------------- mapping rules


def test_an_ihc_and_an_ish_result_with_their_context(tmp_path):
    ish = _obs(
        "ish1",
        fc.ISH_PRESENCE,
        interpretation=_call("positive"),
        component=_ish_components(),
        device={"display": "PathVysion"},
        performer=[
            {"type": "Organization", "identifier": {"value": "REFLAB"}},
            {"reference": "Practitioner/doc"},
        ],
        meta={"versionId": "2"},
        extension=[{"url": fc.EXT_TEST_PURPOSE, "valueCode": "reference_lab"}],
    )
    doc = {"resourceType": "Practitioner", "id": "doc", "identifier": [{"value": "NORTH-P07"}]}
    path = _write(tmp_path, [PATIENT, SPECIMEN, doc, _ihc(), ish])
    ihc_row, ish_row = (
        {k: v for k, v in r.items() if v is not None} for r in _read(path, lab_id="IGNORED")
    )
    assert ihc_row == {
        "source_row": 1,
        "lab_id": "NORTH",  # the accession's assigner: the file says it
        "test_id": "T-ihc1",
        "accession_id": "S24-0001-A1",
        "patient_mrn": "MRN-CANARY-4411",
        "patient_name": "Xanthippe Quurlbeck",
        "patient_dob": "1967-04-05",
        "specimen_role": "primary",
        "specimen_site": "breast",
        "collection_date": "2024-03-01",
        "report_date": "2024-03-04",  # the date as written in the instant
        "assay": "IHC",
        "ihc_score": "2+",
        "reported_result": "equivocal",
    }
    assert ish_row["assay"] == "ISH" and ish_row["reported_result"] == "positive"
    assert (ish_row["ish_her2_per_cell"], ish_row["ish_ratio"], ish_row["ish_cells_counted"]) == (
        "8.1",
        "4.05",
        "20",
    )
    assert (ish_row["performing_lab"], ish_row["pathologist_id"]) == ("REFLAB", "NORTH-P07")
    assert (ish_row["result_version"], ish_row["test_purpose"], ish_row["assay_kit"]) == (
        "2",
        "reference_lab",
        "PathVysion",
    )


def test_lab_id_comes_from_the_source_when_the_file_does_not_say_it(tmp_path):
    specimen = {k: v for k, v in SPECIMEN.items() if k != "accessionIdentifier"}
    report = {
        "resourceType": "DiagnosticReport",
        "id": "rep1",
        "identifier": [{"value": "S24-0002-B1"}],
        "status": "final",
        "code": {"text": "HER2"},
        "issued": "2024-03-09T08:00:00Z",
        "result": [{"reference": "Observation/ihc1"}],
    }
    obs = _ihc()
    del obs["issued"]
    path = _write(tmp_path, [PATIENT, specimen, obs, report])
    row = _result(_read(path, lab_id="SOUTH"))
    # the accession and the report date from the report that lists the result
    assert (row["lab_id"], row["accession_id"], row["report_date"]) == (
        "SOUTH",
        "S24-0002-B1",
        "2024-03-09",
    )


def test_a_panel_and_its_members_are_one_result(tmp_path):
    members = [
        _obs(
            "m1",
            fc.ISH_HER2_PER_NUCLEUS,
            valueQuantity={"value": 6.2, "unit": "{copies}/{nucleus}"},
        ),
        _obs("m2", fc.ISH_CEP17_PER_NUCLEUS, valueQuantity={"value": 2.0}),
        _obs(
            "m3",
            fc.ISH_RATIO,
            valueRatio={"numerator": {"value": 3.1}, "denominator": {"value": 1}},
        ),
        _obs("m4", fc.CELLS_COUNTED, valueInteger=40),
        _obs("m5", fc.ISH_PRESENCE_TISSUE, valueCodeableConcept=_concept(LOINC, "LA6576-8")),
    ]
    panel = _obs(
        "panel", fc.ISH_PANEL, hasMember=[{"reference": f"Observation/{m['id']}"} for m in members]
    )
    rows = _read(_write(tmp_path, [PATIENT, SPECIMEN, panel, *members]))
    row = _result(rows)
    assert (row["test_id"], row["assay"], row["reported_result"]) == ("T-panel", "ISH", "positive")
    assert (row["ish_her2_per_cell"], row["ish_cep17_per_cell"], row["ish_ratio"]) == (
        "6.2",
        "2.0",
        "3.1",
    )
    assert row["ish_cells_counted"] == "40"


def test_a_status_derived_from_one_ihc_result_gives_its_call(tmp_path):
    ihc = _obs("ihc1", fc.IHC_SCORE, valueCodeableConcept=_concept(LOINC, fc.IHC_ANSWERS["3+"]))
    status = _obs(
        "status",
        fc.HER2_STATUS,
        valueCodeableConcept=_concept(LOINC, "LA6576-8"),
        derivedFrom=[{"reference": "Observation/ihc1"}],
    )
    row = _result(_read(_write(tmp_path, [PATIENT, SPECIMEN, status, ihc])))
    assert (row["assay"], row["ihc_score"], row["reported_result"]) == ("IHC", "3+", "positive")
    # derived from an IHC and an ISH result: each is its own row, the status says why not
    ish = _obs(
        "ish1",
        fc.ISH_PRESENCE,
        interpretation=_call("negative"),
        component=_ish_components(4.1, 2.0, 2.05, 20),
    )
    status["derivedFrom"].append({"reference": "Observation/ish1"})
    rows = _read(_write(tmp_path, [PATIENT, SPECIMEN, status, ihc, ish], "two.json"))
    assert "is a status over IHC and ISH results (each read as its own row)" in rows[0]["malformed"]
    assert [r["assay"] for r in rows[1:]] == ["IHC", "ISH"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"valueQuantity": {"value": 3}}, "a quantity does not fit code 85319-2"),
        ({"valueString": "greater than 2.0"}, None),  # a text score: the vocabulary judges it
        ({"valueBoolean": True}, "its valueBoolean does not fit code 85319-2"),
        ({"status": "preliminary"}, "has status 'preliminary': not a final result"),
        ({"status": "entered-in-error"}, "has status 'entered-in-error': no result"),
        (
            {
                "dataAbsentReason": _concept(
                    "http://terminology.hl7.org/CodeSystem/data-absent-reason", "not-performed"
                )
            },
            "carries no result value (dataAbsentReason not-performed)",
        ),
    ],
)
def test_an_ihc_value_that_does_not_fit_is_quarantined_with_its_reason(tmp_path, fields, reason):
    obs = _obs("o1", fc.IHC_SCORE, **fields)
    rows = _read(_write(tmp_path, [PATIENT, SPECIMEN, obs]))
    if reason is None:
        assert _result(rows)["ihc_score"] == "greater than 2.0"
    else:
        assert reason in _reason(rows)


@pytest.mark.parametrize(
    ("component", "reason"),
    [
        (
            _quantity_component(fc.ISH_HER2_PER_NUCLEUS, 8.1, "%"),
            "the unit '%' does not fit code 74860-8 (a count per nucleus)",
        ),
        (_quantity_component(fc.ISH_RATIO, "4.05"), "code 49683-6 has a quantity without a number"),
        (
            {
                "code": _concept(LOINC, fc.ISH_RATIO),
                "valueCodeableConcept": _concept(LOINC, "LA6576-8"),
            },
            "a coded value does not fit code 49683-6 (a number is expected)",
        ),
        (
            {
                "code": _concept(LOINC, fc.ISH_RATIO),
                "valueQuantity": {"value": 4, "comparator": ">"},
            },
            "comparator",
        ),
    ],
)
def test_an_ish_component_that_does_not_fit_is_quarantined(tmp_path, component, reason):
    obs = _obs("o1", fc.ISH_PRESENCE, interpretation=_call("positive"), component=[component])
    assert reason in _reason(_read(_write(tmp_path, [PATIENT, SPECIMEN, obs])))


def test_two_values_for_one_column_are_a_conflict_not_a_choice(tmp_path):
    obs = _ihc(call="positive")
    obs["valueCodeableConcept"] = _concept(LOINC, "LA6577-6")  # a negative call as the value
    reason = _reason(_read(_write(tmp_path, [PATIENT, SPECIMEN, obs])))
    assert "two different values for reported_result" in reason


def test_a_non_her2_observation_and_an_er_result_are_rows_with_their_reason(tmp_path):
    er = _obs("er", "40556-3", valueCodeableConcept=_concept(LOINC, "LA6576-8"))
    grade = _obs("g", "371469007", SNOMED)
    rows = _read(_write(tmp_path, [PATIENT, SPECIMEN, er, grade, _ihc()]))
    assert [r["malformed"] for r in rows[:2]] == [
        "Observation 'er' (entry 3) is not a HER2 IHC or ISH result (LOINC 40556-3)",
        "Observation 'g' (entry 4) is not a HER2 IHC or ISH result (SNOMED CT 371469007)",
    ]
    assert rows[2]["malformed"] is None


def test_a_patient_with_several_untyped_identifiers_is_not_guessed(tmp_path):
    patient = {**PATIENT, "identifier": [{"value": "A-1"}, {"value": "B-2"}]}
    reason = _reason(_read(_write(tmp_path, [patient, SPECIMEN, _ihc()])))
    assert "its Patient has 2 identifiers and none is typed MR" in reason


def test_an_id_that_is_a_patient_identifier_is_never_quoted(tmp_path):
    er = _obs("MRN-CANARY-4411", "40556-3")
    reason = _reason(_read(_write(tmp_path, [PATIENT, SPECIMEN, er])))
    assert reason == "Observation at entry 3 is not a HER2 IHC or ISH result (LOINC 40556-3)"


# ---------------------------------------------------------------------- layouts


def test_transaction_searchset_and_contained_resources(tmp_path):
    for kind in ("transaction", "searchset", "batch"):
        row = _result(_read(_write(tmp_path, [PATIENT, SPECIMEN, _ihc()], f"{kind}.json", kind)))
        assert row["patient_mrn"] == "MRN-CANARY-4411"
    obs = _ihc()
    obs["contained"] = [{**PATIENT, "id": "p"}]
    obs["subject"] = {"reference": "#p"}
    row = _result(_read(_write(tmp_path, [SPECIMEN, obs], "contained.json")))
    assert row["patient_mrn"] == "MRN-CANARY-4411"


def test_urn_uuid_references_and_absolute_urls_resolve(tmp_path):
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0b1e",
                "resource": PATIENT,
                "request": {"method": "POST", "url": "Patient"},
            },
            {"fullUrl": "https://lis.example/fhir/Specimen/spec1", "resource": SPECIMEN},
            {"resource": {**_ihc(), "subject": {"reference": "urn:uuid:0b1e"}}},
            {"request": {"method": "DELETE", "url": "Observation/old"}},
        ],
    }
    path = tmp_path / "t.json"
    path.write_text(json.dumps(bundle))
    rows = _read(path)
    assert rows[0]["patient_mrn"] == "MRN-CANARY-4411" and rows[0]["accession_id"] == "S24-0001-A1"
    assert rows[1]["malformed"] == "entry 4 has no resource (a DELETE request is not applied)"


def test_ndjson_one_resource_per_line_and_a_broken_line(tmp_path):
    lines = [json.dumps(r) for r in (PATIENT, SPECIMEN, _ihc("a"), _ihc("b", "3+", "positive"))]
    path = tmp_path / "bulk.ndjson"
    path.write_text("\n".join(lines) + "\n")
    rows = _read(path)
    assert [r["ihc_score"] for r in rows] == ["2+", "3+"]
    path.write_text(
        "\n".join([*lines[:3], '{"resourceType": "Observation", "id":', lines[3]]) + "\n"
    )
    rows = _read(path)
    assert [r["malformed"] for r in rows] == [None, "line 4 is not valid JSON", None]


def test_a_large_generated_bundle_keeps_file_order_and_every_value(tmp_path):
    """12,000 results (about 23 MB): DuckDB reads the lines in parallel; rows stay in order
    and each carries exactly the contract values it was written from."""
    from her2qa.generate.formats import fhir as writer
    from tests.conftest import IHC_ROW, ISH_ROW

    rows = []
    for i in range(12_000):
        base = ISH_ROW if i % 3 == 0 else IHC_ROW
        rows.append({**base, "test_id": f"T{i:05d}", "accession_id": f"S24-{i // 2:05d}"})
    table = pa.table(
        {c: pa.array([r.get(c) or None for r in rows], pa.string()) for c in contract.NAMES}
    )
    path = tmp_path / "big.json"
    path.write_bytes(writer.to_bytes(table))
    got = fhir.read(path).table
    assert got["malformed"].null_count == len(rows)
    for column in contract.NAMES:
        want, have = table[column].to_pylist(), got[column].to_pylist()
        if column in fc.NUMERIC:  # JSON numbers: 8.10 comes back as 8.1, the same value
            want = [None if v is None else float(v) for v in want]
            have = [None if v is None else float(v) for v in have]
        assert have == want, column


def test_an_empty_bundle_is_a_file_without_rows(tmp_path):
    for text in (
        '{"resourceType":"Bundle","type":"collection","entry":[\n\n]}\n',
        '{"resourceType": "Bundle", "type": "searchset", "total": 0}',
    ):
        path = tmp_path / "empty.json"
        path.write_text(text)
        assert _read(path) == []


def test_a_nested_bundle_and_a_wrongly_shaped_observation(tmp_path):
    inner = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": _ihc("in")}]}
    broken = {**_ihc("bad"), "component": {"code": {}}}  # an object where FHIR has a list
    rows = _read(_write(tmp_path, [PATIENT, SPECIMEN, inner, broken]))
    assert rows[0]["malformed"] is None and rows[0]["test_id"] == "T-in"
    assert rows[1]["malformed"] == (
        "Observation at entry 4 cannot be read: component is not a list (not FHIR R4)"
    )


def test_an_observation_that_is_not_valid_fhir_r4_is_quarantined(tmp_path):
    obs = _ihc()
    obs["effectiveDateTime"] = "the third of March"
    reason = _reason(_read(_write(tmp_path, [PATIENT, SPECIMEN, obs])))
    assert reason.startswith("Observation 'ihc1' (entry 3) is not valid FHIR R4 (effectiveDateTime")
    assert validate.problem(PATIENT) is None


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"{not json", "not_json"),
        (b'{\n  "resourceType": "Observation",\n  "id": \n}\n', "not_json"),  # pretty, broken
        (b'{"resourceType": "Observation", "id": "\xff"}', "not_utf8"),
        (b'{"hello": "world"}', "not_fhir"),
        (b"[1, 2]", "not_fhir"),
    ],
)
def test_a_file_that_is_not_fhir_json_is_rejected_with_one_line(tmp_path, content, kind):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(extract.FileRejected) as caught:
        fhir.read(path)
    assert caught.value.kind == kind and "\n" not in caught.value.message


# --------------------------------------------------------- the pipeline, end to end


def test_accounting_and_phi_through_the_inbox(wh):
    er = _obs("er", "40556-3")
    misfit = _obs("bad", fc.IHC_SCORE, valueQuantity={"value": 3})
    _write(wh.inbox, [PATIENT, SPECIMEN, _ihc(), er, misfit], "a.json")
    _run(wh.root)
    read, staged, quarantined = wh.one(
        "SELECT rows_read, rows_staged, rows_quarantined FROM ops.ingested_files"
    )
    assert (read, staged, quarantined) == (3, 1, 2)
    reasons = [
        r[0]
        for r in wh.query("SELECT reasons[1] FROM quarantine.rejected_rows ORDER BY source_row")
    ]
    assert "(LOINC 40556-3)" in reasons[0] and "a quantity does not fit" in reasons[1]
    assert wh.one("SELECT accession_id FROM staging.her2_results") == "S24-0001-A1"
    _assert_no_phi(wh, CANARIES)


def test_a_generated_network_stages_the_same_from_fhir_as_from_csv(tmp_path, key):
    staged = {}
    for fmt in ("csv", "fhir"):
        root = tmp_path / fmt
        generate(root / "inbox", rows=1_200, seed=3, fmt=fmt)
        (root / "inbox" / "manifest.json").unlink()
        _run(root)
        with warehouse.connect(root / "her2.duckdb", read_only=True) as con:
            columns = [
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                    "'staging' AND table_name = 'her2_results' ORDER BY ordinal_position"
                ).fetchall()
                if c != "source_file"
            ]
            staged[fmt] = con.execute(
                f"SELECT {', '.join(columns)}, regexp_replace(source_file, '[.][a-z]+$', '') "
                "FROM staging.her2_results ORDER BY lab_id, test_id"
            ).fetchall()
            accounting = con.execute(
                "SELECT sum(rows_read), sum(rows_staged), sum(rows_quarantined) "
                "FROM ops.ingested_files"
            ).fetchall()[0]
            assert accounting == (1_200, 1_200, 0), fmt
        if fmt == "fhir":  # the patients of the network's files: in no table
            secrets = set()
            for path in (tmp_path / "csv" / "inbox").glob("*.csv"):
                with path.open(encoding="utf-8", newline="") as fh:
                    for row in csv.DictReader(fh):
                        secrets.update(row[c] for c in contract.PHI if row[c])
            with warehouse.connect(root / "her2.duckdb", read_only=True) as con:
                for schema, table in con.execute(
                    "SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_catalog = current_database()"
                ).fetchall():
                    text = json.dumps(
                        con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall(), default=str
                    )
                    for secret in secrets:
                        assert secret not in text, (schema, table)
    assert staged["fhir"] == staged["csv"]
    assert len(staged["csv"]) > 1_000


def test_no_patient_value_reaches_dagster_events_or_metadata(env):
    """A FHIR file through the Dagster assets and checks: the canaries of its Patient are
    in no event, message or metadata (the raw layer's PHI check passes too)."""
    er = _obs("er", "40556-3")
    _write(env / "inbox", [PATIENT, SPECIMEN, _ihc(), er, _obs("MRN-CANARY-4411", "1-8")], "p.json")
    (env / "inbox" / "cap.json").write_bytes(
        (FIXTURES / "mcode-biomarker_Observation-CAPher2.json").read_bytes()
    )
    result, instance = materialize_ingest(env)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    records = instance.get_records_for_run(result.run_id).records
    dump = " ".join(repr(r.event_log_entry) for r in records)
    assert "p.json" in dump  # the scan reads real log content
    for canary in CANARIES:
        assert canary not in dump
