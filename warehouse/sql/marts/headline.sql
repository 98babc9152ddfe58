-- marts/headline: the overview's counts per lab (and 'ALL' pooled), one row each, a small
-- table the page reads (the scans of every specimen and every current result are the
-- build's: at 10M, 0.2 s of a site build otherwise).
-- From marts.specimen_her2 (clinical specimens), staging.her2_results and ops.ingested_files.
--   n_specimens, n_primary, n_metastasis   every clinical specimen
--   window_start, window_end               the last 12 calendar months with data in the whole
--                                          warehouse (by collection month), the same for every lab
--   n_window                               specimens collected in that window
--   first_collection, last_collection      collection dates
--   latest_report                          latest report_date of any current result of the lab
--   latest_arrival                         latest arrival date of a file that brought its results
CREATE OR REPLACE TABLE marts.headline AS
WITH bounds AS (
    SELECT
        date_trunc('month', max(collection_date))::DATE AS window_end,
        (date_trunc('month', max(collection_date)) - INTERVAL 11 MONTH)::DATE AS window_start
    FROM marts.specimen_her2
),
specimens AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        count(*) AS n_specimens,
        count_if(specimen_role = 'primary') AS n_primary,
        count_if(specimen_role = 'metastasis') AS n_metastasis,
        count_if(collection_date >= (SELECT window_start FROM bounds)) AS n_window,
        min(collection_date) AS first_collection,
        max(collection_date) AS last_collection
    FROM marts.specimen_her2
    GROUP BY GROUPING SETS ((lab_id), ())
),
results AS (
    SELECT
        CASE WHEN grouping(r.lab_id) = 1 THEN 'ALL' ELSE r.lab_id END AS lab_id,
        max(r.report_date) AS latest_report,
        max(f.arrival_date) AS latest_arrival
    FROM staging.her2_results AS r
    JOIN ops.ingested_files AS f USING (file_id)
    GROUP BY GROUPING SETS ((r.lab_id), ())
)
SELECT
    s.*,
    r.latest_report,
    r.latest_arrival,
    b.window_start,
    b.window_end
FROM specimens AS s
LEFT JOIN results AS r USING (lab_id)
CROSS JOIN bounds AS b
ORDER BY s.lab_id <> 'ALL', s.lab_id
