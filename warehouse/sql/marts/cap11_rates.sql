-- marts/cap11_rates: the three rates of the CAP QCDR measure "CAP 11" (2019), per lab and
-- month, as the extract lets us approximate them (her2-domain.md §CAP-CHECKLIST, "Related
-- quality measure": (1) HER2 derived by the ASCO/CAP algorithm, among reports with a
-- quantitative IHC or ISH evaluation; (2) a repeat HER2 test completed, among reports with an
-- equivocal result; (3) both: algorithm-derived AND, when equivocal, a completed repeat.
-- RATE 3 IS THE REPORTED RATE. A repeat may be on the same or another specimen, e.g. the
-- excision after an equivocal core). Counts of marts.cap11_specimens (each specimen's flags,
-- from marts.interpretation_audit, marts.specimen_her2 and marts.specimen_repeats); the
-- repeat window from marts.reference_bands.
--
-- Grain: one row per lab_id (a lab's code, or 'ALL' pooled) × month with any rate defined.
--
-- Per specimen:
--   audited      at least one audited result (marts.interpretation_audit: a reported call
--                that is not indeterminate): rate 1 and rate 3's denominator. Month: the
--                specimen's report month (its specimen_date, else its last report_date).
--   agrees       every current clinical result's reported call agrees with the algorithm's
--                call for that row (proxy for "derived by the ASCO/CAP algorithm")
--   equivocal    an equivocal result: the selected IHC is 2+, or the final status is
--                equivocal (ISH groups 2–4 or a single-probe equivocal call with no IHC to
--                resolve it). Month (rate 2): the month of the IHC 2+ report, else the
--                specimen's report month.
--   completed    the equivocal result has a completed repeat test:
--                on the SAME specimen: an IHC 2+ with a usable dual-probe ISH (an ISH group)
--                or a decided single-probe call (positive / negative, contract v2; a
--                single-probe call in its equivocal band does not settle an IHC 2+, §ISH-SINGLE);
--                or on ANOTHER specimen of the same patient (patient_key, any lab) with the
--                same specimen_role, collected after this one and at most
--                'cap11_repeat_window_days' days later (a her2qa rule: reference_bands), whose
--                final status is decided (positive or negative)
--   rate3_met    audited AND agrees AND (NOT equivocal OR completed)
-- Columns:
--   n_specimens_audited, n_specimens_agree, rate1 (+ Wilson CI)
--   n_equivocal, n_equivocal_completed, rate2 (+ Wilson CI): rate 2 over every equivocal
--       result; n_repeat_same_specimen, n_repeat_other_specimen: how it was completed (a
--       specimen completed both ways counts in both)
--   n_rate3_met, rate3 (+ Wilson CI), over n_specimens_audited: the reported rate
--   n_ihc_equivocal, n_ish_completed: IHC 2+ specimens and those with a completed ISH on the
--       same specimen (the reflex work-up), with its turnaround:
--   days_ihc_to_ish_median, days_ihc_to_ish_p90: report_date of the ISH minus that of the
--       IHC 2+ (negative when the ISH was signed out first), over the reflex-completed cases;
--       continuous quantiles (linear interpolation)
--   repeat_window_days: the window in force; rate1_label, rate2_label, rate3_label
-- Recent months look worse while repeats are pending (no censoring is applied). Rates are
-- proportions (0-1), CIs Wilson score 95% (macros/statistics); NULL without a denominator.
CREATE OR REPLACE TABLE marts.cap11_rates AS
WITH window_days AS (
    SELECT low::INTEGER AS days
    FROM marts.reference_bands
    WHERE band_id = 'cap11_repeat_window_days' AND lab_id = 'ALL'
),
audited_specimens AS (
    -- per specimen: marts.cap11_specimens (audited, agrees, equivocal, completed), counted
    -- once per lab, month and flags; the roll-ups sum these counts (count_if(c) is
    -- sum(c::INTEGER): NULL conditions count nothing, so n * c::INTEGER is summed)
    SELECT lab_id, month, agrees, equivocal, completed, count(*) AS n
    FROM marts.cap11_specimens
    WHERE audited
    GROUP BY lab_id, month, agrees, equivocal, completed
),
rate13 AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        month,
        sum(n)::BIGINT AS n_specimens_audited,
        sum(n * (agrees)::INTEGER) AS n_specimens_agree,
        sum(n * (agrees AND (NOT equivocal OR completed))::INTEGER) AS n_rate3_met
    FROM audited_specimens
    GROUP BY GROUPING SETS ((lab_id, month), (month))
),
equivocal AS (
    SELECT
        lab_id,
        equivocal_month AS month,
        ihc_equivocal,
        completed_same,
        completed_other,
        completed,
        days_ihc_to_ish
    FROM marts.cap11_specimens
    WHERE equivocal
),
rate2 AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        month,
        count(*) AS n_equivocal,
        count_if(completed) AS n_equivocal_completed,
        count_if(completed_same) AS n_repeat_same_specimen,
        count_if(completed_other) AS n_repeat_other_specimen,
        count_if(ihc_equivocal) AS n_ihc_equivocal,
        count_if(completed_same) AS n_ish_completed,
        -- both quantiles from one selection (the values two quantile_cont calls give)
        quantile_cont(days_ihc_to_ish, [0.5, 0.9]) AS days_ihc_to_ish_quantiles
    FROM equivocal
    GROUP BY GROUPING SETS ((lab_id, month), (month))
),
joined AS (
    SELECT
        coalesce(r1.lab_id, r2.lab_id) AS lab_id,
        coalesce(r1.month, r2.month) AS month,
        coalesce(r1.n_specimens_audited, 0) AS n_specimens_audited,
        coalesce(r1.n_specimens_agree, 0) AS n_specimens_agree,
        coalesce(r1.n_rate3_met, 0) AS n_rate3_met,
        coalesce(r2.n_equivocal, 0) AS n_equivocal,
        coalesce(r2.n_equivocal_completed, 0) AS n_equivocal_completed,
        coalesce(r2.n_repeat_same_specimen, 0) AS n_repeat_same_specimen,
        coalesce(r2.n_repeat_other_specimen, 0) AS n_repeat_other_specimen,
        coalesce(r2.n_ihc_equivocal, 0) AS n_ihc_equivocal,
        coalesce(r2.n_ish_completed, 0) AS n_ish_completed,
        r2.days_ihc_to_ish_quantiles[1] AS days_ihc_to_ish_median,
        r2.days_ihc_to_ish_quantiles[2] AS days_ihc_to_ish_p90
    FROM rate13 AS r1
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
    n_equivocal::BIGINT AS n_equivocal,
    n_equivocal_completed::BIGINT AS n_equivocal_completed,
    n_repeat_same_specimen::BIGINT AS n_repeat_same_specimen,
    n_repeat_other_specimen::BIGINT AS n_repeat_other_specimen,
    CASE WHEN n_equivocal > 0 THEN n_equivocal_completed::DOUBLE / n_equivocal END AS rate2,
    wilson_low(n_equivocal_completed, n_equivocal) AS rate2_ci_low,
    wilson_high(n_equivocal_completed, n_equivocal) AS rate2_ci_high,
    n_rate3_met::BIGINT AS n_rate3_met,
    CASE WHEN n_specimens_audited > 0 THEN n_rate3_met::DOUBLE / n_specimens_audited END
        AS rate3,
    wilson_low(n_rate3_met, n_specimens_audited) AS rate3_ci_low,
    wilson_high(n_rate3_met, n_specimens_audited) AS rate3_ci_high,
    n_ihc_equivocal::BIGINT AS n_ihc_equivocal,
    n_ish_completed::BIGINT AS n_ish_completed,
    days_ihc_to_ish_median,
    days_ihc_to_ish_p90,
    (SELECT days FROM window_days) AS repeat_window_days,
    'Specimens whose reported HER2 calls all agree with the ASCO/CAP algorithm (proxy for '
    || 'CAP QCDR measure CAP 11 (2019) rate 1: reports with HER2 derived by the ASCO/CAP '
    || 'algorithm)' AS rate1_label,
    'Equivocal specimens (IHC 2+, or an equivocal final status) with a completed repeat test '
    || 'on the same specimen or on another specimen of the patient within the her2qa window '
    || '(proxy for CAP QCDR measure CAP 11 (2019) rate 2: equivocal results with a completed '
    || 'repeat test)' AS rate2_label,
    'Specimens derived by the ASCO/CAP algorithm and, when equivocal, with a completed repeat '
    || 'test (proxy for CAP QCDR measure CAP 11 (2019) rate 3, the reported rate)'
        AS rate3_label
FROM joined
ORDER BY lab_id <> 'ALL', lab_id, month
;
