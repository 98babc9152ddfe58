-- audit/annual_review: the annual result comparison of CAP AP checklist ANP.22970 (2016 edition
-- text, her2-domain.md §CAP-CHECKLIST: "at least annually compares its patient results with
-- published benchmarks, and evaluates interobserver variability among its pathologists"), for
-- the pack's period (a calendar year: `her2qa audit --from YYYY-01-01 --to YYYY-12-31`).
-- Nothing is judged here: every verdict is the period's row of marts.findings
-- (audit/findings.sql; attached by audit/verdicts.sql); the figures are read from the re-run
-- marts, never re-derived.
--   positive_rate          HER2-positive rate of patients' first primaries, per lab and ALL:
--                          the figure and n of the period finding positivity_published_range
--                          (marts.positivity_monthly re-run on the period's cohort, its last 12
--                          collection months: finding_period), against 'positivity_dk_departments'
--   her2_low_share         HER2-low share of primary specimens: the figure and n of the period
--                          finding her2_low_published_range (marts.her2_low_distribution re-run
--                          on the period's cohort), against 'her2_low_dk_departments'
--   pathologist_positive_rate   (stratum = pathologist) each reader's rate of first primaries
--                          against the funnel limits around the laboratory's rate at the
--                          reader's n (marts.positivity_pathologists re-run on the period:
--                          target_low / target_high = limit_low / limit_high, 99.8%); verdict of
--                          the period finding positivity_pathologist (subgroup = pathologist)
--   pathologist_lab_rate   the laboratory's rate the funnel is drawn around (same window)
--   kappa_observer         Cohen's kappa, clinical IHC vs second read, 4 categories
--                          (period_pairs marts.agreement observer_vs_observer): shown
--   agreement_<boundary>, kappa_<boundary>   (stratum = comparison: second_read |
--                          reference_lab) agreement with its Wilson interval and Cohen's kappa
--                          with its 95% interval (kappa ∓ 1.96 SE, Fleiss-Cohen-Everitt) at the
--                          0 vs 1+ and the null vs ultralow boundary (marts.boundary_agreement
--                          re-run on the period's boundary pairs: audit/stage_pairs): shown
--   kappa_0_vs_1plus_by_pathologist, _by_clone, agreement_0_vs_1plus_by_pathologist, _by_clone
--                          (stratum = reader / clone) the same at 0 vs 1+, second reads
INSERT INTO audit_metrics BY NAME
WITH published AS (
    SELECT
        f.finding,
        f.lab_id,
        f.period,
        round(f.figure * f.n / 100)::BIGINT AS k,
        f.n::BIGINT AS n
    FROM audit_findings AS f
    WHERE f.made_for = 'period'
        AND f.finding IN ('positivity_published_range', 'her2_low_published_range')
        AND f.subgroup = 'ALL'
        AND f.n > 0
)
SELECT
    'annual_review' AS section,
    CASE p.finding
        WHEN 'positivity_published_range' THEN 'positive_rate'
        ELSE 'her2_low_share'
    END AS metric,
    p.lab_id,
    'all' AS stratum,
    CASE p.finding
        WHEN 'positivity_published_range'
            THEN 'HER2-positive rate, patients'' first primaries, collection months ' || p.period
        ELSE 'HER2-low share (IHC 1+, or 2+ with negative ISH), primary specimens'
    END AS label,
    unnest(proportion_figure(p.k, p.n)),
    unnest(benchmark_band_target(b)),
    'marts.findings ' || p.finding || ' of the period (warehouse/sql/findings/findings.sql on '
    || CASE p.finding
        WHEN 'positivity_published_range' THEN 'marts.positivity_monthly'
        ELSE 'marts.her2_low_distribution'
    END
    || ' re-run on the period''s cohort, warehouse/sql/audit/stage_specimens.sql); CAP AP '
    || 'checklist ANP.22970 (her2-domain.md §CAP-CHECKLIST)' AS source_rule
FROM published AS p
JOIN audit_bands AS b
    ON b.lab_id = p.lab_id
    AND b.band_id = CASE p.finding
        WHEN 'positivity_published_range' THEN 'positivity_dk_departments'
        ELSE 'her2_low_dk_departments'
    END
;
INSERT INTO audit_metrics BY NAME
SELECT
    'annual_review' AS section,
    'pathologist_positive_rate' AS metric,
    p.lab_id,
    p.pathologist_id AS stratum,
    'HER2-positive rate of the pathologist''s first primaries, collection months '
        || p.window_label AS label,
    p.rate AS value,
    'proportion' AS unit,
    p.n_positive::BIGINT AS numerator,
    p.n_specimens::BIGINT AS n,
    wilson_low(p.n_positive, p.n_specimens) AS ci_low,
    wilson_high(p.n_positive, p.n_specimens) AS ci_high,
    'Wilson score 95%' AS ci_method,
    'control limits' AS target_kind,
    p.limit_low AS target_low,
    p.limit_high AS target_high,
    printf('funnel limits (%g standard errors) around the laboratory''s rate of %s at n = %s',
        z.low, fmt_pct(p.lab_rate), fmt_count(p.n_specimens)) AS target_label,
    z.source AS target_source,
    'marts.positivity_pathologists (funnel plot, Spiegelhalter 2005) re-run on the period''s '
    || 'cohort (warehouse/sql/audit/stage_specimens.sql); CAP AP checklist ANP.22970 '
    || '(interobserver variability among the laboratory''s pathologists)' AS source_rule
FROM period_specimens.marts.positivity_pathologists AS p
JOIN audit_bands AS z ON z.band_id = 'funnel_z' AND z.lab_id = 'ALL'
WHERE p.pathologist_id IS NOT NULL
;
INSERT INTO audit_metrics BY NAME
SELECT
    'annual_review' AS section,
    'pathologist_lab_rate' AS metric,
    lab_id,
    'all' AS stratum,
    'The laboratory''s HER2-positive rate the funnel is drawn around, collection months '
        || any_value(window_label) AS label,
    sum(n_positive)::DOUBLE / sum(n_specimens) AS value,
    'proportion' AS unit,
    sum(n_positive)::BIGINT AS numerator,
    sum(n_specimens)::BIGINT AS n,
    wilson_low(sum(n_positive), sum(n_specimens)) AS ci_low,
    wilson_high(sum(n_positive), sum(n_specimens)) AS ci_high,
    'Wilson score 95%' AS ci_method,
    'marts.positivity_pathologists lab_rate (the laboratory''s first primaries, every reader) '
    || 're-run on the period''s cohort (warehouse/sql/audit/annual_review.sql)' AS source_rule
FROM period_specimens.marts.positivity_pathologists
GROUP BY lab_id
;
INSERT INTO audit_metrics BY NAME
SELECT
    'annual_review' AS section,
    'kappa_observer' AS metric,
    lab_id,
    'all' AS stratum,
    'Cohen''s kappa, clinical IHC score vs second read (unweighted, 4 categories)' AS label,
    kappa AS value,
    'kappa' AS unit,
    NULL AS numerator,
    n_pairs AS n,
    'not computed (point estimate, her2-domain.md §STATS 7.3)' AS ci_method,
    'marts.agreement observer_vs_observer, warehouse/sql/marts/agreement.sql re-run on the '
    || 'period''s pairs (warehouse/sql/audit/stage_pairs.sql)' AS source_rule
FROM period_pairs.marts.agreement
WHERE comparison = 'observer_vs_observer' AND period = 'ALL'
;
INSERT INTO audit_metrics BY NAME
WITH b AS (
    SELECT
        *,
        CASE boundary
            WHEN '0_vs_1plus' THEN 'IHC 0 vs 1+ (pairs where both reads are 0 or 1+)'
            ELSE 'HER2-null vs ultralow (pairs where both reads are IHC 0 with a % stained, '
                || '2013/2018 rules)'
        END AS boundary_label,
        CASE comparison
            WHEN 'second_read' THEN 'clinical read vs second read'
            ELSE 'clinical read vs reference laboratory'
        END AS comparison_label,
        CASE breakdown
            WHEN 'all' THEN ''
            WHEN 'pathologist' THEN '_by_pathologist'
            ELSE '_by_clone'
        END AS suffix
    FROM period_pairs.marts.boundary_agreement
    WHERE breakdown = 'all' OR (boundary = '0_vs_1plus' AND comparison = 'second_read')
)
SELECT
    'annual_review' AS section,
    m.what || '_' || b.boundary || b.suffix AS metric,
    b.lab_id,
    CASE WHEN b.breakdown = 'all' THEN b.comparison ELSE b.breakdown_value END AS stratum,
    CASE m.what WHEN 'agreement' THEN 'Agreement' ELSE 'Cohen''s kappa' END || ' at '
        || b.boundary_label || ', ' || b.comparison_label
        || CASE b.breakdown
            WHEN 'pathologist' THEN ', by the clinical reader'
            WHEN 'clone' THEN ', by the clinical antibody (clone)'
            ELSE ''
        END AS label,
    CASE m.what WHEN 'agreement' THEN b.n_agree::DOUBLE / b.n_pairs ELSE b.kappa END AS value,
    CASE m.what WHEN 'agreement' THEN 'proportion' ELSE 'kappa' END AS unit,
    CASE m.what WHEN 'agreement' THEN b.n_agree END AS numerator,
    b.n_pairs AS n,
    CASE m.what WHEN 'agreement' THEN b.ci_low / 100 ELSE b.kappa_ci_low END AS ci_low,
    CASE m.what WHEN 'agreement' THEN b.ci_high / 100 ELSE b.kappa_ci_high END AS ci_high,
    CASE
        WHEN m.what = 'agreement' THEN 'Wilson score 95%'
        WHEN b.kappa IS NULL THEN 'not computed (kappa undefined: one category only)'
        ELSE 'Wald 95%: kappa ∓ 1.96 large-sample SE (Fleiss, Cohen & Everitt 1969), '
            || 'clipped to [-1, 1]'
    END AS ci_method,
    'marts.boundary_agreement (' || b.comparison || ', ' || b.boundary || ', breakdown '
    || b.breakdown || '), warehouse/sql/marts/boundary_agreement.sql re-run on the period''s '
    || 'marts.boundary_pairs (warehouse/sql/audit/stage_pairs.sql); statistics macros/statistics '
    || '(her2-domain.md §STATS)' AS source_rule
FROM b
CROSS JOIN (VALUES ('agreement'), ('kappa')) AS m (what)
;
