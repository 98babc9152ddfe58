-- marts/worklist_ish_counting: the ISH counting worklist (her2-domain.md §ISH-COUNT):
--   * ISH counted in fewer nuclei than the ASCO/CAP minimum (band 'ish_nuclei_min' of
--     marts.reference_bands: at least 20 invasive tumour nuclei; exactly 20 meets it), on
--     every current clinical ISH row and every blinded recount (test_purpose 'second_read')
--     with a usable result (an 'indeterminate' row counts nothing);
--   * dual-probe groups 2-4 with a concurrent IHC 2+ (marts.specimen_her2: the selected
--     clinical ISH and IHC), which need an additional observer, blinded to the first result,
--     to recount at least 20 nuclei; the recount is the specimen's current usable dual-probe
--     'second_read' ISH row (the latest report_date, ties the greatest test_id), and it is
--     missing, lands in another 2018 group (the lab adjudicates by its procedure), or was read
--     by the same pathologist as the first count (not an additional observer).
--
-- Grain: one row per (lab_id, test_id, rule); test_id is the ISH row counted (the nuclei rule)
-- or the specimen's selected clinical ISH (the recount rules). rule (stable code):
--   'ish_nuclei_under_minimum'       the row counted fewer nuclei than the minimum
--   'blinded_recount_missing'        group 2-4 with IHC 2+, no blinded recount in the extract
--   'blinded_recount_other_group'    the recount lands in another ISH group
--   'blinded_recount_same_observer'  the recount is in the same group but read by the
--                                    pathologist of the first count
-- Columns: lab_id, accession_id, test_id, test_purpose, specimen_role, report_date,
-- pathologist_id, ish_probe, ish_group, ish_ratio, ish_her2_per_cell, ish_cells_counted,
-- nuclei_minimum, ihc_test_id, ihc_score, recount_test_id, recount_pathologist_id,
-- recount_group, recount_ratio, recount_her2_per_cell, recount_cells_counted, rule, reason,
-- source. No patient_key.
CREATE OR REPLACE TABLE marts.worklist_ish_counting AS
WITH minimum AS (
    SELECT low::INTEGER AS nuclei
    FROM marts.reference_bands
    WHERE band_id = 'ish_nuclei_min' AND lab_id = 'ALL'
),
counted AS (
    SELECT
        r.*,
        CASE
            WHEN r.ish_ratio IS NOT NULL OR r.ish_cep17_per_cell IS NOT NULL THEN 'dual'
            ELSE 'single'
        END AS ish_probe,
        ish_group(r.ish_ratio, r.ish_her2_per_cell)::TINYINT AS ish_group
    FROM staging.her2_results AS r
    WHERE r.assay = 'ISH'
      AND r.test_purpose IN ('clinical', 'second_read')
      AND r.reported_result <> 'indeterminate'
),
few_nuclei AS (
    SELECT
        c.lab_id,
        c.accession_id,
        c.test_id,
        c.test_purpose,
        c.specimen_role,
        c.report_date,
        c.pathologist_id,
        c.ish_probe,
        c.ish_group,
        c.ish_ratio,
        c.ish_her2_per_cell,
        c.ish_cells_counted,
        m.nuclei AS nuclei_minimum,
        s.ihc_test_id,
        s.ihc_score,
        NULL::VARCHAR AS recount_test_id,
        NULL::VARCHAR AS recount_pathologist_id,
        NULL::TINYINT AS recount_group,
        NULL::DOUBLE AS recount_ratio,
        NULL::DOUBLE AS recount_her2_per_cell,
        NULL::BIGINT AS recount_cells_counted,
        'ish_nuclei_under_minimum' AS rule
    FROM counted AS c
    CROSS JOIN minimum AS m
    LEFT JOIN marts.specimen_her2 AS s USING (lab_id, accession_id)
    WHERE c.ish_cells_counted < m.nuclei
),
recounts AS (
    SELECT *
    FROM counted
    WHERE test_purpose = 'second_read' AND ish_probe = 'dual'
    QUALIFY row_number() OVER (
        PARTITION BY lab_id, accession_id ORDER BY report_date DESC, test_id DESC
    ) = 1
),
needs_recount AS (
    SELECT
        s.lab_id,
        s.accession_id,
        s.ish_test_id AS test_id,
        'clinical' AS test_purpose,
        s.specimen_role,
        s.ish_report_date AS report_date,
        s.ish_pathologist_id AS pathologist_id,
        s.ish_probe,
        s.ish_group,
        s.ish_ratio,
        s.ish_her2_per_cell,
        s.ish_cells_counted,
        m.nuclei AS nuclei_minimum,
        s.ihc_test_id,
        s.ihc_score,
        r.test_id AS recount_test_id,
        r.pathologist_id AS recount_pathologist_id,
        r.ish_group AS recount_group,
        r.ish_ratio AS recount_ratio,
        r.ish_her2_per_cell AS recount_her2_per_cell,
        r.ish_cells_counted AS recount_cells_counted,
        CASE
            WHEN r.test_id IS NULL THEN 'blinded_recount_missing'
            WHEN r.ish_group <> s.ish_group THEN 'blinded_recount_other_group'
            WHEN r.pathologist_id = s.ish_pathologist_id THEN 'blinded_recount_same_observer'
        END AS rule
    FROM marts.specimen_her2 AS s
    CROSS JOIN minimum AS m
    LEFT JOIN recounts AS r USING (lab_id, accession_id)
    WHERE s.ish_probe = 'dual' AND s.ish_group IN (2, 3, 4) AND s.ihc_score = '2+'
),
listed AS (
    SELECT * FROM few_nuclei
    UNION ALL BY NAME
    SELECT * FROM needs_recount WHERE rule IS NOT NULL
)
SELECT
    lab_id,
    accession_id,
    test_id,
    test_purpose,
    specimen_role,
    report_date,
    pathologist_id,
    ish_probe,
    ish_group,
    ish_ratio,
    ish_her2_per_cell,
    ish_cells_counted,
    nuclei_minimum,
    ihc_test_id,
    ihc_score,
    recount_test_id,
    recount_pathologist_id,
    recount_group,
    recount_ratio,
    recount_her2_per_cell,
    recount_cells_counted,
    rule,
    CASE rule
        WHEN 'ish_nuclei_under_minimum' THEN printf(
            '%s %s-probe ISH counted in %d nuclei, under the minimum of %d: a protocol '
            || 'deviation; recount at least %d invasive tumour nuclei before the result is relied on',
            CASE test_purpose WHEN 'second_read' THEN 'Blinded recount,' ELSE 'Clinical' END,
            ish_probe, ish_cells_counted, nuclei_minimum, nuclei_minimum
        )
        WHEN 'blinded_recount_missing' THEN printf(
            'Dual-probe ISH group %d (ratio %.2f, HER2 %.2f/cell) with concurrent IHC 2+ and no '
            || 'blinded recount in the extract: a second observer, blinded to the first result, '
            || 'recounts at least %d nuclei before the %s status is final',
            ish_group, ish_ratio, ish_her2_per_cell, nuclei_minimum,
            CASE ish_group WHEN 3 THEN 'positive' ELSE 'negative' END
        )
        WHEN 'blinded_recount_other_group' THEN printf(
            'Dual-probe ISH group %d (ratio %.2f, HER2 %.2f/cell) with IHC 2+, but the blinded '
            || 'recount %s lands in group %d (ratio %.2f, HER2 %.2f/cell): adjudicate by the '
            || 'lab''s procedure',
            ish_group, ish_ratio, ish_her2_per_cell, recount_test_id, recount_group,
            recount_ratio, recount_her2_per_cell
        )
        ELSE printf(
            'Dual-probe ISH group %d with IHC 2+: the recount %s was read by the pathologist '
            || 'of the first count (%s), not an additional blinded observer',
            ish_group, recount_test_id, pathologist_id
        )
    END AS reason,
    'ASCO/CAP 2018, her2-domain.md §ISH-COUNT' AS source
FROM listed
;
