-- marts/worklist_open_equivocal: the aging list of open equivocal cases, primaries and
-- metastases: the rows of marts.open_equivocal (which specimens are open, by which rule code,
-- and why: see that file) with the data's clock, the part every night changes.
--
-- Grain: one row per open equivocal specimen (lab_id, accession_id).
-- days_open: days from the specimen's latest report date (last_report_date: its latest
-- current clinical result) to the warehouse's newest report date (as_of_date: the latest
-- report_date of any current clinical result). Deterministic: the data's own clock, never the
-- machine's, so a rebuild gives the same list. Sort oldest first (days_open descending).
-- reason: one sentence for the pathologist, quoting days_open.
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
coded AS (
    SELECT o.*, a.as_of_date
    FROM marts.open_equivocal AS o
    CROSS JOIN as_of AS a
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
    source
FROM coded
;
