-- dashboards/quarantine_by_file: per input file (arrival order), rows read and quarantined; per
-- lab code as written (that lab's rows in the file) and 'ALL' (the file's own accounting,
-- rejected and duplicate files included). Grain: lab_id × file_id.
WITH read AS (
    SELECT file_id, coalesce(nullif(trim(lab_id), ''), '(no lab id)') AS lab, count(*) AS rows_read
    FROM raw.her2_rows
    GROUP BY ALL
),
rejected AS (
    SELECT file_id, coalesce(nullif(trim(lab_id), ''), '(no lab id)') AS lab,
           count(*) AS rows_quarantined
    FROM quarantine.rejected_rows
    GROUP BY ALL
)
SELECT
    r.lab AS lab_id, f.file_id, f.file_name, f.status, f.arrival_date, r.rows_read,
    coalesce(q.rows_quarantined, 0) AS rows_quarantined
FROM read AS r
LEFT JOIN rejected AS q USING (file_id, lab)
JOIN ops.ingested_files AS f USING (file_id)
UNION ALL
SELECT 'ALL', file_id, file_name, status, arrival_date, rows_read, rows_quarantined
FROM ops.ingested_files
ORDER BY lab_id, file_id
