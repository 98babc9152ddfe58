-- staging/verdicts: for each valid row of this step, is it a new version, an
-- identical repeat, or a conflict with the version already received?
-- (spec/lis-extract.md "What happens to a row": the first arrival wins,
-- within a file the earlier row; arrival order = file_id, then source_row.)
CREATE OR REPLACE TEMP TABLE verdicts AS
WITH incoming AS (
    SELECT lab_id, test_id, result_version, content_hash, file_id, source_file, source_row,
           true AS is_incoming
    FROM typed_rows
    WHERE len(reasons) = 0
),
received AS (
    SELECT h.lab_id, h.test_id, h.result_version, h.content_hash, h.file_id, h.source_file,
           h.source_row, false AS is_incoming
    FROM staging.her2_results_history AS h
    -- by row id: test_id alone is read from the whole history, the other columns only in
    -- the row groups of the rows found (a 10M history: 0.4-0.7 s reading whole rows, 0.25 s
    -- by row id after a semi join on the three key columns, 0.18-0.20 s so)
    WHERE h.rowid IN (
        SELECT rowid FROM staging.her2_results_history
        WHERE test_id IN (SELECT test_id FROM incoming)
    )
        AND (h.lab_id, h.test_id, h.result_version)
            IN (SELECT (lab_id, test_id, result_version) FROM incoming)
),
ranked AS (
    SELECT *,
        row_number() OVER w AS arrival,
        first_value(content_hash) OVER w AS first_hash,
        first_value(source_file) OVER w AS first_file,
        first_value(source_row) OVER w AS first_row
    FROM (SELECT * FROM incoming UNION ALL SELECT * FROM received)
    WINDOW w AS (PARTITION BY lab_id, test_id, result_version ORDER BY file_id, source_row)
)
SELECT file_id, source_row, first_file, first_row,
    CASE WHEN arrival = 1 THEN 'new'
         WHEN content_hash = first_hash THEN 'repeat'
         ELSE 'conflict' END AS verdict
FROM ranked
WHERE is_incoming
;
