"""pandera schema of the staged layer (``staging.her2_results``): the contract, typed.

The SQL in ``warehouse/sql/staging/typed_rows.sql`` decides which rows are
quarantined and says why; this schema is the independent statement of what a
staged row must be, checked on every run's new rows (asset check) and in the
tests, so a change to the SQL that lets a bad row through is caught.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from schemas import contract, vocabulary

_HEX64 = r"^[0-9a-f]{64}$"


def _text(nullable: bool = False) -> pa.Column:
    return pa.Column(str, pa.Check.str_length(min_value=1), nullable=nullable)


def _enum(values: tuple[str, ...], nullable: bool = False) -> pa.Column:
    return pa.Column(str, pa.Check.isin(values), nullable=nullable)


def _number(*checks: pa.Check) -> pa.Column:
    return pa.Column(float, list(checks), nullable=True)


def ratio_agrees(df: pd.DataFrame) -> pd.Series:
    """ish_ratio agrees with her2/cep17 within the contract's tolerance, where all are present."""
    computed = df["ish_her2_per_cell"] / df["ish_cep17_per_cell"]
    gap = (df["ish_ratio"] - computed).abs()
    limit = contract.RATIO_TOLERANCE + contract.FLOAT_SLACK
    return (gap <= limit) | computed.isna() | df["ish_ratio"].isna()


def report_not_before_collection(df: pd.DataFrame) -> pd.Series:
    return df["report_date"] >= df["collection_date"]


def score_unless_indeterminate(df: pd.DataFrame) -> pd.Series:
    needs = (df["assay"] == "IHC") & (df["reported_result"] != "indeterminate")
    return ~needs | df["ihc_score"].notna()


def ish_counts_unless_indeterminate(df: pd.DataFrame) -> pd.Series:
    needs = (df["assay"] == "ISH") & (df["reported_result"] != "indeterminate")
    return ~needs | (df["ish_her2_per_cell"].notna() & df["ish_cells_counted"].notna())


def dual_probe_complete(df: pd.DataFrame) -> pd.Series:
    ish = df["assay"] == "ISH"
    return ~ish | (df["ish_cep17_per_cell"].isna() == df["ish_ratio"].isna())


# Contract v2: the proficiency-testing provider's key, normalised (an IHC score, or a call).
EXPECTED_RESULTS: tuple[str, ...] = (*vocabulary.IHC_SCORES, "positive", "negative")


def expected_only_on_proficiency(df: pd.DataFrame) -> pd.Series:
    """expected_result is given on proficiency rows only (spec/lis-extract.md v2)."""
    return df["expected_result"].isna() | (df["test_purpose"] == "proficiency")


def expected_fits_assay(df: pd.DataFrame) -> pd.Series:
    """An ISH challenge's key is positive or negative; an IHC challenge's a score or a call."""
    ish = df["assay"] == "ISH"
    return (
        ~ish | df["expected_result"].isna() | df["expected_result"].isin(("positive", "negative"))
    )


staged_her2_results = pa.DataFrameSchema(
    {
        "lab_id": _text(),
        "performing_lab": _text(),
        "test_id": _text(),
        "result_version": pa.Column("int32", pa.Check.ge(1)),
        "accession_id": _text(),
        "patient_key": pa.Column(str, pa.Check.str_matches(_HEX64)),
        "specimen_role": _enum(vocabulary.SPECIMEN_ROLES),
        "specimen_site": _enum(vocabulary.SPECIMEN_SITES, nullable=True),
        "collection_date": pa.Column("datetime64[us]"),
        "report_date": pa.Column("datetime64[us]"),
        "cold_ischemia_min": _number(pa.Check.ge(0)),
        "fixation_hours": _number(pa.Check.ge(0)),
        "assay": _enum(vocabulary.ASSAYS),
        "assay_kit": _text(nullable=True),
        "ihc_score": _enum(vocabulary.IHC_SCORES, nullable=True),
        "ihc_pct_stained": _number(pa.Check.in_range(0, 100)),
        "ish_her2_per_cell": _number(pa.Check.ge(0)),
        "ish_cep17_per_cell": _number(pa.Check.gt(0), pa.Check.le(contract.CEP17_MAX_PER_CELL)),
        "ish_ratio": _number(pa.Check.gt(0)),
        "ish_cells_counted": pa.Column("Int32", pa.Check.ge(1), nullable=True),
        "reported_result": _enum(vocabulary.REPORTED_RESULTS),
        "pathologist_id": _text(nullable=True),
        "test_purpose": _enum(vocabulary.TEST_PURPOSES),
        "expected_result": _enum(EXPECTED_RESULTS, nullable=True),
    },
    checks=[
        pa.Check(ratio_agrees, name="ratio_agrees_with_means"),
        pa.Check(report_not_before_collection, name="report_not_before_collection"),
        pa.Check(score_unless_indeterminate, name="ihc_score_unless_indeterminate"),
        pa.Check(ish_counts_unless_indeterminate, name="ish_counts_unless_indeterminate"),
        pa.Check(dual_probe_complete, name="dual_probe_complete"),
        pa.Check(expected_only_on_proficiency, name="expected_result_only_on_proficiency"),
        pa.Check(expected_fits_assay, name="expected_result_fits_assay"),
    ],
    unique=["lab_id", "test_id", "result_version"],
    strict="filter",
    coerce=True,  # Arrow batches arrive as object dates and float ints; values are checked
    name="staging.her2_results",
    description="The current version of each valid result (spec/lis-extract.md, warehouse.md).",
)
