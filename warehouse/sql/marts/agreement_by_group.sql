-- marts/agreement_by_group: the agreement statistics of marts.agreement broken down by the
-- assay kit and by the pathologist of the first member (the assay_kit and pathologist_id
-- columns of marts.agreement_pairs, taken from the specimen). Same columns and semantics as
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
    -- each pair's specimen kit and reader (columns of marts.agreement_pairs), the pairs'
    -- counts (marts.agreement_counts) summed per comparison, lab, kit, reader and pair of
    -- codes; every roll-up below sums these counts (agreement_cells_counted)
    SELECT
        comparison,
        lab_id,
        first_code,
        second_code,
        assay_kit,
        pathologist_id AS pathologist,
        sum(n_pairs)::BIGINT AS n
    FROM marts.agreement_counts
    WHERE comparison IN ('ihc_vs_ish', 'observer_vs_observer', 'lab_vs_reference')
    GROUP BY comparison, lab_id, first_code, second_code, assay_kit, pathologist_id
),
unpivoted AS (
    SELECT
        comparison,
        lab_id,
        first_code,
        second_code,
        n,
        'assay_kit' AS breakdown,
        coalesce(assay_kit, '(not recorded)') AS breakdown_value
    FROM members
    UNION ALL
    SELECT
        comparison,
        lab_id,
        first_code,
        second_code,
        n,
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
        agreement_cells_counted(first_code, second_code, n) AS c
    FROM unpivoted
    GROUP BY GROUPING SETS (
        (comparison, lab_id, breakdown, breakdown_value), (comparison, breakdown, breakdown_value)
    )
)
SELECT
    comparison,
    lab_id,
    breakdown,
    breakdown_value,
    unnest(agreement_statistics(c, comparison <> 'observer_vs_observer'))
FROM cells
ORDER BY comparison, lab_id <> 'ALL', lab_id, breakdown, breakdown_value
;
