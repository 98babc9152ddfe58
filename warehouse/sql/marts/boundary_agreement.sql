-- marts/boundary_agreement: agreement and Cohen's kappa AT the 0 vs 1+ boundary, where
-- trastuzumab deruxtecan eligibility is decided (issue 11; her2-domain.md §HER2-LOW, §STATS).
-- The quadratic-weighted kappa of marts.agreement gives a 0 ↔ 1+ disagreement 1/9 of the
-- weight; here each boundary is a 2×2 of its own, from marts.boundary_pairs:
--   boundary '0_vs_1plus'        pairs where both reads are IHC 0 or 1+ (1+ the first cell)
--            'null_vs_ultralow'  pairs where both reads are IHC 0 with a % stained, null (0%)
--                                vs ultralow (> 0, ≤ 10%), 2013/2018 rules (ultralow first)
--   comparison 'second_read' (clinical vs second reader) | 'reference_lab' (clinical vs the
--            reference laboratory's IHC)
--   lab_id   a lab's code, or 'ALL' pooled (GROUPING SETS)
--   breakdown 'all' (breakdown_value 'all') | 'pathologist' (of the clinical read) |
--            'clone' (the clinical read's assay_kit); '(not recorded)' when the extract has none
-- All quarters pooled (marts.boundary_pairs keeps each pair's period; the audit pack re-runs
-- this file on a period's pairs).
-- Columns, as marts.agreement: n_pairs, n_agree, pct_agree with its Wilson 95% interval
-- (ci_low, ci_high; percent), n_pos_pos, n_pos_neg, n_neg_pos, n_neg_neg (first read's call,
-- then the second's; "pos" = 1+, resp. ultralow), kappa (Cohen's; NULL when undefined),
-- kappa_se (large-sample SE, Fleiss-Cohen-Everitt: macros/statistics cohen_kappa_se),
-- kappa_ci_low, kappa_ci_high (kappa ∓ 1.96 SE, clipped to [-1, 1]).
-- A row exists for every group with at least one pair.
CREATE OR REPLACE TABLE marts.boundary_agreement AS
WITH on_boundary AS (
    SELECT
        comparison, lab_id, '0_vs_1plus' AS boundary, first_code_0_1 AS a,
        second_code_0_1 AS b, assay_kit, pathologist_id
    FROM marts.boundary_pairs
    WHERE on_0_vs_1plus
    UNION ALL
    SELECT
        comparison, lab_id, 'null_vs_ultralow', first_code_null_ultralow,
        second_code_null_ultralow, assay_kit, pathologist_id
    FROM marts.boundary_pairs
    WHERE on_null_vs_ultralow
),
counted AS (
    -- the pairs counted once per comparison, boundary, lab, reader, clone and pair of codes;
    -- every roll-up below sums these counts (agreement_cells_counted)
    SELECT comparison, boundary, lab_id, a, b, assay_kit, pathologist_id, count(*) AS n
    FROM on_boundary
    GROUP BY comparison, boundary, lab_id, a, b, assay_kit, pathologist_id
),
unpivoted AS (
    SELECT comparison, boundary, lab_id, a, b, n, 'all' AS breakdown, 'all' AS breakdown_value
    FROM counted
    UNION ALL
    SELECT comparison, boundary, lab_id, a, b, n, 'pathologist',
        coalesce(pathologist_id, '(not recorded)')
    FROM counted
    UNION ALL
    SELECT comparison, boundary, lab_id, a, b, n, 'clone', coalesce(assay_kit, '(not recorded)')
    FROM counted
),
cells AS (
    SELECT
        comparison,
        boundary,
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        breakdown,
        breakdown_value,
        agreement_cells_counted(a, b, n) AS c
    FROM unpivoted
    GROUP BY GROUPING SETS (
        (comparison, boundary, lab_id, breakdown, breakdown_value),
        (comparison, boundary, breakdown, breakdown_value)
    )
),
stats AS (
    SELECT
        comparison, boundary, lab_id, breakdown, breakdown_value,
        agreement_statistics(c, true) AS s,
        kappa_interval(c.pos_pos, c.pos_neg, c.neg_pos, c.neg_neg) AS k
    FROM cells
)
SELECT
    comparison,
    boundary,
    lab_id,
    breakdown,
    breakdown_value,
    s.n_pairs,
    s.n_agree,
    s.pct_agree,
    s.ci_low,
    s.ci_high,
    s.n_pos_pos,
    s.n_pos_neg,
    s.n_neg_pos,
    s.n_neg_neg,
    k.kappa,
    k.kappa_se,
    k.kappa_ci_low,
    k.kappa_ci_high
FROM stats
ORDER BY comparison, boundary, lab_id <> 'ALL', lab_id, breakdown <> 'all', breakdown,
    breakdown_value
;
