-- dashboards/positivity_summary: the p-chart series of marts.positivity_monthly summed, per lab
-- (level 'lab'), per pathologist (level 'pathologist') and for the network ('ALL', level
-- 'network': the labs' series pooled). The window is the last 12 months with data in the mart.
--   n_specimens, n_positive, rate, ci_low, ci_high            all months (Wilson 95%)
--   n_window, n_positive_window, rate_window, window_ci_*     the last 12 months
--   n_months, n_flagged, n_flagged_window, last_flagged       months outside the 3-sigma limits
--   centre_line                                               the lab's p̄ (NULL for 'ALL')
WITH bounds AS (
    SELECT (max(month) - INTERVAL 11 MONTH)::DATE AS window_start FROM marts.positivity_monthly
),
series AS (
    SELECT lab_id, level, pathologist_id, month, n_specimens, n_positive, out_of_control,
           centre_line, month >= (SELECT window_start FROM bounds) AS in_window
    FROM marts.positivity_monthly
    UNION ALL
    SELECT 'ALL', 'network', 'ALL', month, n_specimens, n_positive, out_of_control,
           NULL, month >= (SELECT window_start FROM bounds)
    FROM marts.positivity_monthly
    WHERE level = 'lab'
),
summed AS (
    SELECT
        lab_id,
        level,
        pathologist_id,
        sum(n_specimens)::BIGINT AS n_specimens,
        sum(n_positive)::BIGINT AS n_positive,
        coalesce(sum(n_specimens) FILTER (WHERE in_window), 0)::BIGINT AS n_window,
        coalesce(sum(n_positive) FILTER (WHERE in_window), 0)::BIGINT AS n_positive_window,
        count(DISTINCT month) AS n_months,
        count_if(out_of_control) AS n_flagged,
        count_if(out_of_control AND in_window) AS n_flagged_window,
        max(month) FILTER (WHERE out_of_control) AS last_flagged,
        any_value(centre_line) AS centre_line,
        (SELECT window_start FROM bounds) AS window_start
    FROM series
    GROUP BY lab_id, level, pathologist_id
)
SELECT
    *,
    n_positive / nullif(n_specimens, 0) AS rate,
    wilson_low(n_positive, n_specimens) AS ci_low,
    wilson_high(n_positive, n_specimens) AS ci_high,
    n_positive_window / nullif(n_window, 0) AS rate_window,
    wilson_low(n_positive_window, n_window) AS window_ci_low,
    wilson_high(n_positive_window, n_window) AS window_ci_high
FROM summed
ORDER BY lab_id, level, pathologist_id
