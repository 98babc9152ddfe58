-- marts/amplification_by_ihc_score: how often ISH is amplified at each IHC score, per lab and
-- pooled, beside the published figures (ref: her2-domain.md §BENCH 6.2; bands in
-- marts.reference_bands, metric 'ish_amplified_rate'). Summed from marts.specimen_counts: every
-- clinical specimen (primary and metastasis, like ihc_vs_ish in marts.agreement) with a
-- usable IHC score.
--
-- Grain: one row per lab_id (a lab's code, or 'ALL' pooled) × ihc_score ('0', '1+', '2+',
-- '3+') with at least one specimen.
--   n_specimens            specimens whose selected IHC has this score
--   n_with_ish             of those, with a usable dual-probe ISH (an ISH group): the
--                          denominator of every rate below
--   ish_tested_share       n_with_ish / n_specimens. ISH on 0/1+/3+ is mostly confirmatory
--                          or reflex on selected cases: those rates carry verification bias
--                          (§BENCH 6.2 caveat); read them with this share
--   n_group1, amplified_rate, amplified_ci_low/high
--                          2018 definition: group 1 (ratio >= 2.0 and >= 4.0 HER2/cell)
--   n_ratio_amplified, ratio_amplified_rate, ratio_amplified_ci_low/high
--                          ratio >= 2.0 (groups 1 and 2): the FISH-amplification definition of
--                          the pre-2018 series behind the published figures; compare this
--                          one with the band
--   n_ish_positive, ish_positive_rate, ish_positive_ci_low/high
--                          ISH positive once resolved with the concurrent IHC: the specimen's
--                          final status is positive and its group is not 5 (group 1, or
--                          groups 2-4 resolved positive, §ISH-RESOLVE; under a lab's 2013/2007
--                          rule set, its final status)
--   band_point, band_low, band_high, band_kind, band_source, band_label
--                          the published figure for the score (see reference_bands.sql for
--                          which band and why: Dendukuri points for 0/1+/3+, the range of four
--                          studies for 2+)
-- Rates are proportions (0-1); CIs are Wilson score 95% (macros/statistics); rates
-- and CIs are NULL when n_with_ish = 0.
CREATE OR REPLACE TABLE marts.amplification_by_ihc_score AS
WITH counts AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        ihc_score,
        sum(n_specimens) AS n_specimens,
        -- a filter that keeps no combination sums to NULL, where counting specimens gives 0
        coalesce(sum(n_specimens) FILTER (WHERE ish_group IS NOT NULL), 0) AS n_with_ish,
        coalesce(sum(n_specimens) FILTER (WHERE ish_group = 1), 0) AS n_group1,
        coalesce(sum(n_specimens) FILTER (WHERE ish_group IN (1, 2)), 0) AS n_ratio_amplified,
        coalesce(
            sum(n_specimens) FILTER (WHERE final_status = 'positive' AND ish_group <> 5), 0
        ) AS n_ish_positive
    FROM marts.specimen_counts
    WHERE ihc_score IS NOT NULL
    GROUP BY GROUPING SETS ((lab_id, ihc_score), (ihc_score))
),
bands AS (
    SELECT stratum AS ihc_score, point, low, high, band_kind, source, label
    FROM marts.reference_bands
    WHERE metric = 'ish_amplified_rate' AND role = 'primary'
)
SELECT
    c.lab_id,
    c.ihc_score,
    c.n_specimens::BIGINT AS n_specimens,
    c.n_with_ish::BIGINT AS n_with_ish,
    c.n_with_ish::DOUBLE / c.n_specimens AS ish_tested_share,
    c.n_group1::BIGINT AS n_group1,
    CASE WHEN c.n_with_ish > 0 THEN c.n_group1::DOUBLE / c.n_with_ish END AS amplified_rate,
    wilson_low(c.n_group1, c.n_with_ish) AS amplified_ci_low,
    wilson_high(c.n_group1, c.n_with_ish) AS amplified_ci_high,
    c.n_ratio_amplified::BIGINT AS n_ratio_amplified,
    CASE WHEN c.n_with_ish > 0 THEN c.n_ratio_amplified::DOUBLE / c.n_with_ish END
        AS ratio_amplified_rate,
    wilson_low(c.n_ratio_amplified, c.n_with_ish) AS ratio_amplified_ci_low,
    wilson_high(c.n_ratio_amplified, c.n_with_ish) AS ratio_amplified_ci_high,
    c.n_ish_positive::BIGINT AS n_ish_positive,
    CASE WHEN c.n_with_ish > 0 THEN c.n_ish_positive::DOUBLE / c.n_with_ish END
        AS ish_positive_rate,
    wilson_low(c.n_ish_positive, c.n_with_ish) AS ish_positive_ci_low,
    wilson_high(c.n_ish_positive, c.n_with_ish) AS ish_positive_ci_high,
    b.point AS band_point,
    b.low AS band_low,
    b.high AS band_high,
    b.band_kind,
    b.source AS band_source,
    b.label AS band_label
FROM counts AS c
LEFT JOIN bands AS b USING (ihc_score)
ORDER BY c.lab_id <> 'ALL', c.lab_id, c.ihc_score
;
