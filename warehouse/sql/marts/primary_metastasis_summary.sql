-- marts/primary_metastasis_summary: HER2 gain, loss and overall discordance between a
-- patient's primary and its metastases, per lab and pooled, beside the published
-- meta-analyses (ref: her2-domain.md §BENCH 6.4; bands in marts.reference_bands). From
-- marts.primary_metastasis_pairs (one row per patient × metastasis specimen; the pair takes
-- the metastasis' lab_id and may cross labs).
--
-- Grain: one row per lab_id (the metastasis' lab, or 'ALL' pooled).
--   n_pairs             every pair, comparable or not
--   n_cross_lab         pairs whose primary was tested at another lab
--   n_comparable        both statuses positive or negative (change <> 'not_comparable')
--   n_concordant, n_gain, n_loss, n_not_comparable
--   n_primary_negative  comparable pairs with a negative primary: the denominator of the gain
--                       rate (Schrijver's definition)
--   n_primary_positive  comparable pairs with a positive primary: the denominator of the loss
--                       rate (Schrijver's definition)
--   gain_rate, gain_ci_low, gain_ci_high                n_gain / n_primary_negative
--   loss_rate, loss_ci_low, loss_ci_high                n_loss / n_primary_positive
--   discordance_rate, discordance_ci_low, discordance_ci_high
--                       (n_gain + n_loss) / n_comparable (Houssami's definition)
--   {gain,loss,discordance}_bench_point / _low / _high   the published pooled estimate and
--                       its 95% CI; *_bench_source; bench_label "published benchmark band
--                       (context, not a limit)"
-- Rates are proportions (0-1), CIs Wilson score 95% (macros/statistics); NULL
-- without a denominator. The 2013 guideline asks to retest the metastasis when tissue
-- exists (§TIMELINE, §BENCH 6.4): see marts.retest_candidates.
CREATE OR REPLACE TABLE marts.primary_metastasis_summary AS
WITH counts AS (
    SELECT
        CASE WHEN grouping(metastasis_lab_id) = 1 THEN 'ALL' ELSE metastasis_lab_id END
            AS lab_id,
        count(*) AS n_pairs,
        count_if(primary_lab_id <> metastasis_lab_id) AS n_cross_lab,
        count_if(change <> 'not_comparable') AS n_comparable,
        count_if(change = 'concordant') AS n_concordant,
        count_if(change = 'gain') AS n_gain,
        count_if(change = 'loss') AS n_loss,
        count_if(change = 'not_comparable') AS n_not_comparable,
        count_if(change <> 'not_comparable' AND primary_status = 'negative') AS n_primary_negative,
        count_if(change <> 'not_comparable' AND primary_status = 'positive') AS n_primary_positive
    FROM marts.primary_metastasis_pairs
    GROUP BY GROUPING SETS ((metastasis_lab_id), ())
),
bench AS (
    SELECT
        max(point) FILTER (WHERE band_id = 'metastasis_gain_schrijver') AS gain_bench_point,
        max(low) FILTER (WHERE band_id = 'metastasis_gain_schrijver') AS gain_bench_low,
        max(high) FILTER (WHERE band_id = 'metastasis_gain_schrijver') AS gain_bench_high,
        max(source) FILTER (WHERE band_id = 'metastasis_gain_schrijver') AS gain_bench_source,
        max(point) FILTER (WHERE band_id = 'metastasis_loss_schrijver') AS loss_bench_point,
        max(low) FILTER (WHERE band_id = 'metastasis_loss_schrijver') AS loss_bench_low,
        max(high) FILTER (WHERE band_id = 'metastasis_loss_schrijver') AS loss_bench_high,
        max(source) FILTER (WHERE band_id = 'metastasis_loss_schrijver') AS loss_bench_source,
        max(point) FILTER (WHERE band_id = 'metastasis_discordance_houssami')
            AS discordance_bench_point,
        max(low) FILTER (WHERE band_id = 'metastasis_discordance_houssami')
            AS discordance_bench_low,
        max(high) FILTER (WHERE band_id = 'metastasis_discordance_houssami')
            AS discordance_bench_high,
        max(source) FILTER (WHERE band_id = 'metastasis_discordance_houssami')
            AS discordance_bench_source,
        max(label) FILTER (WHERE band_id = 'metastasis_discordance_houssami') AS bench_label
    FROM marts.reference_bands
)
SELECT
    c.lab_id,
    c.n_pairs::BIGINT AS n_pairs,
    c.n_cross_lab::BIGINT AS n_cross_lab,
    c.n_comparable::BIGINT AS n_comparable,
    c.n_concordant::BIGINT AS n_concordant,
    c.n_gain::BIGINT AS n_gain,
    c.n_loss::BIGINT AS n_loss,
    c.n_not_comparable::BIGINT AS n_not_comparable,
    c.n_primary_negative::BIGINT AS n_primary_negative,
    c.n_primary_positive::BIGINT AS n_primary_positive,
    CASE WHEN c.n_primary_negative > 0 THEN c.n_gain::DOUBLE / c.n_primary_negative END
        AS gain_rate,
    wilson_low(c.n_gain, c.n_primary_negative) AS gain_ci_low,
    wilson_high(c.n_gain, c.n_primary_negative) AS gain_ci_high,
    CASE WHEN c.n_primary_positive > 0 THEN c.n_loss::DOUBLE / c.n_primary_positive END
        AS loss_rate,
    wilson_low(c.n_loss, c.n_primary_positive) AS loss_ci_low,
    wilson_high(c.n_loss, c.n_primary_positive) AS loss_ci_high,
    CASE WHEN c.n_comparable > 0 THEN (c.n_gain + c.n_loss)::DOUBLE / c.n_comparable END
        AS discordance_rate,
    wilson_low(c.n_gain + c.n_loss, c.n_comparable) AS discordance_ci_low,
    wilson_high(c.n_gain + c.n_loss, c.n_comparable) AS discordance_ci_high,
    b.*
FROM counts AS c
CROSS JOIN bench AS b
ORDER BY c.lab_id <> 'ALL', c.lab_id
;
