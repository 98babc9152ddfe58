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
WITH counted AS (
    -- the pairs' counts (marts.agreement_counts) summed per comparison, lab, period and pair
    -- of codes; every roll-up below sums these counts (agreement_cells_counted)
    SELECT comparison, lab_id, period, first_code, second_code, sum(n_pairs)::BIGINT AS n
    FROM marts.agreement_counts
    GROUP BY comparison, lab_id, period, first_code, second_code
),
cells AS (
    SELECT
        comparison,
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        CASE WHEN grouping(period) = 1 THEN 'ALL' ELSE period END AS period,
        agreement_cells_counted(first_code, second_code, n) AS c
    FROM counted
    GROUP BY GROUPING SETS (
        (comparison, lab_id, period), (comparison, lab_id), (comparison, period), (comparison)
    )
)
SELECT
    comparison,
    lab_id,
    period,
    unnest(agreement_statistics(c, comparison <> 'observer_vs_observer'))
FROM cells
ORDER BY comparison, lab_id <> 'ALL', lab_id, period <> 'ALL', period
;
