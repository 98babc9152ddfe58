-- audit/positivity: the HER2-positive rate of the period against the published bands, and the
-- control chart's signals. ref: her2-domain.md §BENCH 6.1 (bands in marts.reference_bands:
-- 'positivity_dk_departments' primary, 'positivity_de_institutes' context; "published benchmark
-- band (context, not a limit)"); monitoring result distributions is good practice CAP
-- publications encourage, no checklist item number (§CAP-CHECKLIST).
--   positive_rate             the figure of the period's finding positivity_published_range
--                             (audit/findings.sql): clinical PRIMARY specimens of the period's
--                             cohort (marts.positivity_monthly re-run on it) collected in the 12
--                             months ending at the cohort's last collection month, positive over
--                             positive or negative; against the primary band, with the finding's
--                             verdict. For a period up to a year this is every month of the
--                             cohort; the window is in finding_period.
--   positive_rate_context     the same figure against the context band (shown, not judged)
--   monthly_rate              (stratum = month 'YYYY-MM') the warehouse's own
--                             marts.positivity_monthly lab points for the months of collection
--                             that overlap the period, unchanged: centre line p̄ = the lab's
--                             rate over its whole series (a stable baseline; a quarter's own p̄
--                             would be a poor one); target = the control limits; verdict = the
--                             warehouse's positivity_control finding of that month
--   control_signals           laboratory months whose positivity_control finding says 'look'
--                             (outside the limits, or a sustained-shift run): the laboratory rows
--                             of cases/positivity_signals.csv; n = months shown
--   pathologist_control_signals   the same for the readers' points (finding
--                             positivity_control_pathologist): the reader rows of the same file
INSERT INTO audit_metrics BY NAME
WITH pooled AS (
    SELECT
        lab_id,
        period AS window_label,
        round(figure * n / 100)::BIGINT AS k,
        n
    FROM audit_findings
    WHERE finding = 'positivity_published_range'
)
SELECT
    'positivity' AS section,
    m.metric,
    p.lab_id,
    'all' AS stratum,
    CASE
        WHEN m.metric = 'positive_rate'
            THEN 'HER2-positive rate, primary specimens (positive / positive + negative), '
                || 'collection months ' || p.window_label
        ELSE 'HER2-positive rate, primary specimens, collection months ' || p.window_label
            || ', against the context band'
    END AS label,
    unnest(proportion_figure(p.k, p.n)),
    unnest(benchmark_band_target(b)),
    'marts.findings positivity_published_range of the period (warehouse/sql/findings/'
    || 'findings.sql on marts.positivity_monthly re-run on the period''s cohort: clinical '
    || 'primary specimens, final status positive or negative, ASCO/CAP algorithm, '
    || 'her2-domain.md §FINAL-STATUS; warehouse/sql/audit/stage_specimens.sql)' AS source_rule
FROM pooled AS p
CROSS JOIN (
    VALUES ('positive_rate', 'positivity_dk_departments'),
        ('positive_rate_context', 'positivity_de_institutes')
) AS m (metric, band_id)
JOIN audit_bands AS b ON b.band_id = m.band_id AND b.lab_id = p.lab_id
;
INSERT INTO audit_metrics BY NAME
SELECT
    'positivity' AS section,
    'monthly_rate' AS metric,
    p.lab_id,
    p.month_label AS stratum,
    'Monthly HER2-positive rate (month of collection), p-chart point' AS label,
    p.rate AS value,
    'proportion' AS unit,
    p.n_positive AS numerator,
    p.n_specimens AS n,
    p.ci_low,
    p.ci_high,
    'Wilson score 95%' AS ci_method,
    'control limits' AS target_kind,
    p.lcl AS target_low,
    p.ucl AS target_high,
    printf('p-chart limits p̄ ± %gσ around p̄ = %s, the laboratory''s rate over its whole '
        || 'series (%s)', s.low, fmt_pct(p.centre_line), s.label) AS target_label,
    s.source AS target_source,
    'marts.positivity_monthly, level lab, months of collection overlapping the period, as in the '
    || 'warehouse (warehouse/sql/audit/positivity.sql)' AS source_rule
FROM wh.marts.positivity_monthly AS p
JOIN audit_bands AS s ON s.band_id = 'control_limit_sigma' AND s.lab_id = 'ALL'
WHERE p.level = 'lab'
    AND p.month BETWEEN date_trunc('month', $from::DATE) AND $to
    AND ($lab IS NULL OR p.lab_id = $lab)
;
INSERT INTO audit_metrics BY NAME
WITH points AS (
    SELECT lab_id, level
    FROM wh.marts.positivity_monthly
    WHERE month BETWEEN date_trunc('month', $from::DATE) AND $to
        AND ($lab IS NULL OR lab_id = $lab)
),
shown AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        level,
        count(*) AS n
    FROM points
    GROUP BY GROUPING SETS ((lab_id, level), (level))
),
signals AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        level,
        count(*) AS k
    FROM audit_cases_positivity_signals
    GROUP BY GROUPING SETS ((lab_id, level), (level))
)
SELECT
    'positivity' AS section,
    CASE s.level
        WHEN 'lab' THEN 'control_signals'
        ELSE 'pathologist_control_signals'
    END AS metric,
    s.lab_id,
    'all' AS stratum,
    CASE s.level
        WHEN 'lab' THEN 'Laboratory months out of control (outside the p-chart limits or a '
            || 'sustained-shift run): laboratory rows of cases/positivity_signals.csv'
        ELSE 'Reader months outside the p-chart limits (reader vs the lab''s centre line): '
            || 'reader rows of cases/positivity_signals.csv'
    END AS label,
    coalesce(g.k, 0)::DOUBLE AS value,
    'count' AS unit,
    coalesce(g.k, 0) AS numerator,
    s.n,
    'not applicable (count)' AS ci_method,
    'marts.findings positivity_control / positivity_control_pathologist of the warehouse, '
    || 'verdict look, months of collection overlapping the period (warehouse/sql/audit/'
    || 'findings.sql, cases.sql)' AS source_rule
FROM shown AS s
LEFT JOIN signals AS g USING (lab_id, level)
;
