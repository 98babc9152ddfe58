-- marts/agreement_by_group: the agreement statistics of marts.agreement broken down by the
-- assay kit and by the pathologist of the first member, from marts.agreement_pairs joined to
-- the first member's specimen in marts.specimen_her2. Same columns and semantics as
-- marts.agreement (spec/warehouse.md; percent, Wilson 95% CI, 2×2 cells, PPA/NPA with the
-- second member as reference, Cohen's kappa, quadratic kappa for observers), without period
-- (all quarters pooled: a kit or a reader per quarter is too thin to read).
-- Statistics: macros/statistics (ref: her2-domain.md §STATS).
--
-- Grain: one row per comparison × lab_id (a lab's code, or 'ALL' pooled) × breakdown
-- ('assay_kit' | 'pathologist') × breakdown_value, with at least one pair.
-- The first member and whose kit / reader is used:
--   ihc_vs_ish             the clinical IHC: its antibody (ihc_assay_kit), its reader
--   observer_vs_observer   the clinical IHC read (the second read is the second member)
--   lab_vs_reference       the laboratory's status: its IHC's kit and reader, or its ISH's
--                          when the specimen has no usable IHC (pipeline choice)
--   primary_vs_metastasis  not broken down: a change between two specimens (often two labs)
--                          is biology and sampling as much as a kit or a reader
-- breakdown_value '(not recorded)' when the extract has no kit / pathologist_id.
CREATE OR REPLACE TABLE marts.agreement_by_group AS
WITH members AS (
    SELECT
        p.comparison,
        p.lab_id,
        p.first_code,
        p.second_code,
        CASE
            WHEN p.comparison = 'lab_vs_reference' AND s.ihc_score IS NULL THEN s.ish_assay_kit
            ELSE s.ihc_assay_kit
        END AS assay_kit,
        CASE
            WHEN p.comparison = 'lab_vs_reference' AND s.ihc_score IS NULL
                THEN s.ish_pathologist_id
            ELSE s.ihc_pathologist_id
        END AS pathologist
    FROM marts.agreement_pairs AS p
    JOIN marts.specimen_her2 AS s USING (lab_id, accession_id)
    WHERE p.comparison IN ('ihc_vs_ish', 'observer_vs_observer', 'lab_vs_reference')
),
unpivoted AS (
    SELECT
        comparison,
        lab_id,
        first_code,
        second_code,
        'assay_kit' AS breakdown,
        coalesce(assay_kit, '(not recorded)') AS breakdown_value
    FROM members
    UNION ALL
    SELECT
        comparison,
        lab_id,
        first_code,
        second_code,
        'pathologist',
        coalesce(pathologist, '(not recorded)')
    FROM members
),
cells AS (
    SELECT
        comparison,
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        breakdown,
        breakdown_value,
        count(*) AS n_pairs,
        count_if(first_code = second_code) AS n_agree,
        count_if(first_code = 1 AND second_code = 1) AS pos_pos,
        count_if(first_code = 1 AND second_code = 0) AS pos_neg,
        count_if(first_code = 0 AND second_code = 1) AS neg_pos,
        count_if(first_code = 0 AND second_code = 0) AS neg_neg,
        count_if(first_code = 0) * count_if(second_code = 0)
            + count_if(first_code = 1) * count_if(second_code = 1)
            + count_if(first_code = 2) * count_if(second_code = 2)
            + count_if(first_code = 3) * count_if(second_code = 3) AS sum_marginal_products,
        sum((first_code - second_code) * (first_code - second_code)) AS sum_sq_diff,
        sum(first_code) AS sum_a,
        sum(second_code) AS sum_b,
        sum(first_code * first_code) AS sum_a2,
        sum(second_code * second_code) AS sum_b2
    FROM unpivoted
    GROUP BY GROUPING SETS (
        (comparison, lab_id, breakdown, breakdown_value), (comparison, breakdown, breakdown_value)
    )
),
flagged AS (
    SELECT
        *,
        comparison <> 'observer_vs_observer' AS is_binary
    FROM cells
)
SELECT
    comparison,
    lab_id,
    breakdown,
    breakdown_value,
    n_pairs::BIGINT AS n_pairs,
    n_agree::BIGINT AS n_agree,
    100.0 * n_agree::DOUBLE / n_pairs AS pct_agree,
    100.0 * wilson_low(n_agree, n_pairs) AS ci_low,
    100.0 * wilson_high(n_agree, n_pairs) AS ci_high,
    CASE WHEN is_binary THEN pos_pos::BIGINT END AS n_pos_pos,
    CASE WHEN is_binary THEN pos_neg::BIGINT END AS n_pos_neg,
    CASE WHEN is_binary THEN neg_pos::BIGINT END AS n_neg_pos,
    CASE WHEN is_binary THEN neg_neg::BIGINT END AS n_neg_neg,
    CASE
        WHEN is_binary AND pos_pos + neg_pos > 0
            THEN 100.0 * pos_pos::DOUBLE / (pos_pos + neg_pos)
    END AS ppa,
    CASE
        WHEN is_binary AND neg_neg + pos_neg > 0
            THEN 100.0 * neg_neg::DOUBLE / (neg_neg + pos_neg)
    END AS npa,
    cohen_kappa(n_pairs, n_agree, sum_marginal_products) AS kappa,
    CASE
        WHEN NOT is_binary THEN quadratic_kappa(n_pairs, sum_sq_diff, sum_a, sum_b, sum_a2, sum_b2)
    END AS kappa_quadratic
FROM flagged
ORDER BY comparison, lab_id <> 'ALL', lab_id, breakdown, breakdown_value
;
