-- marts/her2_low_transitions: HER2 category of the primary → HER2 category of the metastasis
-- (spec/warehouse.md "Statuses"; ref: her2-domain.md §HER2-LOW, §BENCH 6.4), counted from
-- marts.primary_metastasis_pairs (every pair, comparable or not).
--
-- Grain: one row per lab_id (the metastasis' lab, or 'ALL' pooled) × primary_category ×
-- metastasis_category with at least one pair.
--   n_pairs               pairs with that transition
--   share_of_primary      n_pairs / pairs of the lab with that primary category (each
--                         primary category's row shares sum to 1)
--   transition_kind
--     'same'              the same category
--     'gain' / 'loss'     status change negative → positive / positive → negative
--     'low_to_zero'       HER2-low primary, IHC 0 metastasis (null, ultralow, zero_unspecified)
--     'zero_to_low'       IHC 0 primary, HER2-low metastasis
--     'within_zero'       between null, ultralow and zero_unspecified
--     'not_comparable'    either side equivocal or indeterminate
--   changes_eligibility   the transition changes anti-HER2 (gain, loss) or HER2-low (T-DXd,
--                         low_to_zero, zero_to_low) eligibility: see marts.retest_candidates
CREATE OR REPLACE TABLE marts.her2_low_transitions AS
WITH kinds AS (
    SELECT
        metastasis_lab_id,
        primary_her2_category AS primary_category,
        metastasis_her2_category AS metastasis_category,
        CASE
            WHEN primary_her2_category IN ('equivocal', 'indeterminate')
                OR metastasis_her2_category IN ('equivocal', 'indeterminate') THEN 'not_comparable'
            WHEN primary_her2_category = metastasis_her2_category THEN 'same'
            WHEN metastasis_her2_category = 'positive' THEN 'gain'
            WHEN primary_her2_category = 'positive' THEN 'loss'
            WHEN primary_her2_category = 'low' THEN 'low_to_zero'
            WHEN metastasis_her2_category = 'low' THEN 'zero_to_low'
            ELSE 'within_zero'
        END AS transition_kind
    FROM marts.primary_metastasis_pairs
),
counts AS (
    SELECT
        CASE WHEN grouping(metastasis_lab_id) = 1 THEN 'ALL' ELSE metastasis_lab_id END
            AS lab_id,
        primary_category,
        metastasis_category,
        any_value(transition_kind) AS transition_kind,
        count(*) AS n_pairs
    FROM kinds
    GROUP BY GROUPING SETS (
        (metastasis_lab_id, primary_category, metastasis_category),
        (primary_category, metastasis_category)
    )
)
SELECT
    lab_id,
    primary_category,
    metastasis_category,
    n_pairs::BIGINT AS n_pairs,
    n_pairs::DOUBLE / sum(n_pairs) OVER (PARTITION BY lab_id, primary_category) AS share_of_primary,
    transition_kind,
    transition_kind IN ('gain', 'loss', 'low_to_zero', 'zero_to_low') AS changes_eligibility
FROM counts
ORDER BY lab_id <> 'ALL', lab_id, primary_category, metastasis_category
;
