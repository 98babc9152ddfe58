"""Which results make a specimen's status, and how pairs are formed (spec/warehouse.md).

Each test builds its own small warehouse file: staged rows -> staging/her2_results ->
marts (warehouse/build.py).
"""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from her2qa.config import SiteConfig
from tests.marts_fixtures import build, ihc, ish, records, single_probe_ish, specimen, stage
from warehouse import build as mart_build

D = date


def agreement(con, comparison: str, lab_id: str = "ALL", period: str = "ALL") -> dict | None:
    rows = records(
        con,
        "SELECT * FROM marts.agreement WHERE comparison = ? AND lab_id = ? AND period = ?",
        [comparison, lab_id, period],
    )
    return rows[0] if rows else None


def pairs(con, comparison: str) -> list[dict]:
    return records(
        con,
        "SELECT * FROM marts.agreement_pairs WHERE comparison = ? "
        "ORDER BY lab_id, accession_id, partner_lab_id, partner_accession_id",
        [comparison],
    )


# --- per assay: the usable current result with the latest report_date ------------------------
def test_latest_report_date_wins(tmp_path):
    con = build(
        tmp_path / "w.duckdb",
        [
            ihc("1+", test_id="T-B", report_date=D(2024, 3, 4)),
            ihc("3+", test_id="T-A", report_date=D(2024, 3, 10)),  # later, smaller test_id
            ish(1.2, 2.4, test_id="T-Z", report_date=D(2024, 3, 5)),
            ish(2.5, 5.0, test_id="T-Y", report_date=D(2024, 3, 12)),
        ],
    )
    row = specimen(con, "NORTH", "S1")
    assert (row["ihc_score"], row["ihc_test_id"]) == ("3+", "T-A")
    assert (row["ish_group"], row["ish_test_id"]) == (1, "T-Y")
    assert row["specimen_date"] == D(2024, 3, 12)
    assert row["n_results"] == 4


def test_report_date_tie_goes_to_greatest_test_id_in_text_order(tmp_path):
    con = build(
        tmp_path / "w.duckdb",
        [
            ihc("3+", test_id="T-10", report_date=D(2024, 3, 4)),
            ihc("1+", test_id="T-9", report_date=D(2024, 3, 4)),  # "T-9" > "T-10" as text
        ],
    )
    row = specimen(con, "NORTH", "S1")
    assert (row["ihc_score"], row["ihc_test_id"], row["final_status"]) == ("1+", "T-9", "negative")


def test_indeterminate_results_are_never_used(tmp_path):
    con = build(
        tmp_path / "w.duckdb",
        [
            ihc("2+", report_date=D(2024, 3, 4)),
            ihc(None, report_date=D(2024, 3, 20)),  # tissue failure, later
            ish(2.5, 5.0, report_date=D(2024, 3, 8)),
            ish(None, None, report_date=D(2024, 3, 21)),  # indeterminate ISH, later
        ],
    )
    row = specimen(con, "NORTH", "S1")
    assert (row["ihc_score"], row["ish_group"], row["final_status"]) == ("2+", 1, "positive")
    assert row["specimen_date"] == D(2024, 3, 8)
    assert row["last_report_date"] == D(2024, 3, 21)


def test_an_indeterminate_row_with_a_score_is_not_used_either(tmp_path):
    con = build(
        tmp_path / "w.duckdb",
        [
            ihc("1+", report_date=D(2024, 3, 4)),
            ihc("3+", report_date=D(2024, 3, 9), reported_result="indeterminate"),
        ],
    )
    assert specimen(con, "NORTH", "S1")["ihc_score"] == "1+"


def test_single_probe_ish_is_used_only_without_a_usable_dual_probe(tmp_path):
    """Contract v2: a dual-probe result when the specimen has a usable one, else the latest
    single-probe one; ish_probe says which."""
    con = build(
        tmp_path / "w.duckdb",
        [
            ihc("2+", accession_id="A"),
            single_probe_ish(7.5, accession_id="A", test_id="A-SP"),
            ihc("2+", accession_id="B"),
            ish(1.2, 2.4, accession_id="B", report_date=D(2024, 3, 8), test_id="B-DP"),
            single_probe_ish(7.5, accession_id="B", report_date=D(2024, 3, 20)),  # later
            ihc("1+", accession_id="C"),
            ish(
                2.5,
                5.0,
                accession_id="C",
                report_date=D(2024, 3, 25),
                reported_result="indeterminate",
            ),
            single_probe_ish(8.21, accession_id="C", report_date=D(2024, 3, 9), test_id="C-SP1"),
            single_probe_ish(3.1, accession_id="C", report_date=D(2024, 3, 6), test_id="C-SP2"),
            single_probe_ish(6.5, accession_id="D", reported_result="indeterminate"),
            ihc("0", accession_id="D", ihc_pct_stained=0.0),
        ],
    )
    a, b, c, d = (specimen(con, "NORTH", x) for x in "ABCD")
    assert (a["ish_probe"], a["ish_group"], a["ish_test_id"], a["final_status"]) == (
        "single",
        None,
        "A-SP",
        "positive",
    )
    assert (b["ish_probe"], b["ish_group"], b["ish_test_id"], b["final_status"]) == (
        "dual",
        5,
        "B-DP",
        "negative",
    )
    # the dual-probe row failed: the latest single-probe one counts
    assert (c["ish_probe"], c["ish_test_id"], c["ish_her2_per_cell"]) == ("single", "C-SP1", 8.21)
    assert (c["final_status"], c["her2_category"], c["specimen_date"]) == (
        "positive",
        "positive",
        D(2024, 3, 9),
    )
    # an indeterminate single-probe row is never used
    assert (d["ish_probe"], d["ish_test_id"], d["her2_category"]) == (None, None, "null")


def test_nothing_usable_is_indeterminate(tmp_path):
    con = build(
        tmp_path / "w.duckdb",
        [ihc(None), ish(None, None), single_probe_ish(3.0, reported_result="indeterminate")],
    )
    row = specimen(con, "NORTH", "S1")
    assert (row["final_status"], row["her2_category"]) == ("indeterminate", "indeterminate")
    assert row["specimen_date"] is None
    assert row["ihc_score"] is None and row["ish_group"] is None and row["ish_probe"] is None


def test_only_clinical_results_make_the_specimen(tmp_path):
    con = build(
        tmp_path / "w.duckdb",
        [
            ihc("1+", accession_id="A"),
            ihc("3+", accession_id="A", test_purpose="second_read", report_date=D(2024, 4, 1)),
            ish(2.5, 5.0, accession_id="A", test_purpose="reference_lab", performing_lab="REF"),
            ihc("3+", accession_id="A", test_purpose="validation", report_date=D(2024, 5, 1)),
            ihc("3+", accession_id="A", test_purpose="proficiency", report_date=D(2024, 5, 1)),
            # no clinical result: no specimen row
            ihc("3+", accession_id="B", test_purpose="second_read"),
            ihc("3+", accession_id="C", test_purpose="reference_lab", performing_lab="REF"),
            ihc("3+", accession_id="D", test_purpose="validation"),
        ],
    )
    assert records(con, "SELECT accession_id FROM marts.specimen_her2") == [{"accession_id": "A"}]
    row = specimen(con, "NORTH", "A")
    assert (row["ihc_score"], row["ish_group"], row["final_status"]) == ("1+", None, "negative")
    assert row["n_results"] == 1


def test_an_amendment_changes_the_marts(tmp_path):
    path = tmp_path / "w.duckdb"
    con = build(path, [ihc("1+", test_id="T-1"), ihc("3+", test_id="T-2", accession_id="S2")])
    assert specimen(con, "NORTH", "S1")["final_status"] == "negative"
    # version 2 of T-1 (amended report): the history keeps both, staging takes the latest
    stage(con, [ihc("3+", test_id="T-1", result_version=2, report_date=D(2024, 3, 6))])
    mart_build.build_marts(con, SiteConfig())
    row = specimen(con, "NORTH", "S1")
    assert (row["ihc_score"], row["final_status"], row["her2_category"]) == (
        "3+",
        "positive",
        "positive",
    )
    assert con.execute("SELECT count(*) FROM staging.her2_results_history").fetchone() == (3,)
    assert con.execute("SELECT count(*) FROM marts.specimen_her2").fetchone() == (2,)


def test_an_amendment_to_indeterminate_falls_back_to_the_other_results(tmp_path):
    con = build(
        tmp_path / "w.duckdb",
        [ihc("1+", test_id="T-1", report_date=D(2024, 3, 2)), ihc("3+", test_id="T-2")],
    )
    assert specimen(con, "NORTH", "S1")["ihc_test_id"] == "T-2"
    stage(con, [ihc(None, test_id="T-2", result_version=2)])
    mart_build.build_marts(con, SiteConfig())
    row = specimen(con, "NORTH", "S1")
    assert (row["ihc_test_id"], row["final_status"]) == ("T-1", "negative")


def test_a_rebuild_gives_the_same_marts(tmp_path):
    con = build(
        tmp_path / "w.duckdb",
        [ihc("2+"), ish(2.2, 3.5), ihc("0", accession_id="X", specimen_role="metastasis")],
    )
    tables = ("specimen_her2", "agreement", "primary_metastasis_pairs", "agreement_pairs")
    before = {
        t: sorted(con.execute(f"SELECT * FROM marts.{t}").fetchall(), key=str) for t in tables
    }
    mart_build.build_marts(con, SiteConfig())
    after = {t: sorted(con.execute(f"SELECT * FROM marts.{t}").fetchall(), key=str) for t in tables}
    assert after == before


# --- primary and metastasis --------------------------------------------------------------------
def test_earliest_primary_is_the_primary_across_labs(tmp_path):
    con = build(
        tmp_path / "w.duckdb",
        [
            # patient P1: primaries in two labs; the earliest collection wins
            ihc("3+", lab_id="NORTH", accession_id="N-P", collection_date=D(2024, 2, 1)),
            ihc("0", lab_id="SOUTH", accession_id="S-P", collection_date=D(2024, 1, 10)),
            ihc(
                "3+",
                lab_id="NORTH",
                accession_id="N-M",
                specimen_role="metastasis",
                specimen_site="liver",
                collection_date=D(2024, 6, 1),
                report_date=D(2024, 7, 2),
            ),
        ],
    )
    (pair,) = records(con, "SELECT * FROM marts.primary_metastasis_pairs")
    assert pair["patient_key"] == "P1"
    assert (pair["primary_lab_id"], pair["primary_accession_id"]) == ("SOUTH", "S-P")
    assert (pair["metastasis_lab_id"], pair["metastasis_accession_id"]) == ("NORTH", "N-M")
    assert (pair["primary_status"], pair["metastasis_status"], pair["change"]) == (
        "negative",
        "positive",
        "gain",
    )
    assert (pair["primary_her2_category"], pair["metastasis_her2_category"]) == (
        "zero_unspecified",
        "positive",
    )
    assert pair["pair_date"] == D(2024, 7, 2) and pair["pair_quarter"] == "2024-Q3"
    # the comparison takes the metastasis' lab_id; no row for the primary's lab
    assert agreement(con, "primary_vs_metastasis", "NORTH")["n_neg_pos"] == 1
    assert agreement(con, "primary_vs_metastasis", "SOUTH") is None


def test_primary_ties_smallest_lab_then_accession(tmp_path):
    day = D(2024, 1, 10)
    con = build(
        tmp_path / "w.duckdb",
        [
            ihc("3+", lab_id="B", accession_id="A1", collection_date=day),
            ihc("0", lab_id="A", accession_id="Z9", collection_date=day),
            ihc("1+", lab_id="A", accession_id="Z1", collection_date=day),
            ihc("3+", lab_id="B", accession_id="M", specimen_role="metastasis"),
        ],
    )
    (pair,) = records(con, "SELECT * FROM marts.primary_metastasis_pairs")
    assert (pair["primary_lab_id"], pair["primary_accession_id"]) == ("A", "Z1")
    assert pair["change"] == "gain"


def test_an_indeterminate_earliest_primary_stays_the_primary(tmp_path):
    con = build(
        tmp_path / "w.duckdb",
        [
            ihc(None, accession_id="P-OLD", collection_date=D(2023, 1, 5)),
            ihc("3+", accession_id="P-NEW", collection_date=D(2023, 6, 5)),
            ihc("2+", accession_id="M1", specimen_role="metastasis"),
            ihc("3+", accession_id="M2", specimen_role="metastasis"),
        ],
    )
    rows = records(
        con, "SELECT * FROM marts.primary_metastasis_pairs ORDER BY metastasis_accession_id"
    )
    assert [r["primary_accession_id"] for r in rows] == ["P-OLD", "P-OLD"]
    assert [(r["primary_status"], r["metastasis_status"], r["change"]) for r in rows] == [
        ("indeterminate", "equivocal", "not_comparable"),
        ("indeterminate", "positive", "not_comparable"),
    ]
    assert agreement(con, "primary_vs_metastasis") is None


def test_every_metastasis_pairs_and_patients_without_primary_do_not(tmp_path):
    con = build(
        tmp_path / "w.duckdb",
        [
            ihc("3+", accession_id="P"),
            ihc("3+", accession_id="M1", specimen_role="metastasis"),
            ihc("1+", accession_id="M2", specimen_role="metastasis"),
            ihc("2+", accession_id="M3", specimen_role="metastasis"),
            # before the primary was collected: still that patient's metastasis
            ihc("3+", accession_id="M0", specimen_role="metastasis", collection_date=D(2023, 1, 1)),
            # patient P2 has metastases only
            ihc("3+", patient_key="P2", accession_id="Q1", specimen_role="metastasis"),
        ],
    )
    rows = records(
        con,
        "SELECT metastasis_accession_id AS m, change FROM marts.primary_metastasis_pairs "
        "ORDER BY m",
    )
    assert rows == [
        {"m": "M0", "change": "concordant"},
        {"m": "M1", "change": "concordant"},
        {"m": "M2", "change": "loss"},
        {"m": "M3", "change": "not_comparable"},
    ]
    row = agreement(con, "primary_vs_metastasis")
    assert (row["n_pairs"], row["n_pos_pos"], row["n_pos_neg"]) == (3, 2, 1)


# --- pairs of the other comparisons ----------------------------------------------------------
def test_reference_lab_results_belong_to_the_owner_lab(tmp_path):
    con = build(
        tmp_path / "w.duckdb",
        [
            ihc("3+", lab_id="NORTH", accession_id="A"),
            ish(2.5, 5.0, lab_id="NORTH", accession_id="A", test_purpose="reference_lab",
                performing_lab="REFLAB", test_id="R-1"),
            ihc("1+", lab_id="NORTH", accession_id="B"),
            ish(2.5, 5.0, lab_id="NORTH", accession_id="B", test_purpose="reference_lab",
                performing_lab="REFLAB", test_id="R-2"),
            # an equivocal reference status is not a pair
            ihc("0", lab_id="NORTH", accession_id="C"),
            ihc("2+", lab_id="NORTH", accession_id="C", test_purpose="reference_lab",
                performing_lab="REFLAB"),
        ],
    )  # fmt: skip
    assert [(p["lab_id"], p["accession_id"], p["first_value"], p["second_value"])
            for p in pairs(con, "lab_vs_reference")] == [
        ("NORTH", "A", "positive", "positive"),
        ("NORTH", "B", "negative", "positive"),
    ]  # fmt: skip
    labs = {r["lab_id"] for r in records(con, "SELECT lab_id FROM marts.agreement")}
    assert labs == {"ALL", "NORTH"}
    row = agreement(con, "lab_vs_reference", "NORTH")
    assert (row["n_pairs"], row["n_pos_pos"], row["n_neg_pos"], row["ppa"], row["npa"]) == (
        2,
        1,
        1,
        50.0,
        None,
    )


def test_pairs_never_cross_lab_id(tmp_path):
    con = build(
        tmp_path / "w.duckdb",
        [
            ihc("3+", lab_id="NORTH", accession_id="A"),
            # same accession text under another lab: another specimen, not a partner
            ihc("3+", lab_id="SOUTH", accession_id="A", test_purpose="second_read"),
            ihc("3+", lab_id="SOUTH", accession_id="A", test_purpose="reference_lab"),
            ish(2.5, 5.0, lab_id="SOUTH", accession_id="A", test_purpose="reference_lab"),
        ],
    )
    assert records(con, "SELECT * FROM marts.agreement_pairs") == []
    assert records(con, "SELECT * FROM marts.agreement") == []


def test_observer_pairs_use_clinical_and_second_read_ihc(tmp_path):
    con = build(
        tmp_path / "w.duckdb",
        [
            ihc("1+", accession_id="A", pathologist_id="P01"),
            ihc("2+", accession_id="A", test_purpose="second_read", pathologist_id="P02",
                report_date=D(2024, 4, 2)),
            ihc("0", accession_id="B"),
            ihc("0", accession_id="B", test_purpose="second_read"),
            ihc("3+", accession_id="C"),  # no second read: no pair
            ihc("2+", accession_id="D", test_purpose="second_read"),  # no clinical IHC
            ish(2.5, 5.0, accession_id="D"),
        ],
    )  # fmt: skip
    got = [(p["accession_id"], p["first_value"], p["second_value"], p["period"])
           for p in pairs(con, "observer_vs_observer")]  # fmt: skip
    assert got == [("A", "1+", "2+", "2024-Q2"), ("B", "0", "0", "2024-Q1")]
    assert specimen(con, "NORTH", "A")["ihc_score"] == "1+"  # the second read is not clinical
    row = agreement(con, "observer_vs_observer")
    assert (row["n_pairs"], row["n_agree"], row["pct_agree"]) == (2, 1, 50.0)
    assert [row[c] for c in ("n_pos_pos", "n_pos_neg", "n_neg_pos", "n_neg_neg", "ppa", "npa")] == [
        None
    ] * 6


def test_ihc_vs_ish_pairs_only_ihc_0_1_3_with_group_1_or_5(tmp_path):
    rows = []
    for acc, score, numbers in [
        ("A", "3+", (2.5, 5.0)),  # pos / pos
        ("B", "0", (1.2, 2.4)),  # neg / neg
        ("C", "1+", (2.5, 5.0)),  # neg / pos
        ("D", "2+", (2.5, 5.0)),  # IHC 2+: not compared
        ("E", "3+", (2.2, 3.5)),  # group 2: not compared
        ("F", "0", (1.5, 6.5)),  # group 3
        ("G", "1+", (1.6, 4.8)),  # group 4
        ("H", "3+", None),  # no ISH
    ]:
        rows.append(ihc(score, accession_id=acc))
        if numbers:
            rows.append(ish(*numbers, accession_id=acc))
    # single-probe (contract v2): >= 6.0 positive, < 4.0 negative, equivocal not compared
    for acc, score, her2 in [
        ("I", "1+", 8.21),  # neg / pos
        ("J", "3+", 3.99),  # pos / neg
        ("K", "0", 5.99),  # equivocal: not compared
        ("L", "0", 4.00),  # equivocal: not compared
        ("M", "3+", 6.00),  # pos / pos
        ("N", "1+", 3.0),  # neg / neg
        ("O", "2+", 8.0),  # IHC 2+: not compared
    ]:
        rows += [ihc(score, accession_id=acc), single_probe_ish(her2, accession_id=acc)]
    con = build(tmp_path / "w.duckdb", rows)
    got = [(p["accession_id"], p["first_value"], p["second_value"], p["ish_probe"])
           for p in pairs(con, "ihc_vs_ish")]  # fmt: skip
    assert got == [("A", "positive", "positive", "dual"), ("B", "negative", "negative", "dual"),
                   ("C", "negative", "positive", "dual"), ("I", "negative", "positive", "single"),
                   ("J", "positive", "negative", "single"), ("M", "positive", "positive", "single"),
                   ("N", "negative", "negative", "single")]  # fmt: skip
    row = agreement(con, "ihc_vs_ish")
    assert (row["n_pos_pos"], row["n_pos_neg"], row["n_neg_pos"], row["n_neg_neg"]) == (2, 1, 2, 2)


# --- periods and roll-ups -----------------------------------------------------------------------
def test_period_is_the_quarter_of_the_latest_selected_report(tmp_path):
    con = build(
        tmp_path / "w.duckdb",
        [
            ihc("3+", report_date=D(2024, 3, 30)),
            ish(2.5, 5.0, report_date=D(2024, 4, 2)),
            ihc("1+", report_date=D(2024, 12, 31), reported_result="indeterminate"),  # unused
        ],
    )
    (pair,) = pairs(con, "ihc_vs_ish")
    assert (pair["pair_date"], pair["period"]) == (D(2024, 4, 2), "2024-Q2")
    periods = [r["period"] for r in records(con, "SELECT period FROM marts.agreement")]
    assert sorted(periods) == ["2024-Q2", "2024-Q2", "ALL", "ALL"]


def test_a_row_for_every_comparison_lab_period_and_the_roll_ups(tmp_path):
    rows = []
    for i, (lab, day) in enumerate(
        [("NORTH", D(2024, 2, 1)), ("NORTH", D(2024, 5, 1)), ("SOUTH", D(2024, 5, 2)),
         ("SOUTH", D(2024, 5, 3)), ("SOUTH", D(2025, 1, 7))]
    ):  # fmt: skip
        rows.append(ihc("3+", lab_id=lab, accession_id=f"A{i}", report_date=day))
        numbers = (1.2, 2.4) if i == 3 else (2.5, 5.0)  # A3: IHC 3+ vs group 5, discordant
        rows.append(ish(*numbers, lab_id=lab, accession_id=f"A{i}", report_date=day))
    con = build(tmp_path / "w.duckdb", rows)
    got = {
        (r["lab_id"], r["period"]): (r["n_pairs"], r["n_agree"])
        for r in records(con, "SELECT * FROM marts.agreement WHERE comparison = 'ihc_vs_ish'")
    }
    assert got == {
        ("ALL", "ALL"): (5, 4),
        ("ALL", "2024-Q1"): (1, 1),
        ("ALL", "2024-Q2"): (3, 2),
        ("ALL", "2025-Q1"): (1, 1),
        ("NORTH", "ALL"): (2, 2),
        ("NORTH", "2024-Q1"): (1, 1),
        ("NORTH", "2024-Q2"): (1, 1),
        ("SOUTH", "ALL"): (3, 2),
        ("SOUTH", "2024-Q2"): (2, 1),
        ("SOUTH", "2025-Q1"): (1, 1),
    }
    comparisons = {r["comparison"] for r in records(con, "SELECT * FROM marts.agreement")}
    assert comparisons == {"ihc_vs_ish"}  # no row without a pair


# --- property-based: the SQL's selection against a direct reading of the spec ---------------
def _group(ratio: float, her2: float) -> int:
    if ratio >= 2.0:
        return 1 if her2 >= 4.0 else 2
    return 3 if her2 >= 6.0 else 4 if her2 >= 4.0 else 5


def _single(her2: float) -> str:
    return "positive" if her2 >= 6.0 else "negative" if her2 < 4.0 else "equivocal"


def _status(score: str | None, group: int | None, single: str | None = None) -> str:
    if single is not None:  # contract v2, §ISH-SINGLE
        if score == "3+" or single == "positive":
            return "positive"
        if single == "negative" or score in ("0", "1+"):
            return "negative"
        return "equivocal"
    if score == "3+" or group == 1:
        return "positive"
    if group in (2, 4):
        return "negative" if score else "equivocal"
    if group == 3:
        return {"2+": "positive", None: "equivocal"}.get(score, "negative")
    if group == 5:
        return "negative"
    return {"0": "negative", "1+": "negative", "2+": "equivocal"}.get(score, "indeterminate")


_row = st.fixed_dictionaries(
    {
        "accession_id": st.sampled_from(["A", "B", "C"]),
        "test_purpose": st.sampled_from(["clinical", "clinical", "second_read", "validation"]),
        "report_date": st.sampled_from([D(2024, 3, 4), D(2024, 3, 5), D(2024, 7, 1)]),
        "kind": st.sampled_from(["ihc", "ihc_indeterminate", "dual", "single", "ish_indet"]),
        "score": st.sampled_from(["0", "1+", "2+", "3+"]),
        "numbers": st.sampled_from(
            [(2.0, 4.0), (1.99, 4.0), (2.0, 3.99), (1.99, 6.0), (1.2, 2.4), (1.5, 5.99)]
        ),
    }
)


@settings(max_examples=25, deadline=None)
@given(st.lists(_row, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_selection_matches_the_spec(tmp_path_factory, specs, rnd):
    test_ids = rnd.sample(range(1, 40), len(specs))  # unique within the lab, random order
    rows = []
    for spec, n in zip(specs, test_ids, strict=True):
        common = {
            "accession_id": spec["accession_id"],
            "test_purpose": spec["test_purpose"],
            "report_date": spec["report_date"],
            "test_id": f"T{n}",
        }
        kind = spec["kind"]
        if kind == "ihc":
            rows.append(ihc(spec["score"], **common))
        elif kind == "ihc_indeterminate":
            rows.append(ihc(spec["score"], reported_result="indeterminate", **common))
        elif kind == "dual":
            rows.append(ish(*spec["numbers"], **common))
        elif kind == "single":
            rows.append(single_probe_ish(spec["numbers"][1], **common))
        else:
            rows.append(ish(*spec["numbers"], reported_result="indeterminate", **common))
    con = build(tmp_path_factory.mktemp("prop") / "w.duckdb", rows)
    got = {
        r["accession_id"]: (r["ihc_test_id"], r["ish_test_id"], r["final_status"])
        for r in records(con, "SELECT * FROM marts.specimen_her2")
    }
    con.close()

    def latest(candidates):
        return max(candidates, key=lambda r: (r["report_date"], r["test_id"]), default=None)

    expected = {}
    for acc in {r["accession_id"] for r in rows if r["test_purpose"] == "clinical"}:
        mine = [r for r in rows if r["accession_id"] == acc and r["test_purpose"] == "clinical"]
        usable = [r for r in mine if r["reported_result"] != "indeterminate"]
        i = latest(r for r in usable if r["assay"] == "IHC")
        s = latest(r for r in usable if r["assay"] == "ISH" and r["ish_ratio"] is not None)
        group = _group(s["ish_ratio"], s["ish_her2_per_cell"]) if s else None
        single = None
        if s is None:  # no usable dual-probe ISH: the latest single-probe one (contract v2)
            s = latest(r for r in usable if r["assay"] == "ISH" and r["ish_ratio"] is None)
            single = _single(s["ish_her2_per_cell"]) if s else None
        expected[acc] = (
            i and i["test_id"],
            s and s["test_id"],
            _status(i and i["ihc_score"], group, single),
        )
    assert got == expected
