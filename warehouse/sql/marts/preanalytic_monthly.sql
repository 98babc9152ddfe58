-- marts/preanalytic_monthly: cold ischaemia and fixation compliance, and turnaround, per lab
-- and month (ref: her2-domain.md §PREANALYTIC; limits in marts.reference_bands:
-- 'cold_ischemia_limit' ≤ 60 min (ASCO/CAP ER/PgR 2010), 'fixation_window' 6-72 h (2013 and
-- 2018 rules) and 'fixation_window_2007' 6-48 h (2007 rules), every end inclusive). Counts of
-- marts.specimen_preanalytic (each specimen judged as below, from staging.her2_results' times
-- and marts.specimen_her2's specimens and dates).
--
-- Per specimen (every clinical specimen): its current clinical results may each carry the
-- times; the specimen takes its worst documented value (pipeline choice: a specimen is
-- compliant only when every documented value is):
--   cold ischaemia   'within' max ≤ 60 min; 'over' max > 60; 'undocumented' none recorded
--   fixation         'within' every value in the window; 'outside' any value under its low
--                    end ('under') or over its high end ('over'); 'undocumented' none
--                    recorded. The window is the one of the ASCO/CAP version the specimen
--                    was read under (marts.specimen_her2.guideline_version): 6-48 h under
--                    2007, 6-72 h under 2013 and 2018/2023
--   turnaround       days from collection_date to the specimen's report (specimen_date; its
--                    last report_date when nothing is usable)
-- Grain: one row per lab_id (a lab's code, or 'ALL' pooled) × month (calendar month of
-- collection_date, the day the pre-analytic clock starts).
-- Columns: month, month_label, n_specimens,
--   n_cold_within, n_cold_over, n_cold_undocumented,
--   cold_documented_rate (+ _ci_low/_ci_high) = documented / n_specimens,
--   cold_compliance_rate (+ _ci_low/_ci_high) = within / documented,
--   n_fixation_within, n_fixation_outside (n_fixation_under, n_fixation_over: overlap only
--   when a specimen's rows disagree), n_fixation_undocumented,
--   fixation_documented_rate, fixation_compliance_rate (each + CIs, as for cold ischaemia),
--   n_fixation_read_2007 (specimens judged against the 2007 window),
--   turnaround_median_days, turnaround_p90_days (continuous quantiles; no turnaround target:
--   the guideline sets none), cold_limit_min, fixation_low_h, fixation_high_h (the 2013/2018
--   window), fixation_low_h_2007, fixation_high_h_2007 (the 2007 window), limits_source.
-- Rates are proportions (0-1), CIs Wilson score 95% (macros/statistics); NULL
-- without a denominator.
CREATE OR REPLACE TABLE marts.preanalytic_monthly AS
WITH limits AS (
    SELECT * FROM preanalytic_limits('marts.reference_bands')  -- macros/preanalytic
),
counted AS (
    -- the specimens of marts.specimen_preanalytic (cold, fixation, read_2007, turnaround_days),
    -- counted per combination: marts.preanalytic_counts
    SELECT * FROM marts.preanalytic_counts
),
counts AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        month,
        sum(n_specimens) AS n_specimens,
        -- a filter that keeps no combination sums to NULL, where counting specimens gives 0
        coalesce(sum(n_specimens) FILTER (WHERE cold = 'within'), 0) AS n_cold_within,
        coalesce(sum(n_specimens) FILTER (WHERE cold = 'over'), 0) AS n_cold_over,
        coalesce(sum(n_specimens) FILTER (WHERE cold = 'undocumented'), 0) AS n_cold_undocumented,
        coalesce(sum(n_specimens) FILTER (WHERE fixation = 'within'), 0) AS n_fixation_within,
        coalesce(sum(n_specimens) FILTER (WHERE fixation = 'outside'), 0) AS n_fixation_outside,
        coalesce(sum(n_specimens) FILTER (WHERE fixation_under), 0) AS n_fixation_under,
        coalesce(sum(n_specimens) FILTER (WHERE fixation_over), 0) AS n_fixation_over,
        coalesce(sum(n_specimens) FILTER (WHERE fixation = 'undocumented'), 0)
            AS n_fixation_undocumented,
        coalesce(sum(n_specimens) FILTER (WHERE read_2007), 0) AS n_fixation_read_2007
    FROM counted
    GROUP BY GROUPING SETS ((lab_id, month), (month))
),
-- The turnaround's median and 90th percentile taken from the counts of each value: the
-- values at the 0-based positions floor and ceil of (n - 1) * q, interpolated as
-- quantile_cont does (macros/statistics quantile_cont_between).
turnaround AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        month,
        turnaround_days AS days,
        sum(n_specimens) AS n
    FROM counted
    WHERE turnaround_days IS NOT NULL
    GROUP BY GROUPING SETS ((lab_id, month, turnaround_days), (month, turnaround_days))
),
turnaround_cumulative AS (
    SELECT
        lab_id,
        month,
        days,
        sum(n) OVER (PARTITION BY lab_id, month ORDER BY days) AS upto,  -- values <= days
        sum(n) OVER (PARTITION BY lab_id, month) AS total
    FROM turnaround
),
turnaround_positions AS (
    SELECT lab_id, month, q, (any_value(total) - 1)::DOUBLE * q AS position
    FROM turnaround_cumulative
    CROSS JOIN (VALUES (0.5::DOUBLE), (0.9::DOUBLE)) AS quantiles (q)
    GROUP BY lab_id, month, q
),
turnaround_values AS (
    SELECT
        p.lab_id,
        p.month,
        p.q,
        p.position,
        min(c.days) FILTER (WHERE c.upto > floor(p.position)) AS below,
        min(c.days) FILTER (WHERE c.upto > ceil(p.position)) AS above
    FROM turnaround_positions AS p
    JOIN turnaround_cumulative AS c
        ON c.lab_id = p.lab_id AND c.month IS NOT DISTINCT FROM p.month
    GROUP BY ALL
),
turnaround_quantiles AS (
    SELECT
        lab_id,
        month,
        list(quantile_cont_between(below, above, position) ORDER BY q) AS turnaround_quantiles
    FROM turnaround_values
    GROUP BY lab_id, month
),
rated AS (
    SELECT
        *,
        n_specimens - n_cold_undocumented AS n_cold_documented,
        n_specimens - n_fixation_undocumented AS n_fixation_documented
    FROM counts
),
-- Each rate once with its Wilson interval (macros/rates), back to columns
-- <measure>_rate / _ci_low / _ci_high: documented = of every specimen, compliance = of the
-- documented ones.
rates AS (
    SELECT r.lab_id, r.month, m.measure, unnest(rate_with_ci(m.k, m.n))
    FROM rated AS r
    CROSS JOIN LATERAL (
        VALUES
            ('cold_documented', r.n_cold_documented, r.n_specimens),
            ('cold_compliance', r.n_cold_within, r.n_cold_documented),
            ('fixation_documented', r.n_fixation_documented, r.n_specimens),
            ('fixation_compliance', r.n_fixation_within, r.n_fixation_documented)
    ) AS m (measure, k, n)
),
wide AS (
    PIVOT rates
    ON measure IN (
        'cold_documented', 'cold_compliance', 'fixation_documented', 'fixation_compliance'
    )
    USING first(rate) AS rate, first(ci_low) AS ci_low, first(ci_high) AS ci_high
)
SELECT
    r.lab_id,
    r.month,
    strftime(r.month, '%Y-%m') AS month_label,
    r.n_specimens::BIGINT AS n_specimens,
    r.n_cold_within::BIGINT AS n_cold_within,
    r.n_cold_over::BIGINT AS n_cold_over,
    r.n_cold_undocumented::BIGINT AS n_cold_undocumented,
    COLUMNS('^cold_(documented|compliance)_(rate|ci_low|ci_high)$'),
    r.n_fixation_within::BIGINT AS n_fixation_within,
    r.n_fixation_outside::BIGINT AS n_fixation_outside,
    r.n_fixation_under::BIGINT AS n_fixation_under,
    r.n_fixation_over::BIGINT AS n_fixation_over,
    r.n_fixation_undocumented::BIGINT AS n_fixation_undocumented,
    r.n_fixation_read_2007::BIGINT AS n_fixation_read_2007,
    COLUMNS('^fixation_(documented|compliance)_(rate|ci_low|ci_high)$'),
    t.turnaround_quantiles[1] AS turnaround_median_days,
    t.turnaround_quantiles[2] AS turnaround_p90_days,
    l.cold_limit_min,
    l.fixation_low_h,
    l.fixation_high_h,
    l.fixation_low_h_2007,
    l.fixation_high_h_2007,
    l.limits_source
FROM rated AS r
JOIN wide AS w ON w.lab_id IS NOT DISTINCT FROM r.lab_id AND w.month IS NOT DISTINCT FROM r.month
LEFT JOIN turnaround_quantiles AS t
    ON t.lab_id = r.lab_id AND t.month IS NOT DISTINCT FROM r.month
CROSS JOIN limits AS l
ORDER BY r.lab_id <> 'ALL', r.lab_id, r.month
;
