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
--   assay class       LDT when (lab, kit) is in audit_ldt_kits, else FDA-approved (default)
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
    LEFT JOIN audit_ldt_kits AS l ON l.lab_id = v.lab_id AND l.assay_kit = v.assay_kit
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
        t.target_kind,
        t.target_low,
        t.target_label || CASE
            WHEN s.assay_class = 'LDT' THEN ' (configured as a laboratory-developed test)'
            ELSE ' (taken as FDA-approved: no ldt_kits entry in the site configuration)'
        END AS target_label,
        t.target_source
    FROM studies AS s
    JOIN audit_targets AS t
        ON t.target_id = CASE
            WHEN s.assay_class = 'LDT' THEN 'validation_cases_ldt' ELSE 'validation_cases_fda'
        END
),
conc AS (
    SELECT * FROM audit_targets WHERE target_id = 'validation_concordance'
),
metrics AS (
    SELECT
        'validation' AS section, 'cases' AS metric, lab_id, stratum,
        'Validation cases (' || assay_class || ' assay)' AS label,
        n_cases::DOUBLE AS value, 'count' AS unit, n_cases AS numerator, n_cases AS n,
        NULL::DOUBLE AS ci_low, NULL::DOUBLE AS ci_high, 'not applicable (count)' AS ci_method,
        NULL AS target_kind, NULL::DOUBLE AS target_low, NULL AS target_label, NULL AS target_source
    FROM required
    UNION ALL
    SELECT
        'validation', 'positive_cases', lab_id, stratum,
        'Positive cases (comparator: the clinical final status)',
        n_positive, 'count', n_positive, n_cases, NULL, NULL, 'not applicable (count)',
        target_kind, target_low, target_label, target_source
    FROM required
    UNION ALL
    SELECT
        'validation', 'negative_cases', lab_id, stratum,
        'Negative cases (comparator: the clinical final status)',
        n_negative, 'count', n_negative, n_cases, NULL, NULL, 'not applicable (count)',
        target_kind, target_low, target_label, target_source
    FROM required
    UNION ALL
    SELECT
        'validation', 'not_comparable_cases', lab_id, stratum,
        'Cases without a positive or negative comparator (listed, not counted)',
        n_not_comparable, 'count', n_not_comparable, n_cases, NULL, NULL, 'not applicable (count)',
        NULL, NULL, NULL, NULL
    FROM required
    UNION ALL
    SELECT
        'validation', 'concordance', r.lab_id, r.stratum,
        'Overall concordance with the comparator (equivocal / indeterminate calls count as '
        || 'disagreements)',
        r.n_agree::DOUBLE / nullif(r.n_comparable, 0), 'proportion', r.n_agree, r.n_comparable,
        wilson_low(r.n_agree, r.n_comparable), wilson_high(r.n_agree, r.n_comparable),
        'Wilson score 95%', c.target_kind, c.target_low, c.target_label, c.target_source
    FROM required AS r
    CROSS JOIN conc AS c
    UNION ALL
    SELECT
        'validation', 'ppa', lab_id, stratum, 'Positive percent agreement (comparator positive)',
        n_pos_agree::DOUBLE / nullif(n_positive, 0), 'proportion', n_pos_agree, n_positive,
        wilson_low(n_pos_agree, n_positive), wilson_high(n_pos_agree, n_positive),
        'Wilson score 95%', NULL, NULL, NULL, NULL
    FROM required
    UNION ALL
    SELECT
        'validation', 'npa', lab_id, stratum, 'Negative percent agreement (comparator negative)',
        n_neg_agree::DOUBLE / nullif(n_negative, 0), 'proportion', n_neg_agree, n_negative,
        wilson_low(n_neg_agree, n_negative), wilson_high(n_neg_agree, n_negative),
        'Wilson score 95%', NULL, NULL, NULL, NULL
    FROM required
)
SELECT
    *,
    'test_purpose validation results signed out in the period; comparator = the same '
    || 'specimen''s clinical final status (marts.specimen_her2, ASCO/CAP algorithm, '
    || 'her2-domain.md §FINAL-STATUS); case counts her2-domain.md §VALIDATION; statistics '
    || '§STATS (warehouse/sql/audit/validation.sql)' AS source_rule
FROM metrics
;
