-- marts/agreement: one row per comparison × lab_id × period with at least one pair
-- (spec/warehouse.md, "marts.agreement"), from marts.agreement_pairs. lab_id 'ALL' pools
-- the laboratories and period 'ALL' pools the quarters (GROUPING SETS, so a laboratory
-- code is never confused with the roll-up).
--   pct_agree, ci_low, ci_high   percent; Wilson score 95% interval of n_agree / n_pairs
--   n_pos_pos .. n_neg_neg       first member's call, then second's; NULL for
--                                observer_vs_observer (4 categories, not a 2×2)
--   ppa, npa                     percent, second member as reference; NULL where the
--                                denominator is 0, and for observer_vs_observer
--   kappa                        Cohen's, unweighted (4 categories for observers); NULL when
--                                undefined (p_e = 1)
--   kappa_quadratic              extra: quadratic-weighted kappa, observer_vs_observer only
-- Statistics: macros/statistics (ref: her2-domain.md §STATS).
CREATE OR REPLACE TABLE marts.agreement AS
WITH cells AS (
    SELECT
        comparison,
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        CASE WHEN grouping(period) = 1 THEN 'ALL' ELSE period END AS period,
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
    FROM marts.agreement_pairs
    GROUP BY GROUPING SETS (
        (comparison, lab_id, period), (comparison, lab_id), (comparison, period), (comparison)
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
    period,
    n_pairs::BIGINT AS n_pairs,
    n_agree::BIGINT AS n_agree,
    100.0 * n_agree::DOUBLE / n_pairs AS pct_agree,
    100.0 * wilson_low(n_agree, n_pairs) AS ci_low,
    100.0 * wilson_high(n_agree, n_pairs) AS ci_high,
    CASE WHEN is_binary THEN pos_pos::BIGINT END AS n_pos_pos,
    CASE WHEN is_binary THEN pos_neg::BIGINT END AS n_pos_neg,
    CASE WHEN is_binary THEN neg_pos::BIGINT END AS n_neg_pos,
    CASE WHEN is_binary THEN neg_neg::BIGINT END AS n_neg_neg,
    CASE WHEN is_binary AND pos_pos + neg_pos > 0 THEN 100.0 * pos_pos::DOUBLE / (pos_pos + neg_pos) END
        AS ppa,
    CASE WHEN is_binary AND neg_neg + pos_neg > 0 THEN 100.0 * neg_neg::DOUBLE / (neg_neg + pos_neg) END
        AS npa,
    cohen_kappa(n_pairs, n_agree, sum_marginal_products) AS kappa,
    CASE
        WHEN NOT is_binary THEN quadratic_kappa(n_pairs, sum_sq_diff, sum_a, sum_b, sum_a2, sum_b2)
    END AS kappa_quadratic
FROM flagged
ORDER BY comparison, lab_id <> 'ALL', lab_id, period <> 'ALL', period
;
