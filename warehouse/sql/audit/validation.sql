-- audit/validation: the validation sets with a case signed out in the period, against the
-- ASCO/CAP case counts, with their concordance. ref: her2-domain.md §VALIDATION (2013/2018:
-- 20 positive + 20 negative cases for an FDA-approved assay, 40 + 40 for a laboratory-developed
-- test; no specific concordance figure; 2007: >= 95%), §STATS 7.1 (report PPA/NPA, never drop
-- equivocal results silently).
--
-- The cases, their calls, comparators and agreement are the warehouse's marts.validation_sets
-- (warehouse/sql/marts/validation_sets.sql: the one definition; read from the attached
-- warehouse, wh). A set (lab x assay x assay kit) is reported WHOLE when at least one of its
-- cases was signed out in the period (a validation study is judged as a whole, never clipped
-- to the period), lab $lab. audit_validation_cases lists its cases (validation_cases.csv).
--   assay class       LDT when the kit is listed for the lab in the PACK's configuration
--                     ([labs.<LAB>] ldt_kits, her2qa/config.py; the temporary table lab_settings,
--                     setting 'ldt_kit', warehouse/build.py load_settings), else FDA-approved:
--                     the classification lineage.json records (validation_assay_classes)
-- Judged here, with the pack's configuration (thresholds from marts.reference_bands re-run with
-- it, audit_bands), in the words of marts.findings (validation_set judges the same set with
-- the warehouse's configuration):
--   positive_cases, negative_cases   'validation_cases_fda' / 'validation_cases_ldt' (20 / 40):
--                     ok at or above, look below
--   ppa, npa          the laboratory's 'lab_target_concordance' (the ASCO/CAP 2007 criterion is
--                     per category, §QA-WORDING): ok at or above, look below; too_few without
--                     a case of the category. Overall concordance is shown, not judged.
CREATE OR REPLACE TEMP TABLE audit_validation_sets AS
SELECT
    v.*,
    CASE WHEN l.lab_id IS NOT NULL THEN 'LDT' ELSE 'FDA-approved' END AS pack_assay_class
FROM wh.marts.validation_sets AS v
LEFT JOIN (SELECT DISTINCT lab_id, value FROM lab_settings WHERE setting = 'ldt_kit') AS l
    ON l.lab_id = v.lab_id AND l.value = v.assay_kit
WHERE v.last_report_date >= $from AND v.first_report_date <= $to
    AND ($lab IS NULL OR v.lab_id = $lab)
;
CREATE OR REPLACE TEMP TABLE audit_validation_cases AS
SELECT
    s.lab_id,
    c.test_id,
    c.accession_id,
    s.assay,
    s.assay_kit,
    c.report_date,
    c.pathologist_id,
    c.ihc_score,
    c.ish_group,
    c.reported_result,
    c.validation_call,
    c.comparator_status,
    c.comparator_category,
    c.comparator_date,
    s.pack_assay_class AS assay_class,
    c.comparable,
    c.agrees
FROM audit_validation_sets AS s, unnest(s.cases) AS u(c)
;
INSERT INTO audit_metrics BY NAME
WITH studies AS (
    SELECT
        lab_id,
        stratum,
        pack_assay_class AS assay_class,
        n_cases,
        n_positive,
        n_negative,
        n_not_comparable,
        n_comparable,
        n_agree,
        n_pos_agree,
        n_neg_agree
    FROM audit_validation_sets
),
required AS (
    SELECT
        s.*,
        b.low AS required_cases,
        b.label || CASE
            WHEN s.assay_class = 'LDT' THEN ' (configured as a laboratory-developed test)'
            ELSE ' (taken as FDA-approved: no ldt_kits entry in the site configuration)'
        END AS required_label,
        b.source AS required_source,
        t.low AS target,
        t.label AS target_label,
        t.source AS target_source
    FROM studies AS s
    JOIN audit_bands AS b
        ON b.lab_id = s.lab_id AND b.band_id = CASE
            WHEN s.assay_class = 'LDT' THEN 'validation_cases_ldt' ELSE 'validation_cases_fda'
        END
    JOIN audit_bands AS t ON t.lab_id = s.lab_id AND t.band_id = 'lab_target_concordance'
),
counts AS (
    SELECT lab_id, stratum, 'positive_cases' AS metric, 'positive' AS category,
        'Positive cases (comparator: the clinical final status)' AS label,
        n_positive AS k, n_cases, required_cases, required_label, required_source, assay_class
    FROM required
    UNION ALL
    SELECT lab_id, stratum, 'negative_cases', 'negative',
        'Negative cases (comparator: the clinical final status)', n_negative, n_cases,
        required_cases, required_label, required_source, assay_class
    FROM required
),
categories AS (
    SELECT lab_id, stratum, 'ppa' AS metric, 'positive' AS category,
        'Positive percent agreement (comparator positive)' AS label,
        n_pos_agree AS k, n_positive AS n, target, target_label, target_source
    FROM required
    UNION ALL
    SELECT lab_id, stratum, 'npa', 'negative',
        'Negative percent agreement (comparator negative)', n_neg_agree, n_negative, target,
        target_label, target_source
    FROM required
),
metrics AS (
    SELECT
        'validation' AS section, 'cases' AS metric, lab_id, stratum,
        'Validation cases (' || assay_class || ' assay)' AS label,
        n_cases::DOUBLE AS value, 'count' AS unit, n_cases AS numerator, n_cases AS n,
        NULL::DOUBLE AS ci_low, NULL::DOUBLE AS ci_high, 'not applicable (count)' AS ci_method,
        NULL AS target_kind, NULL::DOUBLE AS target_low, NULL AS target_label,
        NULL AS target_source, NULL AS verdict, NULL AS verdict_message
    FROM required
    UNION ALL
    SELECT
        'validation', metric, lab_id, stratum, label,
        k, 'count', k, n_cases, NULL, NULL, 'not applicable (count)',
        'requirement', required_cases, required_label, required_source,
        CASE WHEN k >= required_cases THEN 'ok' ELSE 'look' END,
        printf('%s %s cases: %s the ASCO/CAP 2013/2018 requirement of %s %s cases for %s '
            || 'assay.', fmt_count(k), category,
            CASE WHEN k >= required_cases THEN 'meets' ELSE 'below' END,
            fmt_count(required_cases), category,
            CASE assay_class WHEN 'LDT' THEN 'a laboratory-developed' ELSE 'an FDA-approved' END)
    FROM counts
    UNION ALL
    SELECT
        'validation', 'not_comparable_cases', lab_id, stratum,
        'Cases without a positive or negative comparator (listed, not counted)',
        n_not_comparable, 'count', n_not_comparable, n_cases, NULL, NULL, 'not applicable (count)',
        NULL, NULL, NULL, NULL, NULL, NULL
    FROM required
    UNION ALL
    SELECT
        'validation', 'concordance', lab_id, stratum,
        'Overall concordance with the comparator (equivocal / indeterminate calls count as '
        || 'disagreements; shown, not judged: the target is per category)',
        n_agree::DOUBLE / nullif(n_comparable, 0), 'proportion', n_agree, n_comparable,
        wilson_low(n_agree, n_comparable), wilson_high(n_agree, n_comparable),
        'Wilson score 95%', NULL, NULL, NULL, NULL, NULL, NULL
    FROM required
    UNION ALL
    SELECT
        'validation', metric, lab_id, stratum, label,
        k::DOUBLE / nullif(n, 0), 'proportion', k, n, wilson_low(k, n), wilson_high(k, n),
        'Wilson score 95%', 'lab target', target, target_label, target_source,
        CASE
            WHEN n = 0 THEN 'too_few'
            WHEN k::DOUBLE / n >= target THEN 'ok'
            ELSE 'look'
        END,
        CASE
            WHEN n = 0 THEN printf('no %s case: the %s category cannot be judged against the '
                || 'lab target.', category, category)
            ELSE printf('%s (%s of %s %s cases): %s the lab target of %s for the %s category.',
                fmt_pct(k::DOUBLE / n), fmt_count(k), fmt_count(n), category,
                CASE WHEN k::DOUBLE / n >= target THEN 'meets' ELSE 'below' END,
                fmt_pct(target), category)
        END
    FROM categories
)
SELECT
    *,
    'validation sets (test_purpose validation) with a case signed out in the period, whole '
    || '(marts.validation_sets); comparator = the same specimen''s clinical final status '
    || '(marts.specimen_her2, ASCO/CAP algorithm, her2-domain.md §FINAL-STATUS); case counts '
    || 'her2-domain.md §VALIDATION; statistics §STATS (warehouse/sql/audit/validation.sql)'
    AS source_rule
FROM metrics
;
