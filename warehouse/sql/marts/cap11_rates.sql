-- marts/cap11_rates: the two rates of the CAP QCDR measure "CAP 11" (2019) — share of breast
-- carcinoma reports with HER2 derived by the ASCO/CAP algorithm, and share of equivocal
-- results with a completed repeat test (her2-domain.md §CAP-CHECKLIST, "Related quality
-- measure") — as the extract lets us approximate them, per lab and month. From
-- marts.interpretation_audit and marts.specimen_her2 (clinical specimens).
--
-- Grain: one row per lab_id (a lab's code, or 'ALL' pooled) × month with either rate defined.
--   rate 1  "HER2 derived by the ASCO/CAP algorithm" (proxy): among clinical specimens with at
--           least one audited result (marts.interpretation_audit: not reported indeterminate),
--           the share whose every current clinical result's reported call agrees with the
--           algorithm's call for that row. Month: the specimen's report month (its
--           specimen_date, or its last report_date when nothing is usable).
--           n_specimens_audited, n_specimens_agree, rate1, rate1_ci_low, rate1_ci_high
--   rate 2  "equivocal results with a completed repeat test" (proxy): among clinical
--           specimens whose selected IHC is 2+ (equivocal), the share with a completed ISH:
--           a usable dual-probe ISH (an ISH group), or a single-probe ISH with a decided call
--           (positive or negative; contract v2). A single-probe ISH in its equivocal band does
--           not settle an IHC 2+: dual-probe ISH decides (§ISH-SINGLE).
--           Month: the month of the IHC 2+ report. Recent months look worse while reflex ISH
--           is still pending (no censoring is applied).
--           n_ihc_equivocal, n_ish_completed, rate2, rate2_ci_low, rate2_ci_high,
--           days_ihc_to_ish_median, days_ihc_to_ish_p90: report_date of the ISH minus that of
--           the IHC 2+ (negative when the ISH was signed out first), over completed cases;
--           continuous quantiles (linear interpolation)
--   rate1_label, rate2_label   the wording to show
-- Rates are proportions (0-1), CIs Wilson score 95% (macros/statistics); NULL where
-- the rate has no denominator that month.
CREATE OR REPLACE TABLE marts.cap11_rates AS
WITH audited_specimens AS (
    SELECT
        s.lab_id,
        date_trunc('month', coalesce(s.specimen_date, s.last_report_date))::DATE AS month,
        bool_and(a.agrees) AS agrees
    FROM marts.interpretation_audit AS a
    JOIN marts.specimen_her2 AS s USING (lab_id, accession_id)
    WHERE a.audited
    GROUP BY s.lab_id, s.accession_id, month
),
rate1 AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        month,
        count(*) AS n_specimens_audited,
        count_if(agrees) AS n_specimens_agree
    FROM audited_specimens
    GROUP BY GROUPING SETS ((lab_id, month), (month))
),
equivocal AS (
    SELECT
        lab_id,
        date_trunc('month', ihc_report_date)::DATE AS month,
        completed,
        CASE WHEN completed THEN (ish_report_date - ihc_report_date)::DOUBLE END
            AS days_ihc_to_ish
    FROM (
        SELECT
            *,
            ish_group IS NOT NULL OR coalesce(ish_single_call IN ('positive', 'negative'), false)
                AS completed
        FROM marts.specimen_her2
    )
    WHERE ihc_score = '2+'
),
rate2 AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        month,
        count(*) AS n_ihc_equivocal,
        count_if(completed) AS n_ish_completed,
        quantile_cont(days_ihc_to_ish, 0.5) AS days_ihc_to_ish_median,
        quantile_cont(days_ihc_to_ish, 0.9) AS days_ihc_to_ish_p90
    FROM equivocal
    GROUP BY GROUPING SETS ((lab_id, month), (month))
),
joined AS (
    SELECT
        coalesce(r1.lab_id, r2.lab_id) AS lab_id,
        coalesce(r1.month, r2.month) AS month,
        coalesce(r1.n_specimens_audited, 0) AS n_specimens_audited,
        coalesce(r1.n_specimens_agree, 0) AS n_specimens_agree,
        coalesce(r2.n_ihc_equivocal, 0) AS n_ihc_equivocal,
        coalesce(r2.n_ish_completed, 0) AS n_ish_completed,
        r2.days_ihc_to_ish_median,
        r2.days_ihc_to_ish_p90
    FROM rate1 AS r1
    FULL OUTER JOIN rate2 AS r2 ON r1.lab_id = r2.lab_id AND r1.month = r2.month
)
SELECT
    lab_id,
    month,
    strftime(month, '%Y-%m') AS month_label,
    n_specimens_audited::BIGINT AS n_specimens_audited,
    n_specimens_agree::BIGINT AS n_specimens_agree,
    CASE WHEN n_specimens_audited > 0 THEN n_specimens_agree::DOUBLE / n_specimens_audited END
        AS rate1,
    wilson_low(n_specimens_agree, n_specimens_audited) AS rate1_ci_low,
    wilson_high(n_specimens_agree, n_specimens_audited) AS rate1_ci_high,
    n_ihc_equivocal::BIGINT AS n_ihc_equivocal,
    n_ish_completed::BIGINT AS n_ish_completed,
    CASE WHEN n_ihc_equivocal > 0 THEN n_ish_completed::DOUBLE / n_ihc_equivocal END AS rate2,
    wilson_low(n_ish_completed, n_ihc_equivocal) AS rate2_ci_low,
    wilson_high(n_ish_completed, n_ihc_equivocal) AS rate2_ci_high,
    days_ihc_to_ish_median,
    days_ihc_to_ish_p90,
    'Specimens whose reported HER2 calls all agree with the ASCO/CAP algorithm (proxy for '
    || 'CAP QCDR measure CAP 11 (2019): reports with HER2 derived by the ASCO/CAP algorithm)'
        AS rate1_label,
    'IHC 2+ (equivocal) specimens with a completed ISH (proxy for CAP QCDR measure '
    || 'CAP 11 (2019): equivocal results with a completed repeat test)' AS rate2_label
FROM joined
ORDER BY lab_id <> 'ALL', lab_id, month
;
