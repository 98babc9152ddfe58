"""Issue 10 marts: site groups and decalcified sites (primary vs metastasis), 2025 eligibility
classes of HER2-low transitions, the 4B5 companion assay, negative_unspecified, single-probe
discordances, and the guideline version each result was read under (%-stained rules, fixation
window). References: her2-domain.md §HER2-LOW, §TIMELINE, §BENCH 6.4, §PREANALYTIC,
§IHC-2018, §ISH-SINGLE; spec/warehouse.md v2."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from her2qa import config
from tests.marts_fixtures import build, ihc, records, single_probe_ish, specimen

PRIMARY = {"lab_id": "PRI", "collection_date": date(2023, 6, 1), "report_date": date(2023, 6, 5)}
METASTASIS = {
    "lab_id": "MET",
    "specimen_role": "metastasis",
    "collection_date": date(2024, 6, 1),
    "report_date": date(2024, 6, 5),
}
# (primary IHC, primary %, metastasis IHC, metastasis %, metastasis site, metastasis kit)
PLAN = [
    ("3+", 90.0, "1+", 30.0, "liver", "4B5"),  # loss, distant
    ("3+", 90.0, "3+", 90.0, "bone", "4B5"),  # concordant, distant, decalcified
    ("1+", 30.0, "3+", 90.0, "lymph_node", "4B5"),  # gain, locoregional
    ("1+", 30.0, "0", 5.0, "skin", "4B5"),  # low -> ultralow, locoregional
    ("1+", 30.0, "0", 0.0, "lung", "4B5"),  # low -> null
    ("0", 0.0, "0", 5.0, "brain", "HercepTest"),  # null -> ultralow off the companion assay
    ("0", 5.0, "0", 0.0, "other", "4B5"),  # ultralow -> null, site unspecified
    ("1+", 30.0, "0", None, "pleura", "4B5"),  # low -> zero_unspecified
    ("0", 0.0, "0", None, "liver", "4B5"),  # null -> zero_unspecified: class unknown
    ("0", 5.0, "1+", 30.0, "liver", "4B5"),  # ultralow -> low
]


def _pairs_rows() -> list[dict]:
    rows = []
    for i, (p_score, p_pct, m_score, m_pct, site, kit) in enumerate(PLAN):
        patient = f"PT{i}"
        rows.append(
            ihc(
                p_score, accession_id=f"P{i}", patient_key=patient, ihc_pct_stained=p_pct, **PRIMARY
            )
        )
        rows.append(
            ihc(
                m_score,
                accession_id=f"M{i}",
                patient_key=patient,
                ihc_pct_stained=m_pct,
                specimen_site=site,
                assay_kit=kit,
                **METASTASIS,
            )
        )
    # a metastasis negative by ISH alone (no IHC): negative_unspecified
    rows.append(ihc("1+", accession_id="P99", patient_key="PT99", ihc_pct_stained=30.0, **PRIMARY))
    rows.append(
        single_probe_ish(
            3.0, accession_id="M99", patient_key="PT99", specimen_site="bone", **METASTASIS
        )
    )
    return rows


OLD = config.SiteConfig(
    labs={
        "OLD": config.LabConfig(
            guidelines=(config.GuidelinePeriod("2007", None, date(2014, 1, 1)),)
        )
    }
)


def _versioned_rows() -> list[dict]:
    """Lab OLD: 2007 until 2014 (exclusive), then 2018; same results on each side."""
    rows = []
    for era, day in (("A", date(2012, 5, 2)), ("B", date(2019, 5, 2))):
        common = {"lab_id": "OLD", "report_date": day, "collection_date": day}
        for acc, score, pct in [
            ("Z5", "0", 5.0),  # 2007: 0 is no staining -> contradiction; 2018: ultralow
            ("O5", "1+", 5.0),  # 2007: any proportion; 2018: <= 10% contradicts
            ("O0", "1+", 0.0),  # 1+ without staining contradicts both
            ("T20", "3+", 20.0),  # 2007: needs > 30%; 2018: > 10%
            ("T10", "3+", 10.0),  # contradicts both
            ("T31", "3+", 31.0),  # neither
            ("W5", "2+", 5.0),  # 2+ never judged
        ]:
            rows.append(
                ihc(score, accession_id=era + acc, test_id=era + acc, ihc_pct_stained=pct, **common)
            )
        # fixation 48 / 48.1 / 72 h
        for acc, hours in (("F48", 48.0), ("F481", 48.1), ("F72", 72.0)):
            rows.append(ihc("1+", accession_id=era + acc, fixation_hours=hours, **common))
    return rows


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("issue10")
    rows = _pairs_rows() + _versioned_rows()
    # single-probe discordances (lab SP)
    sp = {"lab_id": "SP", "patient_key": "PS"}
    rows += [
        ihc("1+", accession_id="S1", **sp),
        single_probe_ish(8.21, accession_id="S1", **sp),  # IHC 1+, amplified single probe
        ihc("3+", accession_id="S2", **sp),
        single_probe_ish(3.99, accession_id="S2", **sp),  # IHC 3+, not amplified
        ihc("0", accession_id="S3", **sp),
        single_probe_ish(3.0, accession_id="S3", **sp),  # concordant
        ihc("2+", accession_id="S4", **sp),
        single_probe_ish(5.0, accession_id="S4", **sp),  # equivocal: not a discordance
    ]
    connection = build(root / "her2.duckdb", rows, OLD)
    yield connection
    connection.close()


def _pair(con, i: int) -> dict:
    (row,) = records(
        con,
        "SELECT * FROM marts.primary_metastasis_pairs WHERE metastasis_accession_id = ?",
        [f"M{i}"],
    )
    return row


# --- primary vs metastasis: site groups, decalcified sites ---------------------------------


def test_pairs_carry_the_site_group_and_the_decalcified_flag(con):
    want = {
        "liver": ("distant", False),
        "bone": ("distant", True),
        "lymph_node": ("locoregional", False),
        "skin": ("locoregional", False),
        "lung": ("distant", False),
        "brain": ("distant", False),
        "other": ("unspecified", False),
        "pleura": ("distant", False),
    }
    for i, plan in enumerate(PLAN):
        row = _pair(con, i)
        assert row["metastasis_site"] == plan[4]
        assert (row["metastasis_site_group"], row["metastasis_likely_decalcified"]) == want[plan[4]]


def test_summary_splits_distant_and_locoregional_and_keeps_the_pooled_row(con):
    (s,) = records(con, "SELECT * FROM marts.primary_metastasis_summary WHERE lab_id = 'MET'")
    assert s["n_pairs"] == 11  # pooled: every pair, as before
    assert (s["distant_n_pairs"], s["locoregional_n_pairs"], s["n_site_unspecified"]) == (8, 2, 1)
    assert (s["n_loss"], s["distant_n_loss"], s["locoregional_n_loss"]) == (1, 1, 0)
    assert (s["n_gain"], s["distant_n_gain"], s["locoregional_n_gain"]) == (1, 0, 1)
    # distant: primary-positive pairs M0 (loss) and M1 (bone, concordant)
    assert (s["distant_n_primary_positive"], s["distant_loss_rate"]) == (2, 0.5)
    assert s["locoregional_gain_rate"] == 0.5  # M2 gain of M2, M3 (primaries negative)
    assert (s["n_likely_decalcified"], s["distant_n_likely_decalcified"]) == (2, 2)
    # Schrijver (distant metastases) is read beside distant_*; Houssami beside the pooled
    assert (s["loss_bench_site_group"], s["gain_bench_site_group"]) == ("distant", "distant")
    assert s["discordance_bench_site_group"] == "distant and locoregional"
    (pooled,) = records(con, "SELECT * FROM marts.primary_metastasis_summary WHERE lab_id = 'ALL'")
    assert pooled["distant_n_pairs"] == 8


def test_retest_candidates_flag_bone_and_read_eligibility_per_2025(con):
    rows = {
        r["accession_id"]: r
        for r in records(con, "SELECT * FROM marts.retest_candidates WHERE lab_id = 'MET'")
    }
    assert rows["M99"]["reason_code"] == "negative_without_ihc"
    assert rows["M99"]["likely_decalcified"] and "ANP.22985" in rows["M99"]["reason"]
    assert rows["M0"]["site_group"] == "distant" and not rows["M0"]["likely_decalcified"]
    assert "ANP.22985" not in rows["M0"]["reason"]
    # low -> ultralow: not a loss in HR-positive disease
    assert rows["M3"]["reason_code"] == "low_to_zero"
    assert "kept in HR-positive disease" in rows["M3"]["reason"]
    assert "T-DXd (HER2-low) eligibility lost" in rows["M4"]["reason"]  # low -> null
    assert rows["M5"]["reason_code"] == "null_to_ultralow"
    assert rows["M6"]["reason_code"] == "ultralow_to_null"
    assert rows["M5"]["reason_group"] == rows["M6"]["reason_group"] == "therapy_change"
    assert "M8" not in rows  # null -> zero_unspecified: not a known change


# --- HER2-low transitions per 2025 (§HER2-LOW) ------------------------------------------------

# (primary category, metastasis category): (changes_eligibility, anti-HER2, T-DXd HR+, T-DXd HR-)
TRANSITIONS = {
    ("positive", "low"): (True, "lost", "gained", "gained"),
    ("positive", "positive"): (False, "unchanged", "unchanged", "unchanged"),
    ("low", "positive"): (True, "gained", "lost", "lost"),
    ("low", "ultralow"): (True, "unchanged", "unchanged", "lost"),
    ("low", "null"): (True, "unchanged", "lost", "lost"),
    ("null", "ultralow"): (True, "unchanged", "gained", "unchanged"),
    ("ultralow", "null"): (True, "unchanged", "lost", "unchanged"),
    ("low", "zero_unspecified"): (True, "unchanged", None, "lost"),
    ("null", "zero_unspecified"): (None, "unchanged", None, "unchanged"),
    ("ultralow", "low"): (True, "unchanged", "unchanged", "gained"),
    ("low", "negative_unspecified"): (None, "unchanged", None, None),
}


@pytest.mark.parametrize(("transition", "want"), TRANSITIONS.items())
def test_transitions_follow_the_2025_eligibility_classes(con, transition, want):
    (row,) = records(
        con,
        "SELECT * FROM marts.her2_low_transitions WHERE lab_id = 'MET' "
        "AND primary_category = ? AND metastasis_category = ?",
        list(transition),
    )
    got = (
        row["changes_eligibility"],
        row["anti_her2_change"],
        row["tdxd_hr_positive_change"],
        row["tdxd_hr_negative_change"],
    )
    assert got == want


def test_transition_classes_and_the_companion_assay(con):
    rows = {
        (r["primary_category"], r["metastasis_category"]): r
        for r in records(con, "SELECT * FROM marts.her2_low_transitions WHERE lab_id = 'MET'")
    }
    low_ultra = rows[("low", "ultralow")]
    assert (low_ultra["primary_class"], low_ultra["metastasis_class"]) == ("low", "ultralow")
    assert low_ultra["eligibility_change"] == "low → ultralow"
    assert rows[("null", "zero_unspecified")]["metastasis_class"] is None
    assert rows[("null", "zero_unspecified")]["eligibility_change"] == "class unknown"
    assert rows[("positive", "positive")]["eligibility_change"] == "same class"
    assert rows[("null", "ultralow")]["n_pairs_off_companion"] == 1  # HercepTest
    assert rows[("low", "ultralow")]["n_pairs_off_companion"] == 0
    assert rows[("low", "negative_unspecified")]["transition_kind"] == "unspecified"


def test_companion_assay_on_specimens_and_in_the_distribution(con):
    m5 = specimen(con, "MET", "M5")
    assert (m5["her2_category"], m5["companion_assay"], m5["ultralow_null_off_companion"]) == (
        "ultralow",
        False,
        True,
    )
    m3 = specimen(con, "MET", "M3")
    assert (m3["companion_assay"], m3["ultralow_null_off_companion"]) == (True, False)
    m99 = specimen(con, "MET", "M99")
    assert (m99["companion_assay"], m99["her2_category"], m99["ish_probe"]) == (
        None,
        "negative_unspecified",
        "single",
    )
    (d,) = records(
        con,
        "SELECT * FROM marts.her2_low_distribution "
        "WHERE lab_id = 'MET' AND specimen_role = 'ALL' AND quarter = 'ALL'",
    )
    assert (d["n_ultralow_null_off_companion"], d["n_negative_unspecified"]) == (1, 1)
    assert d["share_negative_unspecified"] == pytest.approx(1 / 11)
    assert d["n_indeterminate"] == 0


# --- single-probe discordances (§ISH-SINGLE) -----------------------------------------------


def test_single_probe_discordances_are_on_the_worklist(con):
    rows = {
        r["accession_id"]: r
        for r in records(con, "SELECT * FROM marts.ihc_ish_discordance WHERE lab_id = 'SP'")
    }
    assert set(rows) == {"S1", "S2"}
    assert rows["S1"]["discordance_type"] == "ihc01_single_probe_positive"
    assert rows["S1"]["final_status"] == "positive" and rows["S1"]["ish_probe"] == "single"
    assert "8.21 HER2/cell" in rows["S1"]["reason"]
    assert rows["S2"]["discordance_type"] == "ihc3_single_probe_negative"


def test_cap11_counts_a_decided_single_probe_as_a_completed_ish(con):
    (r,) = records(con, "SELECT * FROM marts.cap11_rates WHERE lab_id = 'SP'")
    assert (r["n_ihc_equivocal"], r["n_ish_completed"]) == (1, 0)  # S4: single-probe 5.0


# --- guideline-aware: %-stained rules, fixation window (§IHC-2018, §PREANALYTIC) -------------

PCT = {  # accession: (contradicts under 2007, under 2018)
    "Z5": (True, False),
    "O5": (False, True),
    "O0": (True, True),
    "T20": (True, False),
    "T10": (True, True),
    "T31": (False, False),
    "W5": (False, False),
}


@pytest.mark.parametrize(("acc", "want"), PCT.items())
def test_pct_contradictions_follow_the_version_read_under(con, acc, want):
    rows = {
        r["test_id"]: r
        for r in records(con, "SELECT * FROM marts.interpretation_audit WHERE lab_id = 'OLD'")
    }
    old, new = rows["A" + acc], rows["B" + acc]
    assert (old["guideline_version"], new["guideline_version"]) == ("2007", "2018")
    assert (old["pct_contradiction"], new["pct_contradiction"]) == want
    if want[0]:
        assert "2007" in old["pct_finding"]


def test_categories_follow_the_version_read_under(con):
    assert specimen(con, "OLD", "AZ5")["her2_category"] == "zero_unspecified"
    assert specimen(con, "OLD", "BZ5")["her2_category"] == "ultralow"
    assert specimen(con, "OLD", "AO5")["her2_category"] == "low"


def test_fixation_window_is_6_48_h_under_2007_and_6_72_h_after(con):
    rows = {
        r["month_label"]: r
        for r in records(con, "SELECT * FROM marts.preanalytic_monthly WHERE lab_id = 'OLD'")
    }
    old, new = rows["2012-05"], rows["2019-05"]
    # 2007: 48 within, 48.1 and 72 over; 2018: all three within (the other rows: 24 h)
    assert (old["n_fixation_within"], old["n_fixation_over"], old["n_fixation_read_2007"]) == (
        8,
        2,
        10,
    )
    assert (new["n_fixation_within"], new["n_fixation_over"], new["n_fixation_read_2007"]) == (
        10,
        0,
        0,
    )
    assert (old["fixation_low_h_2007"], old["fixation_high_h_2007"]) == (6, 48)
    assert (old["fixation_low_h"], old["fixation_high_h"]) == (6, 72)
    assert "CAP-SURVEY-2008" in old["limits_source"] and "ERPGR-2010" in old["limits_source"]
