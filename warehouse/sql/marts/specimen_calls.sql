-- marts/specimen_calls (temporary helper, dropped after the build): per specimen
-- (lab_id, accession_id) and purpose (clinical, second_read, reference_lab), the results
-- that make its status, and that status. spec/warehouse.md "Which results make a
-- specimen's status":
--   * per assay, the usable current result: not 'indeterminate'; IHC with a score; ISH
--     dual-probe (a reported ratio and HER2/cell mean) when the specimen has a usable one,
--     else single-probe (a HER2/cell mean without CEP17 or ratio, lis-extract.md: "Otherwise
--     it is single-probe"; contract v2, her2-domain.md §ISH-SINGLE); ish_probe says which
--     ('dual', 'single', NULL without a usable ISH). The extract contract defines a
--     single-probe row by its columns, so §ISH-SINGLE's "classify only if the lab is known
--     to use single-probe ISH" is not needed;
--   * the latest report_date wins (within dual-probe, then within single-probe), ties: the
--     greatest test_id in text order;
--   * the specimen's date (status_date) is the latest report_date of the results selected.
-- A reference_lab result carries the owner's lab_id and accession_id (the reference lab is
-- its performing_lab), so it lands on the owner's specimen here.
-- Specimen attributes (patient_key, role, site, collection_date) come from the specimen's
-- latest current result of that purpose, usable or not (same order: report_date, test_id).
-- The guideline version is looked up by lab_id and the specimen's date (its latest
-- report_date of any current result of that purpose when nothing is usable); no match ->
-- '2018'. reference_lab and second_read calls use the owner lab's configuration too.
-- Rules: macros/asco_cap_rules.
-- The fields a selected ISH result carries, dual- or single-probe (a single-probe one has no
-- ratio and no CEP17 mean).
CREATE OR REPLACE TEMP MACRO ish_result(test_id, report_date, ratio, her2, cep17, cells, kit,
    reader) AS {
    'test_id': test_id,
    'report_date': report_date,
    'ish_ratio': ratio,
    'ish_her2_per_cell': her2,
    'ish_cep17_per_cell': cep17,
    'ish_cells_counted': cells,
    'assay_kit': kit,
    'pathologist_id': reader
}
;
CREATE OR REPLACE TEMP TABLE specimen_calls AS
WITH ranked AS (
    -- Each specimen's results of a purpose in one sort, latest first: the first row is the
    -- latest result, and the first row of each kind (first_value ... IGNORE NULLS over the
    -- whole specimen) is that kind's pick. A sort, not arg_max with a (report_date, test_id)
    -- key: with 7M specimens that key's string made the hash aggregate's states the cost, and
    -- more memory did not help it (10M results: 55 s at a 3 GB limit against 28 s for the
    -- sort; at 1 GB, 74-88 s against 62-66 s; the same rows, hashed; README "Scale and
    -- scale-out").
    SELECT
        lab_id,
        accession_id,
        test_purpose,
        row_number() OVER latest_first AS position,
        {
            'patient_key': patient_key,
            'specimen_role': specimen_role,
            'specimen_site': specimen_site,
            'collection_date': collection_date
        } AS latest,
        first_value(
            CASE
                WHEN assay = 'IHC' AND reported_result <> 'indeterminate'
                    AND ihc_score IS NOT NULL
                    THEN {
                        'test_id': test_id,
                        'report_date': report_date,
                        'ihc_score': ihc_score,
                        'ihc_pct_stained': ihc_pct_stained,
                        'assay_kit': assay_kit,
                        'pathologist_id': pathologist_id
                    }
            END IGNORE NULLS
        ) OVER whole AS ihc,
        first_value(
            CASE
                WHEN assay = 'ISH' AND reported_result <> 'indeterminate'
                    AND ish_ratio IS NOT NULL AND ish_her2_per_cell IS NOT NULL
                    THEN ish_result(test_id, report_date, ish_ratio, ish_her2_per_cell,
                        ish_cep17_per_cell, ish_cells_counted, assay_kit, pathologist_id)
            END IGNORE NULLS
        ) OVER whole AS ish_dual,
        first_value(
            CASE
                WHEN assay = 'ISH' AND reported_result <> 'indeterminate'
                    AND ish_ratio IS NULL AND ish_cep17_per_cell IS NULL
                    AND ish_her2_per_cell IS NOT NULL
                    THEN ish_result(test_id, report_date, NULL::DOUBLE, ish_her2_per_cell,
                        NULL::DOUBLE, ish_cells_counted, assay_kit, pathologist_id)
            END IGNORE NULLS
        ) OVER whole AS ish_single,
        report_date AS last_report_date,
        count(*) OVER whole AS n_results
    FROM staging.her2_results
    WHERE test_purpose IN ('clinical', 'second_read', 'reference_lab')
    WINDOW
        -- test_id is unique within a lab: no two results of a specimen tie
        latest_first AS (
            PARTITION BY lab_id, accession_id, test_purpose
            ORDER BY report_date DESC, test_id DESC
        ),
        whole AS (latest_first ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
),
picked AS (
    SELECT * EXCLUDE (position) FROM ranked WHERE position = 1
),
chosen AS (
    SELECT
        * EXCLUDE (ish_dual, ish_single),
        coalesce(ish_dual, ish_single) AS ish,
        CASE
            WHEN ish_dual IS NOT NULL THEN 'dual'
            WHEN ish_single IS NOT NULL THEN 'single'
        END AS ish_probe
    FROM picked
),
flat AS (
    SELECT
        lab_id,
        accession_id,
        test_purpose,
        latest.patient_key AS patient_key,
        latest.specimen_role AS specimen_role,
        latest.specimen_site AS specimen_site,
        latest.collection_date AS collection_date,
        ihc.test_id AS ihc_test_id,
        ihc.report_date AS ihc_report_date,
        ihc.ihc_score AS ihc_score,
        ihc.ihc_pct_stained AS ihc_pct_stained,
        ihc.assay_kit AS ihc_assay_kit,
        ihc.pathologist_id AS ihc_pathologist_id,
        ish_probe,
        ish.test_id AS ish_test_id,
        ish.report_date AS ish_report_date,
        ish.ish_ratio AS ish_ratio,
        ish.ish_her2_per_cell AS ish_her2_per_cell,
        ish.ish_cep17_per_cell AS ish_cep17_per_cell,
        ish.ish_cells_counted AS ish_cells_counted,
        ish.assay_kit AS ish_assay_kit,
        ish.pathologist_id AS ish_pathologist_id,
        greatest(ihc.report_date, ish.report_date) AS status_date,
        last_report_date,
        n_results
    FROM chosen
),
versioned AS (
    SELECT
        f.*,
        coalesce(g.guideline_version, '2018') AS guideline_version
    FROM flat AS f
    LEFT JOIN marts.guideline_periods AS g
        ON g.lab_id = f.lab_id
        AND (g.valid_from IS NULL OR coalesce(f.status_date, f.last_report_date) >= g.valid_from)
        AND (g.valid_until IS NULL OR coalesce(f.status_date, f.last_report_date) < g.valid_until)
),
called AS (
    SELECT
        *,
        ish_group(ish_ratio, ish_her2_per_cell) AS ish_group,
        CASE WHEN ish_probe = 'single' THEN ish_single_call(guideline_version, ish_her2_per_cell) END
            AS ish_single_call,
        final_status(guideline_version, ihc_score, ish_probe, ish_ratio, ish_her2_per_cell)
            AS final_status
    FROM versioned
)
SELECT
    *,
    her2_category(final_status, ihc_score, ihc_pct_stained, guideline_version) AS her2_category
FROM called
;
