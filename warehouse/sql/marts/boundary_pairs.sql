-- marts/boundary_pairs: one row per pair of IHC reads of a specimen behind
-- marts.boundary_agreement (issue 11, the 0 vs 1+ boundary), so each boundary figure traces to
-- its specimens and the audit pack re-runs marts/boundary_agreement.sql on a period's pairs.
--   comparison        'second_read'    the specimen's clinical IHC score (marts.specimen_her2)
--                                      vs its `second_read` IHC score: the pairs of
--                                      observer_vs_observer in marts.agreement_pairs
--                     'reference_lab'  the clinical IHC score vs the `reference_lab` IHC score
--                                      of the same specimen, where both exist
--   lab_id, accession_id   the specimen (a reference_lab result carries the owner's ids)
--   first_score, first_pct_stained, second_score, second_pct_stained
--                     the two reads (clinical first); IHC result selection as marts.specimen_her2
--                     (marts/specimen_calls)
--   first_version, second_version   the ASCO/CAP rule set each read was read under
--   assay_kit, pathologist_id       the clinical read's antibody (clone) and reader
--   pair_date, period               latest report_date of the two IHC results, its quarter
--   on_0_vs_1plus     both reads IHC 0 or 1+; first_code_0_1 / second_code_0_1: 1 for 1+, 0
--                     for 0 (1+ the "positive" cell of the 2×2)
--   on_null_vs_ultralow  both reads IHC 0 with a % stained that classifies them (§HER2-LOW):
--                     null (0%) vs ultralow (> 0 and ≤ 10%), both read under the 2013/2018
--                     rules where the categories exist (a 0 over 10% contradicts its score and
--                     is left out, as her2_category() leaves it zero_unspecified);
--                     first_code_null_ultralow / second_code_null_ultralow: 1 ultralow, 0 null
CREATE OR REPLACE TABLE marts.boundary_pairs AS
WITH pairs AS (
    SELECT
        CASE o.test_purpose WHEN 'second_read' THEN 'second_read' ELSE 'reference_lab' END
            AS comparison,
        s.lab_id,
        s.accession_id,
        s.ihc_score AS first_score,
        s.ihc_pct_stained AS first_pct_stained,
        o.ihc_score AS second_score,
        o.ihc_pct_stained AS second_pct_stained,
        s.guideline_version AS first_version,
        o.guideline_version AS second_version,
        s.ihc_assay_kit AS assay_kit,
        s.ihc_pathologist_id AS pathologist_id,
        greatest(s.ihc_report_date, o.ihc_report_date) AS pair_date
    FROM marts.specimen_her2 AS s
    JOIN specimen_calls AS o
        ON o.lab_id = s.lab_id AND o.accession_id = s.accession_id
        AND o.test_purpose IN ('second_read', 'reference_lab')
    WHERE s.ihc_score IS NOT NULL AND o.ihc_score IS NOT NULL
),
classified AS (
    SELECT
        *,
        quarter_label(pair_date) AS period,
        first_score IN ('0', '1+') AND second_score IN ('0', '1+') AS on_0_vs_1plus,
        coalesce(
            first_score = '0' AND second_score = '0'
            AND first_version IN ('2013', '2018') AND second_version IN ('2013', '2018')
            AND first_pct_stained BETWEEN 0 AND 10 AND second_pct_stained BETWEEN 0 AND 10,
            false
        ) AS on_null_vs_ultralow
    FROM pairs
)
SELECT
    *,
    CASE WHEN on_0_vs_1plus THEN (first_score = '1+')::TINYINT END AS first_code_0_1,
    CASE WHEN on_0_vs_1plus THEN (second_score = '1+')::TINYINT END AS second_code_0_1,
    CASE WHEN on_null_vs_ultralow THEN (first_pct_stained > 0)::TINYINT END
        AS first_code_null_ultralow,
    CASE WHEN on_null_vs_ultralow THEN (second_pct_stained > 0)::TINYINT END
        AS second_code_null_ultralow
FROM classified
;
