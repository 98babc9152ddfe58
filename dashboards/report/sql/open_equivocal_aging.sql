-- Open equivocal specimens by lab (and 'ALL') and specimen role: how many and how long open.
-- Grain: lab_id × specimen_role. From marts.worklist_open_equivocal (the rows of
-- open_equivocal_cases.csv); days_open is to the warehouse's newest report date.
SELECT
    CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
    specimen_role,
    count(*) AS n_open,
    round(median(days_open))::INTEGER AS median_days_open,
    max(days_open) AS max_days_open
FROM marts.worklist_open_equivocal
GROUP BY GROUPING SETS ((lab_id, specimen_role), (specimen_role))
ORDER BY lab_id, specimen_role
