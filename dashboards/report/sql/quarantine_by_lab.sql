-- dashboards/quarantine_by_lab: rows read and rows quarantined per lab code *as written* in the
-- input (trimmed; '(no lab id)' when empty), so a lab whose every row is rejected still shows.
-- From raw.her2_rows and quarantine.rejected_rows; 'ALL' from ops.ingested_files' own
-- accounting (rows_read = rows_staged + rows_quarantined, checked at every run).
-- Grain: one row per lab code, plus 'ALL'.
WITH read AS (
    SELECT coalesce(nullif(trim(lab_id), ''), '(no lab id)') AS lab_id, count(*) AS rows_read
    FROM raw.her2_rows
    GROUP BY ALL
),
rejected AS (
    SELECT coalesce(nullif(trim(lab_id), ''), '(no lab id)') AS lab_id, count(*) AS rows_quarantined
    FROM quarantine.rejected_rows
    GROUP BY ALL
)
SELECT lab_id, rows_read, coalesce(rows_quarantined, 0) AS rows_quarantined
FROM read
LEFT JOIN rejected USING (lab_id)
UNION ALL
SELECT 'ALL', coalesce(sum(rows_read), 0), coalesce(sum(rows_quarantined), 0)
FROM ops.ingested_files
ORDER BY lab_id
