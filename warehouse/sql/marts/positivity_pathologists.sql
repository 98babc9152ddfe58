-- marts/positivity_pathologists: each pathologist's HER2-positive rate against the laboratory's,
-- as a funnel plot, over the last 12 calendar months with data in the warehouse (by collection
-- month, the same window for every lab). ANP.22970 asks to evaluate interobserver variability
-- among the laboratory's pathologists at least annually (her2-domain.md §CAP-CHECKLIST); a
-- pathologist's monthly p-chart would have a lower limit of 0 at typical volumes, so the
-- comparison pools the window and draws limits that narrow as n grows (Spiegelhalter 2005).
-- From marts.positivity_monthly (level 'pathologist': patients' first primaries, positive or
-- negative, by the reader of the specimen's IHC).
-- Grain: one row per lab_id × pathologist_id with a specimen in the window.
--   window_label      'YYYY-MM..YYYY-MM'
--   n_specimens, n_positive, rate, ci_low, ci_high (Wilson 95%)
--   lab_rate          the laboratory's rate over the same window (all its pathologists)
--   z                 (rate - lab_rate) / sqrt(lab_rate (1 - lab_rate) / n)
--   limit_95_low / _high     lab_rate ∓ 1.96 standard errors at this n (orientation)
--   limit_low / limit_high   lab_rate ∓ funnel_z (3.09: 99.8%) standard errors at this n
--   outside           rate outside limit_low .. limit_high
-- Rates and limits are proportions (0-1), limits clipped to [0, 1].
CREATE OR REPLACE TABLE marts.positivity_pathologists AS
WITH bounds AS (
    SELECT
        (max(month) - INTERVAL 11 MONTH)::DATE AS window_start,
        max(month) AS window_end
    FROM marts.positivity_monthly
),
readers AS (
    SELECT lab_id, pathologist_id, sum(n_specimens) AS n, sum(n_positive) AS k
    FROM marts.positivity_monthly
    WHERE level = 'pathologist' AND month >= (SELECT window_start FROM bounds)
    GROUP BY ALL
),
labs AS (
    SELECT lab_id, sum(n_positive) / sum(n_specimens) AS lab_rate
    FROM marts.positivity_monthly
    WHERE level = 'lab' AND month >= (SELECT window_start FROM bounds)
    GROUP BY ALL
),
z AS (
    SELECT low AS funnel_z
    FROM marts.reference_bands
    WHERE band_id = 'funnel_z' AND lab_id = 'ALL'
),
scored AS (
    SELECT
        r.*,
        l.lab_rate,
        r.k / r.n AS rate,
        sqrt(l.lab_rate * (1 - l.lab_rate) / r.n) AS se,
        z.funnel_z
    FROM readers AS r
    JOIN labs AS l USING (lab_id)
    CROSS JOIN z
)
SELECT
    lab_id,
    pathologist_id,
    (SELECT strftime(window_start, '%Y-%m') || '..' || strftime(window_end, '%Y-%m') FROM bounds)
        AS window_label,
    n::BIGINT AS n_specimens,
    k::BIGINT AS n_positive,
    unnest(rate_with_ci(k, n)),  -- rate, ci_low, ci_high (macros/rates)
    lab_rate,
    (rate - lab_rate) / nullif(se, 0) AS z,
    greatest(0.0, lab_rate - wilson_z() * se) AS limit_95_low,
    least(1.0, lab_rate + wilson_z() * se) AS limit_95_high,
    greatest(0.0, lab_rate - funnel_z * se) AS limit_low,
    least(1.0, lab_rate + funnel_z * se) AS limit_high,
    rate < lab_rate - funnel_z * se OR rate > lab_rate + funnel_z * se AS outside
FROM scored
ORDER BY lab_id, pathologist_id
;
