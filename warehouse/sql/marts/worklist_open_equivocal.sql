-- marts/worklist_open_equivocal: the aging list of open equivocal cases, primaries and
-- metastases: specimens whose final status is equivocal (marts.specimen_her2: no resolving
-- test on the specimen) and that no decided specimen of the same patient has completed (the
-- CAP 11 rule of marts.cap11_rates: another specimen, any lab, same specimen_role, collected
-- after this one and at most 'cap11_repeat_window_days' days later, final status positive or
-- negative; her2-domain.md §CAP-CHECKLIST). ref: §FINAL-STATUS (IHC 2+ -> reflex ISH),
-- §ISH-RESOLVE (groups 2-4 need the concurrent IHC), §ISH-SINGLE (single-probe 4.0 to < 6.0
-- HER2/cell with IHC 2+ or no IHC: dual-probe ISH decides).
--
-- Grain: one row per open equivocal specimen (lab_id, accession_id). rule (stable code):
--   'ihc_2plus_without_ish'       IHC 2+ and no usable ISH on the specimen (reflex ISH missing,
--                                 or it gave no usable result)
--   'ish_group_2_4_without_ihc'   dual-probe ISH group 2-4 (2018) without a concurrent IHC
--   'ish_equivocal_without_resolving_test'
--                                 ISH equivocal under the lab's 2013 or 2007 rules with IHC
--                                 2+ or no IHC (§ISH-2013: reflex test on the same or another
--                                 specimen)
--   'single_probe_equivocal'      single-probe ISH in its equivocal band with IHC 2+ or no
--                                 IHC: dual-probe ISH decides (§ISH-SINGLE)
-- days_open: days from the specimen's latest report date (last_report_date: its latest
-- current clinical result) to the warehouse's newest report date (as_of_date: the latest
-- report_date of any current clinical result). Deterministic: the data's own clock, never the
-- machine's, so a rebuild gives the same list. Sort oldest first (days_open descending).
-- Columns: lab_id, accession_id, specimen_role, specimen_site, collection_date,
-- last_report_date, as_of_date, days_open, guideline_version, ihc_test_id, ihc_score,
-- ihc_report_date, ish_test_id, ish_probe, ish_group, ish_ratio, ish_her2_per_cell,
-- ish_report_date, rule, reason, source. No patient_key.
CREATE OR REPLACE TABLE marts.worklist_open_equivocal AS
WITH as_of AS (
    SELECT max(report_date) AS as_of_date
    FROM staging.her2_results
    WHERE test_purpose = 'clinical'
),
equivocal AS (
    SELECT *
    FROM marts.specimen_her2
    WHERE final_status = 'equivocal'
),
completed_elsewhere AS (
    SELECT * FROM marts.specimen_repeats  -- the CAP 11 repeat rule (macros/cap11)
),
coded AS (
    SELECT
        e.*,
        a.as_of_date,
        CASE
            WHEN e.ish_probe IS NULL THEN 'ihc_2plus_without_ish'
            WHEN e.ish_probe = 'single' THEN 'single_probe_equivocal'
            WHEN e.guideline_version IN ('2013', '2007') THEN 'ish_equivocal_without_resolving_test'
            ELSE 'ish_group_2_4_without_ihc'
        END AS rule
    FROM equivocal AS e
    CROSS JOIN as_of AS a
    WHERE NOT EXISTS (
        SELECT 1 FROM completed_elsewhere AS c
        WHERE c.lab_id = e.lab_id AND c.accession_id = e.accession_id
    )
)
SELECT
    lab_id,
    accession_id,
    specimen_role,
    specimen_site,
    collection_date,
    last_report_date,
    as_of_date,
    date_diff('day', last_report_date, as_of_date)::INTEGER AS days_open,
    guideline_version,
    ihc_test_id,
    ihc_score,
    ihc_report_date,
    ish_test_id,
    ish_probe,
    ish_group,
    ish_ratio,
    ish_her2_per_cell,
    ish_report_date,
    rule,
    CASE rule
        WHEN 'ihc_2plus_without_ish' THEN printf(
            'IHC 2+ (equivocal, reported %s) with no usable ISH on this %s specimen and no '
            || 'decided specimen of the patient since: reflex ISH on the same specimen, or a '
            || 'new test on a new specimen, is due; open %d days',
            strftime(ihc_report_date, '%Y-%m-%d'), specimen_role,
            date_diff('day', last_report_date, as_of_date)
        )
        WHEN 'single_probe_equivocal' THEN printf(
            'Single-probe ISH %.2f HER2/cell (equivocal band) with %s: dual-probe ISH decides '
            || 'this %s specimen; open %d days',
            ish_her2_per_cell,
            CASE WHEN ihc_score IS NULL THEN 'no IHC score' ELSE 'IHC ' || ihc_score END,
            specimen_role, date_diff('day', last_report_date, as_of_date)
        )
        WHEN 'ish_equivocal_without_resolving_test' THEN printf(
            'Dual-probe ISH (ratio %.2f, HER2 %.2f/cell) equivocal under the lab''s ASCO/CAP %s '
            || 'rules with %s: a reflex test (IHC or another probe) on this %s specimen is due; '
            || 'open %d days',
            ish_ratio, ish_her2_per_cell, guideline_version,
            CASE WHEN ihc_score IS NULL THEN 'no IHC score' ELSE 'IHC ' || ihc_score END,
            specimen_role, date_diff('day', last_report_date, as_of_date)
        )
        ELSE printf(
            'Dual-probe ISH group %d (ratio %.2f, HER2 %.2f/cell) without a concurrent IHC '
            || 'score: the %s specimen needs IHC on the same block to resolve the group; open '
            || '%d days',
            ish_group, ish_ratio, ish_her2_per_cell,
            specimen_role, date_diff('day', last_report_date, as_of_date)
        )
    END AS reason,
    CASE rule
        WHEN 'ihc_2plus_without_ish' THEN 'ASCO/CAP 2018, her2-domain.md §IHC-2018, §FINAL-STATUS'
        WHEN 'single_probe_equivocal' THEN 'ASCO/CAP 2018, her2-domain.md §ISH-SINGLE'
        WHEN 'ish_equivocal_without_resolving_test'
            THEN 'ASCO/CAP ' || guideline_version || ', her2-domain.md §ISH-2013'
        ELSE 'ASCO/CAP 2018, her2-domain.md §ISH-RESOLVE, §FINAL-STATUS'
    END AS source
FROM coded
;
