-- marts/specimen_preanalytic: each clinical specimen's pre-analytic times as
-- marts.preanalytic_monthly counts them (that file documents the rules and the limits: her2-
-- domain.md §PREANALYTIC; marts.reference_bands): its worst documented cold ischaemia and
-- fixation against the window of its ASCO/CAP version, and its turnaround. A case-level table,
-- kept by specimen: the monthly figures are counts and quantiles of its rows.
-- Grain: one row per specimen of marts.specimen_her2 (lab_id, accession_id).
-- No ORDER BY: its readers aggregate it; sorting the 7.2M rows of a 10M build took
-- 10.0-10.2 s of the table against 6.8-7.2 s without (README "Scale and scale-out").
CREATE OR REPLACE TABLE marts.specimen_preanalytic AS
WITH limits AS (
    SELECT * FROM preanalytic_limits('marts.reference_bands')  -- macros/preanalytic
),
times AS (
    SELECT
        lab_id,
        accession_id,
        max(cold_ischemia_min) AS cold_max,
        min(fixation_hours) AS fixation_min,
        max(fixation_hours) AS fixation_max
    FROM staging.her2_results
    WHERE test_purpose = 'clinical'
    GROUP BY lab_id, accession_id
),
windows AS (
    SELECT
        s.*,
        s.guideline_version = '2007' AS read_2007,
        CASE WHEN s.guideline_version = '2007' THEN l.fixation_low_h_2007 ELSE l.fixation_low_h END
            AS fix_low,
        CASE
            WHEN s.guideline_version = '2007' THEN l.fixation_high_h_2007 ELSE l.fixation_high_h
        END AS fix_high,
        l.cold_limit_min
    FROM marts.specimen_her2 AS s
    CROSS JOIN limits AS l
),
specimens AS (
    SELECT
        s.lab_id,
        s.accession_id,
        date_trunc('month', s.collection_date)::DATE AS month,
        CASE
            WHEN t.cold_max IS NULL THEN 'undocumented'
            WHEN t.cold_max <= s.cold_limit_min THEN 'within'
            ELSE 'over'
        END AS cold,
        t.fixation_min < s.fix_low AS fixation_under,
        t.fixation_max > s.fix_high AS fixation_over,
        CASE
            WHEN t.fixation_max IS NULL THEN 'undocumented'
            WHEN t.fixation_min >= s.fix_low AND t.fixation_max <= s.fix_high THEN 'within'
            ELSE 'outside'
        END AS fixation,
        s.read_2007,
        (coalesce(s.specimen_date, s.last_report_date) - s.collection_date)::DOUBLE
            AS turnaround_days
    FROM windows AS s
    LEFT JOIN times AS t USING (lab_id, accession_id)
)
SELECT * FROM specimens
;
