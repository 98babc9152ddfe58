-- staging/verdicts: for each valid row of this step, is it a new version, an
-- identical repeat, or a conflict with the version already received?
-- (spec/lis-extract.md "What happens to a row": the first arrival wins,
-- within a file the earlier row; arrival order = file_id, then source_row.)
-- What a row says: every normalised value (not where it came from). A row of typed_rows or
-- of the history, passed whole, gives it: both carry these columns. Compared only between
-- arrivals of the same version, so only for the few rows that meet another: a hash of every
-- row's values, kept in the history, cost 1.5 s of the 3.0 s of typed_rows at 1M rows
-- (to_json and md5; README "Scale and scale-out").
-- Every value column of the history is in it (tests/schemas/test_validation_rules.py checks
-- the names): one left out would make a resend that differs only there a silent repeat.
CREATE OR REPLACE TEMP MACRO result_content(r) AS {
    'lab_id': r.lab_id, 'performing_lab': r.performing_lab, 'test_id': r.test_id,
    'result_version': r.result_version, 'accession_id': r.accession_id,
    'patient_key': r.patient_key, 'specimen_role': r.specimen_role,
    'specimen_site': r.specimen_site, 'collection_date': r.collection_date,
    'report_date': r.report_date, 'cold_ischemia_min': r.cold_ischemia_min,
    'fixation_hours': r.fixation_hours, 'assay': r.assay, 'assay_kit': r.assay_kit,
    'ihc_score': r.ihc_score, 'ihc_pct_stained': r.ihc_pct_stained,
    'ish_her2_per_cell': r.ish_her2_per_cell, 'ish_cep17_per_cell': r.ish_cep17_per_cell,
    'ish_ratio': r.ish_ratio, 'ish_cells_counted': r.ish_cells_counted,
    'reported_result': r.reported_result, 'pathologist_id': r.pathologist_id,
    'test_purpose': r.test_purpose, 'expected_result': r.expected_result
}
;
-- Each valid row of the step among the arrivals of its version (lab_id, test_id,
-- result_version), received before or in this step, in arrival order; where each row and
-- the version's first arrival are (row ids in typed_rows or in the history).
CREATE OR REPLACE TEMP TABLE arrivals AS
WITH incoming AS (
    SELECT lab_id, test_id, result_version, file_id, source_file, source_row,
           rowid AS row_id, true AS is_incoming
    FROM typed_rows
    WHERE len(reasons) = 0
),
received AS (
    SELECT h.lab_id, h.test_id, h.result_version, h.file_id, h.source_file, h.source_row,
           h.rowid AS row_id, false AS is_incoming
    FROM staging.her2_results_history AS h
    -- by row id: test_id alone is read from the whole history, the other columns only in
    -- the row groups of the rows found (a 10M history: 0.4-0.7 s reading whole rows, 0.25 s
    -- by row id after a semi join on the three key columns, 0.18-0.20 s so); and only for
    -- the results that may have arrived before (staging/contested_results)
    WHERE h.rowid IN (
        SELECT rowid FROM staging.her2_results_history
        WHERE test_id IN (
            SELECT test_id FROM incoming SEMI JOIN contested_results USING (lab_id, test_id)
        )
    )
        AND (h.lab_id, h.test_id, h.result_version)
            IN (SELECT (lab_id, test_id, result_version) FROM incoming)
)
SELECT * EXCLUDE (lab_id, test_id, result_version, source_file, is_incoming)
FROM (
    SELECT *,
        row_number() OVER w AS arrival,
        first_value(source_file) OVER w AS first_file,
        first_value(source_row) OVER w AS first_row,
        first_value(row_id) OVER w AS first_row_id,
        first_value(is_incoming) OVER w AS first_incoming
    FROM (SELECT * FROM incoming UNION ALL SELECT * FROM received)
    WINDOW w AS (PARTITION BY lab_id, test_id, result_version ORDER BY file_id, source_row)
)
WHERE is_incoming
;
-- The first arrival is new; a later one that says the same is a repeat, else a conflict.
CREATE OR REPLACE TEMP TABLE verdicts AS
WITH later AS (
    SELECT * FROM arrivals WHERE arrival > 1
),
typed_content AS (
    SELECT rowid AS row_id, result_content(t) AS content
    FROM typed_rows AS t
    WHERE rowid IN (
        SELECT row_id FROM later
        UNION ALL
        SELECT first_row_id FROM later WHERE first_incoming
    )
),
history_content AS (
    SELECT rowid AS row_id, result_content(h) AS content
    FROM staging.her2_results_history AS h
    WHERE rowid IN (SELECT first_row_id FROM later WHERE NOT first_incoming)
),
conflicting AS (
    SELECT l.row_id
    FROM later AS l
    JOIN typed_content AS mine ON mine.row_id = l.row_id
    LEFT JOIN typed_content AS first_typed
        ON l.first_incoming AND first_typed.row_id = l.first_row_id
    LEFT JOIN history_content AS first_received
        ON NOT l.first_incoming AND first_received.row_id = l.first_row_id
    WHERE mine.content IS DISTINCT FROM coalesce(first_typed.content, first_received.content)
)
SELECT a.file_id, a.source_row, a.first_file, a.first_row,
    CASE WHEN a.arrival = 1 THEN 'new'
         WHEN c.row_id IS NULL THEN 'repeat'
         ELSE 'conflict' END AS verdict
FROM arrivals AS a
LEFT JOIN conflicting AS c USING (row_id)
;
DROP TABLE arrivals
;
