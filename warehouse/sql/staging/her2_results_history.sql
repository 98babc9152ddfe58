-- staging/her2_results_history: every valid version ever received (never deleted).
-- Appended in the order of the step's typed rows, which is the raw layer's (file_id,
-- source_row) order but for a few rows where DuckDB's parallel scan interleaves (77 of 10M).
-- No ORDER BY: sorting 10M whole rows took 24.6 s of that insert against 18.5 s (README
-- "Scale and scale-out"); no reader depends on the physical order.
INSERT INTO staging.her2_results_history (
    lab_id, performing_lab, test_id, result_version, accession_id, patient_key,
    specimen_role, specimen_site, collection_date, report_date,
    cold_ischemia_min, fixation_hours, assay, assay_kit,
    ihc_score, ihc_pct_stained, ish_her2_per_cell, ish_cep17_per_cell, ish_ratio,
    ish_cells_counted, reported_result, pathologist_id, test_purpose,
    file_id, source_file, source_row, expected_result, is_current
)
SELECT
    t.lab_id, t.performing_lab, t.test_id, t.result_version, t.accession_id, t.patient_key,
    t.specimen_role, t.specimen_site, t.collection_date, t.report_date,
    t.cold_ischemia_min, t.fixation_hours, t.assay, t.assay_kit,
    t.ihc_score, t.ihc_pct_stained, t.ish_her2_per_cell, t.ish_cep17_per_cell, t.ish_ratio,
    t.ish_cells_counted, t.reported_result, t.pathologist_id, t.test_purpose,
    t.file_id, t.source_file, t.source_row, t.expected_result,
    true  -- until a higher version of the result arrives (staging/her2_results)
FROM typed_rows AS t
JOIN verdicts AS v USING (file_id, source_row)
WHERE v.verdict = 'new'
;
