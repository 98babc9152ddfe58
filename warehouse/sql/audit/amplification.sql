-- audit/amplification: how often ISH is amplified at each IHC score, beside the published
-- figures, for the period's specimens: warehouse/sql/marts/amplification_by_ihc_score.sql re-run
-- unchanged on the period's cohort (audit/stage_specimens). ref: her2-domain.md §BENCH 6.2; the
-- band per score is the mart's (marts.reference_bands, metric 'ish_amplified_rate').
-- Per lab (and 'ALL') x IHC score (stratum):
--   specimens              specimens whose selected IHC has this score
--   ish_tested_share       of those, with a dual-probe ISH (an ISH group): verification bias
--                          on 0/1+/3+ (ISH there is confirmatory or reflex on selected cases)
--   ratio_amplified_rate   ratio >= 2.0 (groups 1 and 2): the definition of the pre-2018 series
--                          behind the band; read against the band
--   group1_rate            2018 group 1 (ratio >= 2.0 and >= 4.0 HER2/cell)
INSERT INTO audit_metrics BY NAME
WITH a AS (
    SELECT * FROM period_specimens.marts.amplification_by_ihc_score
),
rows_ AS (
    SELECT
        lab_id, ihc_score, 'specimens' AS metric, 'Specimens with this IHC score' AS label,
        n_specimens::DOUBLE AS value, 'count' AS unit, n_specimens AS numerator,
        n_specimens AS n, NULL::DOUBLE AS ci_low, NULL::DOUBLE AS ci_high,
        'not applicable (count)' AS ci_method, false AS with_band
    FROM a
    UNION ALL
    SELECT
        lab_id, ihc_score, 'ish_tested_share', 'Share with a dual-probe ISH',
        ish_tested_share, 'proportion', n_with_ish, n_specimens,
        wilson_low(n_with_ish, n_specimens), wilson_high(n_with_ish, n_specimens),
        'Wilson score 95%', false
    FROM a
    UNION ALL
    SELECT
        lab_id, ihc_score, 'ratio_amplified_rate', 'ISH amplified (ratio ≥ 2.0) among those with ISH',
        ratio_amplified_rate, 'proportion', n_ratio_amplified, n_with_ish,
        ratio_amplified_ci_low, ratio_amplified_ci_high, 'Wilson score 95%', true
    FROM a
    UNION ALL
    SELECT
        lab_id, ihc_score, 'group1_rate', 'ISH group 1 (2018) among those with ISH',
        amplified_rate, 'proportion', n_group1, n_with_ish,
        amplified_ci_low, amplified_ci_high, 'Wilson score 95%', false
    FROM a
)
SELECT
    'amplification' AS section,
    r.ihc_score AS stratum,
    r.* EXCLUDE (ihc_score, with_band),  -- metric, lab_id, label and the figure (BY NAME)
    CASE WHEN r.with_band AND a.band_low IS NOT NULL THEN 'benchmark band' END AS target_kind,
    CASE WHEN r.with_band THEN a.band_low END AS target_low,
    CASE WHEN r.with_band THEN a.band_high END AS target_high,
    CASE WHEN r.with_band THEN a.band_label || ' — ' || a.band_kind END AS target_label,
    CASE WHEN r.with_band THEN a.band_source END AS target_source,
    'marts.amplification_by_ihc_score (her2-domain.md §BENCH 6.2): clinical specimens reported in '
    || 'the period by the score of their selected IHC; warehouse/sql/marts/'
    || 'amplification_by_ihc_score.sql re-run on the period''s cohort '
    || '(warehouse/sql/audit/stage_specimens.sql)' AS source_rule
FROM rows_ AS r
JOIN a USING (lab_id, ihc_score)
;
