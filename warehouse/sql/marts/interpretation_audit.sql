-- marts/interpretation_audit: every current clinical result, the laboratory's reported_result
-- beside the algorithm's call for that row, and IHC score vs % stained contradictions. From
-- staging.her2_results (test_purpose 'clinical') and marts.specimen_her2 (concurrent IHC,
-- guideline version, selected results). Rules: macros/asco_cap_rules macros.
--
-- Grain: one row per current clinical result (lab_id, test_id).
-- The algorithm's call for a row (algorithm_call), under the ASCO/CAP version the lab's
-- configuration sets for the specimen (marts.specimen_her2.guideline_version, default 2018):
--   IHC                   0/1+ negative, 2+ equivocal, 3+ positive (every version,
--                         her2-domain.md §IHC-2018)
--   dual-probe ISH 2018   group 1 positive, group 5 negative; groups 2-4 resolved with the
--                         specimen's concurrent IHC (its selected clinical IHC score) per
--                         §ISH-RESOLVE, 'equivocal' without one (IHC review missing,
--                         §FINAL-STATUS caveat); 2023 = 2018
--   dual-probe ISH 2013   ish_call_2013; 2007: ish_call_2007 (§ISH-2013)
--   single-probe ISH      (a row with HER2/cell but no CEP17 or ratio: single-probe by the
--                         extract contract) macros ish_single_call: 2018/2013: >= 6.0
--                         positive, 4.0 to < 6.0 equivocal, < 4.0 negative (§ISH-SINGLE: in
--                         the middle band the row itself stays equivocal and IHC / dual-probe
--                         ISH decide the specimen); 2007: > 6 positive, 4-6 equivocal, < 4
--                         negative (§ISH-2013)
-- Rows reported 'indeterminate' (no usable result) are kept but not audited: audited false,
-- algorithm_call and agrees NULL (the lab's "test failed" is not an interpretation).
-- Columns: lab_id, test_id, result_version, accession_id, patient_key, specimen_role, assay,
-- ish_probe ('dual' | 'single' | NULL for IHC), assay_kit, pathologist_id, report_date,
-- guideline_version, ihc_score, ihc_pct_stained, ish_ratio, ish_her2_per_cell,
-- ish_cep17_per_cell, ish_group (this row's 2018 group, dual-probe), concurrent_ihc_score,
-- is_selected (the row is one of the results selected for the specimen's status),
-- reported_result, audited, algorithm_call, agrees, reason (why, for each disagreement),
-- pct_contradiction, pct_finding: the percentage of stained cells contradicts the score's
-- definition under the version the result was read under (macros ihc_pct_contradicts,
-- §IHC-2018): 2013/2018: IHC 0 over 10%, IHC 1+ or 3+ at 10% or less; 2007: IHC 0 with any
-- staining, IHC 1+ with none, IHC 3+ at 30% or less; 2+ never (§HER2-LOW). A finding, never
-- a recategorisation; judged on every IHC row with a score and a percentage. The version of
-- a row is its specimen's (marts.specimen_her2.guideline_version).
-- No ORDER BY: as many rows as clinical results; readers order.
CREATE OR REPLACE TABLE marts.interpretation_audit AS
WITH rows_ AS (
    SELECT
        r.lab_id,
        r.test_id,
        r.result_version,
        r.accession_id,
        r.patient_key,
        r.specimen_role,
        r.assay,
        CASE
            WHEN r.assay <> 'ISH' THEN NULL
            WHEN r.ish_ratio IS NOT NULL OR r.ish_cep17_per_cell IS NOT NULL THEN 'dual'
            WHEN r.ish_her2_per_cell IS NOT NULL THEN 'single'
        END AS ish_probe,
        r.assay_kit,
        r.pathologist_id,
        r.report_date,
        coalesce(s.guideline_version, '2018') AS guideline_version,
        r.ihc_score,
        r.ihc_pct_stained,
        r.ish_ratio,
        r.ish_her2_per_cell,
        r.ish_cep17_per_cell,
        ish_group(r.ish_ratio, r.ish_her2_per_cell)::TINYINT AS ish_group,
        s.ihc_score AS concurrent_ihc_score,
        coalesce(r.test_id = s.ihc_test_id OR r.test_id = s.ish_test_id, false) AS is_selected,
        r.reported_result
    FROM staging.her2_results AS r
    LEFT JOIN marts.specimen_her2 AS s USING (lab_id, accession_id)
    WHERE r.test_purpose = 'clinical'
),
called AS (
    SELECT
        *,
        CASE
            WHEN reported_result = 'indeterminate' THEN NULL
            WHEN assay = 'IHC' THEN ihc_call(ihc_score)
            WHEN ish_probe = 'dual' THEN
                CASE guideline_version
                    WHEN '2013' THEN ish_call_2013(ish_ratio, ish_her2_per_cell)
                    WHEN '2007' THEN ish_call_2007(ish_ratio)
                    ELSE
                        CASE ish_group
                            WHEN 1 THEN 'positive'
                            WHEN 5 THEN 'negative'
                            ELSE final_status_2018(concurrent_ihc_score, ish_group)
                        END
                END
            WHEN ish_probe = 'single' THEN ish_single_call(guideline_version, ish_her2_per_cell)
        END AS algorithm_call
    FROM rows_
),
judged AS (
    SELECT
        *,
        algorithm_call IS NOT NULL AS audited,
        CASE WHEN algorithm_call IS NOT NULL THEN reported_result = algorithm_call END AS agrees,
        CASE
            WHEN assay = 'IHC' THEN 'IHC ' || ihc_score
            WHEN ish_probe = 'single'
                THEN printf('single-probe ISH (HER2 %.2f/cell)', ish_her2_per_cell)
            WHEN guideline_version IN ('2013', '2007') OR ish_group IN (1, 5) THEN printf(
                'dual-probe ISH group %d (ratio %.2f, HER2 %.2f/cell)',
                ish_group, ish_ratio, ish_her2_per_cell
            )
            ELSE printf(
                'dual-probe ISH group %d (ratio %.2f, HER2 %.2f/cell) with concurrent IHC %s',
                ish_group, ish_ratio, ish_her2_per_cell, coalesce(concurrent_ihc_score, 'missing')
            )
        END AS basis,
        CASE
            WHEN assay = 'IHC' THEN '§IHC-2018'
            WHEN guideline_version IN ('2013', '2007') THEN '§ISH-2013'
            WHEN ish_probe = 'single' THEN '§ISH-SINGLE'
            WHEN ish_group IN (1, 5) THEN '§ISH-GROUPS'
            ELSE '§ISH-RESOLVE'
        END AS section
    FROM called
)
SELECT
    lab_id,
    test_id,
    result_version,
    accession_id,
    patient_key,
    specimen_role,
    assay,
    ish_probe,
    assay_kit,
    pathologist_id,
    report_date,
    guideline_version,
    ihc_score,
    ihc_pct_stained,
    ish_ratio,
    ish_her2_per_cell,
    ish_cep17_per_cell,
    ish_group,
    concurrent_ihc_score,
    is_selected,
    reported_result,
    audited,
    algorithm_call,
    agrees,
    CASE
        WHEN NOT agrees THEN
            'reported ' || reported_result || '; ' || basis || ' reads ' || algorithm_call
            || CASE
                WHEN guideline_version IN ('2013', '2007')
                    THEN ' under the lab''s ASCO/CAP ' || guideline_version || ' rules'
                ELSE ''
            END
            || ' (her2-domain.md ' || section || ')'
            || CASE
                WHEN ish_group = 2 AND reported_result = 'positive' AND algorithm_call = 'negative'
                    AND guideline_version NOT IN ('2013', '2007')
                    THEN '; group 2 was ISH-positive under the 2013 rules, since 2018 it is '
                        || 'negative unless IHC 3+'
                ELSE ''
            END
    END AS reason,
    coalesce(
        assay = 'IHC' AND ihc_pct_contradicts(guideline_version, ihc_score, ihc_pct_stained),
        false
    ) AS pct_contradiction,
    CASE
        WHEN assay = 'IHC' AND ihc_pct_contradicts(guideline_version, ihc_score, ihc_pct_stained)
            THEN printf(
                'IHC %s with %g%% of cells stained contradicts the score: %s '
                || '(her2-domain.md §IHC-2018, §HER2-LOW)',
                ihc_score, ihc_pct_stained, ihc_pct_rule(guideline_version, ihc_score)
            )
    END AS pct_finding
FROM judged
;
