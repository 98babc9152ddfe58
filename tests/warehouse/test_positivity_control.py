"""Positivity monitoring (warehouse/sql/marts/positivity_monthly.sql and
positivity_pathologists.sql, judged by findings positivity_control and positivity_pathologist),
on hand-made series whose every number is worked out here by hand."""

from __future__ import annotations

import math
from datetime import date

import pytest

from tests.marts_fixtures import build, ihc, records

SE = math.sqrt(0.2 * 0.8 / 20)  # binomial standard error at p̄ 0.2, n 20: 0.0894


def _month(lab: str, year: int, month: int, positives: int, n: int = 20, reader: str = "R1"):
    """n first primaries of distinct patients collected on the 2nd, `positives` of them 3+."""
    return [
        ihc(
            "3+" if i < positives else "1+",
            lab_id=lab,
            accession_id=f"{lab}-{year}{month:02}-{i}",
            patient_key=f"{lab}-{year}{month:02}-{i}",
            collection_date=date(year, month, 2),
            report_date=date(year, month, 6),
            pathologist_id=reader,
        )
        for i in range(n)
    ]


def _series() -> list[dict]:
    rows = []
    # SPC: 2023 at 4 of 20 (0.2); 2024-01..03 the same; 2024-04..06 9 of 20 (0.45, z 2.80 each:
    # under the 3-sigma limit, a sustained shift); 2024-07 15 of 20 (z 6.15: above the limit);
    # 2024-08 the most recent month (incomplete)
    for m in range(1, 13):
        rows += _month("SPC", 2023, m, 4)
    for m, k in [(1, 4), (2, 4), (3, 4), (4, 9), (5, 9), (6, 9), (7, 15), (8, 4)]:
        rows += _month("SPC", 2024, m, k)
    # a second primary of a patient already counted: never counted again (first primary only)
    rows.append(
        ihc(
            "3+",
            lab_id="SPC",
            accession_id="SPC-again",
            patient_key="SPC-202302-0",
            collection_date=date(2023, 2, 20),
            report_date=date(2023, 2, 25),
        )
    )
    # ODL: months alternate 1 and 7 of 20 (0.05, 0.35): overdispersed around 0.2
    for m in range(1, 13):
        rows += _month("ODL", 2023, m, 1 if m % 2 else 7)
    rows += _month("ODL", 2024, 1, 4)
    rows += _month("ODL", 2024, 2, 4)
    return rows


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    con = build(tmp_path_factory.mktemp("spc") / "w.duckdb", _series())
    yield con
    con.close()


def _lab(con, lab: str) -> dict[str, dict]:
    return {
        r["month_label"]: r
        for r in records(
            con, "SELECT * FROM marts.positivity_monthly WHERE lab_id = ? AND level = 'lab'", [lab]
        )
    }


def test_first_primary_only_and_months_without_a_baseline_are_not_judged(con):
    months = _lab(con, "SPC")
    assert months["2023-02"]["n_specimens"] == 20  # the patient's second primary is left out
    # 2023-12's baseline window (2022-06..2023-05) holds 5 months: fewer than 6
    assert months["2023-12"]["month_status"] == "no_baseline"
    assert months["2023-12"]["baseline_months"] == 5
    # 2024-01's (2022-07..2023-06) holds 6: judged
    assert months["2024-01"]["month_status"] == "judged"
    assert months["2024-01"]["baseline_months"] == 6
    assert months["2024-08"]["month_status"] == "incomplete"  # the most recent month
    assert months["2024-08"]["signal"] is None


def test_centre_line_and_limits_come_from_the_lagged_baseline(con):
    july = _lab(con, "SPC")["2024-07"]
    # baseline 2023-01..2023-12 (12 months ending 6 before July), all at 0.2: the shifted
    # months 2024-04..06 never enter it
    assert july["baseline_months"] == 12
    assert july["centre_line"] == pytest.approx(0.2)
    assert july["sigma"] == pytest.approx(SE)
    assert july["sigma_z"] == pytest.approx(1.0)  # no overdispersion: binomial limits
    assert july["lcl"] == 0.0  # 0.2 - 3 SE < 0: clipped
    assert july["ucl"] == pytest.approx(0.2 + 3 * SE)
    assert july["z"] == pytest.approx((0.75 - 0.2) / SE)  # 6.15
    assert july["signal"] == "above" and july["out_of_control"]


def test_cusum_catches_a_sustained_shift_no_single_point_would(con):
    months = _lab(con, "SPC")
    z = (0.45 - 0.2) / SE  # 2.795: each shifted month inside the 3-sigma limits
    april, may, june = months["2024-04"], months["2024-05"], months["2024-06"]
    assert april["z"] == pytest.approx(z) and abs(z) < 3
    assert april["cusum_high"] == pytest.approx(z - 0.5)  # 2.30 < h 4: no signal yet
    assert april["signal"] is None
    assert may["cusum_high"] == pytest.approx(2 * (z - 0.5))  # 4.59 > 4: a shift
    assert may["signal"] == "shift_up"
    assert june["cusum_high"] == pytest.approx(z - 0.5)  # reset after the signal
    assert june["signal"] is None
    assert all(months[m]["cusum_high"] == 0 for m in ("2024-01", "2024-02", "2024-03"))


def test_findings_judge_each_month_with_the_chart(con):
    findings = {
        r["period"]: r
        for r in records(
            con,
            "SELECT * FROM marts.findings WHERE finding = 'positivity_control' AND lab_id = 'SPC'",
        )
    }
    assert findings["2023-06"]["verdict"] == "too_few"
    assert findings["2024-03"]["verdict"] == "ok"
    assert "in control" in findings["2024-03"]["message"]
    assert findings["2024-04"]["verdict"] == "ok"
    assert findings["2024-05"]["verdict"] == "look"
    assert "sustained shift above the baseline rate of 20.0%" in findings["2024-05"]["message"]
    assert findings["2024-07"]["verdict"] == "look"
    assert "above the control limits" in findings["2024-07"]["message"]
    assert findings["2024-08"]["verdict"] == "info"
    assert "not judged" in findings["2024-08"]["message"]


def test_laney_widens_the_limits_only_where_the_baseline_is_overdispersed(con):
    months = _lab(con, "ODL")
    january = months["2024-01"]  # baseline 2023-01..2023-06: 1, 7, 1, 7, 1, 7 of 20
    z = (0.35 - 0.2) / SE  # each baseline month 1.677 away from p̄ 0.2, alternating
    # Pearson dispersion 6 z² = 16.9 > chi-square(5) 95% point 11.07: overdispersed;
    # moving range 2z every month, sigma_z = 2z / 1.128
    assert january["centre_line"] == pytest.approx(0.2)
    assert january["sigma_z"] == pytest.approx(2 * z / 1.128)
    assert january["ucl"] == pytest.approx(0.2 + 3 * SE * 2 * z / 1.128)


def test_pathologists_are_compared_with_their_lab_by_a_funnel_plot(tmp_path):
    rows = _month("FUN", 2024, 6, 20, n=100, reader="R1")[:80]  # R1: 80 specimens
    rows = [dict(r, ihc_score="3+" if i < 16 else "1+") for i, r in enumerate(rows)]
    rows = [dict(r, reported_result="positive" if r["ihc_score"] == "3+" else "negative")
            for r in rows]  # fmt: skip
    rows += _month("FUN", 2024, 6, 30, n=50, reader="R2")  # R2: 30 of 50 (60%)
    rows = [dict(r, accession_id=f"{r['accession_id']}-{r['pathologist_id']}",
                 patient_key=f"{r['patient_key']}-{r['pathologist_id']}") for r in rows]  # fmt: skip
    con = build(tmp_path / "w.duckdb", rows)
    readers = {
        r["pathologist_id"]: r
        for r in records(con, "SELECT * FROM marts.positivity_pathologists WHERE lab_id = 'FUN'")
    }
    lab_rate = (16 + 30) / 130
    r1, r2 = readers["R1"], readers["R2"]
    assert r1["lab_rate"] == pytest.approx(lab_rate)
    se2 = math.sqrt(lab_rate * (1 - lab_rate) / 50)
    assert r2["limit_high"] == pytest.approx(lab_rate + 3.09 * se2)
    assert r2["limit_95_high"] == pytest.approx(lab_rate + 1.959963984540054 * se2)
    assert r2["z"] == pytest.approx((0.6 - lab_rate) / se2)  # 3.66: outside
    assert r2["outside"] and not r1["outside"]  # R1: 0.2 at z -2.36, inside
    verdicts = dict(
        con.execute(
            "SELECT subgroup, verdict FROM marts.findings "
            "WHERE finding = 'positivity_pathologist' AND lab_id = 'FUN'"
        ).fetchall()
    )
    assert verdicts == {"R1": "ok", "R2": "look"}
    con.close()
