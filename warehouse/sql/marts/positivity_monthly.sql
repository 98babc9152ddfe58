-- marts/positivity_monthly: the monthly HER2-positive rate per lab (and per pathologist), with
-- the statistical process control that judges each lab-month (finding positivity_control).
-- ref: her2-domain.md §BENCH 6.1 (benchmarks count patients' first primary), §QA-WORDING
-- (monitoring over time is good practice; "in / out of control" belongs to control limits).
-- Every constant of the rules is a row of marts.reference_bands (her2qa rules, labelled so).
--
-- Population (marts.positivity_cases, one row each): each patient's FIRST primary specimen (earliest collection_date; ties: smallest
-- lab_id, then accession_id, as the contract picks a patient's primary), clinical, final status
-- positive or negative (equivocal and indeterminate specimens are left out of numerator and
-- denominator), counted for its lab in the calendar month of its collection_date.
-- Grain: one row per lab_id × level × pathologist_id × month with at least one specimen:
--   level 'lab'          pathologist_id = 'ALL': the points the control rules judge
--   level 'pathologist'  pathologist_id = the reader of the specimen's IHC (its ISH when it
--                        has no usable IHC), '(not recorded)' without one: shown, never judged
--                        here (pathologists are compared with their lab by a funnel plot:
--                        marts.positivity_pathologists), so their limits are NULL
-- Columns:
--   month (first day), month_label 'YYYY-MM', n_specimens, n_positive, rate, ci_low / ci_high
--   (Wilson 95%)
--   month_status     'judged'; 'incomplete': the lab's most recent month with data, whose
--                    results may still be pending (an IHC 2+ awaiting ISH leaves the
--                    denominator), shown and never judged; 'no_baseline': fewer than
--                    spc_baseline_min_months months in its baseline window
--   baseline_months  months with data in the baseline window: the spc_baseline_months (12)
--                    calendar months before the judged month, leaving out the
--                    spc_baseline_lag_months (6) right before it (July 2024: January to
--                    December 2023), so the months being judged, and a shift in progress,
--                    never set their own centre line
--   centre_line      p̄ of the baseline window (pooled k / n)
--   sigma            binomial standard error sqrt(p̄(1-p̄)/n) of this month's n
--   sigma_z          Laney's overdispersion factor (p′ chart): the mean moving range of the
--                    baseline months' z-scores / 1.128, where those months vary more than
--                    binomially (Pearson's dispersion above the 95% point of chi-square);
--                    else 1. The limits use max(1, sigma_z): a lab whose months vary more
--                    than binomially gets wider limits, one that varies less keeps the
--                    binomial ones
--   z                (rate - centre_line) / (sigma * max(1, sigma_z))
--   lcl, ucl         centre_line ∓ control_limit_sigma (3) standard errors, clipped to [0, 1]
--   cusum_high, cusum_low   two-sided tabular CUSUM of z (reference value cusum_k = 0.5 sigma,
--                    decision interval cusum_h = 4 sigma), reset to 0 after a signal and on
--                    months not judged: it accumulates small sustained shifts one month at a
--                    time (a 1-sigma shift is signalled after about 8 months on average, a
--                    1.5-sigma one after about 4)
--   signal           'above' / 'below' (a point outside the limits), else 'shift_up' /
--                    'shift_down' (a CUSUM over cusum_h), NULL for none; out_of_control = a
--                    signal. Judged months only.
--   False alarms: for an in-control, normal process the two-sided CUSUM (k 0.5, h 4) signals
--   once in about 84 months and the 3-sigma rule once in 370, together about once in 70
--   judged months per lab (~1.5% of months; Montgomery, Introduction to Statistical Quality
--   Control, tables of CUSUM ARL). The rate measured on the unshifted labs of the demo
--   network is in the README.
--   band_*, context_band_*   the published bands beside it (context, not a limit)
-- All rates and limits are proportions (0-1).
CREATE OR REPLACE TEMP TABLE spc_rules AS
SELECT
    max(low) FILTER (WHERE band_id = 'control_limit_sigma') AS limit_sigma,
    max(low) FILTER (WHERE band_id = 'cusum_k') AS cusum_k,
    max(low) FILTER (WHERE band_id = 'cusum_h') AS cusum_h,
    max(low) FILTER (WHERE band_id = 'spc_baseline_months')::INTEGER AS baseline_months,
    max(low) FILTER (WHERE band_id = 'spc_baseline_lag_months')::INTEGER AS baseline_lag,
    max(low) FILTER (WHERE band_id = 'spc_baseline_min_months')::INTEGER AS baseline_min
FROM marts.reference_bands
WHERE lab_id = 'ALL'
;
CREATE OR REPLACE TEMP TABLE positivity_points AS
WITH cases AS (
    -- each patient's first primary with a decided status (marts.positivity_cases), counted
    -- per lab, reader, month and status: marts.positivity_counts
    SELECT lab_id, pathologist_id, month, positive, n_specimens FROM marts.positivity_counts
)
SELECT
    lab_id,
    CASE WHEN grouping(pathologist_id) = 1 THEN 'lab' ELSE 'pathologist' END AS level,
    CASE WHEN grouping(pathologist_id) = 1 THEN 'ALL' ELSE pathologist_id END AS pathologist_id,
    month,
    sum(n_specimens)::BIGINT AS n_specimens,
    sum(n_specimens * positive) AS n_positive
FROM cases
GROUP BY GROUPING SETS ((lab_id, month), (lab_id, pathologist_id, month))
;
CREATE OR REPLACE TEMP TABLE positivity_lab_spc AS
WITH lab_points AS (
    SELECT lab_id, month, n_specimens, n_positive, n_positive / n_specimens AS rate
    FROM positivity_points
    WHERE level = 'lab'
),
windows AS (
    -- each lab-month with the lab's months of its baseline window
    SELECT
        j.lab_id,
        j.month,
        b.month AS b_month,
        b.n_specimens AS b_n,
        b.n_positive AS b_k
    FROM lab_points AS j
    CROSS JOIN spc_rules AS r
    JOIN lab_points AS b
        ON b.lab_id = j.lab_id
        AND b.month >= j.month - to_months(r.baseline_lag + r.baseline_months)
        AND b.month < j.month - to_months(r.baseline_lag)
),
centre AS (
    SELECT lab_id, month, count(*) AS baseline_months, sum(b_k) / sum(b_n) AS centre_line
    FROM windows
    GROUP BY ALL
),
baseline_z AS (
    SELECT
        w.lab_id,
        w.month,
        w.b_month,
        (w.b_k / w.b_n - c.centre_line)
            / nullif(sqrt(c.centre_line * (1 - c.centre_line) / w.b_n), 0) AS z
    FROM windows AS w
    JOIN centre AS c USING (lab_id, month)
),
laney AS (
    -- Laney's factor, applied only where the baseline is overdispersed: Pearson's dispersion
    -- sum(z²) over its months above the 95% point of chi-square with (months - 1) degrees of
    -- freedom (Wilson–Hilferty approximation); otherwise 1 (binomial limits)
    SELECT
        lab_id,
        month,
        CASE
            WHEN sum(z * z) > (count(*) - 1) * power(
                1 - 2 / (9 * (count(*) - 1)) + 1.6449 * sqrt(2 / (9 * (count(*) - 1))), 3
            )
                THEN avg(moving_range) / 1.128
            ELSE 1.0
        END AS sigma_z
    FROM (
        SELECT
            lab_id,
            month,
            z,
            abs(z - lag(z) OVER (PARTITION BY lab_id, month ORDER BY b_month)) AS moving_range
        FROM baseline_z
    )
    GROUP BY ALL
    HAVING count(*) > 1
),
scored AS (
    SELECT
        p.*,
        coalesce(c.baseline_months, 0) AS baseline_months,
        c.centre_line,
        sqrt(c.centre_line * (1 - c.centre_line) / p.n_specimens) AS sigma,
        l.sigma_z,
        CASE
            WHEN p.month = max(p.month) OVER (PARTITION BY p.lab_id) THEN 'incomplete'
            WHEN coalesce(c.baseline_months, 0) < r.baseline_min THEN 'no_baseline'
            ELSE 'judged'
        END AS month_status,
        r.limit_sigma,
        r.cusum_k,
        r.cusum_h
    FROM lab_points AS p
    CROSS JOIN spc_rules AS r
    LEFT JOIN centre AS c USING (lab_id, month)
    LEFT JOIN laney AS l USING (lab_id, month)
)
SELECT
    *,
    CASE
        WHEN month_status = 'judged' AND sigma > 0
            THEN (rate - centre_line) / (sigma * greatest(1, coalesce(sigma_z, 1)))
    END AS z,
    row_number() OVER (PARTITION BY lab_id ORDER BY month) AS t
FROM scored
;
-- The CUSUM, month by month (a recursion: each month starts from the previous one's sums).
CREATE OR REPLACE TEMP TABLE positivity_cusum AS
WITH RECURSIVE cusum AS (
    SELECT
        lab_id,
        t,
        coalesce(greatest(0, z - cusum_k), 0) AS cusum_high,
        coalesce(greatest(0, -z - cusum_k), 0) AS cusum_low,
        cusum_h
    FROM positivity_lab_spc
    WHERE t = 1
    UNION ALL
    SELECT
        s.lab_id,
        s.t,
        coalesce(
            greatest(0, CASE WHEN c.cusum_high > c.cusum_h THEN 0 ELSE c.cusum_high END
                + s.z - s.cusum_k),
            0
        ),
        coalesce(
            greatest(0, CASE WHEN c.cusum_low > c.cusum_h THEN 0 ELSE c.cusum_low END
                - s.z - s.cusum_k),
            0
        ),
        s.cusum_h
    FROM cusum AS c
    JOIN positivity_lab_spc AS s ON s.lab_id = c.lab_id AND s.t = c.t + 1
)
SELECT lab_id, t, cusum_high, cusum_low FROM cusum
;
CREATE OR REPLACE TABLE marts.positivity_monthly AS
WITH band AS (
    SELECT low, high, source, label
    FROM marts.reference_bands
    WHERE band_id = 'positivity_dk_departments' AND lab_id = 'ALL'
),
context_band AS (
    SELECT low, high, source
    FROM marts.reference_bands
    WHERE band_id = 'positivity_de_institutes' AND lab_id = 'ALL'
),
labs AS (
    SELECT
        s.*,
        c.cusum_high,
        c.cusum_low,
        greatest(0.0, s.centre_line - s.limit_sigma * s.sigma * greatest(1, coalesce(s.sigma_z, 1)))
            AS lcl,
        least(1.0, s.centre_line + s.limit_sigma * s.sigma * greatest(1, coalesce(s.sigma_z, 1)))
            AS ucl
    FROM positivity_lab_spc AS s
    JOIN positivity_cusum AS c USING (lab_id, t)
),
points AS (
    SELECT
        p.lab_id,
        p.level,
        p.pathologist_id,
        p.month,
        p.n_specimens,
        p.n_positive,
        p.n_positive / p.n_specimens AS rate,
        l.month_status,
        l.baseline_months,
        l.centre_line,
        CASE WHEN p.level = 'lab' THEN l.sigma END AS sigma,
        CASE WHEN p.level = 'lab' THEN l.sigma_z END AS sigma_z,
        CASE WHEN p.level = 'lab' THEN l.z END AS z,
        CASE WHEN p.level = 'lab' THEN l.lcl END AS lcl,
        CASE WHEN p.level = 'lab' THEN l.ucl END AS ucl,
        CASE WHEN p.level = 'lab' THEN l.cusum_high END AS cusum_high,
        CASE WHEN p.level = 'lab' THEN l.cusum_low END AS cusum_low,
        CASE
            WHEN p.level <> 'lab' OR l.month_status <> 'judged' THEN NULL
            WHEN l.z > l.limit_sigma THEN 'above'
            WHEN l.z < -l.limit_sigma THEN 'below'
            WHEN l.cusum_high > l.cusum_h THEN 'shift_up'
            WHEN l.cusum_low > l.cusum_h THEN 'shift_down'
        END AS signal
    FROM positivity_points AS p
    LEFT JOIN labs AS l USING (lab_id, month)
)
SELECT
    lab_id,
    level,
    pathologist_id,
    month,
    strftime(month, '%Y-%m') AS month_label,
    n_specimens::BIGINT AS n_specimens,
    n_positive::BIGINT AS n_positive,
    unnest(rate_with_ci(n_positive, n_specimens)),  -- rate, ci_low, ci_high (macros/rates)
    month_status,
    baseline_months::BIGINT AS baseline_months,
    centre_line,
    sigma,
    sigma_z,
    z,
    lcl,
    ucl,
    cusum_high,
    cusum_low,
    signal IS NOT NULL AS out_of_control,
    signal,
    b.low AS band_low,
    b.high AS band_high,
    b.source AS band_source,
    b.label AS band_label,
    cb.low AS context_band_low,
    cb.high AS context_band_high,
    cb.source AS context_band_source
FROM points
LEFT JOIN band AS b ON true
LEFT JOIN context_band AS cb ON true
ORDER BY lab_id, level, pathologist_id, month
;
DROP TABLE spc_rules
;
DROP TABLE positivity_lab_spc
;
DROP TABLE positivity_cusum
;
DROP TABLE positivity_points
;
