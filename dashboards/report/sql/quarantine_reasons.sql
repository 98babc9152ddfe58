-- dashboards/quarantine_reasons: quarantined rows per reason code and file arrival date, per lab
-- code as written (see quarantine_by_lab) and 'ALL'. A row with several reasons counts once
-- under each of its distinct reason codes. Only codes, never the row's values.
-- Grain: lab_id × arrival_date × reason_code.
WITH reasons AS (
    SELECT
        file_id,
        coalesce(nullif(trim(lab_id), ''), '(no lab id)') AS lab,
        unnest(list_distinct(reason_codes)) AS reason_code
    FROM quarantine.rejected_rows
)
SELECT
    CASE WHEN grouping(q.lab) = 1 THEN 'ALL' ELSE q.lab END AS lab_id,
    f.arrival_date,
    q.reason_code,
    count(*) AS n_rows
FROM reasons AS q
JOIN ops.ingested_files AS f USING (file_id)
GROUP BY GROUPING SETS ((q.lab, f.arrival_date, q.reason_code), (f.arrival_date, q.reason_code))
ORDER BY lab_id, f.arrival_date, q.reason_code
