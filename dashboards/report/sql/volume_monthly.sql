-- dashboards/volume_monthly: clinical specimens per collection month and role, per lab and
-- 'ALL' pooled (marts.specimen_her2). Grain: lab_id × month × specimen_role.
SELECT
    CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
    date_trunc('month', collection_date)::DATE AS month,
    specimen_role,
    count(*) AS n_specimens
FROM marts.specimen_her2
WHERE collection_date IS NOT NULL
GROUP BY GROUPING SETS ((lab_id, month, specimen_role), (month, specimen_role))
ORDER BY lab_id, month, specimen_role
