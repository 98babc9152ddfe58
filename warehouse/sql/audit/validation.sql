-- audit/validation: validation studies run in the period (test_purpose 'validation'), against
-- the ASCO/CAP case counts, with their concordance. ref: her2-domain.md §VALIDATION (2013/2018:
-- 20 positive + 20 negative cases for an FDA-approved assay, 40 + 40 for a laboratory-developed
-- test; no specific concordance figure; 2007: >= 95%), §STATS 7.1 (report PPA/NPA, never drop
-- equivocal results silently).
--
-- One case = one current validation result (staging.her2_results, test_purpose 'validation',
-- report_date in the period, lab $lab). A study = lab x assay x assay kit.
--   validation_call   IHC: 3+ positive, 0/1+ negative, 2+ equivocal (macros/asco_cap_rules
--                     ihc_call); dual-probe ISH: group 1 positive, group 5 negative, groups 2-4
--                     equivocal (no concurrent IHC in a validation run); reported
--                     'indeterminate' or no usable value: indeterminate
--   comparator        the same specimen's clinical final status in marts.specimen_her2 (same
--                     lab_id and accession_id): the laboratory's validated clinical result
--                     (ASCO/CAP algorithm, §FINAL-STATUS). Positive and negative comparators
--                     are the study's positive and negative cases; an equivocal, indeterminate
--                     or missing comparator leaves the case not comparable (listed, not counted)
--   agrees            validation_call = comparator; an equivocal or indeterminate validation
--                     call on a positive or negative case counts as a disagreement
--   assay class       LDT when the kit is listed for the lab in the site configuration
--                     ([labs.<LAB>] ldt_kits, her2qa/config.py; the temporary table lab_settings,
--                     setting 'ldt_kit', warehouse/build.py load_settings), else FDA-approved
-- Judged here (no warehouse finding covers a validation study), thresholds from
-- marts.reference_bands (audit_bands), verdicts in the words of marts.findings:
--   positive_cases, negative_cases   'validation_cases_fda' / 'validation_cases_ldt' (20 / 40):
--                     ok at or above, look below
--   ppa, npa          the laboratory's 'lab_target_concordance' (the ASCO/CAP 2007 criterion is
--                     per category, §QA-WORDING): ok at or above, look below; too_few without
--                     a case of the category. Overall concordance is shown, not judged.
CREATE OR REPLACE TEMP TABLE audit_validation_cases AS
WITH v AS (
    SELECT
        r.lab_id,
        r.test_id,
        r.accession_id,
        r.assay,
        coalesce(r.assay_kit, '(not recorded)') AS assay_kit,
        r.report_date,
        r.pathologist_id,
        r.ihc_score,
        ish_group(r.ish_ratio, r.ish_her2_per_cell)::TINYINT AS ish_group,
        r.reported_result
    FROM wh.staging.her2_results AS r
    WHERE r.test_purpose = 'validation'
        AND r.report_date BETWEEN $from AND $to
        AND ($lab IS NULL OR r.lab_id = $lab)
),
called AS (
    SELECT
        v.*,
        CASE
            WHEN v.reported_result = 'indeterminate' THEN 'indeterminate'
            WHEN v.assay = 'IHC' THEN coalesce(ihc_call(v.ihc_score), 'indeterminate')
            WHEN v.ish_group = 1 THEN 'positive'
            WHEN v.ish_group = 5 THEN 'negative'
            WHEN v.ish_group IN (2, 3, 4) THEN 'equivocal'
            ELSE 'indeterminate'
        END AS validation_call,
        s.final_status AS comparator_status,
        s.her2_category AS comparator_category,
        s.specimen_date AS comparator_date,
        CASE WHEN l.lab_id IS NOT NULL THEN 'LDT' ELSE 'FDA-approved' END AS assay_class
    FROM v
    LEFT JOIN wh.marts.specimen_her2 AS s USING (lab_id, accession_id)
    LEFT JOIN lab_settings AS l
        ON l.setting = 'ldt_kit' AND l.lab_id = v.lab_id AND l.value = v.assay_kit
)
SELECT
    *,
    coalesce(comparator_status IN ('positive', 'negative'), false) AS comparable,
    CASE
        WHEN comparator_status IN ('positive', 'negative')
            THEN validation_call = comparator_status
    END AS agrees
FROM called
;
INSERT INTO audit_metrics BY NAME
WITH studies AS (
    SELECT
        lab_id,
        assay || ' ' || assay_kit AS stratum,
        any_value(assay_class) AS assay_class,
        count(*) AS n_cases,
        count_if(comparator_status = 'positive') AS n_positive,
        count_if(comparator_status = 'negative') AS n_negative,
        count_if(NOT comparable) AS n_not_comparable,
        count_if(comparable) AS n_comparable,
        count_if(agrees) AS n_agree,
        count_if(comparator_status = 'positive' AND agrees) AS n_pos_agree,
        count_if(comparator_status = 'negative' AND agrees) AS n_neg_agree
    FROM audit_validation_cases
    GROUP BY lab_id, assay, assay_kit
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
    'test_purpose validation results signed out in the period; comparator = the same '
    || 'specimen''s clinical final status (marts.specimen_her2, ASCO/CAP algorithm, '
    || 'her2-domain.md §FINAL-STATUS); case counts her2-domain.md §VALIDATION; statistics '
    || '§STATS (warehouse/sql/audit/validation.sql)' AS source_rule
FROM metrics
;
