-- audit/agreement: IHC/ISH concordance, laboratory vs reference laboratory and inter-observer
-- agreement for the period, from period_pairs.marts.agreement: warehouse/sql/marts/agreement.sql
-- re-run unchanged on the period's marts.agreement_pairs (audit/stage_pairs), its period 'ALL'
-- rows (every pair dated in the period). Percentages of the mart are turned into proportions.
-- ref: spec/warehouse.md "marts.agreement"; her2-domain.md §STATS (second member as reference:
-- PPA = pos_pos / (pos_pos + neg_pos), NPA = neg_neg / (neg_neg + pos_neg); Wilson 95%; Cohen's
-- kappa), §QA-WORDING (the 95% is a lab target, the ASCO/CAP 2007 criterion, for the positive
-- and the negative category EACH). PPA and NPA carry their laboratory's target
-- ('lab_target_concordance' of marts.reference_bands: the default, or the lab's own from the
-- site configuration; audit_bands) and the verdict of the finding lab_target_<comparison>
-- (audit/verdicts.sql); overall agreement and the by-kit figures are shown, not judged.
-- Sections (= comparison): ihc_vs_ish, lab_vs_reference, observer_vs_observer.
--   pairs                       count of pairs
--   overall_agreement           n_agree / n_pairs (observer: exact 4-category agreement)
--   ppa, npa                    binary comparisons only, with Wilson 95% intervals
--   kappa                       Cohen's (unweighted; 4 categories for observers)
--   kappa_quadratic             observers only: quadratic-weighted kappa
--   cell_pos_pos .. cell_neg_neg  the 2×2 (first member's call, then second's)
--   overall_agreement_by_kit    marts/agreement_by_group re-run the same way: by the assay kit
--                               of the first member (stratum = kit)
INSERT INTO audit_metrics BY NAME
WITH a AS (
    SELECT
        *,
        comparison <> 'observer_vs_observer' AS is_binary,
        CASE comparison
            WHEN 'ihc_vs_ish' THEN 'clinical IHC (3+ positive, 0/1+ negative) vs dual-probe ISH '
                || '(group 1 positive, group 5 negative) of the same specimen '
                || '(her2-domain.md §ISH-GROUPS; ISH on 0/1+/3+ is confirmatory or reflex on '
                || 'selected cases: verification bias, §BENCH 6.2)'
            WHEN 'lab_vs_reference' THEN 'the laboratory''s clinical final status vs the '
                || 'reference laboratory''s final status of the same specimen, both positive or '
                || 'negative (reference laboratory as reference)'
            ELSE 'the clinical IHC score vs the blinded second read (second_read) of the same '
                || 'specimen, 4 categories 0/1+/2+/3+'
        END AS pairs_rule
    FROM period_pairs.marts.agreement
    WHERE period = 'ALL' AND comparison IN ('ihc_vs_ish', 'lab_vs_reference', 'observer_vs_observer')
),
rows_ AS (
    SELECT
        comparison, lab_id, 'pairs' AS metric, 'Pairs compared' AS label,
        n_pairs::DOUBLE AS value, 'count' AS unit, n_pairs AS numerator, n_pairs AS n,
        NULL::DOUBLE AS ci_low, NULL::DOUBLE AS ci_high, 'not applicable (count)' AS ci_method,
        false AS with_target, pairs_rule
    FROM a
    UNION ALL
    SELECT
        comparison, lab_id, 'overall_agreement',
        CASE
            WHEN is_binary THEN 'Overall percent agreement'
            ELSE 'Exact agreement (4 categories)'
        END,
        n_agree::DOUBLE / n_pairs, 'proportion', n_agree, n_pairs,
        ci_low / 100, ci_high / 100, 'Wilson score 95%', false, pairs_rule
    FROM a
    UNION ALL
    -- proportion_figure expands to value, unit, numerator, n, ci_low, ci_high, ci_method
    SELECT
        comparison, lab_id, 'ppa', 'Positive percent agreement (PPA)',
        unnest(proportion_figure(n_pos_pos, n_pos_pos + n_neg_pos)), true, pairs_rule
    FROM a
    WHERE is_binary
    UNION ALL
    SELECT
        comparison, lab_id, 'npa', 'Negative percent agreement (NPA)',
        unnest(proportion_figure(n_neg_neg, n_neg_neg + n_pos_neg)), true, pairs_rule
    FROM a
    WHERE is_binary
    UNION ALL
    SELECT
        comparison, lab_id, 'kappa',
        CASE WHEN is_binary THEN 'Cohen''s kappa' ELSE 'Cohen''s kappa (unweighted, 4 categories)' END,
        kappa, 'kappa', NULL, n_pairs, NULL, NULL,
        'not computed (point estimate, her2-domain.md §STATS 7.3)', false, pairs_rule
    FROM a
    UNION ALL
    SELECT
        comparison, lab_id, 'kappa_quadratic', 'Quadratic-weighted kappa (4 categories)',
        kappa_quadratic, 'kappa', NULL, n_pairs, NULL, NULL,
        'not computed (point estimate, her2-domain.md §STATS 7.3)', false, pairs_rule
    FROM a
    WHERE NOT is_binary
    UNION ALL
    SELECT
        comparison, lab_id, 'cell_' || cell, label, k::DOUBLE, 'count', k, n_pairs, NULL, NULL,
        'not applicable (count)', false, pairs_rule
    FROM (
        SELECT comparison, lab_id, n_pairs, pairs_rule, 'pos_pos' AS cell,
            'Both positive' AS label, n_pos_pos AS k FROM a WHERE is_binary
        UNION ALL
        SELECT comparison, lab_id, n_pairs, pairs_rule, 'pos_neg',
            'First positive, second negative', n_pos_neg FROM a WHERE is_binary
        UNION ALL
        SELECT comparison, lab_id, n_pairs, pairs_rule, 'neg_pos',
            'First negative, second positive', n_neg_pos FROM a WHERE is_binary
        UNION ALL
        SELECT comparison, lab_id, n_pairs, pairs_rule, 'neg_neg',
            'Both negative', n_neg_neg FROM a WHERE is_binary
    )
)
SELECT
    r.comparison AS section,
    'all' AS stratum,
    r.* EXCLUDE (comparison, with_target, pairs_rule),  -- metric, lab_id, label, figure (BY NAME)
    CASE WHEN r.with_target THEN 'lab target' END AS target_kind,
    CASE WHEN r.with_target THEN t.low END AS target_low,
    CASE WHEN r.with_target THEN t.label END AS target_label,
    CASE WHEN r.with_target THEN t.source END AS target_source,
    'marts.agreement ' || r.comparison || ' (spec/warehouse.md): ' || r.pairs_rule
    || '; pairs dated in the period; warehouse/sql/marts/agreement.sql re-run on the period''s '
    || 'marts.agreement_pairs (warehouse/sql/audit/stage_pairs.sql); statistics '
    || 'macros/statistics (her2-domain.md §STATS)' AS source_rule
FROM rows_ AS r
LEFT JOIN audit_bands AS t ON t.band_id = 'lab_target_concordance' AND t.lab_id = r.lab_id
;
INSERT INTO audit_metrics BY NAME
SELECT
    g.comparison AS section,
    'overall_agreement_by_kit' AS metric,
    g.lab_id,
    g.breakdown_value AS stratum,
    CASE
        WHEN g.comparison = 'observer_vs_observer'
            THEN 'Exact agreement (4 categories) by antibody / kit of the clinical IHC'
        WHEN g.comparison = 'ihc_vs_ish' THEN 'Overall percent agreement by IHC antibody / kit'
        ELSE 'Overall percent agreement by the laboratory''s assay kit'
    END AS label,
    g.n_agree::DOUBLE / g.n_pairs AS value,
    'proportion' AS unit,
    g.n_agree AS numerator,
    g.n_pairs AS n,
    g.ci_low / 100 AS ci_low,
    g.ci_high / 100 AS ci_high,
    'Wilson score 95%' AS ci_method,
    'marts.agreement_by_group (breakdown assay_kit: the first member''s kit; '
    || '''(not recorded)'' without one); warehouse/sql/marts/agreement_by_group.sql re-run on the '
    || 'period''s pairs (warehouse/sql/audit/stage_pairs.sql)' AS source_rule
FROM period_pairs.marts.agreement_by_group AS g
WHERE g.breakdown = 'assay_kit'
;
