-- marts/cap11_specimens: each specimen as the CAP 11 (2019) rates count it (marts/cap11_rates
-- documents the rules; her2-domain.md §CAP-CHECKLIST): its report month, whether its reported
-- calls were audited and all agree with the algorithm, whether it was equivocal and how it was
-- completed. A case-level table, kept by specimen: the rates are counts over its rows.
-- Grain: one row per specimen of marts.specimen_her2 (lab_id, accession_id).
-- No ORDER BY: its readers aggregate it; sorting the 7.2M rows of a 10M build took
-- 6.5-7.1 s of the table against 4.6-5.2 s without (README "Scale and scale-out").
CREATE OR REPLACE TABLE marts.cap11_specimens AS
WITH specimens AS (
    SELECT
        lab_id,
        accession_id,
        ihc_report_date,
        ish_report_date,
        date_trunc('month', coalesce(specimen_date, last_report_date))::DATE AS month,
        coalesce(ihc_score = '2+', false) OR final_status = 'equivocal' AS equivocal,
        coalesce(ihc_score = '2+', false) AS ihc_equivocal,
        coalesce(ihc_score = '2+', false)
            AND (ish_group IS NOT NULL
                OR coalesce(ish_single_call IN ('positive', 'negative'), false))
            AS completed_same
    FROM marts.specimen_her2
),
audit AS (
    -- a specimen's audited results (a reported call that is not indeterminate): all agree?
    SELECT lab_id, accession_id, bool_and(agrees) AS agrees
    FROM marts.interpretation_audit
    WHERE audited
    GROUP BY lab_id, accession_id
)
SELECT
    s.lab_id,
    s.accession_id,
    s.month,
    a.accession_id IS NOT NULL AS audited,
    a.agrees,
    s.equivocal,
    s.ihc_equivocal,
    s.completed_same,
    -- on another specimen of the patient within the window (marts.specimen_repeats)
    s.equivocal AND r.accession_id IS NOT NULL AS completed_other,
    s.completed_same OR (s.equivocal AND r.accession_id IS NOT NULL) AS completed,
    -- rate 2 counts an IHC 2+ in the month of its report
    CASE WHEN s.ihc_equivocal THEN date_trunc('month', s.ihc_report_date)::DATE ELSE s.month END
        AS equivocal_month,
    CASE WHEN s.completed_same THEN (s.ish_report_date - s.ihc_report_date)::DOUBLE END
        AS days_ihc_to_ish
FROM specimens AS s
LEFT JOIN audit AS a USING (lab_id, accession_id)
LEFT JOIN marts.specimen_repeats AS r USING (lab_id, accession_id)
;
