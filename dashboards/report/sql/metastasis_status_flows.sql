-- dashboards/metastasis_status_flows: primary final status -> metastasis final status, counted
-- from marts.primary_metastasis_pairs (every pair), per metastasis lab and 'ALL'.
-- Grain: lab_id × primary_status × metastasis_status.
SELECT
    CASE WHEN grouping(metastasis_lab_id) = 1 THEN 'ALL' ELSE metastasis_lab_id END AS lab_id,
    coalesce(primary_status, 'indeterminate') AS primary_status,
    coalesce(metastasis_status, 'indeterminate') AS metastasis_status,
    count(*) AS n_pairs
FROM marts.primary_metastasis_pairs
GROUP BY GROUPING SETS (
    (metastasis_lab_id, primary_status, metastasis_status), (primary_status, metastasis_status)
)
ORDER BY lab_id, primary_status, metastasis_status
