"""The generator's HL7 v2.5.1 writer: one extract's rows as a batch of ORU^R01 messages.

One message per result row (MSH, PID, OBR, its OBX, SPM), in row order, inside one
FHS/BHS ... BTS/FTS batch with CR segment separators: what a LIS interface engine sends to a
registry or a quality system. Every contract value is written where the reader
(``her2qa.ingest.formats.hl7v2``; docs/formats/hl7v2.md) looks for it, so writing and reading
back gives the same contract values:

- MSH-4 lab_id; PID-3 MRN (identifier type MR), PID-5 name, PID-7 birth date;
- OBR-3 test_id (filler order number), OBR-7 collection, OBR-22 report, OBR-25 status
  (F, or C for a correction: result_version 2 and above), OBR-32 pathologist_id;
- SPM-2 accession_id (the filler's specimen id);
- LOINC-coded OBX for the score, the ISH counts and the call, with the method (OBX-17)
  saying the assay; OBX-23 the performing laboratory;
- what HL7 v2 has no field for (specimen role and site, pre-analytic times, kit, percent
  stained, purpose, proficiency key, a version the status cannot say) as OBX coded in the
  local system ``99HER2QA``, whose codes are the contract's column names.

A value not in the form its field needs (a date that is not ISO, a score outside the LOINC
answer list) is written as it is, as a string, so that the contract's validation sees what
the CSV would have held.
"""

from __future__ import annotations

import re

import pyarrow as pa

from her2qa.ingest.formats.hl7v2 import codes as spec

_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_LOINC = "LN"
_UCUM = "UCUM"
# columns written as LOINC-coded observations (the others under the local system)
_LOINC_COLUMNS = ("assay", "ihc_score", "reported_result", *spec.ISH_NUMBER_CODES)


def escape(value: str) -> str:
    """HL7 escape sequences for the delimiters; line breaks as hexadecimal escapes."""
    for raw, escaped in _ESCAPES:
        value = value.replace(raw, escaped)
    return value.replace("\r", "\\X0D\\").replace("\n", "\\X0A\\")


def _date(value: str | None) -> str:
    """An ISO date as HL7 DT (YYYYMMDD); anything else as it is."""
    if value is None:
        return ""
    m = _ISO_DATE.fullmatch(value)
    return "".join(m.groups()) if m else escape(value)


def _name(value: str | None) -> str:
    """XPN family^given: the last word is the family name."""
    if not value:
        return ""
    *given, family = value.split()
    return f"{escape(family)}^{escape(' '.join(given))}" if given else escape(family)


def _status(version: str | None) -> str:
    """OBR-25 / OBX-11: F for a first report, C for a correction (a version above 1)."""
    return "F" if version in (None, "1") else "C"


def _coded(value: str, answers: dict[str, str]) -> tuple[str, str]:
    """(value type, OBX-5): the LOINC answer when there is one, else the text as sent."""
    code = answers.get(value)
    return ("CWE", f"{code}^{escape(value)}^{_LOINC}") if code else ("ST", escape(value))


def _observations(row: dict[str, str | None]) -> list[tuple[str, str, str, str, str]]:
    """(value type, OBX-3, OBX-5, OBX-6, OBX-17) of the row's observations."""
    obs = []
    assay = row["assay"]
    if row["ihc_score"] is not None:
        vtype, value = _coded(row["ihc_score"], spec.SCORE_ANSWER_CODES)
        obs.append((vtype, f"{spec.IHC_SCORE_CODE}^^{_LOINC}", value, "", ""))
    for column, code in spec.ISH_NUMBER_CODES.items():
        if row[column] is not None:
            unit = f"{spec.WRITER_UNITS[column]}^^{_UCUM}"
            obs.append(("NM", f"{code}^^{_LOINC}", escape(row[column]), unit, ""))
    if row["reported_result"] is not None:
        # the call, with the method saying which assay it is (an indeterminate IHC has no
        # score to say it): ISH under the gene-duplication presence code, IHC under the
        # interpretation code
        code = spec.ISH_PRESENCE_CODE if assay == "ISH" else spec.INTERPRETATION_CODE
        vtype, value = _coded(row["reported_result"], spec.CALL_ANSWER_CODES)
        method = f"{escape(assay)}^^{spec.LOCAL_SYSTEM}" if assay is not None else ""
        obs.append((vtype, f"{code}^^{_LOINC}", value, "", method))
    elif assay is not None:
        obs.append(("ST", f"assay^^{spec.LOCAL_SYSTEM}", escape(assay), "", ""))
    for column in spec.LOCAL_COLUMNS:
        value = row[column]
        if value is None or column in _LOINC_COLUMNS:
            continue
        if column == "result_version" and value in ("1", "2"):
            continue  # the status says it: F is version 1, C version 2
        if column == "test_purpose" and value == "clinical":
            continue  # the contract's default: a LIS flags only the other purposes
        numeric = column in spec.NUMERIC
        unit = spec.WRITER_UNITS.get(column)
        obs.append(
            (
                "NM" if numeric else "ST",
                f"{column}^^{spec.LOCAL_SYSTEM}",
                escape(value),
                f"{unit}^^{_UCUM}" if unit else "",
                "",
            )
        )
    return obs


def _message(row: dict[str, str | None], number: int) -> list[str]:
    lab = escape(row["lab_id"] or "")
    status = _status(row["result_version"])
    report = _date(row["report_date"])
    test = escape(row["test_id"] or "")
    assay = escape(row["assay"] or "")
    mrn = escape(row["patient_mrn"] or "")
    lines = [
        f"MSH|^~\\&|HER2QA|{lab}|||{report}||ORU^R01^ORU_R01|{number}|P|2.5.1||||||UNICODE UTF-8",
        f"PID|1||{mrn}^^^{lab}^MR||{_name(row['patient_name'])}||{_date(row['patient_dob'])}",
        # OBR-3 filler order, -4 service, -7 collection, -22 report, -25 status, -32 reader
        f"OBR|1||{test}^{lab}|{assay}^HER2 {assay}^{spec.LOCAL_SYSTEM}|||"
        f"{_date(row['collection_date'])}|||||||||||||||{report}|||{status}|||||||"
        f"{escape(row['pathologist_id'] or '')}",
    ]
    performer = row["performing_lab"]
    for n, (vtype, code, value, unit, method) in enumerate(_observations(row), 1):
        line = f"OBX|{n}|{vtype}|{code}||{value}|{unit}|||||{status}"
        if method or (n == 1 and performer is not None):
            line += f"||||||{method}"  # OBX-17
        if n == 1 and performer is not None:
            # OBX-23 performing organization: XON-1 name and XON-10 identifier, the lab code
            code_ = escape(performer)
            line += f"||||||{code_}^^^^^^^^^{code_}"
        lines.append(line)
    accession = row["accession_id"]
    # SPM-2 the filler's specimen id (the accession), SPM-4 specimen type (HL7 table 0487)
    specimen = f"^{escape(accession)}" if accession is not None else ""
    lines.append(f"SPM|1|{specimen}||TISS^Tissue^HL70487")
    return lines


def to_bytes(table: pa.Table) -> bytes:
    """One file: a batch of ORU^R01 messages, one per row, CR-separated, UTF-8."""
    rows = table.to_pylist()
    out = ["FHS|^~\\&|HER2QA", "BHS|^~\\&|HER2QA"]
    for number, row in enumerate(rows, 1):
        out += _message(row, number)
    out += [f"BTS|{len(rows)}", "FTS|1"]
    return ("\r".join(out) + "\r").encode("utf-8")
