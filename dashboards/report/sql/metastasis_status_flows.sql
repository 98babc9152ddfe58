-- dashboards/metastasis_status_flows: primary final status -> metastasis final status, per
-- metastasis lab and 'ALL': the pair counts of marts.her2_low_transitions (every pair of
-- marts.primary_metastasis_pairs, by the two members' HER2 categories; a few hundred rows)
-- summed by status, so the page never reads the pairs themselves.
-- A category is its final status, except the negatives, which it splits (macros her2_category:
-- low, ultralow, null, zero_unspecified, negative_unspecified); every specimen has a status and
-- a category of the contract (catalog rule specimens_have_final_status_and_category).
-- Grain: lab_id × primary_status × metastasis_status.
WITH flows AS (
    SELECT
        lab_id,
        CASE
            WHEN primary_category IN ('positive', 'equivocal', 'indeterminate')
                THEN primary_category
            ELSE 'negative'
        END AS primary_status,
        CASE
            WHEN metastasis_category IN ('positive', 'equivocal', 'indeterminate')
                THEN metastasis_category
            ELSE 'negative'
        END AS metastasis_status,
        n_pairs
    FROM marts.her2_low_transitions
)
SELECT lab_id, primary_status, metastasis_status, sum(n_pairs)::BIGINT AS n_pairs
FROM flows
GROUP BY lab_id, primary_status, metastasis_status
ORDER BY lab_id, primary_status, metastasis_status
