-- quarantine/rejected_rows: rows that failed the contract, and valid rows that
-- conflict with the version already received; every reason that applies, and
-- the row as read (raw layer: PHI already replaced by patient_key or dropped).
-- The rejected rows of this step first, on their own: then the join with the raw layer
-- builds on them (usually few), not on the raw rows (1M rows read for none rejected).
CREATE OR REPLACE TEMP TABLE rejected_of_step AS
SELECT file_id, source_file, source_row, lab_id, test_id, reasons
FROM typed_rows
WHERE len(reasons) > 0
UNION ALL
SELECT t.file_id, t.source_file, t.source_row, t.lab_id, t.test_id,
    [{'field': 'result_version', 'code': 'conflicting_version',
      'message': 'conflicts with the version already received (' || v.first_file
                 || ', row ' || v.first_row || ')'}]
FROM typed_rows AS t
JOIN verdicts AS v USING (file_id, source_row)
WHERE v.verdict = 'conflict'
;
INSERT INTO quarantine.rejected_rows
SELECT
    q.file_id, q.source_file, q.source_row, coalesce(q.lab_id, r.lab_id), coalesce(q.test_id, r.test_id),
    list_transform(q.reasons, lambda x: x.code),
    list_transform(q.reasons, lambda x: x.field),
    list_transform(q.reasons, lambda x: x.message),
    json_merge_patch(
        to_json(struct_pack(
            r.lab_id, r.performing_lab, r.test_id, r.result_version, r.accession_id, r.patient_key,
            r.specimen_role, r.specimen_site, r.collection_date, r.report_date,
            r.cold_ischemia_min, r.fixation_hours, r.assay, r.assay_kit,
            r.ihc_score, r.ihc_pct_stained, r.ish_her2_per_cell, r.ish_cep17_per_cell, r.ish_ratio,
            r.ish_cells_counted, r.reported_result, r.pathologist_id, r.test_purpose,
            r.expected_result
        )),
        coalesce(r.extra, '{}')::JSON
    )
FROM rejected_of_step AS q
JOIN raw.her2_rows AS r USING (file_id, source_row)
ORDER BY q.file_id, q.source_row
;
DROP TABLE rejected_of_step
;
