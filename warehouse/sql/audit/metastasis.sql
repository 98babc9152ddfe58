-- audit/metastasis: HER2 change between a patient's primary and its metastases, for the
-- period's pairs (audit/stage_metastasis): warehouse/sql/marts/primary_metastasis_summary.sql and
-- her2_low_transitions.sql re-run unchanged on them; the retest worklist count from
-- warehouse/sql/marts/retest_candidates.sql re-run on the period's specimen cohort. ref:
-- spec/warehouse.md "marts.primary_metastasis_pairs"; her2-domain.md §BENCH 6.4 (bands: Schrijver
-- 2018 loss over primary-positive pairs, gain over primary-negative pairs; Houssami 2011
-- discordance over all comparable pairs).
--   pairs, comparable_pairs, cross_lab_pairs      counts
--   gain_rate, loss_rate                           every pair, with Wilson 95% (no band: the
--                                                  literature pooled distant metastases)
--   distant_gain_rate, distant_loss_rate           distant metastases, beside Schrijver 2018
--   discordance_rate                               every comparable pair, beside Houssami 2011
--   eligibility_changes (stratum = transition kind: gain, loss, low_to_zero, zero_to_low)
--   retest_candidates (stratum = reason_code, 'all')  metastases of the period's cohort
INSERT INTO audit_metrics BY NAME
WITH s AS (
    SELECT * FROM period_metastasis.marts.primary_metastasis_summary
),
rows_ AS (
    SELECT lab_id, 'pairs' AS metric, 'Primary / metastasis pairs' AS label,
        n_pairs AS k, n_pairs AS n, 'count' AS unit, NULL AS band_id,
        NULL::DOUBLE AS ci_low, NULL::DOUBLE AS ci_high
    FROM s
    UNION ALL
    SELECT lab_id, 'comparable_pairs', 'Pairs with both statuses positive or negative',
        n_comparable, n_pairs, 'count', NULL, NULL, NULL
    FROM s
    UNION ALL
    SELECT lab_id, 'cross_lab_pairs', 'Pairs whose primary was tested at another laboratory',
        n_cross_lab, n_pairs, 'count', NULL, NULL, NULL
    FROM s
    UNION ALL
    SELECT lab_id, 'loss_rate', 'HER2 loss (positive → negative) among primary-positive pairs',
        n_loss, n_primary_positive, 'proportion', NULL, loss_ci_low, loss_ci_high
    FROM s
    UNION ALL
    SELECT lab_id, 'gain_rate', 'HER2 gain (negative → positive) among primary-negative pairs',
        n_gain, n_primary_negative, 'proportion', NULL, gain_ci_low, gain_ci_high
    FROM s
    UNION ALL
    -- Schrijver 2018 pooled DISTANT metastases: its bands stand beside the distant pairs only
    SELECT lab_id, 'distant_loss_rate',
        'HER2 loss among primary-positive pairs with a distant metastasis',
        distant_n_loss, distant_n_primary_positive, 'proportion', 'metastasis_loss_schrijver',
        distant_loss_ci_low, distant_loss_ci_high
    FROM s
    UNION ALL
    SELECT lab_id, 'distant_gain_rate',
        'HER2 gain among primary-negative pairs with a distant metastasis',
        distant_n_gain, distant_n_primary_negative, 'proportion', 'metastasis_gain_schrijver',
        distant_gain_ci_low, distant_gain_ci_high
    FROM s
    UNION ALL
    SELECT lab_id, 'discordance_rate', 'HER2 discordance (gain + loss) among comparable pairs',
        n_gain + n_loss, n_comparable, 'proportion', 'metastasis_discordance_houssami',
        discordance_ci_low, discordance_ci_high
    FROM s
)
SELECT
    'primary_vs_metastasis' AS section,
    r.metric,
    r.lab_id,
    'all' AS stratum,
    r.label,
    -- count_if over no pairs is NULL (an empty period re-run gives an 'ALL' row of NULLs): 0
    CASE
        WHEN r.unit = 'count' THEN coalesce(r.k, 0)::DOUBLE
        ELSE r.k::DOUBLE / nullif(r.n, 0)
    END AS value,
    r.unit,
    coalesce(r.k, 0) AS numerator,
    coalesce(r.n, 0) AS n,
    r.ci_low,
    r.ci_high,
    CASE WHEN r.unit = 'count' THEN 'not applicable (count)' ELSE 'Wilson score 95%' END
        AS ci_method,
    CASE WHEN b.band_id IS NOT NULL THEN 'benchmark band' END AS target_kind,
    b.low AS target_low,
    b.high AS target_high,
    b.label || ' — ' || b.band_kind || ': ' || b.population AS target_label,
    b.source AS target_source,
    'marts.primary_metastasis_summary (pairs: spec/warehouse.md marts.primary_metastasis_pairs; '
    || 'her2-domain.md §BENCH 6.4); warehouse/sql/marts/primary_metastasis_summary.sql re-run on '
    || 'the pairs dated in the period (warehouse/sql/audit/stage_metastasis.sql)' AS source_rule
FROM rows_ AS r
LEFT JOIN audit_bands AS b
    ON b.band_id = r.band_id AND b.lab_id = r.lab_id
;
INSERT INTO audit_metrics BY NAME
WITH kinds AS (
    SELECT lab_id, transition_kind, sum(n_pairs)::BIGINT AS k
    FROM period_metastasis.marts.her2_low_transitions
    WHERE changes_eligibility
    GROUP BY lab_id, transition_kind
),
totals AS (
    SELECT lab_id, sum(n_pairs)::BIGINT AS n
    FROM period_metastasis.marts.her2_low_transitions
    GROUP BY lab_id
)
SELECT
    'primary_vs_metastasis' AS section,
    'eligibility_changes' AS metric,
    k.lab_id,
    k.transition_kind AS stratum,
    'Pairs whose HER2 category change alters anti-HER2 or HER2-low (T-DXd) eligibility' AS label,
    k.k::DOUBLE AS value,
    'count' AS unit,
    k.k AS numerator,
    t.n,
    'not applicable (count)' AS ci_method,
    'marts.her2_low_transitions changes_eligibility (her2-domain.md §HER2-LOW, §BENCH 6.4); '
    || 'warehouse/sql/marts/her2_low_transitions.sql re-run on the pairs dated in the period'
        AS source_rule
FROM kinds AS k
JOIN totals AS t USING (lab_id)
;
INSERT INTO audit_metrics BY NAME
WITH metastases AS (
    SELECT lab_id
    FROM period_specimens.marts.specimen_her2
    WHERE specimen_role = 'metastasis'
),
totals AS (
    SELECT CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id, count(*) AS n
    FROM metastases
    GROUP BY GROUPING SETS ((lab_id), ())
),
counts AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        CASE WHEN grouping(reason_code) = 1 THEN 'all' ELSE reason_code END AS stratum,
        count(*) AS k
    FROM period_specimens.marts.retest_candidates
    GROUP BY GROUPING SETS ((lab_id, reason_code), (lab_id), (reason_code), ())
)
SELECT
    'primary_vs_metastasis' AS section,
    'retest_candidates' AS metric,
    c.lab_id,
    c.stratum,
    'Metastases to consider for HER2 retesting (worklist: cases/retest_candidates.csv)' AS label,
    c.k::DOUBLE AS value,
    'count' AS unit,
    c.k AS numerator,
    t.n,
    'not applicable (count)' AS ci_method,
    'marts.retest_candidates (ASCO/CAP 2013: test the metastasis when tissue exists, '
    || 'her2-domain.md §BENCH 6.4); warehouse/sql/marts/retest_candidates.sql re-run on the '
    || 'period''s metastasis specimens (warehouse/sql/audit/stage_specimens.sql)' AS source_rule
FROM counts AS c
JOIN totals AS t USING (lab_id)
;
