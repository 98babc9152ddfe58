-- marts/validation_cases: each current validation result as a case of its assay kit's
-- validation set (marts/validation_sets documents the case, its call, its comparator and its
-- agreement: her2-domain.md §VALIDATION). A case-level table, kept by specimen: the
-- comparator is the same specimen's clinical final status, and the sets are counts of its rows.
-- Grain: one row per current result of test_purpose 'validation' (lab_id, test_id).
CREATE OR REPLACE TABLE marts.validation_cases AS
WITH v AS (
    SELECT
        r.lab_id,
        r.test_id,
        r.accession_id,
        r.assay,
        coalesce(r.assay_kit, '(not recorded)') AS assay_kit,
        r.report_date,
        r.pathologist_id,
        r.ihc_score,
        ish_group(r.ish_ratio, r.ish_her2_per_cell)::TINYINT AS ish_group,
        r.reported_result
    FROM staging.her2_results AS r
    WHERE r.test_purpose = 'validation'
),
called AS (
    SELECT
        v.*,
        CASE
            WHEN v.reported_result = 'indeterminate' THEN 'indeterminate'
            WHEN v.assay = 'IHC' THEN coalesce(ihc_call(v.ihc_score), 'indeterminate')
            WHEN v.ish_group = 1 THEN 'positive'
            WHEN v.ish_group = 5 THEN 'negative'
            WHEN v.ish_group IN (2, 3, 4) THEN 'equivocal'
            ELSE 'indeterminate'
        END AS validation_call,
        s.final_status AS comparator_status,
        s.her2_category AS comparator_category,
        s.specimen_date AS comparator_date,
        l.lab_id IS NOT NULL AS is_ldt
    FROM v
    LEFT JOIN marts.specimen_her2 AS s USING (lab_id, accession_id)
    LEFT JOIN (SELECT DISTINCT lab_id, value FROM lab_settings WHERE setting = 'ldt_kit') AS l
        ON l.lab_id = v.lab_id AND l.value = v.assay_kit
),
cases AS (
    SELECT
        *,
        coalesce(comparator_status IN ('positive', 'negative'), false) AS comparable,
        CASE
            WHEN comparator_status IN ('positive', 'negative')
                THEN validation_call = comparator_status
        END AS agrees
    FROM called
)
SELECT * FROM cases
ORDER BY lab_id, test_id
;
