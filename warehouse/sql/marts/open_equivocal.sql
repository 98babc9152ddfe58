-- marts/open_equivocal: the open equivocal specimens, primaries and metastases, with the rule
-- that keeps each open and its guideline source: the case-level part of
-- marts.worklist_open_equivocal (which adds the data's clock: as_of_date, days_open and the
-- reason that quotes it). A case-level table (scope 'specimen'): whether a specimen is open
-- depends on its own results and on the patient's other specimens (marts.specimen_repeats),
-- so a night recomputes only its scope's rows, not the 45k open cases of a 10M warehouse.
--
-- Open: final status equivocal (marts.specimen_her2: no resolving test on the specimen) and
-- no decided specimen of the same patient has completed it (the CAP 11 rule of
-- marts.cap11_rates: another specimen, any lab, same specimen_role, collected after this one
-- and at most 'cap11_repeat_window_days' days later, final status positive or negative;
-- her2-domain.md §CAP-CHECKLIST). ref: §FINAL-STATUS (IHC 2+ -> reflex ISH), §ISH-RESOLVE
-- (groups 2-4 need the concurrent IHC), §ISH-SINGLE (single-probe 4.0 to < 6.0 HER2/cell with
-- IHC 2+ or no IHC: dual-probe ISH decides).
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
-- Columns: lab_id, accession_id, specimen_role, specimen_site, collection_date,
-- last_report_date (the specimen's latest current clinical result), guideline_version,
-- ihc_test_id, ihc_score, ihc_report_date, ish_test_id, ish_probe, ish_group, ish_ratio,
-- ish_her2_per_cell, ish_report_date, rule, source. No patient_key.
CREATE OR REPLACE TABLE marts.open_equivocal AS
WITH equivocal AS (
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
        CASE
            WHEN e.ish_probe IS NULL THEN 'ihc_2plus_without_ish'
            WHEN e.ish_probe = 'single' THEN 'single_probe_equivocal'
            WHEN e.guideline_version IN ('2013', '2007') THEN 'ish_equivocal_without_resolving_test'
            ELSE 'ish_group_2_4_without_ihc'
        END AS rule
    FROM equivocal AS e
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
        WHEN 'ihc_2plus_without_ish' THEN 'ASCO/CAP 2018, her2-domain.md §IHC-2018, §FINAL-STATUS'
        WHEN 'single_probe_equivocal' THEN 'ASCO/CAP 2018, her2-domain.md §ISH-SINGLE'
        WHEN 'ish_equivocal_without_resolving_test'
            THEN 'ASCO/CAP ' || guideline_version || ', her2-domain.md §ISH-2013'
        ELSE 'ASCO/CAP 2018, her2-domain.md §ISH-RESOLVE, §FINAL-STATUS'
    END AS source
FROM coded
;
