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
-- Site groups (macros site_group; marts.primary_metastasis_pairs.metastasis_site_group): the
-- columns above pool every pair (their meaning is unchanged); the same counts and rates per
-- group of the metastatic site, prefixed:
--   distant_*         liver, lung, bone, brain, pleura. Schrijver 2018 pooled DISTANT
--                     metastases only: its gain and loss bands (gain_bench_*, loss_bench_*)
--                     are to be read beside distant_gain_rate and distant_loss_rate, not
--                     beside the pooled rates (bench_site_group says so)
--   locoregional_*    lymph node, skin, chest wall, breast: no band of its own (Houssami 2011
--                     pooled loco-regional and distant metastases: its discordance band is
--                     for the pooled discordance_rate)
--   each: n_pairs, n_comparable, n_gain, n_loss, n_primary_negative, n_primary_positive,
--   gain_rate, loss_rate, discordance_rate with Wilson CIs (same definitions as above)
--   n_site_unspecified     pairs whose metastatic site is 'other' or not recorded (in neither
--                          group; the three groups add up to n_pairs)
--   n_likely_decalcified   pairs whose metastasis is from bone (usually decalcified, CAP
--                          ANP.22985, §PREANALYTIC); distant_n_likely_decalcified the same
--   gain_bench_site_group, loss_bench_site_group    'distant' (Schrijver 2018);
--   discordance_bench_site_group                    'distant and locoregional' (Houssami)
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
        count_if(change <> 'not_comparable' AND primary_status = 'positive') AS n_primary_positive,
        count_if(metastasis_site_group = 'unspecified') AS n_site_unspecified,
        count_if(metastasis_likely_decalcified) AS n_likely_decalcified,
        count_if(g = 'distant') AS distant_n_pairs,
        count_if(g = 'distant' AND change <> 'not_comparable') AS distant_n_comparable,
        count_if(g = 'distant' AND change = 'gain') AS distant_n_gain,
        count_if(g = 'distant' AND change = 'loss') AS distant_n_loss,
        count_if(g = 'distant' AND change <> 'not_comparable' AND primary_status = 'negative')
            AS distant_n_primary_negative,
        count_if(g = 'distant' AND change <> 'not_comparable' AND primary_status = 'positive')
            AS distant_n_primary_positive,
        count_if(g = 'distant' AND metastasis_likely_decalcified) AS distant_n_likely_decalcified,
        count_if(g = 'locoregional') AS locoregional_n_pairs,
        count_if(g = 'locoregional' AND change <> 'not_comparable') AS locoregional_n_comparable,
        count_if(g = 'locoregional' AND change = 'gain') AS locoregional_n_gain,
        count_if(g = 'locoregional' AND change = 'loss') AS locoregional_n_loss,
        count_if(g = 'locoregional' AND change <> 'not_comparable' AND primary_status = 'negative')
            AS locoregional_n_primary_negative,
        count_if(g = 'locoregional' AND change <> 'not_comparable' AND primary_status = 'positive')
            AS locoregional_n_primary_positive
    FROM (SELECT *, metastasis_site_group AS g FROM marts.primary_metastasis_pairs)
    GROUP BY GROUPING SETS ((metastasis_lab_id), ())
),
-- The published band of each rate, as <measure>_bench_point / _low / _high / _source.
bench_bands AS (
    PIVOT (
        SELECT
            CASE band_id
                WHEN 'metastasis_gain_schrijver' THEN 'gain'
                WHEN 'metastasis_loss_schrijver' THEN 'loss'
                WHEN 'metastasis_discordance_houssami' THEN 'discordance'
            END AS measure,
            point,
            low,
            high,
            source
        FROM marts.reference_bands
    )
    ON measure IN ('gain', 'loss', 'discordance')
    USING max(point) AS bench_point, max(low) AS bench_low, max(high) AS bench_high,
        max(source) AS bench_source
),
bench AS (
    SELECT
        bb.*,
        (
            SELECT max(label) FROM marts.reference_bands
            WHERE band_id = 'metastasis_discordance_houssami'
        ) AS bench_label,
        'distant' AS gain_bench_site_group,
        'distant' AS loss_bench_site_group,
        'distant and locoregional' AS discordance_bench_site_group
    FROM bench_bands AS bb
),
-- The counts behind the three rates, per site group ('' pools every pair).
site_counts AS (
    SELECT c.lab_id, g.*
    FROM counts AS c
    CROSS JOIN LATERAL (
        VALUES
            ('', c.n_gain, c.n_loss, c.n_primary_negative, c.n_primary_positive, c.n_comparable),
            (
                'distant_', c.distant_n_gain, c.distant_n_loss, c.distant_n_primary_negative,
                c.distant_n_primary_positive, c.distant_n_comparable
            ),
            (
                'locoregional_', c.locoregional_n_gain, c.locoregional_n_loss,
                c.locoregional_n_primary_negative, c.locoregional_n_primary_positive,
                c.locoregional_n_comparable
            )
    ) AS g (site_prefix, n_gain, n_loss, n_primary_negative, n_primary_positive, n_comparable)
),
-- Each rate once: gain = n_gain / n_primary_negative, loss = n_loss / n_primary_positive,
-- discordance = (n_gain + n_loss) / n_comparable, with its Wilson interval (macros/rates),
-- back to columns <site_prefix><measure>_rate / _ci_low / _ci_high.
rates AS (
    SELECT s.lab_id, s.site_prefix || m.measure AS measure, unnest(rate_with_ci(m.k, m.n))
    FROM site_counts AS s
    CROSS JOIN LATERAL (
        VALUES
            ('gain', s.n_gain, s.n_primary_negative),
            ('loss', s.n_loss, s.n_primary_positive),
            ('discordance', s.n_gain + s.n_loss, s.n_comparable)
    ) AS m (measure, k, n)
),
wide AS (
    PIVOT rates
    ON measure IN (
        'gain', 'loss', 'discordance',
        'distant_gain', 'distant_loss', 'distant_discordance',
        'locoregional_gain', 'locoregional_loss', 'locoregional_discordance'
    )
    USING first(rate) AS rate, first(ci_low) AS ci_low, first(ci_high) AS ci_high
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
    COLUMNS('^(gain|loss|discordance)_(rate|ci_low|ci_high)$'),
    b.*,
    c.n_site_unspecified::BIGINT AS n_site_unspecified,
    c.n_likely_decalcified::BIGINT AS n_likely_decalcified,
    c.distant_n_pairs::BIGINT AS distant_n_pairs,
    c.distant_n_comparable::BIGINT AS distant_n_comparable,
    c.distant_n_gain::BIGINT AS distant_n_gain,
    c.distant_n_loss::BIGINT AS distant_n_loss,
    c.distant_n_primary_negative::BIGINT AS distant_n_primary_negative,
    c.distant_n_primary_positive::BIGINT AS distant_n_primary_positive,
    c.distant_n_likely_decalcified::BIGINT AS distant_n_likely_decalcified,
    COLUMNS('^distant_(gain|loss|discordance)_(rate|ci_low|ci_high)$'),
    c.locoregional_n_pairs::BIGINT AS locoregional_n_pairs,
    c.locoregional_n_comparable::BIGINT AS locoregional_n_comparable,
    c.locoregional_n_gain::BIGINT AS locoregional_n_gain,
    c.locoregional_n_loss::BIGINT AS locoregional_n_loss,
    c.locoregional_n_primary_negative::BIGINT AS locoregional_n_primary_negative,
    c.locoregional_n_primary_positive::BIGINT AS locoregional_n_primary_positive,
    COLUMNS('^locoregional_(gain|loss|discordance)_(rate|ci_low|ci_high)$')
FROM counts AS c
JOIN wide AS w ON w.lab_id IS NOT DISTINCT FROM c.lab_id
CROSS JOIN bench AS b
ORDER BY c.lab_id <> 'ALL', c.lab_id
;
