-- audit/positivity: the HER2-positive rate of the period against the published bands, and the
-- control chart's out-of-control points. ref: her2-domain.md §BENCH 6.1 (bands in
-- marts.reference_bands: 'positivity_dk_departments' primary, 'positivity_de_institutes'
-- context; "published benchmark band (context, not a limit)"); monitoring result distributions
-- is good practice CAP publications encourage, no checklist item number (§CAP-CHECKLIST).
--   positive_rate             clinical PRIMARY specimens of the period's cohort whose final
--                             status is positive, over those positive or negative: the
--                             population of marts.positivity_monthly (re-run on the cohort,
--                             months pooled); against the primary band
--   positive_rate_context     the same rate against the context band
--   monthly_rate              (stratum = month 'YYYY-MM') the warehouse's own
--                             marts.positivity_monthly lab points for the months of collection
--                             that overlap the period, unchanged: centre line p̄ = the lab's
--                             rate over its whole series (a stable baseline; a quarter's own p̄
--                             would be a poor one), limits p̄ ± 3σ; target = the control limits
--   out_of_control_points     of those lab points, how many fall outside the limits
--   pathologist_out_of_control_points   the same for the readers' points (which reader and
--                             month: cases/positivity_signals.csv)
INSERT INTO audit_metrics BY NAME
WITH pooled AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        coalesce(sum(n_positive), 0)::BIGINT AS k,
        coalesce(sum(n_specimens), 0)::BIGINT AS n
    FROM period_specimens.marts.positivity_monthly
    WHERE level = 'lab'
    GROUP BY GROUPING SETS ((lab_id), ())
),
bands AS (
    SELECT 'positive_rate' AS metric, * FROM wh.marts.reference_bands
    WHERE band_id = 'positivity_dk_departments'
    UNION ALL
    SELECT 'positive_rate_context', * FROM wh.marts.reference_bands
    WHERE band_id = 'positivity_de_institutes'
)
SELECT
    'positivity' AS section,
    b.metric,
    p.lab_id,
    'all' AS stratum,
    CASE
        WHEN b.metric = 'positive_rate'
            THEN 'HER2-positive rate, primary specimens (positive / positive + negative)'
        ELSE 'HER2-positive rate, primary specimens, against the context band'
    END AS label,
    p.k::DOUBLE / nullif(p.n, 0) AS value,
    'proportion' AS unit,
    p.k AS numerator,
    p.n,
    wilson_low(p.k, p.n) AS ci_low,
    wilson_high(p.k, p.n) AS ci_high,
    'Wilson score 95%' AS ci_method,
    'benchmark band' AS target_kind,
    b.low AS target_low,
    b.high AS target_high,
    b.label || ' — ' || b.band_kind || ': ' || b.population AS target_label,
    b.source AS target_source,
    'marts.positivity_monthly population (clinical primary specimens, final status positive or '
    || 'negative; ASCO/CAP algorithm, her2-domain.md §FINAL-STATUS) re-run on the period''s '
    || 'cohort (warehouse/sql/audit/stage_specimens.sql), months pooled' AS source_rule
FROM pooled AS p
CROSS JOIN bands AS b
;
INSERT INTO audit_metrics BY NAME
SELECT
    'positivity' AS section,
    'monthly_rate' AS metric,
    lab_id,
    month_label AS stratum,
    'Monthly HER2-positive rate (month of collection), p-chart point' AS label,
    rate AS value,
    'proportion' AS unit,
    n_positive AS numerator,
    n_specimens AS n,
    ci_low,
    ci_high,
    'Wilson score 95%' AS ci_method,
    'control limits' AS target_kind,
    lcl AS target_low,
    ucl AS target_high,
    printf(
        'p-chart limits p̄ ± 3σ, p̄ = %.4f (the lab''s rate over its whole series; Shewhart '
        || 'p-chart, pipeline choice)', centre_line
    ) AS target_label,
    'marts.positivity_monthly (warehouse/sql/marts/positivity_monthly.sql)' AS target_source,
    'marts.positivity_monthly, level lab, months of collection overlapping the period, as in the '
    || 'warehouse (warehouse/sql/audit/positivity.sql)' AS source_rule
FROM wh.marts.positivity_monthly
WHERE level = 'lab'
    AND month BETWEEN date_trunc('month', $from::DATE) AND $to
    AND ($lab IS NULL OR lab_id = $lab)
;
INSERT INTO audit_metrics BY NAME
WITH points AS (
    SELECT lab_id, level, out_of_control
    FROM wh.marts.positivity_monthly
    WHERE month BETWEEN date_trunc('month', $from::DATE) AND $to
        AND ($lab IS NULL OR lab_id = $lab)
),
counts AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        level,
        count(*) AS n,
        count_if(out_of_control) AS k
    FROM points
    GROUP BY GROUPING SETS ((lab_id, level), (level))
)
SELECT
    'positivity' AS section,
    CASE level
        WHEN 'lab' THEN 'out_of_control_points'
        ELSE 'pathologist_out_of_control_points'
    END AS metric,
    lab_id,
    'all' AS stratum,
    CASE level
        WHEN 'lab' THEN 'Laboratory months outside the p-chart limits'
        ELSE 'Reader months outside the p-chart limits (reader vs the lab''s centre line)'
    END AS label,
    k::DOUBLE AS value,
    'count' AS unit,
    k AS numerator,
    n,
    'not applicable (count)' AS ci_method,
    'marts.positivity_monthly out_of_control (rate < LCL or > UCL), months of collection '
    || 'overlapping the period (warehouse/sql/audit/positivity.sql)' AS source_rule
FROM counts
;
