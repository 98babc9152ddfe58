"""The input contract's columns (``spec/lis-extract.md`` version 2, §Columns), as data.

One definition of the extract: the raw pandera schema, the staged schema, the
SQL that types the raw layer and the synthetic generator all derive from it.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Kind = Literal["text", "enum", "integer", "number", "date"]


class Column(NamedTuple):
    name: str
    kind: Kind
    required: bool  # required on every row (conditional requirements live in the rules)
    phi: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("lab_id", "text", True),
    Column("performing_lab", "text", False),
    Column("test_id", "text", True),
    Column("result_version", "integer", False),
    Column("accession_id", "text", True),
    Column("patient_mrn", "text", True, phi=True),
    Column("patient_name", "text", False, phi=True),
    Column("patient_dob", "date", False, phi=True),
    Column("specimen_role", "enum", True),
    Column("specimen_site", "enum", False),
    Column("collection_date", "date", True),
    Column("report_date", "date", True),
    Column("cold_ischemia_min", "number", False),
    Column("fixation_hours", "number", False),
    Column("assay", "enum", True),
    Column("assay_kit", "text", False),
    Column("ihc_score", "enum", False),
    Column("ihc_pct_stained", "number", False),
    Column("ish_her2_per_cell", "number", False),
    Column("ish_cep17_per_cell", "number", False),
    Column("ish_ratio", "number", False),
    Column("ish_cells_counted", "integer", False),
    Column("reported_result", "enum", True),
    Column("pathologist_id", "text", False),
    Column("test_purpose", "enum", False),
    # Version 2 (2026-12-04): the proficiency-testing provider's key, on proficiency rows only.
    Column("expected_result", "enum", False),
)

BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
REQUIRED: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.required)
PHI: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.phi)
# What the raw layer keeps of the contract: everything but PHI (the MRN becomes patient_key).
RAW_KEPT: tuple[str, ...] = tuple(c.name for c in COLUMNS if not c.phi)


def header_key(name: str) -> str:
    """How a header cell is matched to a contract column: trimmed, case-insensitive."""
    return name.strip().lower()


# Numeric rules of the contract (spec/lis-extract.md "Impossible values", §Columns).
RATIO_TOLERANCE = 0.05  # |ish_ratio - her2/cep17| allowed, inclusive
FLOAT_SLACK = 1e-9
CEP17_MAX_PER_CELL = 10.0  # above this a per-cell mean is implausible
