-- audit/preanalytic: cold ischaemia and fixation compliance, and turnaround, for the period's
-- specimens. Compliance: warehouse/sql/marts/preanalytic_monthly.sql re-run unchanged on the
-- period's cohort (audit/stage_specimens), months pooled (sums of its counts). ref:
-- her2-domain.md §PREANALYTIC; limits in marts.reference_bands ('cold_ischemia_limit' ≤ 60 min,
-- 'fixation_window' 6-72 h, ends inclusive; a specimen is compliant only when every documented
-- value is).
--   cold_documented_rate, cold_compliance_rate (within / documented)
--   fixation_documented_rate, fixation_compliance_rate (within / documented)
--   turnaround_median_days, turnaround_p90_days: days from collection_date to the specimen's
--   report (specimen_date; last report_date when nothing is usable), continuous quantiles: the
--   definition of marts.preanalytic_monthly, computed over the whole period here (a median of
--   monthly medians is not the period's median). No turnaround target: the guideline sets none.
INSERT INTO audit_metrics BY NAME
WITH pooled AS (
    SELECT
        lab_id,
        sum(n_specimens)::BIGINT AS n_specimens,
        sum(n_cold_within)::BIGINT AS cold_within,
        sum(n_specimens - n_cold_undocumented)::BIGINT AS cold_documented,
        sum(n_fixation_within)::BIGINT AS fixation_within,
        sum(n_specimens - n_fixation_undocumented)::BIGINT AS fixation_documented
    FROM period_specimens.marts.preanalytic_monthly
    GROUP BY lab_id
),
rates AS (
    SELECT lab_id, 'cold_documented_rate' AS metric,
        'Cold ischaemia time documented' AS label, cold_documented AS k, n_specimens AS n,
        NULL AS band_id
    FROM pooled
    UNION ALL
    SELECT lab_id, 'cold_compliance_rate', 'Cold ischaemia within the limit (of documented)',
        cold_within, cold_documented, 'cold_ischemia_limit'
    FROM pooled
    UNION ALL
    SELECT lab_id, 'fixation_documented_rate', 'Fixation time documented',
        fixation_documented, n_specimens, NULL
    FROM pooled
    UNION ALL
    SELECT lab_id, 'fixation_compliance_rate', 'Fixation within the window (of documented)',
        fixation_within, fixation_documented, 'fixation_window'
    FROM pooled
)
SELECT
    'preanalytic' AS section,
    r.metric,
    r.lab_id,
    'all' AS stratum,
    r.label,
    unnest(proportion_figure(r.k, r.n)),
    CASE WHEN b.band_id IS NOT NULL THEN 'limit (per specimen)' END AS target_kind,
    b.low AS target_low,
    b.high AS target_high,
    b.label || ': ' || b.population AS target_label,
    b.source AS target_source,
    'marts.preanalytic_monthly (her2-domain.md §PREANALYTIC; worst documented value per '
    || 'specimen); warehouse/sql/marts/preanalytic_monthly.sql re-run on the period''s cohort '
    || '(warehouse/sql/audit/stage_specimens.sql), months pooled' AS source_rule
FROM rates AS r
LEFT JOIN audit_bands AS b
    ON b.band_id = r.band_id AND b.lab_id = r.lab_id
;
INSERT INTO audit_metrics BY NAME
WITH days AS (
    SELECT
        lab_id,
        (coalesce(specimen_date, last_report_date) - collection_date)::DOUBLE AS turnaround_days
    FROM period_specimens.marts.specimen_her2
),
q AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        count(turnaround_days) AS n,
        quantile_cont(turnaround_days, 0.5) AS median_days,
        quantile_cont(turnaround_days, 0.9) AS p90_days
    FROM days
    GROUP BY GROUPING SETS ((lab_id), ())
)
SELECT
    'preanalytic' AS section,
    m.metric,
    q.lab_id,
    'all' AS stratum,
    m.label,
    CASE WHEN m.metric = 'turnaround_median_days' THEN q.median_days ELSE q.p90_days END AS value,
    'days' AS unit,
    NULL AS numerator,
    q.n,
    'not applicable (quantile)' AS ci_method,
    'turnaround as in marts.preanalytic_monthly: days from collection_date to the specimen''s '
    || 'report (specimen_date, else last report_date); continuous quantile over the period''s '
    || 'cohort (warehouse/sql/audit/preanalytic.sql); the guideline sets no turnaround target'
        AS source_rule
FROM q
CROSS JOIN (
    VALUES
    ('turnaround_median_days', 'Turnaround, collection to report: median (days)'),
    ('turnaround_p90_days', 'Turnaround, collection to report: 90th percentile (days)')
) AS m (metric, label)
;
