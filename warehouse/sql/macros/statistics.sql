-- macros/statistics: the agreement statistics of marts.agreement, defined once,
-- as SQL macros (temporary, like macros/asco_cap_rules). ref: her2-domain.md §STATS.
--
-- Wilson score 95% interval for k agreements out of n pairs, as proportions (0-1).
-- ref: her2-domain.md §7.2:
--   centre    = (p + z²/(2n)) / (1 + z²/n)
--   halfwidth = z·sqrt(p(1-p)/n + z²/(4n²)) / (1 + z²/n)
-- z = 1.959963984540054 (the 97.5% normal quantile); NULL when n = 0. At k = 0 the lower
-- bound is exactly 0 and at k = n the upper bound exactly 1 (the formula's values, which
-- floating point would miss by 1e-16); elsewhere clamped to [0, 1] against rounding. Test vector (§7.5): 7/50 -> (0.069508, 0.261862).
CREATE OR REPLACE TEMP MACRO wilson_z() AS 1.959963984540054::DOUBLE
;
CREATE OR REPLACE TEMP MACRO wilson_centre(k, n) AS
    (k::DOUBLE / n + wilson_z() ^ 2 / (2 * n::DOUBLE)) / (1 + wilson_z() ^ 2 / n::DOUBLE)
;
CREATE OR REPLACE TEMP MACRO wilson_halfwidth(k, n) AS
    wilson_z()
    * sqrt((k::DOUBLE / n) * (1 - k::DOUBLE / n) / n + wilson_z() ^ 2 / (4 * n::DOUBLE ^ 2))
    / (1 + wilson_z() ^ 2 / n::DOUBLE)
;
CREATE OR REPLACE TEMP MACRO wilson_low(k, n) AS
    CASE
        WHEN n > 0 AND k = 0 THEN 0.0
        WHEN n > 0 THEN greatest(0.0, wilson_centre(k, n) - wilson_halfwidth(k, n))
    END
;
CREATE OR REPLACE TEMP MACRO wilson_high(k, n) AS
    CASE
        WHEN n > 0 AND k = n THEN 1.0
        WHEN n > 0 THEN least(1.0, wilson_centre(k, n) + wilson_halfwidth(k, n))
    END
;
-- The continuous quantile between the sorted values at 0-based positions floor(position)
-- and ceil(position), position = (n - 1) * q: linear interpolation between order statistics
-- (Hyndman and Fan's type 7, what DuckDB's quantile_cont and R's default compute):
--   below + (above - below) * (position - floor(position))
-- so a quantile can be taken from counts of values (marts.preanalytic_monthly). It agrees
-- with quantile_cont over the values to the last digit of a double: DuckDB's build may fuse
-- its multiply-add into one rounding, which SQL cannot spell
-- (tests/warehouse/test_additive.py).
CREATE OR REPLACE TEMP MACRO quantile_cont_between(below, above, position) AS
    CASE
        WHEN floor(position) = ceil(position) OR below = above THEN below::DOUBLE
        ELSE below::DOUBLE + (above::DOUBLE - below::DOUBLE) * (position - floor(position))
    END
;
-- Cohen's kappa (unweighted, any number of categories) from counts. ref: her2-domain.md
-- §7.3: p_o = agreements/n, p_e = Σ row_i·col_i / n², κ = (p_o - p_e) / (1 - p_e).
-- Multiplied through by n² so the test for p_e = 1 is exact in integers:
--   κ = (n·agreements - Σ row_i·col_i) / (n² - Σ row_i·col_i); NULL when p_e = 1.
-- Test vectors (§7.5): 2×2 a=45 b=3 c=5 d=147 -> 0.891892; the 4×4 IHC table -> 0.606758.
CREATE OR REPLACE TEMP MACRO cohen_kappa(n, agreements, sum_marginal_products) AS
    CASE
        WHEN n::HUGEINT * n - sum_marginal_products <> 0
            THEN (n::HUGEINT * agreements - sum_marginal_products)::DOUBLE
                / (n::HUGEINT * n - sum_marginal_products)::DOUBLE
    END
;
-- Quadratic-weighted kappa for ordinal codes a, b (IHC 0..3). ref: her2-domain.md §7.3:
-- κ_w = 1 - Σ w_ij·O_ij / Σ w_ij·E_ij with w_ij = ((i-j)/(k-1))², E_ij = row_i·col_j/n.
-- The (k-1)² cancels, and Σ_ij row_i·col_j·(i-j)² = n·Σa² + n·Σb² - 2·Σa·Σb, so from sums
-- over the pairs: κ_w = 1 - n·Σ(a-b)² / (n·Σa² + n·Σb² - 2·Σa·Σb); NULL when the
-- denominator is 0 (both readers gave one and the same category throughout).
-- Test vector (§7.5): the 4×4 IHC table -> 0.825439.
CREATE OR REPLACE TEMP MACRO quadratic_kappa(n, sum_sq_diff, sum_a, sum_b, sum_a2, sum_b2) AS
    CASE
        WHEN n::HUGEINT * sum_a2 + n::HUGEINT * sum_b2 - 2 * sum_a::HUGEINT * sum_b <> 0
            THEN 1 - (n::HUGEINT * sum_sq_diff)::DOUBLE
                / (n::HUGEINT * sum_a2 + n::HUGEINT * sum_b2 - 2 * sum_a::HUGEINT * sum_b)::DOUBLE
    END
;
-- The counts behind an agreement figure, from a group's pairs counted by code: rows (a, b, n)
-- where n pairs of the group have codes a, b (GROUP BY the group's columns, a, b with count(*)
-- AS n, then roll up with this: an aggregate), so a mart counts its pairs once at the finest
-- grain and sums those counts for each roll-up. Codes are agreement_code() values: 0/1 for
-- binary comparisons, 0..3 for IHC scores. The one definition for marts.agreement,
-- marts.agreement_by_group and marts.boundary_agreement. A condition's count is
-- sum(n * c::INTEGER), count_if's semantics: a NULL condition counts nothing, and a group
-- where every condition is NULL gives NULL, not 0 (tests/warehouse/test_statistics.py holds
-- it to counting the pairs one by one).
CREATE OR REPLACE TEMP MACRO agreement_cells_counted(a, b, n) AS {
    'n_pairs': coalesce(sum(n), 0)::BIGINT,  -- count(*): 0, not NULL, over no pairs
    'n_agree': sum(n * (a = b)::INTEGER),
    'pos_pos': sum(n * (a = 1 AND b = 1)::INTEGER),
    'pos_neg': sum(n * (a = 1 AND b = 0)::INTEGER),
    'neg_pos': sum(n * (a = 0 AND b = 1)::INTEGER),
    'neg_neg': sum(n * (a = 0 AND b = 0)::INTEGER),
    'sum_marginal_products': sum(n * (a = 0)::INTEGER) * sum(n * (b = 0)::INTEGER)
        + sum(n * (a = 1)::INTEGER) * sum(n * (b = 1)::INTEGER)
        + sum(n * (a = 2)::INTEGER) * sum(n * (b = 2)::INTEGER)
        + sum(n * (a = 3)::INTEGER) * sum(n * (b = 3)::INTEGER),
    'sum_sq_diff': sum(n * ((a - b) * (a - b))),
    'sum_a': sum(n * a),
    'sum_b': sum(n * b),
    'sum_a2': sum(n * (a * a)),
    'sum_b2': sum(n * (b * b))
}
;
-- The statistics of marts.agreement from agreement_cells_counted(): percent agreement with its Wilson
-- interval (percent), the 2×2 cells, PPA and NPA (percent, second member as reference; NULL
-- without a denominator) and kappa for binary comparisons; the quadratic-weighted kappa for
-- the 4-category IHC score comparison. Expand it into columns with unnest().
CREATE OR REPLACE TEMP MACRO agreement_statistics(c, is_binary) AS {
    'n_pairs': c.n_pairs::BIGINT,
    'n_agree': c.n_agree::BIGINT,
    'pct_agree': 100.0 * c.n_agree::DOUBLE / c.n_pairs,
    'ci_low': 100.0 * wilson_low(c.n_agree, c.n_pairs),
    'ci_high': 100.0 * wilson_high(c.n_agree, c.n_pairs),
    'n_pos_pos': CASE WHEN is_binary THEN c.pos_pos::BIGINT END,
    'n_pos_neg': CASE WHEN is_binary THEN c.pos_neg::BIGINT END,
    'n_neg_pos': CASE WHEN is_binary THEN c.neg_pos::BIGINT END,
    'n_neg_neg': CASE WHEN is_binary THEN c.neg_neg::BIGINT END,
    'ppa': CASE
        WHEN is_binary AND c.pos_pos + c.neg_pos > 0
            THEN 100.0 * c.pos_pos::DOUBLE / (c.pos_pos + c.neg_pos)
    END,
    'npa': CASE
        WHEN is_binary AND c.neg_neg + c.pos_neg > 0
            THEN 100.0 * c.neg_neg::DOUBLE / (c.neg_neg + c.pos_neg)
    END,
    'kappa': cohen_kappa(c.n_pairs, c.n_agree, c.sum_marginal_products),
    'kappa_quadratic': CASE
        WHEN NOT is_binary
            THEN quadratic_kappa(c.n_pairs, c.sum_sq_diff, c.sum_a, c.sum_b, c.sum_a2, c.sum_b2)
    END
}
;
-- The large-sample standard error of Cohen's kappa for a 2×2 table, a = pos_pos, b = pos_neg,
-- c = neg_pos, d = neg_neg (first member's call, then second's), under the alternative (not
-- under κ = 0): Fleiss, Cohen & Everitt (1969), the formula statsmodels'
-- stats.inter_rater.cohens_kappa gives as std_kappa. With p_ij = n_ij / n, row shares r_i
-- (first member), column shares c_j (second member), p_e = Σ r_i·c_i and κ = cohen_kappa():
--   var(κ) = [ Σ_i p_ii·(1 - (r_i + c_i)(1 - κ))²
--            + (1 - κ)²·Σ_{i≠j} p_ij·(c_i + r_j)²
--            - (κ - p_e(1 - κ))² ] / (n·(1 - p_e)²)
-- NULL where κ is undefined (p_e = 1); 0 at perfect agreement; clamped at 0 against rounding.
-- Test vector: a=45 b=3 c=5 d=147 -> κ 0.891892, SE 0.037380, 95% CI (0.818628, 0.965156)
-- (statsmodels; tests/warehouse/test_boundary.py).
CREATE OR REPLACE TEMP MACRO cohen_kappa_se_terms(n, p11, p10, p01, p00, r1, c1, r0, c0, k) AS
    CASE
        WHEN k IS NOT NULL THEN sqrt(greatest(0.0, (
            p11 * (1 - (r1 + c1) * (1 - k)) ^ 2
            + p00 * (1 - (r0 + c0) * (1 - k)) ^ 2
            + (1 - k) ^ 2 * (p10 * (c1 + r0) ^ 2 + p01 * (c0 + r1) ^ 2)
            - (k - (r1 * c1 + r0 * c0) * (1 - k)) ^ 2
        ) / (n * (1 - (r1 * c1 + r0 * c0)) ^ 2)))
    END
;
-- (Both macros below hand their derived values to the next macro through a one-element list
-- and a lambda, so each is bound once: DuckDB substitutes a macro's arguments wherever they
-- appear, and passing cohen_kappa() straight into cohen_kappa_se_terms() and kappa_wald()
-- multiplied the expression, about 50 ms to bind kappa_interval() alone against 8 ms so; the
-- same arithmetic on the same values, so the same doubles.)
CREATE OR REPLACE TEMP MACRO cohen_kappa_se(a, b, c, d) AS
    list_transform(
        [{
            'n': (a + b + c + d)::DOUBLE,
            'p11': a::DOUBLE / (a + b + c + d), 'p10': b::DOUBLE / (a + b + c + d),
            'p01': c::DOUBLE / (a + b + c + d), 'p00': d::DOUBLE / (a + b + c + d),
            'r1': (a + b)::DOUBLE / (a + b + c + d), 'c1': (a + c)::DOUBLE / (a + b + c + d),
            'r0': (c + d)::DOUBLE / (a + b + c + d), 'c0': (b + d)::DOUBLE / (a + b + c + d),
            'k': cohen_kappa(a + b + c + d, a + d, (a + b) * (a + c) + (c + d) * (b + d))
        }],
        lambda x: cohen_kappa_se_terms(
            x.n, x.p11, x.p10, x.p01, x.p00, x.r1, x.c1, x.r0, x.c0, x.k
        )
    )[1]
;
-- Cohen's kappa of a 2×2 table with its standard error (cohen_kappa_se) and the 95% Wald
-- interval κ ∓ z·SE (z = wilson_z(), the 97.5% normal quantile), clipped to [-1, 1]. Expand
-- with unnest(). NULLs where κ is undefined.
CREATE OR REPLACE TEMP MACRO kappa_wald(k, se) AS {
    'kappa': k,
    'kappa_se': se,
    'kappa_ci_low': CASE WHEN se IS NOT NULL THEN greatest(-1.0, k - wilson_z() * se) END,
    'kappa_ci_high': CASE WHEN se IS NOT NULL THEN least(1.0, k + wilson_z() * se) END
}
;
CREATE OR REPLACE TEMP MACRO kappa_interval(a, b, c, d) AS
    list_transform(
        [{
            'k': cohen_kappa(a + b + c + d, a + d, (a + b) * (a + c) + (c + d) * (b + d)),
            'se': cohen_kappa_se(a, b, c, d)
        }],
        lambda x: kappa_wald(x.k, x.se)
    )[1]
;
