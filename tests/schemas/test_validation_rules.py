"""Every contract rule, accepted and rejected (spec/lis-extract.md), on a real warehouse."""

from __future__ import annotations

import pytest

import warehouse
from tests.conftest import IHC_ROW, ISH_ROW, write_extract

# (case id, base row, overrides, expected staged column, expected normalised value)
ACCEPTED = [
    ("score-bare-3", IHC_ROW, {"ihc_score": "3", "reported_result": "positive"}, "ihc_score", "3+"),
    (
        "score-Score-3+",
        IHC_ROW,
        {"ihc_score": "Score 3+", "reported_result": "positive"},
        "ihc_score",
        "3+",
    ),
    ("score-0+", IHC_ROW, {"ihc_score": "0+", "reported_result": "negative"}, "ihc_score", "0"),
    ("score-1", IHC_ROW, {"ihc_score": " 1 ", "reported_result": "negative"}, "ihc_score", "1+"),
    ("score-2", IHC_ROW, {"ihc_score": "2"}, "ihc_score", "2+"),
    ("assay-immunohistochemistry", IHC_ROW, {"assay": "Immunohistochemistry"}, "assay", "IHC"),
    ("assay-fish", ISH_ROW, {"assay": "fish"}, "assay", "ISH"),
    ("assay-SISH", ISH_ROW, {"assay": "SISH"}, "assay", "ISH"),
    ("assay-CISH", ISH_ROW, {"assay": " CISH "}, "assay", "ISH"),
    ("assay-DDISH", ISH_ROW, {"assay": "DDISH"}, "assay", "ISH"),
    (
        "result-POS",
        IHC_ROW,
        {"ihc_score": "3+", "reported_result": "POS"},
        "reported_result",
        "positive",
    ),
    (
        "result-neg",
        IHC_ROW,
        {"ihc_score": "0", "reported_result": "neg"},
        "reported_result",
        "negative",
    ),
    (
        "result-Amplified-ISH",
        ISH_ROW,
        {"reported_result": "Amplified"},
        "reported_result",
        "positive",
    ),
    (
        "result-not-amplified-ISH",
        ISH_ROW,
        {"reported_result": "Not Amplified"},
        "reported_result",
        "negative",
    ),
    (
        "result-non-amplified-ISH",
        ISH_ROW,
        {"reported_result": "non-amplified"},
        "reported_result",
        "negative",
    ),
    ("role-Primary", IHC_ROW, {"specimen_role": " Primary"}, "specimen_role", "primary"),
    (
        "role-METASTASIS",
        IHC_ROW,
        {"specimen_role": "METASTASIS", "specimen_site": "Liver"},
        "specimen_role",
        "metastasis",
    ),
    ("site-lymph-node", IHC_ROW, {"specimen_site": "lymph node"}, "specimen_site", "lymph_node"),
    ("purpose-default", IHC_ROW, {"test_purpose": ""}, "test_purpose", "clinical"),
    (
        "purpose-Second-Read",
        IHC_ROW,
        {"test_purpose": "Second_Read"},
        "test_purpose",
        "second_read",
    ),
    ("version-default", IHC_ROW, {"result_version": ""}, "result_version", 1),
    ("version-spaces", IHC_ROW, {"result_version": " 2 "}, "result_version", 2),
    ("number-spaces", IHC_ROW, {"cold_ischemia_min": " 4 "}, "cold_ischemia_min", 4.0),
    ("number-decimal", IHC_ROW, {"fixation_hours": "2.15"}, "fixation_hours", 2.15),
    ("pct-boundary-100", IHC_ROW, {"ihc_pct_stained": "100"}, "ihc_pct_stained", 100.0),
    ("performing-lab-default", IHC_ROW, {}, "performing_lab", "NORTH"),
    (
        "indeterminate-no-score",
        IHC_ROW,
        {"ihc_score": "", "reported_result": "Indeterminate"},
        "ihc_score",
        None,
    ),
    (
        "indeterminate-ish-no-counts",
        ISH_ROW,
        {
            "ish_her2_per_cell": "",
            "ish_cep17_per_cell": "",
            "ish_ratio": "",
            "ish_cells_counted": "",
            "reported_result": "indeterminate",
        },
        "ish_her2_per_cell",
        None,
    ),
    (
        "single-probe-ish",
        ISH_ROW,
        {"ish_cep17_per_cell": "", "ish_ratio": "", "ish_her2_per_cell": "7.2"},
        "ish_her2_per_cell",
        7.2,
    ),
    ("ratio-tolerance-inclusive", ISH_ROW, {"ish_ratio": "4.10"}, "ish_ratio", 4.10),
    (
        "cep17-exactly-10",
        ISH_ROW,
        {"ish_her2_per_cell": "20.0", "ish_cep17_per_cell": "10", "ish_ratio": "2.0"},
        "ish_cep17_per_cell",
        10.0,
    ),
    (
        "pct-contradicts-score-is-kept",
        IHC_ROW,
        {"ihc_score": "0", "ihc_pct_stained": "15", "reported_result": "negative"},
        "ihc_pct_stained",
        15.0,
    ),
    ("report-same-day", IHC_ROW, {"report_date": "2024-03-01"}, "report_date", None),
]

# (case id, base row, overrides, [(field, code) expected among the reasons])
REJECTED = [
    *[
        (f"missing-{f}", IHC_ROW, {f: ""}, [(f, "required_missing")])
        for f in (
            "lab_id",
            "test_id",
            "accession_id",
            "patient_mrn",
            "specimen_role",
            "collection_date",
            "report_date",
            "assay",
            "reported_result",
        )
    ],
    ("score-range-1-2+", IHC_ROW, {"ihc_score": "1-2+"}, [("ihc_score", "not_in_vocabulary")]),
    ("score-range-0-1+", IHC_ROW, {"ihc_score": "0-1+"}, [("ihc_score", "not_in_vocabulary")]),
    (
        "score-qualified",
        IHC_ROW,
        {"ihc_score": "3+ (outside)"},
        [("ihc_score", "not_in_vocabulary")],
    ),
    ("score-4+", IHC_ROW, {"ihc_score": "4+"}, [("ihc_score", "not_in_vocabulary")]),
    ("assay-PCR", IHC_ROW, {"assay": "PCR"}, [("assay", "not_in_vocabulary")]),
    (
        "result-amplified-on-IHC",
        IHC_ROW,
        {"reported_result": "amplified"},
        [("reported_result", "not_in_vocabulary")],
    ),
    (
        "result-unknown",
        IHC_ROW,
        {"reported_result": "weakly positive"},
        [("reported_result", "not_in_vocabulary")],
    ),
    (
        "role-unknown",
        IHC_ROW,
        {"specimen_role": "unknown"},
        [("specimen_role", "not_in_vocabulary")],
    ),
    (
        "purpose-research",
        IHC_ROW,
        {"test_purpose": "research"},
        [("test_purpose", "not_in_vocabulary")],
    ),
    ("site-unknown", IHC_ROW, {"specimen_site": "elbow"}, [("specimen_site", "not_in_vocabulary")]),
    ("ratio-text", ISH_ROW, {"ish_ratio": ">6.0"}, [("ish_ratio", "not_a_number")]),
    (
        "her2-text",
        ISH_ROW,
        {"ish_her2_per_cell": "1.9 (CN 4.3)"},
        [("ish_her2_per_cell", "not_a_number")],
    ),
    (
        "cep17-text",
        ISH_ROW,
        {"ish_cep17_per_cell": "polisomy"},
        [("ish_cep17_per_cell", "not_a_number")],
    ),
    ("pct-category", IHC_ROW, {"ihc_pct_stained": "<10%"}, [("ihc_pct_stained", "not_a_number")]),
    ("exponent", IHC_ROW, {"cold_ischemia_min": "1e2"}, [("cold_ischemia_min", "not_a_number")]),
    (
        "cells-fraction",
        ISH_ROW,
        {"ish_cells_counted": "20.5"},
        [("ish_cells_counted", "not_an_integer")],
    ),
    ("version-text", IHC_ROW, {"result_version": "two"}, [("result_version", "not_an_integer")]),
    ("date-word", IHC_ROW, {"collection_date": "yesterday"}, [("collection_date", "bad_date")]),
    (
        "date-unconfigured-format",
        IHC_ROW,
        {"report_date": "11/03/2025"},
        [("report_date", "bad_date")],
    ),
    ("date-impossible", IHC_ROW, {"report_date": "2024-02-30"}, [("report_date", "bad_date")]),
    (
        "negative-cold-ischemia",
        IHC_ROW,
        {"cold_ischemia_min": "-5"},
        [("cold_ischemia_min", "out_of_range")],
    ),
    ("negative-fixation", IHC_ROW, {"fixation_hours": "-1"}, [("fixation_hours", "out_of_range")]),
    (
        "negative-her2",
        ISH_ROW,
        {"ish_her2_per_cell": "-2", "ish_cep17_per_cell": "", "ish_ratio": ""},
        [("ish_her2_per_cell", "out_of_range")],
    ),
    ("pct-over-100", IHC_ROW, {"ihc_pct_stained": "130"}, [("ihc_pct_stained", "out_of_range")]),
    ("cells-zero", ISH_ROW, {"ish_cells_counted": "0"}, [("ish_cells_counted", "out_of_range")]),
    ("version-zero", IHC_ROW, {"result_version": "0"}, [("result_version", "out_of_range")]),
    (
        "ratio-zero",
        ISH_ROW,
        {"ish_ratio": "0"},
        [("ish_ratio", "out_of_range"), ("ish_ratio", "ratio_mismatch")],
    ),
    ("cep17-zero", ISH_ROW, {"ish_cep17_per_cell": "0"}, [("ish_cep17_per_cell", "out_of_range")]),
    (
        "cep17-implausible",
        ISH_ROW,
        {"ish_her2_per_cell": "104.0", "ish_cep17_per_cell": "52.0", "ish_ratio": "2.0"},
        [("ish_cep17_per_cell", "implausible_cep17")],
    ),
    ("ratio-mismatch", ISH_ROW, {"ish_ratio": "2.9"}, [("ish_ratio", "ratio_mismatch")]),
    ("ratio-just-outside", ISH_ROW, {"ish_ratio": "4.11"}, [("ish_ratio", "ratio_mismatch")]),
    ("dual-probe-no-ratio", ISH_ROW, {"ish_ratio": ""}, [("ish_ratio", "dual_probe_incomplete")]),
    (
        "dual-probe-no-cep17",
        ISH_ROW,
        {"ish_cep17_per_cell": ""},
        [("ish_cep17_per_cell", "dual_probe_incomplete")],
    ),
    (
        "report-before-collection",
        IHC_ROW,
        {"report_date": "2024-02-28"},
        [("report_date", "report_before_collection")],
    ),
    (
        "collection-in-future",
        IHC_ROW,
        {"collection_date": "2099-01-01", "report_date": "2099-01-02"},
        [("collection_date", "date_in_future"), ("report_date", "date_in_future")],
    ),
    ("ihc-without-score", IHC_ROW, {"ihc_score": ""}, [("ihc_score", "required_missing")]),
    (
        "ish-without-her2",
        ISH_ROW,
        {"ish_her2_per_cell": "", "ish_cep17_per_cell": "", "ish_ratio": ""},
        [("ish_her2_per_cell", "required_missing")],
    ),
    (
        "ish-without-cells",
        ISH_ROW,
        {"ish_cells_counted": ""},
        [("ish_cells_counted", "required_missing")],
    ),
    (
        "indeterminate-still-checked",
        ISH_ROW,
        {"reported_result": "indeterminate", "ish_ratio": "2.9"},
        [("ish_ratio", "ratio_mismatch")],
    ),
]


@pytest.mark.parametrize(
    ("base", "overrides", "column", "expected"),
    [c[1:] for c in ACCEPTED],
    ids=[c[0] for c in ACCEPTED],
)
def test_accepted_and_normalised(wh, base, overrides, column, expected):
    write_extract(wh.inbox / "one.csv", [{**base, **overrides}])
    summary = wh.run()
    reasons = wh.query("SELECT reasons FROM quarantine.rejected_rows")
    assert summary.rows_staged == 1, reasons
    if column == "report_date":
        return
    assert wh.one(f"SELECT {column} FROM staging.her2_results") == expected


@pytest.mark.parametrize(
    ("base", "overrides", "expected"),
    [c[1:] for c in REJECTED],
    ids=[c[0] for c in REJECTED],
)
def test_rejected_with_reason(wh, base, overrides, expected):
    write_extract(wh.inbox / "one.csv", [{**base, **overrides}])
    summary = wh.run()
    assert (summary.rows_staged, summary.rows_quarantined) == (0, 1)
    fields, codes, reasons, row = wh.one(
        "SELECT reason_fields, reason_codes, reasons, source_row FROM quarantine.rejected_rows"
    )
    assert row == 1
    found = set(zip(fields, codes, strict=True))
    for pair in expected:
        assert pair in found, (pair, reasons)
    assert all(isinstance(r, str) and len(r) > 10 for r in reasons)


def test_every_reason_is_reported_on_one_row(wh):
    bad = {
        **IHC_ROW,
        "ihc_score": "4+",
        "cold_ischemia_min": "-3",
        "report_date": "2024-01-01",
        "test_purpose": "research",
    }
    write_extract(wh.inbox / "one.csv", [bad])
    wh.run()
    codes = wh.one("SELECT reason_codes FROM quarantine.rejected_rows")
    assert sorted(codes) == sorted(
        ["not_in_vocabulary", "out_of_range", "report_before_collection", "not_in_vocabulary"]
    )


def test_reason_reads_like_a_person_wrote_it(wh):
    write_extract(
        wh.inbox / "one.csv",
        [{**ISH_ROW, "ish_ratio": "2.9", "ish_her2_per_cell": "8.1", "ish_cep17_per_cell": "2.0"}],
    )
    wh.run()
    assert wh.one("SELECT reasons FROM quarantine.rejected_rows") == [
        "ish_ratio 2.9 disagrees with 8.1/2.0 = 4.05"
    ]


def test_lab_date_format_is_parsed_strictly_for_that_lab_only(env, key):
    from her2qa.config import LabConfig, SiteConfig
    from tests.conftest import Warehouse

    wh = Warehouse(env, key, SiteConfig(labs={"NORTH": LabConfig(date_format="%d/%m/%Y")}))
    rows = [
        {**IHC_ROW, "test_id": "A", "collection_date": "01/03/2024", "report_date": "04/03/2024"},
        {**IHC_ROW, "test_id": "B", "lab_id": "SOUTH", "report_date": "04/03/2024"},
        {**IHC_ROW, "test_id": "C", "report_date": "31/02/2024"},
    ]
    write_extract(wh.inbox / "one.csv", rows)
    wh.run()
    staged = wh.query(
        "SELECT test_id, collection_date::VARCHAR, report_date::VARCHAR FROM staging.her2_results"
    )
    assert staged == [("A", "2024-03-01", "2024-03-04")]
    rejected = dict(wh.query("SELECT test_id, reason_codes FROM quarantine.rejected_rows"))
    assert rejected == {"B": ["bad_date"], "C": ["bad_date"]}


# Contract v2: expected_result, the proficiency-testing provider's key (spec/lis-extract.md).
PT_IHC_ROW = {**IHC_ROW, "test_purpose": "proficiency", "accession_id": "PT24A-01"}
PT_ISH_ROW = {**ISH_ROW, "test_purpose": "proficiency", "accession_id": "PT24A-01"}

EXPECTED_ACCEPTED = [
    # (case id, row, expected_result as written, as staged)
    ("ihc-key-bare-digit", PT_IHC_ROW, "2", "2+"),
    ("ihc-key-Score-3+", PT_IHC_ROW, " Score 3+ ", "3+"),
    ("ihc-key-0+", PT_IHC_ROW, "0+", "0"),
    ("ihc-status-key-POS", PT_IHC_ROW, "POS", "positive"),
    ("ish-key-negative", PT_ISH_ROW, "Negative", "negative"),
    ("ish-key-amplified", PT_ISH_ROW, "Amplified", "positive"),
    ("key-not-yet-known", PT_IHC_ROW, "", None),
    ("clinical-without-key", IHC_ROW, "", None),
]


@pytest.mark.parametrize(
    ("row", "written", "staged"),
    [c[1:] for c in EXPECTED_ACCEPTED],
    ids=[c[0] for c in EXPECTED_ACCEPTED],
)
def test_expected_result_accepted_and_normalised(wh, row, written, staged):
    write_extract(wh.inbox / "one.csv", [{**row, "expected_result": written}])
    summary = wh.run()
    assert summary.rows_staged == 1, wh.query("SELECT reasons FROM quarantine.rejected_rows")
    assert wh.one("SELECT expected_result FROM staging.her2_results") == staged


EXPECTED_REJECTED = [
    # (case id, row, expected_result, code, the reason as a person reads it)
    (
        "key-on-clinical-row",
        IHC_ROW,
        "2+",
        "expected_result_not_proficiency",
        "expected_result is only for proficiency rows (this row's test_purpose is clinical)",
    ),
    (
        "key-on-second-read",
        {**IHC_ROW, "test_purpose": "second_read"},
        "positive",
        "expected_result_not_proficiency",
        "expected_result is only for proficiency rows (this row's test_purpose is second_read)",
    ),
    (
        "ihc-key-range",
        PT_IHC_ROW,
        "1-2+",
        "not_in_vocabulary",
        "expected_result '1-2+' is not in the vocabulary of an IHC challenge (expected an IHC "
        "score 0, 1+, 2+ or 3+, or positive or negative)",
    ),
    (
        "ihc-key-equivocal",
        PT_IHC_ROW,
        "equivocal",
        "not_in_vocabulary",
        "expected_result 'equivocal' is not in the vocabulary of an IHC challenge (expected an "
        "IHC score 0, 1+, 2+ or 3+, or positive or negative)",
    ),
    (
        "ish-key-score",
        PT_ISH_ROW,
        "3+",
        "not_in_vocabulary",
        "expected_result '3+' is not in the vocabulary of an ISH challenge (expected positive or "
        "negative)",
    ),
    (
        "ihc-key-amplified",  # amplified means positive on ISH rows only (§Spellings)
        PT_IHC_ROW,
        "amplified",
        "not_in_vocabulary",
        "expected_result 'amplified' is not in the vocabulary of an IHC challenge (expected an "
        "IHC score 0, 1+, 2+ or 3+, or positive or negative)",
    ),
]


@pytest.mark.parametrize(
    ("row", "written", "code", "reason"),
    [c[1:] for c in EXPECTED_REJECTED],
    ids=[c[0] for c in EXPECTED_REJECTED],
)
def test_expected_result_rejected_with_reason(wh, row, written, code, reason):
    write_extract(wh.inbox / "one.csv", [{**row, "expected_result": written}])
    summary = wh.run()
    assert (summary.rows_staged, summary.rows_quarantined) == (0, 1)
    fields, codes, reasons, raw = wh.one(
        "SELECT reason_fields, reason_codes, reasons, raw->>'expected_result' "
        "FROM quarantine.rejected_rows"
    )
    assert list(zip(fields, codes, reasons, strict=True)) == [("expected_result", code, reason)]
    assert raw == written  # the row as read keeps the value


def test_version_1_extract_without_the_column_reads_expected_result_as_empty(wh):
    header = [c for c in IHC_ROW if c != "expected_result"]
    write_extract(wh.inbox / "v1.csv", [PT_IHC_ROW], header=header)
    summary = wh.run()
    assert summary.rows_staged == 1
    assert wh.one("SELECT expected_result FROM staging.her2_results") is None


def test_repeat_of_a_row_without_key_is_a_repeat_and_with_a_new_key_a_conflict(wh):
    """expected_result is part of what a version says: an identical repeat stays a
    repeat; the same version re-sent with a key differs, so it is quarantined (the first
    arrival wins); the key belongs in a new result_version."""
    write_extract(wh.inbox / "a.csv", [PT_IHC_ROW])
    wh.run()
    write_extract(wh.inbox / "b.csv", [PT_IHC_ROW, {**PT_IHC_ROW, "test_id": "T-2"}])
    wh.run()
    write_extract(
        wh.inbox / "c.csv",
        [
            {**PT_IHC_ROW, "expected_result": "1+"},
            {**PT_IHC_ROW, "result_version": "2", "expected_result": "1+"},
        ],
    )
    wh.run()
    assert wh.one("SELECT count(*) FROM quarantine.rejected_rows") == 1
    assert wh.one("SELECT reason_codes FROM quarantine.rejected_rows") == ["conflicting_version"]
    assert wh.query(
        "SELECT test_id, result_version, expected_result FROM staging.her2_results ORDER BY 1"
    ) == [("T-2", 1, None), ("T-IHC-1", 2, "1+")]


def test_a_test_id_is_one_labs_result_another_labs_same_id_is_another_result(wh):
    """A result's key is (lab_id, test_id, result_version) (spec/lis-extract.md): two labs
    may number their tests alike. Another lab's row with the same test id and version is a
    result of its own, not a repeat or a conflict; a new version replaces its own lab's
    current row only. (Staging looks rows up by test_id first, so it finds the other lab's
    row too: that row must stay current, and nothing be quarantined.)"""
    write_extract(wh.inbox / "a.csv", [IHC_ROW])
    wh.run()
    south = {**IHC_ROW, "lab_id": "SOUTH", "performing_lab": "SOUTH", "ihc_score": "1+"}
    write_extract(wh.inbox / "b.csv", [{**south, "reported_result": "negative"}])
    wh.run()
    write_extract(wh.inbox / "c.csv", [{**IHC_ROW, "result_version": "2", "ihc_score": "3+"}])
    wh.run()
    assert wh.one("SELECT count(*) FROM quarantine.rejected_rows") == 0
    assert wh.query(
        "SELECT lab_id, test_id, result_version, ihc_score FROM staging.her2_results ORDER BY 1"
    ) == [("NORTH", "T-IHC-1", 2, "3+"), ("SOUTH", "T-IHC-1", 1, "1+")]
    assert wh.one("SELECT count(*) FROM staging.her2_results_history") == 3


def test_a_warehouse_of_an_earlier_release_is_carried_over_and_still_tells_repeats(wh):
    """Older warehouses kept a hash of each version's values (content_hash, before file_id)
    in the history, and the current results as a second table beside it (with the hash). The
    schema drops the hash and turns that table into flags on the history (is_current, read
    through the view staging.her2_results); the next file's repeat, conflict and new version
    are told by the values themselves, and an amended result has one current version."""
    amended = {**IHC_ROW, "test_id": "T-3"}
    write_extract(
        wh.inbox / "a.csv",
        [IHC_ROW, {**IHC_ROW, "test_id": "T-2"}, amended, {**amended, "result_version": "2"}],
    )
    wh.run()
    with warehouse.connect(wh.path) as con:  # as an older release wrote the two tables
        con.execute(
            "CREATE TABLE staging.current_then AS SELECT * EXCLUDE (is_current) "
            "FROM staging.her2_results_history WHERE is_current"
        )
        con.execute("DROP VIEW staging.her2_results")
        for table, source in (
            ("staging.her2_results_history", "staging.her2_results_history"),
            ("staging.her2_results", "staging.current_then"),
        ):
            con.execute(
                f"CREATE OR REPLACE TABLE {table} AS SELECT * EXCLUDE "
                "(file_id, source_file, source_row, expected_result), md5(test_id) AS "
                "content_hash, file_id, source_file, source_row, expected_result "
                f"FROM {source}"
            )
        con.execute("ALTER TABLE staging.her2_results_history DROP COLUMN is_current")
        con.execute("DROP TABLE staging.current_then")
    write_extract(
        wh.inbox / "b.csv",
        [
            IHC_ROW,  # the same version, the same values: a repeat
            {**IHC_ROW, "test_id": "T-2", "ihc_score": "1+"},  # the same version, other values
            {**IHC_ROW, "result_version": "2", "ihc_score": "3+"},  # a new version
        ],
    )
    summary = wh.run()
    assert (summary.rows_staged, summary.rows_repeated, summary.rows_quarantined) == (2, 1, 1)
    assert wh.one("SELECT reason_codes FROM quarantine.rejected_rows") == ["conflicting_version"]
    history = [r[0] for r in wh.query("DESCRIBE staging.her2_results_history")]
    assert "content_hash" not in history
    assert [r[0] for r in wh.query("DESCRIBE staging.her2_results")] == [
        c for c in history if c != "is_current"
    ]
    assert (
        wh.one(
            "SELECT table_type FROM information_schema.tables "
            "WHERE table_schema = 'staging' AND table_name = 'her2_results'"
        )
        == "VIEW"
    )
    assert wh.query(
        "SELECT test_id, result_version, ihc_score FROM staging.her2_results ORDER BY 1"
    ) == [("T-2", 1, IHC_ROW["ihc_score"]), ("T-3", 2, IHC_ROW["ihc_score"]), ("T-IHC-1", 2, "3+")]


def test_what_a_version_says_is_every_value_column_of_the_history(wh):
    """Repeats and conflicts compare result_content (staging/verdicts.sql), a list of the
    history's value columns: a column added to the history and not to that list would make
    a resend that differs only there a silent repeat. Every column but where the row came
    from must be in it."""
    write_extract(wh.inbox / "a.csv", [IHC_ROW])
    wh.run()
    macro = warehouse.statements(warehouse.sql("staging/verdicts"))[0]
    assert "MACRO result_content" in macro
    with warehouse.connect(wh.path) as con:
        con.execute(macro)
        content = con.execute(
            "SELECT struct_keys(result_content(h)) FROM staging.her2_results_history AS h"
        ).fetchone()[0]
        columns = [r[0] for r in con.execute("DESCRIBE staging.her2_results_history").fetchall()]
    # where the row came from, and whether it is its result's current version (staging's)
    not_said = {"file_id", "source_file", "source_row", "is_current"}
    assert sorted(content) == sorted(c for c in columns if c not in not_said)
