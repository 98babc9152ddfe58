-- dashboards/quarantine_by_file: per input file (arrival order), rows read and quarantined; per
-- lab code as written (that lab's rows in the file) and 'ALL' (the file's own accounting,
-- rejected and duplicate files included). Grain: lab_id × file_id.
-- Only the files from $first_file_id on (the data-quality page's latest files,
-- dashboards/site/pages/data_quality.py LATEST_FILES): a nightly network adds a file per lab
-- per night, and the page must not grow with the years (3,000 files made it 1.6 MB at 50M
-- rows; site.json lists every file).
WITH read AS (
    -- counted per lab_id as written first, then trimmed: a few groups per file, not every
    -- row's text (the raw rows grow with the warehouse: at 10M, 0.05 s against 0.15 s)
    SELECT file_id, coalesce(nullif(trim(lab_id), ''), '(no lab id)') AS lab, sum(n) AS rows_read
    FROM (
        SELECT file_id, lab_id, count(*) AS n FROM raw.her2_rows
        WHERE file_id >= $first_file_id
        GROUP BY file_id, lab_id
    )
    GROUP BY ALL
),
rejected AS (
    SELECT file_id, coalesce(nullif(trim(lab_id), ''), '(no lab id)') AS lab,
           sum(n) AS rows_quarantined
    FROM (
        SELECT file_id, lab_id, count(*) AS n FROM quarantine.rejected_rows
        WHERE file_id >= $first_file_id
        GROUP BY file_id, lab_id
    )
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
WHERE file_id >= $first_file_id
ORDER BY lab_id, file_id
