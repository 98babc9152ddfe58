"""Tables summed from counts (the additive tables, warehouse/catalog.py ``counts_of``) give the
figures counting the case-level rows gives: the same integers and, for the turnaround's
quantiles, the values of quantile_cont over the specimens' values. A generated network
(repeated turnaround values, NULLs, several labs and months) built whole, then again after an
incremental night, so both ways of keeping the counts are held to the rows."""

from __future__ import annotations

from datetime import datetime

import warehouse
from her2qa.generate import generate
from warehouse import build

AS_OF = datetime(2026, 1, 15)

# Each pair: the table's figures, and the same figures counted from the case-level rows.
SAME = {
    # to the ninth decimal: DuckDB's build may fuse quantile_cont's multiply-add into one
    # rounding, so the last digit of a double may differ (macros/statistics)
    "turnaround quantiles": (
        "SELECT lab_id, month, round(turnaround_median_days, 9), round(turnaround_p90_days, 9) "
        "FROM marts.preanalytic_monthly",
        "SELECT CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END, month, "
        "round(quantile_cont(turnaround_days, 0.5), 9), "
        "round(quantile_cont(turnaround_days, 0.9), 9) "
        "FROM marts.specimen_preanalytic GROUP BY GROUPING SETS ((lab_id, month), (month))",
    ),
    "preanalytic counts": (
        "SELECT lab_id, month, n_specimens, n_cold_within, n_fixation_outside, "
        "n_fixation_read_2007 FROM marts.preanalytic_monthly",
        "SELECT CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END, month, count(*), "
        "count_if(cold = 'within'), count_if(fixation = 'outside'), count_if(read_2007) "
        "FROM marts.specimen_preanalytic GROUP BY GROUPING SETS ((lab_id, month), (month))",
    ),
    "monthly volume": (
        "SELECT lab_id, month, specimen_role, n_specimens FROM marts.volume_monthly",
        "SELECT CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END, "
        "date_trunc('month', collection_date)::DATE AS m, specimen_role, count(*) "
        "FROM marts.specimen_her2 WHERE collection_date IS NOT NULL "
        "GROUP BY GROUPING SETS ((lab_id, m, specimen_role), (m, specimen_role))",
    ),
    "IHC/ISH matrix": (
        "SELECT lab_id, ihc_score, ish_group, n_specimens FROM marts.ihc_ish_matrix",
        "SELECT CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END, ihc_score, g, "
        "count(*) FROM (SELECT *, coalesce(ish_group::VARCHAR, 'none') AS g "
        "FROM marts.specimen_her2 WHERE ihc_score IS NOT NULL) "
        "GROUP BY GROUPING SETS ((lab_id, ihc_score, g), (ihc_score, g))",
    ),
    "amplification by IHC score": (
        "SELECT lab_id, ihc_score, n_specimens, n_with_ish, n_group1, n_ish_positive "
        "FROM marts.amplification_by_ihc_score",
        "SELECT CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END, ihc_score, "
        "count(*), count(ish_group), count_if(ish_group = 1), "
        "count_if(final_status = 'positive' AND ish_group <> 5) FROM marts.specimen_her2 "
        "WHERE ihc_score IS NOT NULL GROUP BY GROUPING SETS ((lab_id, ihc_score), (ihc_score))",
    ),
    "IHC 0 share by reader": (
        "SELECT lab_id, breakdown_value, quarter, n_ihc_reads, n_ihc0, n_ihc1plus "
        "FROM marts.ihc0_share WHERE breakdown = 'pathologist'",
        "SELECT CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END, "
        "coalesce(ihc_pathologist_id, '(not recorded)') AS reader, "
        "CASE WHEN grouping(q) = 1 THEN 'ALL' ELSE q END, count(*), count_if(ihc_score = '0'), "
        "count_if(ihc_score = '1+') FROM (SELECT *, quarter_label(ihc_report_date) AS q "
        "FROM marts.specimen_her2 WHERE ihc_score IS NOT NULL) "
        "GROUP BY GROUPING SETS ((lab_id, reader, q), (lab_id, reader), (reader, q), (reader))",
    ),
    "agreement by reader": (
        "SELECT comparison, lab_id, breakdown_value, n_pairs, n_agree "
        "FROM marts.agreement_by_group WHERE breakdown = 'pathologist'",
        "SELECT comparison, CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END, "
        "coalesce(pathologist_id, '(not recorded)') AS reader, count(*), count_if(agree) "
        "FROM marts.agreement_pairs "
        "WHERE comparison IN ('ihc_vs_ish', 'observer_vs_observer', 'lab_vs_reference') "
        "GROUP BY GROUPING SETS ((comparison, lab_id, reader), (comparison, reader))",
    ),
    "positivity points": (
        "SELECT lab_id, level, pathologist_id, month, n_specimens, n_positive "
        "FROM marts.positivity_monthly",
        "SELECT lab_id, CASE WHEN grouping(pathologist_id) = 1 THEN 'lab' ELSE 'pathologist' END, "
        "CASE WHEN grouping(pathologist_id) = 1 THEN 'ALL' ELSE pathologist_id END, month, "
        "count(*), sum(positive) FROM marts.positivity_cases "
        "GROUP BY GROUPING SETS ((lab_id, month), (lab_id, pathologist_id, month))",
    ),
    "HER2 category mix": (
        "SELECT lab_id, specimen_role, quarter, n_specimens, n_low, n_ultralow, n_negative "
        "FROM marts.her2_low_distribution",
        "SELECT CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END, "
        "CASE WHEN grouping(specimen_role) = 1 THEN 'ALL' ELSE specimen_role END, "
        "CASE WHEN grouping(q) = 1 THEN 'ALL' ELSE q END, count(*), "
        "count_if(her2_category = 'low'), count_if(her2_category = 'ultralow'), "
        "count_if(final_status = 'negative') FROM (SELECT *, quarter_label(collection_date) "
        "AS q FROM marts.specimen_her2) GROUP BY CUBE (lab_id, specimen_role, q)",
    ),
}


def _differences(con) -> dict[str, int]:
    out = {}
    for name, (summed, counted) in SAME.items():
        out[name] = con.execute(
            f"SELECT (SELECT count(*) FROM (({summed}) EXCEPT ALL ({counted}))) "
            f"+ (SELECT count(*) FROM (({counted}) EXCEPT ALL ({summed})))"
        ).fetchone()[0]
    return out


def test_figures_summed_from_counts_equal_the_figures_counted_from_rows(wh):
    generate(wh.inbox, rows=3000, seed=17)
    wh.run()
    none = dict.fromkeys(SAME, 0)
    with warehouse.connect(wh.path) as con:
        assert build.build_marts(con, wh.site, as_of=AS_OF).mode == "full"
        (repeated,) = con.execute(
            "SELECT count(DISTINCT turnaround_days) < count(turnaround_days) "
            "FROM marts.specimen_preanalytic"
        ).fetchone()
        assert repeated  # the quantiles come from counts above 1
        assert _differences(con) == none
        # a night amends some specimens' results: their old counts are subtracted, the new
        # ones added (turnaround, months and categories move)
        con.execute(
            "INSERT INTO ops.mart_changes (lab_id, accession_id, patient_key) "
            "SELECT lab_id, accession_id, patient_key FROM staging.her2_results "
            "USING SAMPLE reservoir(60 ROWS) REPEATABLE (5)"
        )
        con.execute(
            "UPDATE staging.her2_results_history SET report_date = report_date + INTERVAL 40 DAY, "
            "collection_date = collection_date - INTERVAL 35 DAY WHERE is_current "
            "AND (lab_id, accession_id) IN (SELECT (lab_id, accession_id) FROM ops.mart_changes)"
        )
        assert build.build_marts(con, wh.site, as_of=AS_OF).mode == "incremental"
        assert _differences(con) == none
