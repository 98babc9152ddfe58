-- audit/volumes: how much HER2 work the period holds. Counts, per lab and pooled ('ALL').
--   specimens     clinical specimens reported in the period (audit/stage_specimens cohort), by
--                 role ('all', 'primary', 'metastasis') and by final status
--                 ('status:positive', ...); n = the lab's specimens in the period
--   results       current results (staging.her2_results) signed out in the period
--                 (report_date between $from and $to), by test_purpose and assay
--                 ('clinical IHC', ...); n = the lab's results in the period
INSERT INTO audit_metrics BY NAME
WITH specimens AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        CASE WHEN grouping(specimen_role) = 1 THEN 'all' ELSE specimen_role END AS stratum,
        count(*) AS k
    FROM period_specimens.marts.specimen_her2
    GROUP BY GROUPING SETS ((lab_id, specimen_role), (lab_id), (specimen_role), ())
),
statuses AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        'status:' || final_status AS stratum,
        count(*) AS k
    FROM period_specimens.marts.specimen_her2
    GROUP BY GROUPING SETS ((lab_id, final_status), (final_status))
),
totals AS (
    SELECT lab_id, k AS n FROM specimens WHERE stratum = 'all'
)
SELECT
    'volumes' AS section,
    'specimens' AS metric,
    c.lab_id,
    c.stratum,
    CASE
        WHEN c.stratum = 'all' THEN 'Clinical specimens reported in the period'
        WHEN c.stratum LIKE 'status:%' THEN 'Specimens by final HER2 status'
        ELSE 'Specimens by role'
    END AS label,
    c.k::DOUBLE AS value,
    'count' AS unit,
    c.k AS numerator,
    t.n,
    'not applicable (count)' AS ci_method,
    'marts.specimen_her2 (spec/warehouse.md: one row per specimen with a clinical result; final '
    || 'status by the ASCO/CAP algorithm, her2-domain.md §FINAL-STATUS); specimens whose '
    || 'specimen_date (or last report_date when nothing is usable) lies in the period '
    || '(warehouse/sql/audit/stage_specimens.sql)' AS source_rule
FROM (SELECT * FROM specimens UNION ALL SELECT * FROM statuses) AS c
JOIN totals AS t USING (lab_id)
;
INSERT INTO audit_metrics BY NAME
WITH results AS (
    SELECT lab_id, test_purpose || ' ' || assay AS kind
    FROM wh.staging.her2_results
    WHERE report_date BETWEEN $from AND $to AND ($lab IS NULL OR lab_id = $lab)
),
counts AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        CASE WHEN grouping(kind) = 1 THEN 'all' ELSE kind END AS stratum,
        count(*) AS k
    FROM results
    GROUP BY GROUPING SETS ((lab_id, kind), (lab_id), (kind), ())
)
SELECT
    'volumes' AS section,
    'results' AS metric,
    c.lab_id,
    c.stratum,
    CASE
        WHEN c.stratum = 'all' THEN 'Current results signed out in the period'
        ELSE 'Results by purpose and assay'
    END AS label,
    c.k::DOUBLE AS value,
    'count' AS unit,
    c.k AS numerator,
    t.k AS n,
    'not applicable (count)' AS ci_method,
    'staging.her2_results (current version of each result, spec/lis-extract.md), report_date '
    || 'in the period; test_purpose clinical / second_read / reference_lab / validation / '
    || 'proficiency (warehouse/sql/audit/volumes.sql)' AS source_rule
FROM counts AS c
JOIN counts AS t ON t.lab_id = c.lab_id AND t.stratum = 'all'
WHERE c.k > 0
;
