"""Validation sets (marts.validation_sets) and their verdict (marts.findings validation_set):
her2-domain.md §VALIDATION (20 positive + 20 negative cases for an FDA-approved assay, 40 + 40
for a laboratory-developed test), §QA-WORDING (the lab target is per category: PPA and NPA).

Worked examples (each validation case re-stains a clinical specimen of the same lab and
accession; the comparator is that specimen's clinical final status):
  lab A, kit KA (FDA-approved): 20 positive (clinical 3+) + 20 negative (clinical 0), every
      validation call agrees -> 20 + 20 met, PPA = NPA = 100%: ok.
  lab B, kit KB (FDA-approved): 20 positive + 19 negative, all agree -> 19 < 20: look.
  lab C, kit KL (configured LDT for lab C): 40 + 40, all agree -> required 40, met: ok;
      lab E uses a kit of the same name, not configured for E: FDA-approved, 20 + 20: ok.
  lab C, kit KL2 (configured LDT for lab C): 20 + 20 -> below the 40 + 40 of an LDT: look.
  lab D, kit KD (FDA-approved): 20 positive, two re-stained 2+ (equivocal: a disagreement)
      -> PPA 18/20 = 90% < 95% lab target; 20 negative, one re-stained 3+ -> NPA 19/20 = 95%;
      one more case whose clinical specimen is IHC 2+ without ISH (final status equivocal):
      not comparable, listed and not counted -> look (agreement, not case count).
"""

from __future__ import annotations

from datetime import date

import pytest
from statsmodels.stats.proportion import proportion_confint

from her2qa.config import LabConfig, SiteConfig
from tests.marts_fixtures import build, ihc, records

SITE = SiteConfig(labs={"C": LabConfig(ldt_kits=("KL", "KL2"))})


def _set(lab: str, kit: str, positives: list[str], negatives: list[str]) -> list[dict]:
    """Clinical specimens (3+ for each positive, 0 for each negative) and one validation
    result per specimen on ``kit`` with the given re-stain scores."""
    rows = []
    for clinical, scores in (("3+", positives), ("0", negatives)):
        for i, score in enumerate(scores):
            acc = f"{lab}-{kit}-{clinical}-{i:03d}"
            common = {"lab_id": lab, "accession_id": acc, "patient_key": f"PK-{acc}"}
            rows.append(ihc(clinical, **common))
            rows.append(
                ihc(score, **common, assay_kit=kit, test_purpose="validation",
                    report_date=date(2024, 6, 10 + i % 10))
            )  # fmt: skip
    return rows


def _rows() -> list[dict]:
    rows = []
    rows += _set("A", "KA", ["3+"] * 20, ["0"] * 10 + ["1+"] * 10)
    rows += _set("B", "KB", ["3+"] * 20, ["0"] * 19)
    rows += _set("C", "KL", ["3+"] * 40, ["0"] * 40)
    rows += _set("C", "KL2", ["3+"] * 20, ["0"] * 20)
    rows += _set("E", "KL", ["3+"] * 20, ["0"] * 20)
    rows += _set("D", "KD", ["3+"] * 18 + ["2+"] * 2, ["0"] * 19 + ["3+"])
    common = {"lab_id": "D", "accession_id": "D-EQ", "patient_key": "PK-D-EQ"}
    rows.append(ihc("2+", **common))
    rows.append(ihc("3+", **common, assay_kit="KD", test_purpose="validation",
                    report_date=date(2024, 6, 20)))  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    connection = build(tmp_path_factory.mktemp("validation") / "her2.duckdb", _rows(), SITE)
    yield connection
    connection.close()


def _sets(con) -> dict[tuple[str, str], dict]:
    return {
        (r["lab_id"], r["assay_kit"]): r
        for r in records(con, "SELECT * FROM marts.validation_sets WHERE assay = 'IHC'")
    }


def _finding(con, lab: str, kit: str) -> dict:
    (f,) = records(
        con,
        "SELECT * FROM marts.findings WHERE finding = 'validation_set' AND lab_id = ? "
        "AND subgroup = ?",
        [lab, f"IHC {kit}"],
    )
    return f


def test_one_row_per_lab_assay_kit(con):
    assert set(_sets(con)) == {("A", "KA"), ("B", "KB"), ("C", "KL"), ("C", "KL2"), ("E", "KL"),
                               ("D", "KD")}  # fmt: skip


def test_twenty_plus_twenty_met_for_an_fda_approved_kit(con):
    s = _sets(con)[("A", "KA")]
    assert (s["assay_class"], s["is_ldt"], s["required_per_category"]) == (
        "FDA-approved",
        False,
        20,
    )
    assert (s["n_positive"], s["n_negative"], s["n_cases"]) == (20, 20, 40)
    assert s["positive_cases_met"] and s["negative_cases_met"] and s["cases_met"]
    assert (s["ppa"], s["npa"], s["concordance"]) == (1.0, 1.0, 1.0)
    assert len(s["cases"]) == 40 and all(c["agrees"] for c in s["cases"])
    f = _finding(con, "A", "KA")
    assert (f["verdict"], f["period"]) == ("ok", "ALL")
    assert "20 positive and 20 negative cases, meets" in f["message"]
    assert "20 + 20" in f["threshold"]


def test_nineteen_negative_cases_are_not_enough(con):
    s = _sets(con)[("B", "KB")]
    assert (s["n_positive"], s["n_negative"]) == (20, 19)
    assert s["positive_cases_met"] and not s["negative_cases_met"] and not s["cases_met"]
    f = _finding(con, "B", "KB")
    assert f["verdict"] == "look"
    assert (
        "19 negative cases, below the ASCO/CAP 2013/2018 requirement of 20 + 20" in (f["message"])
    )


def test_a_laboratory_developed_test_needs_forty_plus_forty(con):
    sets = _sets(con)
    ldt = sets[("C", "KL")]
    assert (ldt["assay_class"], ldt["required_per_category"], ldt["required_band_id"]) == (
        "LDT",
        40,
        "validation_cases_ldt",
    )
    assert ldt["cases_met"] and _finding(con, "C", "KL")["verdict"] == "ok"
    short = sets[("C", "KL2")]
    assert (short["n_positive"], short["n_negative"], short["cases_met"]) == (20, 20, False)
    f = _finding(con, "C", "KL2")
    assert f["verdict"] == "look" and "40 + 40 for a laboratory-developed test" in f["message"]
    # the same kit name elsewhere is FDA-approved unless configured for that lab
    other = sets[("E", "KL")]
    assert (other["assay_class"], other["required_per_category"], other["cases_met"]) == (
        "FDA-approved",
        20,
        True,
    )


def test_agreement_per_category_with_wilson_ci(con):
    s = _sets(con)[("D", "KD")]
    assert (s["n_positive"], s["n_negative"], s["n_not_comparable"], s["n_cases"]) == (
        20,
        20,
        1,
        41,
    )
    assert (s["n_pos_agree"], s["n_neg_agree"], s["n_agree"]) == (18, 19, 37)
    assert s["cases_met"]
    for k, n, col in ((18, 20, "ppa"), (19, 20, "npa"), (37, 40, "concordance")):
        assert s[col] == pytest.approx(k / n)
        low, high = proportion_confint(k, n, method="wilson")
        assert (s[f"{col}_ci_low"], s[f"{col}_ci_high"]) == pytest.approx((low, high))
    calls = {c["accession_id"]: c for c in s["cases"]}
    eq = calls["D-EQ"]
    assert (eq["comparator_status"], eq["comparable"], eq["agrees"]) == ("equivocal", False, None)
    assert calls["D-KD-3+-018"]["validation_call"] == "equivocal"
    assert calls["D-KD-3+-018"]["agrees"] is False
    f = _finding(con, "D", "KD")
    assert f["verdict"] == "look"
    assert f["figure"] == pytest.approx(90.0) and f["n"] == 20  # the lower of PPA and NPA
    assert "PPA below the lab target of 95.0%" in f["message"]
    assert "1 case(s) without a positive or negative comparator" in f["message"]


def test_every_set_has_one_finding(con):
    (n_sets,) = con.execute("SELECT count(*) FROM marts.validation_sets").fetchone()
    (n_findings,) = con.execute(
        "SELECT count(*) FROM marts.findings WHERE finding = 'validation_set'"
    ).fetchone()
    assert n_sets == n_findings == 6
