-- dashboards/preanalytic_window: pre-analytic compliance and turnaround per lab (and 'ALL'),
-- the last 12 months with data in marts.preanalytic_monthly summed, each compliance rate with
-- its Wilson 95% interval (macros/statistics). Read by the Pre-analytic page.
WITH bounds AS (
    SELECT (max(month) - INTERVAL 11 MONTH)::DATE AS window_start FROM marts.preanalytic_monthly
),
summed AS (
    SELECT
        lab_id,
        sum(n_specimens)::BIGINT AS n_specimens,
        sum(n_cold_within)::BIGINT AS cold_within,
        sum(n_cold_over)::BIGINT AS cold_over,
        sum(n_cold_undocumented)::BIGINT AS cold_undocumented,
        sum(n_fixation_within)::BIGINT AS fix_within,
        sum(n_fixation_outside)::BIGINT AS fix_outside,
        sum(n_fixation_undocumented)::BIGINT AS fix_undocumented,
        min(turnaround_median_days) AS tat_median_low,
        max(turnaround_median_days) AS tat_median_high,
        max(turnaround_p90_days) AS tat_p90_high
    FROM marts.preanalytic_monthly
    WHERE month >= (SELECT window_start FROM bounds)
    GROUP BY lab_id
)
SELECT
    *,
    cold_within / nullif(cold_within + cold_over, 0) AS cold_rate,
    wilson_low(cold_within, cold_within + cold_over) AS cold_ci_low,
    wilson_high(cold_within, cold_within + cold_over) AS cold_ci_high,
    fix_within / nullif(fix_within + fix_outside, 0) AS fix_rate,
    wilson_low(fix_within, fix_within + fix_outside) AS fix_ci_low,
    wilson_high(fix_within, fix_within + fix_outside) AS fix_ci_high
FROM summed
