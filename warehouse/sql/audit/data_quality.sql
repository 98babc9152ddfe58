-- audit/data_quality: how trustworthy the inputs of the figures are.
-- Warehouse-wide (lab_id 'ALL'; the same whatever the period: a quarantined row has no date the
-- pipeline could trust, and files are not per period):
--   warehouse_files (stratum = status: ingested / duplicate / rejected)   ops.ingested_files
--   warehouse_rows_read, warehouse_rows_staged, warehouse_rows_quarantined
-- Quarantine of the laboratory in scope (quarantine.rejected_rows whose lab_id is $lab; every
-- row when $lab is NULL), all dates:
--   quarantined_rows, quarantine_reason (stratum = reason code; a row may carry several)
-- The period's specimen cohort (audit/stage_specimens):
--   reported_call_agrees       clinical results whose reported call agrees with the ASCO/CAP
--                              algorithm's call for the row (marts.interpretation_audit)
--   pct_contradictions         IHC rows whose % stained contradicts the score (§HER2-LOW)
--   ish_cells_below_20         specimens whose selected dual-probe ISH counted < 20 nuclei
--                              (§ISH-COUNT: a protocol deviation)
--   no_usable_result           specimens with final status indeterminate
--   equivocal_unresolved       specimens with final status equivocal (work-up incomplete)
INSERT INTO audit_metrics BY NAME
WITH files AS (
    SELECT
        CASE WHEN grouping(status) = 1 THEN 'all' ELSE status END AS stratum,
        count(*) AS k,
        coalesce(sum(rows_read), 0)::BIGINT AS rows_read,
        coalesce(sum(rows_staged), 0)::BIGINT AS rows_staged,
        coalesce(sum(rows_quarantined), 0)::BIGINT AS rows_quarantined
    FROM wh.ops.ingested_files
    GROUP BY GROUPING SETS ((status), ())
),
totals AS (
    SELECT * FROM files WHERE stratum = 'all'
)
SELECT
    'data_quality' AS section,
    'warehouse_files' AS metric,
    'ALL' AS lab_id,
    f.stratum,
    'Input files that landed (all of the warehouse)' AS label,
    f.k::DOUBLE AS value,
    'count' AS unit,
    f.k AS numerator,
    t.k AS n,
    'not applicable (count)' AS ci_method,
    'ops.ingested_files (per-file SHA-256 and row accounting: lineage.json input_files)'
        AS source_rule
FROM files AS f
CROSS JOIN totals AS t
UNION ALL
SELECT
    'data_quality', m.metric, 'ALL', 'all', m.label, m.k::DOUBLE, 'count', m.k, t.rows_read,
    'not applicable (count)',
    'ops.ingested_files (rows read = rows staged + rows quarantined, per file and in total)'
FROM totals AS t
CROSS JOIN LATERAL (
    VALUES
    ('warehouse_rows_read', 'Data rows read (all of the warehouse)', t.rows_read),
    ('warehouse_rows_staged', 'Rows staged (valid)', t.rows_staged),
    ('warehouse_rows_quarantined', 'Rows quarantined (invalid, with every reason)',
        t.rows_quarantined)
) AS m (metric, label, k)
;
INSERT INTO audit_metrics BY NAME
WITH q AS (
    SELECT lab_id, reason_codes
    FROM wh.quarantine.rejected_rows
    WHERE $lab IS NULL OR lab_id = $lab
),
known AS (
    SELECT DISTINCT lab_id FROM wh.staging.her2_results WHERE $lab IS NULL OR lab_id = $lab
),
-- Per known laboratory, and pooled over every quarantined row in scope ('ALL': includes rows
-- whose lab_id is missing or not a laboratory of the warehouse).
rows_ AS (
    SELECT 'ALL' AS lab_id, reason_codes FROM q
    UNION ALL
    SELECT q.lab_id, q.reason_codes FROM q SEMI JOIN known AS k ON k.lab_id = q.lab_id
),
totals AS (
    SELECT lab_id, count(*) AS n FROM rows_ GROUP BY lab_id
    UNION ALL
    SELECT 'ALL', 0 WHERE NOT EXISTS (SELECT 1 FROM q)
),
reasons AS (
    SELECT lab_id, code, count(*) AS k
    FROM (SELECT lab_id, unnest(list_distinct(reason_codes)) AS code FROM rows_)
    GROUP BY lab_id, code
)
SELECT
    'data_quality' AS section,
    'quarantined_rows' AS metric,
    lab_id,
    'all' AS stratum,
    'Rows quarantined (all dates)' AS label,
    n::DOUBLE AS value,
    'count' AS unit,
    n AS numerator,
    n,
    'not applicable (count)' AS ci_method,
    'quarantine.rejected_rows (spec/lis-extract.md: every reason that applies); a quarantined '
    || 'row has no trusted date, so all dates are counted' AS source_rule
FROM totals
UNION ALL
SELECT
    'data_quality', 'quarantine_reason', r.lab_id, r.code,
    'Quarantined rows by reason code (a row may carry several)',
    r.k::DOUBLE, 'count', r.k, t.n, 'not applicable (count)',
    'quarantine.rejected_rows reason_codes (README: reason codes)'
FROM reasons AS r
JOIN totals AS t USING (lab_id)
;
INSERT INTO audit_metrics BY NAME
WITH audit_rows AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        count_if(audited) AS n_audited,
        count_if(agrees) AS n_agree,
        count_if(assay = 'IHC' AND ihc_score IS NOT NULL AND ihc_pct_stained IS NOT NULL)
            AS n_ihc_pct,
        count_if(pct_contradiction) AS n_contradictions
    FROM period_specimens.marts.interpretation_audit
    GROUP BY GROUPING SETS ((lab_id), ())
),
specimens AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        count(*) AS n_specimens,
        count(ish_group) AS n_ish,
        count_if(ish_group IS NOT NULL AND ish_cells_counted < 20) AS n_cells_below_20,
        count_if(final_status = 'indeterminate') AS n_indeterminate,
        count_if(final_status = 'equivocal') AS n_equivocal
    FROM period_specimens.marts.specimen_her2
    GROUP BY GROUPING SETS ((lab_id), ())
),
m AS (
    SELECT lab_id, 'reported_call_agrees' AS metric,
        'Clinical results whose reported call agrees with the ASCO/CAP algorithm' AS label,
        n_agree AS k, n_audited AS n,
        'marts.interpretation_audit (reported_result vs the algorithm''s call for the row, '
        || 'her2-domain.md §FINAL-STATUS, §ISH-RESOLVE) of the period''s cohort' AS source_rule
    FROM audit_rows
    UNION ALL
    SELECT lab_id, 'pct_contradictions',
        'IHC results whose % stained contradicts the score (0 with > 10%, 1+ with ≤ 10%)',
        n_contradictions, n_ihc_pct,
        'marts.interpretation_audit pct_contradiction (her2-domain.md §HER2-LOW; a finding, never '
        || 'a recategorisation); n = IHC results with a score and a % stained'
    FROM audit_rows
    UNION ALL
    SELECT lab_id, 'ish_cells_below_20',
        'Specimens whose dual-probe ISH counted fewer than 20 nuclei', n_cells_below_20, n_ish,
        'marts.specimen_her2 ish_cells_counted < 20 (her2-domain.md §ISH-COUNT: a protocol '
        || 'deviation); n = specimens with a dual-probe ISH group'
    FROM specimens
    UNION ALL
    SELECT lab_id, 'no_usable_result', 'Specimens without a usable result (indeterminate)',
        n_indeterminate, n_specimens,
        'marts.specimen_her2 final_status indeterminate (spec/warehouse.md)'
    FROM specimens
    UNION ALL
    SELECT lab_id, 'equivocal_unresolved',
        'Specimens left equivocal (reflex ISH or concurrent IHC missing)', n_equivocal,
        n_specimens, 'marts.specimen_her2 final_status equivocal (her2-domain.md §FINAL-STATUS)'
    FROM specimens
)
SELECT
    'data_quality' AS section,
    metric,
    lab_id,
    'all' AS stratum,
    label,
    unnest(proportion_figure(k, n)),
    source_rule || ' (warehouse/sql/audit/data_quality.sql)' AS source_rule
FROM (SELECT * REPLACE (coalesce(k, 0) AS k, coalesce(n, 0) AS n) FROM m)
;
