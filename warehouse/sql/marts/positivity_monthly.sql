-- marts/positivity_monthly: monthly HER2-positive rate per lab and per pathologist as a p-chart,
-- beside the published positivity bands (ref: her2-domain.md §BENCH 6.1; bands in
-- marts.reference_bands, metric 'her2_positive_rate'). From marts.specimen_her2.
-- Monitoring result distributions over time is good practice CAP publications encourage; no
-- checklist requirement number is confirmed (her2-domain.md §CAP-CHECKLIST, §QA-WORDING).
--
-- Population: clinical PRIMARY specimens whose final status is positive or negative (equivocal
-- and indeterminate specimens are left out of numerator and denominator); month = calendar
-- month of the specimen's collection_date (the case cohort; its results may be signed out
-- later).
-- Grain: one row per lab_id × level × pathologist_id × month with at least one specimen:
--   level 'lab'          pathologist_id = 'ALL'
--   level 'pathologist'  pathologist_id = the reader of the specimen's IHC (its ISH when it
--                        has no usable IHC); '(not recorded)' when the extract has none
-- Columns:
--   month (first day), month_label 'YYYY-MM', n_specimens (denominator), n_positive,
--   rate = n_positive / n_specimens, ci_low / ci_high (Wilson 95%),
--   centre_line          p̄: the LAB's overall rate over its whole series (all months pooled);
--                        pathologist rows use their lab's p̄, so a point out of control says
--                        "this reader's month differs from the lab"
--   sigma                sqrt(p̄(1-p̄)/n) for this month's n
--   lcl, ucl             p̄ ∓ 3·sigma, clipped to [0, 1] (Shewhart p-chart, pipeline choice)
--   out_of_control       rate < lcl or rate > ucl; signal 'above' / 'below' / NULL
--   band_low, band_high, band_source, band_label
--                        the primary published band (Denmark department range)
--   context_band_low, context_band_high, context_band_source
--                        the context band (Germany mean ± SD); both labelled "published
--                        benchmark band (context, not a limit)": never a control limit
-- All rates and limits are proportions (0-1).
CREATE OR REPLACE TABLE marts.positivity_monthly AS
WITH cases AS (
    SELECT
        lab_id,
        coalesce(ihc_pathologist_id, ish_pathologist_id, '(not recorded)') AS pathologist_id,
        date_trunc('month', collection_date)::DATE AS month,
        (final_status = 'positive')::INTEGER AS positive
    FROM marts.specimen_her2
    WHERE specimen_role = 'primary' AND final_status IN ('positive', 'negative')
),
points AS (
    SELECT
        lab_id,
        CASE WHEN grouping(pathologist_id) = 1 THEN 'lab' ELSE 'pathologist' END AS level,
        CASE WHEN grouping(pathologist_id) = 1 THEN 'ALL' ELSE pathologist_id END
            AS pathologist_id,
        month,
        count(*) AS n_specimens,
        sum(positive) AS n_positive
    FROM cases
    GROUP BY GROUPING SETS ((lab_id, month), (lab_id, pathologist_id, month))
),
centre AS (
    SELECT lab_id, sum(positive)::DOUBLE / count(*) AS centre_line
    FROM cases
    GROUP BY lab_id
),
band AS (
    SELECT low, high, source, label
    FROM marts.reference_bands
    WHERE band_id = 'positivity_dk_departments'
),
context_band AS (
    SELECT low, high, source
    FROM marts.reference_bands
    WHERE band_id = 'positivity_de_institutes'
),
limits AS (
    SELECT
        p.*,
        p.n_positive::DOUBLE / p.n_specimens AS rate,
        c.centre_line,
        sqrt(c.centre_line * (1 - c.centre_line) / p.n_specimens) AS sigma
    FROM points AS p
    JOIN centre AS c USING (lab_id)
),
charted AS (
    SELECT
        *,
        greatest(0.0, centre_line - 3 * sigma) AS lcl,
        least(1.0, centre_line + 3 * sigma) AS ucl
    FROM limits
)
SELECT
    lab_id,
    level,
    pathologist_id,
    month,
    strftime(month, '%Y-%m') AS month_label,
    n_specimens::BIGINT AS n_specimens,
    n_positive::BIGINT AS n_positive,
    rate,
    wilson_low(n_positive, n_specimens) AS ci_low,
    wilson_high(n_positive, n_specimens) AS ci_high,
    centre_line,
    sigma,
    lcl,
    ucl,
    rate < lcl OR rate > ucl AS out_of_control,
    CASE WHEN rate > ucl THEN 'above' WHEN rate < lcl THEN 'below' END AS signal,
    b.low AS band_low,
    b.high AS band_high,
    b.source AS band_source,
    b.label AS band_label,
    cb.low AS context_band_low,
    cb.high AS context_band_high,
    cb.source AS context_band_source
FROM charted
LEFT JOIN band AS b ON true
LEFT JOIN context_band AS cb ON true
ORDER BY lab_id, level, pathologist_id, month
;
