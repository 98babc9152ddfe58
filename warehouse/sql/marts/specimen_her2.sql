-- marts/specimen_her2: one row per specimen (lab_id, accession_id) with at least one
-- current clinical result, built from its clinical results only (spec/warehouse.md v2).
-- Contract columns first (lab_id .. her2_category), then extras for dashboards and audit.
-- Selection and rules: marts/specimen_calls, macros/asco_cap_rules.
--   specimen_date     latest report_date of the selected results (NULL: nothing usable)
--   last_report_date  latest report_date of any current clinical result of the specimen
--   guideline_version ASCO/CAP rule set final_status was derived under ('2018' default);
--                     ish_group is always the 2018 grouping of the reported numbers
--   ish_probe         'dual', 'single' (HER2/cell only; used only without a usable
--                     dual-probe result) or NULL without a usable ISH (contract v2)
--   ish_group         2018 group, NULL unless ish_probe is 'dual'
--   ihc_* / ish_*     the selected IHC and ISH results (NULL: none usable); a single-probe
--                     result leaves ish_ratio and ish_cep17_per_cell NULL
--   ish_single_call   the single-probe call under guideline_version (positive / equivocal /
--                     negative, macros ish_single_call); NULL unless ish_probe is 'single'
--   companion_assay   the selected IHC's kit is the HER2-ultralow companion diagnostic, clone
--                     4B5 (kit name contains '4B5', case-insensitive; her2-domain.md
--                     §TIMELINE, FDA 2025); FALSE another kit; NULL no IHC or no kit recorded
--   ultralow_null_off_companion
--                     HER2-ultralow or -null called on a recorded clone other than 4B5, the
--                     FDA-approved companion diagnostic for HER2-ultralow (FDA 2025)
--   n_results         current clinical results of the specimen, usable or not
-- No ORDER BY: sorting 10M-row builds costs more than it saves; readers order.
CREATE OR REPLACE TABLE marts.specimen_her2 AS
SELECT
    lab_id,
    accession_id,
    patient_key,
    specimen_role,
    ihc_score,
    ish_probe,
    ish_group::TINYINT AS ish_group,
    final_status,
    her2_category,
    specimen_site,
    collection_date,
    status_date AS specimen_date,
    quarter_label(status_date) AS specimen_quarter,
    last_report_date,
    guideline_version,
    ihc_test_id,
    ihc_report_date,
    ihc_pct_stained,
    ihc_assay_kit,
    ihc_pathologist_id,
    ish_test_id,
    ish_report_date,
    ish_ratio,
    ish_her2_per_cell,
    ish_cep17_per_cell,
    ish_cells_counted,
    ish_assay_kit,
    ish_pathologist_id,
    ish_single_call,
    is_companion_assay(ihc_assay_kit) AS companion_assay,
    coalesce(
        her2_category IN ('ultralow', 'null') AND NOT is_companion_assay(ihc_assay_kit), false
    ) AS ultralow_null_off_companion,
    n_results
FROM specimen_calls
WHERE test_purpose = 'clinical'
;
