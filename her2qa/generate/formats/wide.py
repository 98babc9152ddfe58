"""One row per case, IHC and ISH side by side (``her2qa generate --format wide``).

A workbook like a lab's case export: the case's columns (lab, accession, patient, specimen,
collection, pre-analytics), then an IHC block and an ISH block with each result's own
columns. Results are paired within a case in file order: the k-th IHC result of a case
beside its k-th ISH result, so a case with a second read or an amendment has a second row.
A block left empty (no such result) is empty cells.

Like a real export it writes some values in the lab's own codes (specimen "P"/"M", results
"POS"/"NEG"/...), which docs/formats/wide-example.toml maps back: reading these files with
that mapping gives the CSV's rows (tests/ingest/test_wide.py). The pairing runs in DuckDB.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from her2qa.generate.formats import xlsx
from schemas import contract

SHEET = "HER2 cases"
# (header, contract column): the case's columns, the same for each of its results.
CASE: tuple[tuple[str, str], ...] = (
    ("Lab", "lab_id"),
    ("Accession", "accession_id"),
    ("MRN", "patient_mrn"),
    ("Patient name", "patient_name"),
    ("Date of birth", "patient_dob"),
    ("Specimen", "specimen_role"),
    ("Site", "specimen_site"),
    ("Collected", "collection_date"),
    ("Cold ischemia (min)", "cold_ischemia_min"),
    ("Fixation (h)", "fixation_hours"),
)
_RESULT = ("test_id", "result_version", "performing_lab", "report_date", "assay_kit")
_CALL = ("reported_result", "pathologist_id", "test_purpose", "expected_result")
BLOCKS: dict[str, tuple[tuple[str, str], ...]] = {
    "IHC": (
        ("IHC test ID", "test_id"),
        ("IHC version", "result_version"),
        ("IHC performed by", "performing_lab"),
        ("IHC reported", "report_date"),
        ("IHC clone", "assay_kit"),
        ("HER2 IHC score", "ihc_score"),
        ("IHC % stained", "ihc_pct_stained"),
        ("IHC result", "reported_result"),
        ("IHC pathologist", "pathologist_id"),
        ("IHC purpose", "test_purpose"),
        ("IHC expected", "expected_result"),
    ),
    "ISH": (
        ("ISH test ID", "test_id"),
        ("ISH version", "result_version"),
        ("ISH performed by", "performing_lab"),
        ("ISH reported", "report_date"),
        ("ISH probe", "assay_kit"),
        ("HER2 per nucleus", "ish_her2_per_cell"),
        ("CEP17 per nucleus", "ish_cep17_per_cell"),
        ("HER2/CEP17 ratio", "ish_ratio"),
        ("Nuclei counted", "ish_cells_counted"),
        ("ISH result", "reported_result"),
        ("ISH pathologist", "pathologist_id"),
        ("ISH purpose", "test_purpose"),
        ("ISH expected", "expected_result"),
    ),
}
# The lab's codes for some values (the example mapping's `values` reverses them).
CODES: dict[str, dict[str, str]] = {
    "specimen_role": {"primary": "P", "metastasis": "M"},
    "reported_result": {
        "positive": "POS",
        "negative": "NEG",
        "equivocal": "EQV",
        "indeterminate": "IND",
    },
}


def to_bytes(table: pa.Table) -> bytes:
    """One extract's long rows (contract text columns) as a wide case workbook."""
    wide = pivot(table)
    columns = []
    for header, column in CASE:
        columns.append((header, wide.column(column), contract.BY_NAME[column].kind))
    for assay, block in BLOCKS.items():
        for header, column in block:
            name = f"{assay}:{column}"
            columns.append((header, wide.column(name), contract.BY_NAME[column].kind))
    return xlsx.workbook(columns, sheet=SHEET)


def pivot(table: pa.Table) -> pa.Table:
    """Long rows -> one row per (case, k): the case's columns, then ``IHC:<column>`` and
    ``ISH:<column>`` of its k-th result of each assay, in order of first appearance."""
    assays = set(table.column("assay").to_pylist())
    if not assays <= set(BLOCKS):
        raise ValueError(f"the wide layout holds IHC and ISH results only, not {assays}")
    rows = table.append_column("pos", pa.array(range(table.num_rows), pa.int64()))
    case = [c for _, c in CASE]
    key = ", ".join(case)
    same = " AND ".join(f"i.{c} IS NOT DISTINCT FROM s.{c}" for c in case)
    picks = [f"{_coded(f'coalesce(i.{c}, s.{c})', c)} AS {c}" for c in case]
    for assay, alias in (("IHC", "i"), ("ISH", "s")):
        for _, column in BLOCKS[assay]:
            value = _coded(f"{alias}.{column}", column)
            picks.append(f'{value} AS "{assay}:{column}"')
    con = duckdb.connect()
    try:
        con.register("rows", rows)
        return con.sql(
            f"""
            WITH r AS (
                SELECT *, row_number() OVER (PARTITION BY {key}, assay ORDER BY pos) AS k
                FROM rows
            ),
            i AS (SELECT * FROM r WHERE assay = 'IHC'),
            s AS (SELECT * FROM r WHERE assay = 'ISH')
            SELECT {", ".join(picks)}
            FROM i FULL OUTER JOIN s ON {same} AND i.k = s.k
            ORDER BY least(coalesce(i.pos, s.pos), coalesce(s.pos, i.pos))
            """  # noqa: S608 - column names are the contract's
        ).to_arrow_table()
    finally:
        con.close()


def _coded(expr: str, column: str) -> str:
    """The value in the lab's code when it has one (case-insensitive), else as it is."""
    codes = CODES.get(column)
    if not codes:
        return expr
    cases = " ".join(f"WHEN '{value}' THEN '{code}'" for value, code in codes.items())
    return f"CASE lower({expr}) {cases} ELSE {expr} END"
