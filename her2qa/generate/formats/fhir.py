"""One extract as FHIR R4 JSON: a ``collection`` Bundle of Patients, Specimens,
DiagnosticReports and one Observation per result (``her2qa generate --format fhir``).

What goes where is what ``her2qa/ingest/formats/fhir`` reads (docs/formats/fhir.md), with
the codes of ``her2qa.ingest.formats.fhir.codes``:

- Patient (one per MRN, name and birth date): ``identifier`` typed MR, ``name.text``,
  ``birthDate``;
- Specimen (one per accession and specimen-level values): ``accessionIdentifier`` whose
  ``assigner`` is the owning lab (``lab_id``), ``collection.collectedDateTime``,
  ``collection.bodySite.text``, her2qa extensions for the role, cold ischaemia and fixation;
- Observation (one per row): ``identifier`` = ``test_id``, ``meta.versionId`` =
  ``result_version``, LOINC 85319-2 with the IHC answer code, or 85318-4 with components
  74860-8, 74861-6, 49683-6 and 62361-1; ``interpretation`` (SNOMED CT) = the reported call;
  ``effectiveDateTime`` = collection date, ``issued`` = report date; ``performer`` = the
  performing lab and the pathologist (logical references by identifier); ``device`` = kit;
- DiagnosticReport (one per Specimen): the accession as ``identifier``, the owning lab as
  ``performer``, its Observations as ``result``.

Numbers are written as the JSON number literal of the contract text (``4.40`` stays
``4.40``); a value that is not a plain number, or a score or call outside the vocabulary,
is written as text (``valueString``, ``CodeableConcept.text``) so the same text comes back.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator

import pyarrow as pa

from her2qa.ingest.formats.fhir import codes as fc

# JSON number literals are spliced in after json.dumps (which would print 4.40 as 4.4): a
# marked string stands for the literal until then.
_MARK = "\x00num:"
_MARKED = re.compile(r'"\\u0000num:([^"]*)"')
_JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")
_FHIR_CODE = re.compile(r"[^\s]+( [^\s]+)*")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SNOMED_DISPLAY = {"positive": "Positive", "negative": "Negative"}
_SNOMED_DISPLAY |= {"equivocal": "Equivocal", "indeterminate": "Indeterminate"}

Row = dict[str, str | None]


def _number(text: str) -> str | None:
    """The marked JSON literal of a plain decimal, else None (write it as text)."""
    return _MARK + text if _JSON_NUMBER.fullmatch(text) else None


@functools.cache
def _concept(system: str, code: str, display: str | None = None) -> dict:
    """A one-coding CodeableConcept (shared: json.dumps writes a shared dict each time)."""
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _code_value(url: str, text: str) -> dict:
    """A code-valued extension; text that is not a FHIR code (inner runs of spaces, ...)
    goes as a string."""
    if _FHIR_CODE.fullmatch(text):
        return {"url": url, "valueCode": text}
    return {"url": url, "valueString": text}


def _quantity(value: str, unit: str | None = None) -> dict:
    """``{"valueQuantity": ...}`` for a plain number, else ``{"valueString": ...}``."""
    number = _number(value)
    if number is None:
        return {"valueString": value}
    quantity: dict = {"value": number}
    if unit:
        quantity |= {"unit": unit, "system": fc.UCUM, "code": unit}
    return {"valueQuantity": quantity}


def _component(system: str, code: str, value: dict) -> dict:
    return {"code": _concept(system, code), **value}


def _rows(table: pa.Table) -> Iterator[Row]:
    """Rows with empty text as None (the CSV writes both as an empty field)."""
    for row in table.to_pylist():
        yield {k: (v if v not in ("", None) else None) for k, v in row.items()}


def _patient(pid: str, mrn: str | None, name: str | None, dob: str | None) -> dict:
    patient: dict = {"resourceType": "Patient", "id": pid}
    if mrn:
        kind = _concept(fc.V2_IDENTIFIER_TYPE, "MR")
        patient["identifier"] = [{"type": kind, "value": mrn}]
    if name:
        patient["name"] = [{"text": name}]
    if dob:
        patient["birthDate"] = dob
    return patient


def _specimen(sid: str, pid: str, row: Row) -> dict:
    extensions = []
    if row["specimen_role"]:
        extensions.append(_code_value(fc.EXT_SPECIMEN_ROLE, row["specimen_role"]))
    for url, column in (
        (fc.EXT_COLD_ISCHEMIA, "cold_ischemia_min"),
        (fc.EXT_FIXATION, "fixation_hours"),
    ):
        if row[column]:
            value = _quantity(row[column], fc.EXTENSION_UNITS[url])
            extensions.append({"url": url, **value})
    specimen: dict = {"resourceType": "Specimen", "id": sid}
    if extensions:
        specimen["extension"] = extensions
    if row["accession_id"] or row["lab_id"]:
        accession: dict = {}
        if row["accession_id"]:
            accession["value"] = row["accession_id"]
        if row["lab_id"]:
            accession["assigner"] = {"type": "Organization", "identifier": {"value": row["lab_id"]}}
        specimen["accessionIdentifier"] = accession
    specimen["subject"] = {"reference": f"Patient/{pid}"}
    collection: dict = {}
    if row["collection_date"]:
        collection["collectedDateTime"] = row["collection_date"]
    if row["specimen_site"]:
        collection["bodySite"] = {"text": row["specimen_site"]}
    if collection:
        specimen["collection"] = collection
    return specimen


def _ihc_value(score: str) -> dict:
    code = fc.IHC_ANSWERS.get(score)
    if code is None:  # outside the vocabulary: the text itself, for the reader to judge
        return {"valueCodeableConcept": {"text": score}}
    return {"valueCodeableConcept": _concept(fc.LOINC, code, score)}


@functools.cache
def _interpretation(call: str) -> list[dict]:
    code = fc.CALL_SNOMED.get(call)
    if code is None:
        return [{"text": call}]
    return [_concept(fc.SNOMED, code, _SNOMED_DISPLAY[call])]


_ISH_COMPONENTS = (
    (fc.LOINC, fc.ISH_HER2_PER_NUCLEUS, "ish_her2_per_cell"),
    (fc.LOINC, fc.ISH_CEP17_PER_NUCLEUS, "ish_cep17_per_cell"),
    (fc.LOINC, fc.ISH_RATIO, "ish_ratio"),
    (fc.LOINC, fc.CELLS_COUNTED, "ish_cells_counted"),
)


def _observation(oid: str, pid: str, sid: str, row: Row) -> dict:
    obs: dict = {"resourceType": "Observation", "id": oid}
    if row["result_version"]:
        obs["meta"] = {"versionId": row["result_version"]}
    extensions = []
    if row["test_purpose"]:
        extensions.append(_code_value(fc.EXT_TEST_PURPOSE, row["test_purpose"]))
    if row["expected_result"]:
        extensions.append({"url": fc.EXT_EXPECTED_RESULT, "valueString": row["expected_result"]})
    if extensions:
        obs["extension"] = extensions
    if row["test_id"]:
        obs["identifier"] = [{"value": row["test_id"]}]
    obs["status"] = "corrected" if (row["result_version"] or "1") != "1" else "final"
    ish = (row["assay"] or "").upper() == "ISH"
    if ish:
        obs["code"] = _concept(fc.LOINC, fc.ISH_PRESENCE)
    elif (row["assay"] or "").upper() == "IHC":
        obs["code"] = _concept(fc.LOINC, fc.IHC_SCORE)
    else:  # an assay the contract does not know: said as text, for the reader to judge
        obs["code"] = {"text": row["assay"] or "HER2"}
    obs["subject"] = {"reference": f"Patient/{pid}"}
    if row["collection_date"]:
        obs["effectiveDateTime"] = row["collection_date"]
    if row["report_date"]:
        date = row["report_date"]
        obs["issued"] = f"{date}T00:00:00Z" if _ISO_DATE.fullmatch(date) else date
    performers = []
    if row["performing_lab"]:
        performers.append({"type": "Organization", "identifier": {"value": row["performing_lab"]}})
    if row["pathologist_id"]:
        performers.append({"type": "Practitioner", "identifier": {"value": row["pathologist_id"]}})
    if performers:
        obs["performer"] = performers
    if row["ihc_score"]:
        obs |= _ihc_value(row["ihc_score"])
    if row["reported_result"]:
        obs["interpretation"] = _interpretation(row["reported_result"])
    obs["specimen"] = {"reference": f"Specimen/{sid}"}
    if row["assay_kit"]:
        obs["device"] = {"display": row["assay_kit"]}
    components = []
    if row["ihc_pct_stained"]:
        value = _quantity(row["ihc_pct_stained"], "%")
        components.append(_component(fc.HER2QA_CODES, fc.IHC_PCT_STAINED, value))
    for system, code, column in _ISH_COMPONENTS:
        if row[column]:
            components.append(_component(system, code, _quantity(row[column])))
    if components:
        obs["component"] = components
    return obs


def _report(rid: str, sid: str, pid: str, row: Row, results: list[str]) -> dict:
    report: dict = {"resourceType": "DiagnosticReport", "id": rid}
    if row["accession_id"]:
        report["identifier"] = [{"value": row["accession_id"]}]
    report |= {"status": "final", "code": {"text": "HER2 testing"}}
    report["subject"] = {"reference": f"Patient/{pid}"}
    if row["lab_id"]:
        report["performer"] = [{"type": "Organization", "identifier": {"value": row["lab_id"]}}]
    report["specimen"] = [{"reference": f"Specimen/{sid}"}]
    report["result"] = [{"reference": f"Observation/{oid}"} for oid in results]
    return report


_SPECIMEN_KEY = (
    "lab_id",
    "accession_id",
    "specimen_role",
    "specimen_site",
    "collection_date",
    "cold_ischemia_min",
    "fixation_hours",
)


def to_bytes(table: pa.Table) -> bytes:
    """One file's rows (contract text columns) as a FHIR R4 collection Bundle."""
    patients: dict[tuple, str] = {}
    specimens: dict[tuple, str] = {}
    first_row: dict[str, tuple[str, Row]] = {}  # specimen id -> (patient id, a row of it)
    results: dict[str, list[str]] = {}
    entries: list[dict] = []
    for n, row in enumerate(_rows(table), start=1):
        person = (row["patient_mrn"], row["patient_name"], row["patient_dob"])
        pid = patients.get(person)
        if pid is None:
            pid = patients[person] = f"p{len(patients) + 1}"
            entries.append({"resource": _patient(pid, *person)})
        place = (pid, *(row[c] for c in _SPECIMEN_KEY))
        sid = specimens.get(place)
        if sid is None:
            sid = specimens[place] = f"s{len(specimens) + 1}"
            first_row[sid] = (pid, row)
            results[sid] = []
            entries.append({"resource": _specimen(sid, pid, row)})
        oid = f"o{n}"
        results[sid].append(oid)
        entries.append({"resource": _observation(oid, pid, sid, row)})
    for i, (sid, (pid, row)) in enumerate(first_row.items(), start=1):
        entries.append({"resource": _report(f"r{i}", sid, pid, row, results[sid])})
    # One entry per line: valid JSON that bulk readers can split (the adapter parses such a
    # Bundle's entries in parallel).
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    body = ",\n".join(dumps(entry) for entry in entries)
    text = '{"resourceType":"Bundle","type":"collection","entry":[\n' + body + "\n]}\n"
    return _MARKED.sub(r"\1", text).encode("utf-8")
