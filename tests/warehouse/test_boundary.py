"""The 0 vs 1+ boundary (issue 11): marts.boundary_pairs, marts.boundary_agreement and
marts.ihc0_share on a worked example, with statsmodels as the reference for kappa, its
standard error and CI (stats.inter_rater.cohens_kappa) and for Wilson intervals
(stats.proportion.proportion_confint).

Worked example (lab NORTH, 2018 rules; clinical read first, second read second):
  P01 / 4B5, 0 vs 1+ pairs: 1+/1+ x6, 1+/0 x2, 0/1+ x1, 0/0 x8 -> 2×2 [[6, 2], [1, 8]],
      n 17, 14 agree; off the boundary: 2+/1+ and 3+/3+ (left out).
      The eight 0/0 pairs' % stained (first, second): (0, 0) x3, (5, 5) x2, (5, 0), (0, 5),
      and (15, 0): a 0 over 10% contradicts its score, so null vs ultralow
      (ultralow first) is [[2, 1], [1, 3]], n 7.
  P02 / SP3: 1+/1+ x3, 0/1+ x2, 0/0 x4 (no % stained: off null vs ultralow) -> [[3, 0], [2, 4]].
  Lab OLD reads under the 2007 rules: 0/0 with (0, 5) counts at 0 vs 1+, never at null vs
      ultralow.
  Reference lab (NORTH): 1+/0, 0/0, 1+/1+ -> [[1, 1], [0, 1]].
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from her2qa import config
from tests.marts_fixtures import build, ihc, records

_n = iter(range(1, 1000))


def _pair(first, second, *, purpose="second_read", lab="NORTH", reader="P01", kit="4B5",
          pct=(None, None), when=date(2024, 3, 4)):  # fmt: skip
    accession = f"B{next(_n):03d}"
    return [
        ihc(first, lab_id=lab, accession_id=accession, patient_key=f"K{accession}",
            pathologist_id=reader, assay_kit=kit, ihc_pct_stained=pct[0], report_date=when),
        ihc(second, lab_id=lab, accession_id=accession, patient_key=f"K{accession}",
            test_purpose=purpose, pathologist_id="P99", assay_kit=kit, ihc_pct_stained=pct[1],
            performing_lab="REF" if purpose == "reference_lab" else None, report_date=when),
    ]  # fmt: skip


def _rows() -> list[dict]:
    rows = []
    p01 = [("1+", "1+")] * 6 + [("1+", "0")] * 2 + [("0", "1+")]
    for first, second in p01:
        rows += _pair(first, second)
    for pct in [(0, 0)] * 3 + [(5, 5)] * 2 + [(5, 0), (0, 5), (15, 0)]:
        rows += _pair("0", "0", pct=pct)
    rows += _pair("2+", "1+") + _pair("3+", "3+")
    for first, second in [("1+", "1+")] * 3 + [("0", "1+")] * 2 + [("0", "0")] * 4:
        rows += _pair(first, second, reader="P02", kit="SP3", when=date(2024, 7, 2))
    rows += _pair("0", "0", lab="OLD", pct=(0, 5), when=date(2012, 5, 2))
    for first, second in [("1+", "0"), ("0", "0"), ("1+", "1+")]:
        rows += _pair(first, second, purpose="reference_lab")
    return rows


SITE = config.SiteConfig(
    labs={"OLD": config.LabConfig(guidelines=(config.GuidelinePeriod("2007", None, None),))}
)


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    connection = build(tmp_path_factory.mktemp("boundary") / "her2.duckdb", _rows(), SITE)
    yield connection
    connection.close()


def _row(con, **where) -> dict:
    keys = {"lab_id": "ALL", "breakdown": "all", "breakdown_value": "all", **where}
    clause = " AND ".join(f"{k} = ?" for k in keys)
    found = records(
        con, f"SELECT * FROM marts.boundary_agreement WHERE {clause}", list(keys.values())
    )
    assert len(found) == 1, (keys, found)
    return found[0]


def _check_against_statsmodels(row: dict, table: list[list[int]]) -> None:
    (a, b), (c, d) = table
    assert (row["n_pos_pos"], row["n_pos_neg"], row["n_neg_pos"], row["n_neg_neg"]) == (a, b, c, d)
    n, k = a + b + c + d, a + d
    assert (row["n_pairs"], row["n_agree"]) == (n, k)
    low, high = proportion_confint(k, n, method="wilson")
    assert row["pct_agree"] == pytest.approx(100 * k / n)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((100 * low, 100 * high))
    _assert_kappa_as_statsmodels(row, table)


def test_kappa_se_macro_on_the_test_vector(con):
    """§7.5's 2×2 (a=45, b=3, c=5, d=147): κ 0.891892; SE and CI as statsmodels."""
    (k,) = con.execute("SELECT kappa_interval(45, 3, 5, 147)").fetchone()
    ref = cohens_kappa(np.array([[45, 3], [5, 147]]))
    assert k["kappa"] == pytest.approx(0.891892, abs=1e-6)
    assert k["kappa_se"] == pytest.approx(ref.std_kappa, abs=1e-12)
    assert k["kappa_se"] == pytest.approx(0.037380, abs=1e-6)
    assert (k["kappa_ci_low"], k["kappa_ci_high"]) == pytest.approx((ref.kappa_low, ref.kappa_upp))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # statsmodels: its z at κ0 SE 0
@pytest.mark.parametrize(
    "table",
    [[[6, 2], [1, 8]], [[10, 2], [3, 5]], [[7, 1], [2, 0]], [[5, 0], [0, 5]], [[3, 1], [0, 0]]],
)
def test_kappa_interval_matches_statsmodels(con, table):
    (a, b), (c, d) = table
    (k,) = con.execute("SELECT kappa_interval(?, ?, ?, ?)", [a, b, c, d]).fetchone()
    _assert_kappa_as_statsmodels(k, table)


def _assert_kappa_as_statsmodels(got: dict, table: list[list[int]]) -> None:
    """κ, its SE and its 95% interval (clipped to [-1, 1]) as statsmodels computes them."""
    ref = cohens_kappa(np.array(table))
    assert got["kappa"] == pytest.approx(ref.kappa, abs=1e-12)
    assert got["kappa_se"] == pytest.approx(ref.std_kappa, abs=1e-12)
    assert got["kappa_ci_low"] == pytest.approx(max(-1.0, ref.kappa_low), abs=1e-9)
    assert got["kappa_ci_high"] == pytest.approx(min(1.0, ref.kappa_upp), abs=1e-9)


def test_kappa_undefined_gives_null_interval(con):
    (k,) = con.execute("SELECT kappa_interval(0, 0, 0, 7)").fetchone()
    assert k == {"kappa": None, "kappa_se": None, "kappa_ci_low": None, "kappa_ci_high": None}


def test_0_vs_1plus_per_pathologist_and_clone(con):
    _check_against_statsmodels(
        _row(con, comparison="second_read", boundary="0_vs_1plus", lab_id="NORTH",
             breakdown="pathologist", breakdown_value="P01"),
        [[6, 2], [1, 8]],
    )  # fmt: skip
    _check_against_statsmodels(
        _row(con, comparison="second_read", boundary="0_vs_1plus", lab_id="NORTH",
             breakdown="clone", breakdown_value="SP3"),
        [[3, 0], [2, 4]],
    )  # fmt: skip


def test_0_vs_1plus_pooled_includes_the_2007_lab(con):
    # NORTH: P01 + P02 = [[9, 2], [3, 12]]; OLD adds one 0/0 pair
    _check_against_statsmodels(
        _row(con, comparison="second_read", boundary="0_vs_1plus", lab_id="NORTH"),
        [[9, 2], [3, 12]],
    )
    _check_against_statsmodels(
        _row(con, comparison="second_read", boundary="0_vs_1plus"), [[9, 2], [3, 13]]
    )


def test_null_vs_ultralow_only_classified_zeros_under_2013_2018(con):
    row = _row(con, comparison="second_read", boundary="null_vs_ultralow")
    _check_against_statsmodels(row, [[2, 1], [1, 3]])
    labs = {r["lab_id"] for r in records(
        con, "SELECT lab_id FROM marts.boundary_agreement WHERE boundary = 'null_vs_ultralow'"
    )}  # fmt: skip
    assert labs == {"NORTH", "ALL"}  # OLD reads under 2007: no ultralow category


def test_reference_lab_comparison(con):
    _check_against_statsmodels(
        _row(con, comparison="reference_lab", boundary="0_vs_1plus"), [[1, 1], [0, 1]]
    )


def test_second_read_pairs_are_the_observer_pairs_of_agreement_pairs(con):
    (mine,) = con.execute(
        "SELECT count(*) FROM marts.boundary_pairs WHERE comparison = 'second_read'"
    ).fetchone()
    (theirs,) = con.execute(
        "SELECT count(*) FROM marts.agreement_pairs WHERE comparison = 'observer_vs_observer'"
    ).fetchone()
    assert mine == theirs == 17 + 2 + 9 + 1


def test_breakdowns_each_hold_every_pair(con):
    rows = records(
        con,
        "SELECT comparison, boundary, lab_id, breakdown, sum(n_pairs) AS n "
        "FROM marts.boundary_agreement GROUP BY ALL",
    )
    by_group: dict[tuple, set[int]] = {}
    for r in rows:
        by_group.setdefault((r["comparison"], r["boundary"], r["lab_id"]), set()).add(r["n"])
    assert all(len(ns) == 1 for ns in by_group.values()), by_group


def test_ihc0_share_per_pathologist_and_quarter(con):
    # NORTH P01, 2024-Q1: clinical scores 1+ x8, 0 x9, 2+, 3+ (second reads not counted)
    # plus the 3 reference-lab specimens (1+, 0, 1+): 22 reads, 10 of them IHC 0.
    row = records(
        con,
        "SELECT * FROM marts.ihc0_share WHERE lab_id = 'NORTH' AND breakdown = 'pathologist' "
        "AND breakdown_value = 'P01' AND quarter = '2024-Q1'",
    )[0]
    assert (row["n_ihc_reads"], row["n_ihc0"], row["n_ihc1plus"]) == (22, 10, 10)
    low, high = proportion_confint(10, 22, method="wilson")
    assert row["share_ihc0"] == pytest.approx(10 / 22)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    sp3 = records(
        con,
        "SELECT quarter, n_ihc_reads, n_ihc0 FROM marts.ihc0_share WHERE lab_id = 'ALL' "
        "AND breakdown = 'clone' AND breakdown_value = 'SP3' ORDER BY quarter",
    )
    assert sp3 == [
        {"quarter": "2024-Q3", "n_ihc_reads": 9, "n_ihc0": 6},
        {"quarter": "ALL", "n_ihc_reads": 9, "n_ihc0": 6},
    ]
