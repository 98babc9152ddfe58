"""Agreement statistics of marts.agreement (warehouse/sql/macros/statistics.sql).

The worked test vectors of her2-domain.md §7.5, computed by the SQL end to end (staged
results -> pairs -> marts.agreement), and property-based comparisons with independent
references: statsmodels' Wilson interval, and kappa computed directly with numpy.
"""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

import warehouse
from tests.marts_fixtures import build, ihc, ish, records
from warehouse import build as build_module

IHC_SCORES = ("0", "1+", "2+", "3+")
# her2-domain.md §7.5: rows rater 1 (clinical), columns rater 2 (second read), 0/1+/2+/3+.
TABLE_4X4 = [[30, 8, 1, 0], [6, 25, 5, 0], [0, 4, 12, 2], [0, 0, 1, 6]]


def all_all(con, comparison: str) -> dict:
    (row,) = records(
        con,
        "SELECT * FROM marts.agreement WHERE comparison = ? AND lab_id = 'ALL' AND period = 'ALL'",
        [comparison],
    )
    return row


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory):
    """One warehouse holding both worked examples (pairs of different comparisons)."""
    rows = []
    # 2×2, ihc_vs_ish: a=45 (IHC 3+, group 1), b=3 (3+, group 5), c=5 (0/1+, group 1),
    # d=147 (0/1+, group 5).
    cells = [("3+", (2.5, 5.0))] * 45 + [("3+", (1.2, 2.4))] * 3
    cells += [("0", (2.5, 5.0))] * 5 + [("1+", (1.2, 2.4))] * 147
    for i, (score, numbers) in enumerate(cells):
        rows += [ihc(score, accession_id=f"B{i}"), ish(*numbers, accession_id=f"B{i}")]
    # 4×4, observer_vs_observer: clinical IHC score vs second_read IHC score.
    n = 0
    for i, counts in enumerate(TABLE_4X4):
        for j, count in enumerate(counts):
            for _ in range(count):
                rows.append(ihc(IHC_SCORES[i], accession_id=f"O{n}", lab_id="OBS"))
                rows.append(
                    ihc(
                        IHC_SCORES[j],
                        accession_id=f"O{n}",
                        lab_id="OBS",
                        test_purpose="second_read",
                    )
                )
                n += 1
    connection = build(tmp_path_factory.mktemp("stats") / "her2.duckdb", rows)
    yield connection
    connection.close()


def test_wilson_7_of_50(con):
    low, high = con.execute("SELECT wilson_low(7, 50), wilson_high(7, 50)").fetchone()
    assert low == pytest.approx(0.069508, abs=1e-6)
    assert high == pytest.approx(0.261862, abs=1e-6)


def test_two_by_two_vector(con):
    row = all_all(con, "ihc_vs_ish")
    assert (row["n_pos_pos"], row["n_pos_neg"], row["n_neg_pos"], row["n_neg_neg"]) == (
        45,
        3,
        5,
        147,
    )
    assert (row["n_pairs"], row["n_agree"]) == (200, 192)
    assert row["pct_agree"] == pytest.approx(96.0)
    assert row["ci_low"] == pytest.approx(92.307, abs=1e-3)
    assert row["ci_high"] == pytest.approx(97.959, abs=1e-3)
    assert row["ppa"] == pytest.approx(90.0)  # 45 / 50
    assert row["npa"] == pytest.approx(98.0)  # 147 / 150
    assert row["kappa"] == pytest.approx(0.891892, abs=1e-6)
    assert row["kappa_quadratic"] is None
    # the PPA and NPA intervals of §7.5 from the same macro
    ppa_ci = con.execute("SELECT wilson_low(45, 50), wilson_high(45, 50)").fetchone()
    npa_ci = con.execute("SELECT wilson_low(147, 150), wilson_high(147, 150)").fetchone()
    assert ppa_ci == pytest.approx((0.78640, 0.95652), abs=1e-5)
    assert npa_ci == pytest.approx((0.94285, 0.99318), abs=1e-5)


def test_four_by_four_vector(con):
    row = all_all(con, "observer_vs_observer")
    assert (row["n_pairs"], row["n_agree"]) == (100, 73)
    assert row["pct_agree"] == pytest.approx(73.0)
    assert row["kappa"] == pytest.approx(0.606758, abs=1e-6)
    assert row["kappa_quadratic"] == pytest.approx(0.825439, abs=1e-6)
    for column in ("n_pos_pos", "n_pos_neg", "n_neg_pos", "n_neg_neg", "ppa", "npa"):
        assert row[column] is None, column
    low, high = proportion_confint(73, 100, alpha=0.05, method="wilson")
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((100 * low, 100 * high), abs=1e-9)


def test_kappa_undefined_and_ppa_without_positives_are_null(tmp_path):
    """All pairs negative/negative: p_e = 1 -> kappa null; no reference positive -> ppa null."""
    rows = []
    for i in range(3):
        rows += [ihc("1+", accession_id=f"A{i}"), ish(1.2, 2.4, accession_id=f"A{i}")]
    con = build(tmp_path / "w.duckdb", rows)
    row = all_all(con, "ihc_vs_ish")
    assert (row["n_pairs"], row["pct_agree"], row["kappa"], row["ppa"], row["npa"]) == (
        3,
        100.0,
        None,
        None,
        100.0,
    )
    assert row["ci_high"] == 100.0
    assert row["ci_low"] == pytest.approx(100 * proportion_confint(3, 3, method="wilson")[0])


# --- property-based: the SQL against independent references ---------------------------------
@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=5000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
))  # fmt: skip
def test_wilson_matches_statsmodels(con, kn):
    k, n = kn
    low, high = con.execute("SELECT wilson_low(?, ?), wilson_high(?, ?)", [k, n, k, n]).fetchone()
    ref_low, ref_high = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert low == pytest.approx(ref_low, abs=1e-9)
    assert high == pytest.approx(ref_high, abs=1e-9)


def reference_kappas(table: np.ndarray) -> tuple[float | None, float | None]:
    """Cohen's kappa and quadratic-weighted kappa straight from the definitions (§7.3)."""
    n = table.sum()
    k = table.shape[0]
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    p_o = np.trace(table) / n
    p_e = (rows * cols).sum() / n**2
    kappa = None if np.isclose(p_e, 1.0, rtol=0, atol=1e-12) else (p_o - p_e) / (1 - p_e)
    i, j = np.indices((k, k))
    w = ((i - j) / (k - 1)) ** 2
    expected = np.outer(rows, cols) / n
    denominator = (w * expected).sum()
    quadratic = None if denominator == 0 else 1 - (w * table).sum() / denominator
    return kappa, quadratic


def _load_pairs(con, comparison: str, table: np.ndarray, values: tuple[str, ...]) -> None:
    """Replace marts.agreement_pairs by the pairs of ``table`` and rebuild marts.agreement
    (and marts.agreement_counts, the pair counts it sums)."""
    con.execute("DELETE FROM marts.agreement_pairs")
    pairs = [
        (comparison, "LAB", f"A{i}-{j}-{c}", values[i], values[j], i, j, date(2024, 1, 1))
        for i in range(table.shape[0])
        for j in range(table.shape[1])
        for c in range(int(table[i, j]))
    ]
    con.executemany(
        "INSERT INTO marts.agreement_pairs (comparison, lab_id, accession_id, first_value, "
        "second_value, first_code, second_code, pair_date, period, agree) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, '2024-Q1', ?)",
        [(*p, p[3] == p[4]) for p in pairs],
    )
    warehouse.run(con, "marts/agreement_counts")
    warehouse.run(con, "marts/agreement")


def _tables(k: int):
    cell = st.integers(min_value=0, max_value=12)
    return (
        st.lists(cell, min_size=k * k, max_size=k * k)
        .filter(any)
        .map(lambda cells: np.array(cells).reshape(k, k))
    )


@settings(max_examples=30, deadline=None)
@given(_tables(4))
def test_observer_kappas_match_the_definition(con, table):
    _load_pairs(con, "observer_vs_observer", table, IHC_SCORES)
    row = all_all(con, "observer_vs_observer")
    kappa, quadratic = reference_kappas(table)
    assert row["n_pairs"] == table.sum() and row["n_agree"] == np.trace(table)
    assert row["kappa"] == (pytest.approx(kappa, abs=1e-9) if kappa is not None else None)
    assert row["kappa_quadratic"] == (
        pytest.approx(quadratic, abs=1e-9) if quadratic is not None else None
    )


@settings(max_examples=30, deadline=None)
@given(_tables(2))
def test_binary_statistics_match_the_definition(con, table):
    # code 0 = negative, 1 = positive; table[first][second]
    _load_pairs(con, "lab_vs_reference", table, ("negative", "positive"))
    row = all_all(con, "lab_vs_reference")
    (d, c), (b, a) = table  # [[neg_neg, neg_pos], [pos_neg, pos_pos]]
    kappa, _ = reference_kappas(table)
    assert (row["n_pos_pos"], row["n_pos_neg"], row["n_neg_pos"], row["n_neg_neg"]) == (a, b, c, d)
    assert (
        row["n_pos_pos"] + row["n_pos_neg"] + row["n_neg_pos"] + row["n_neg_neg"] == row["n_pairs"]
    )
    assert row["kappa"] == (pytest.approx(kappa, abs=1e-9) if kappa is not None else None)
    assert row["ppa"] == (pytest.approx(100 * a / (a + c)) if a + c else None)
    assert row["npa"] == (pytest.approx(100 * d / (d + b)) if d + b else None)
    assert row["kappa_quadratic"] is None


def test_wilson_edges_are_exact(con):
    """k = n: upper bound exactly 1 (100%); k = 0: lower bound exactly 0."""
    edges = con.execute(
        "SELECT min(wilson_high(n, n)), max(wilson_high(n, n)), "
        "min(wilson_low(0, n)), max(wilson_low(0, n)) FROM range(1, 2001) AS t(n)"
    ).fetchone()
    assert edges == (1.0, 1.0, 0.0, 0.0)


# The oracle: the agreement cells counted pair by pair, as the marts computed them before they
# counted by code first (kept here, not in the warehouse: one definition there).
CELLS_PAIR_BY_PAIR = """{
    'n_pairs': count(*),
    'n_agree': count_if(a = b),
    'pos_pos': count_if(a = 1 AND b = 1),
    'pos_neg': count_if(a = 1 AND b = 0),
    'neg_pos': count_if(a = 0 AND b = 1),
    'neg_neg': count_if(a = 0 AND b = 0),
    'sum_marginal_products': count_if(a = 0) * count_if(b = 0) + count_if(a = 1) * count_if(b = 1)
        + count_if(a = 2) * count_if(b = 2) + count_if(a = 3) * count_if(b = 3),
    'sum_sq_diff': sum((a - b) * (a - b)),
    'sum_a': sum(a),
    'sum_b': sum(b),
    'sum_a2': sum(a * a),
    'sum_b2': sum(b * b)
}"""


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["x", "y"]),
            st.one_of(st.none(), st.integers(0, 3)),
            st.one_of(st.none(), st.integers(0, 3)),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_cells_from_counted_pairs_are_the_cells_of_the_pairs(pairs):
    """agreement_cells_counted over pairs counted by code (what the marts roll up) gives the
    cells of the pairs counted one by one: every field, and its type, NULL codes too."""
    with duckdb.connect() as mem:
        build_module.define_macros(mem)
        mem.execute("CREATE TABLE p (g VARCHAR, a TINYINT, b TINYINT)")
        mem.executemany("INSERT INTO p VALUES (?, ?, ?)", pairs)
        direct = mem.execute(
            f"SELECT g, {CELLS_PAIR_BY_PAIR} AS c, typeof(c) FROM p GROUP BY g ORDER BY g"
        ).fetchall()
        counted = mem.execute(
            "SELECT g, agreement_cells_counted(a, b, n) AS c, typeof(c) "
            "FROM (SELECT g, a, b, count(*) AS n FROM p GROUP BY g, a, b) GROUP BY g ORDER BY g"
        ).fetchall()
    assert counted == direct
