-- marts/volume_monthly: clinical specimens per collection month and role, per lab and
-- 'ALL' pooled (summed from marts.specimen_counts), for the overview page: a small table the
-- page reads, so the page's cost does not grow with the warehouse (the GROUP BY over every
-- specimen is the build's: at 10M, 0.2 s of a site build otherwise).
-- Grain: lab_id × month × specimen_role.
CREATE OR REPLACE TABLE marts.volume_monthly AS
SELECT
    CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
    collection_month AS month,
    specimen_role,
    sum(n_specimens)::BIGINT AS n_specimens
FROM marts.specimen_counts
WHERE collection_month IS NOT NULL
GROUP BY GROUPING SETS ((lab_id, month, specimen_role), (month, specimen_role))
ORDER BY lab_id, month, specimen_role
