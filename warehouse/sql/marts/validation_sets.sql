-- marts/validation_sets: each assay kit's validation set against the ASCO/CAP case counts,
-- with its agreement. ref: her2-domain.md §VALIDATION (2013/2018: 20 positive + 20 negative
-- cases for an FDA-approved assay, 40 + 40 for a laboratory-developed test; no specific
-- concordance figure; 2007: >= 95% for the positive and the negative category each),
-- §QA-WORDING (PPA and NPA each, never overall agreement alone), §STATS 7.1 (never drop
-- equivocal results silently). The ONE definition of a validation case, its call, its
-- comparator and its agreement: the audit pack (warehouse/sql/audit/validation.sql) and the
-- dashboard read this table; its cases are the rows of marts.validation_cases.
--
-- Grain: one row per lab_id × assay × assay_kit with current results of test_purpose
-- 'validation' (staging.her2_results); a kit not recorded is '(not recorded)'.
-- One case = one current validation result.
--   validation_call   IHC: 3+ positive, 0/1+ negative, 2+ equivocal (macros/asco_cap_rules
--                     ihc_call); dual-probe ISH: group 1 positive, group 5 negative, groups 2-4
--                     equivocal (no concurrent IHC in a validation run); reported
--                     'indeterminate' or no usable value: indeterminate
--   comparator        the same specimen's clinical final status in marts.specimen_her2 (same
--                     lab_id and accession_id): the laboratory's validated clinical result
--                     (ASCO/CAP algorithm, §FINAL-STATUS). Positive and negative comparators
--                     are the set's positive and negative cases; an equivocal, indeterminate
--                     or missing comparator leaves the case not comparable (listed, not counted)
--   agrees            validation_call = comparator; an equivocal or indeterminate validation
--                     call on a positive or negative case counts as a disagreement
-- Columns:
--   stratum            assay || ' ' || assay_kit (how the audit pack names the set)
--   is_ldt, assay_class  the kit is a laboratory-developed test when the site configuration
--                     lists it for the lab ([labs.<LAB>] ldt_kits; the temporary table
--                     lab_settings, setting 'ldt_kit', warehouse/build.py load_settings):
--                     'LDT', else 'FDA-approved'
--   n_cases, n_positive, n_negative, n_not_comparable, n_comparable
--   n_agree, n_pos_agree, n_neg_agree
--   required_band_id, required_per_category, required_label, required_source: the case count
--                     required per category, from marts.reference_bands
--                     ('validation_cases_ldt' 40 / 'validation_cases_fda' 20)
--   positive_cases_met, negative_cases_met, cases_met: n_positive / n_negative at or above
--                     the required count (cases_met: both)
--   ppa (+ ci): n_pos_agree / n_positive; npa (+ ci): n_neg_agree / n_negative;
--   concordance (+ ci): n_agree / n_comparable (shown, not judged: the target is per
--                     category). Proportions 0-1, Wilson score 95% (macros/statistics);
--                     NULL without a case of the category
--   first_report_date, last_report_date   when the set's cases were signed out
--   cases              every case of the set (a list of structs, by test_id): test_id,
--                     accession_id, report_date, pathologist_id, ihc_score, ish_group,
--                     reported_result, validation_call, comparator_status,
--                     comparator_category, comparator_date, comparable, agrees
-- Whether agreement meets the lab's target is judged in marts.findings (validation_set).
CREATE OR REPLACE TABLE marts.validation_sets AS
WITH cases AS (
    -- one case per current validation result: marts.validation_cases
    SELECT * FROM marts.validation_cases
),
sets AS (
    SELECT
        lab_id,
        assay,
        assay_kit,
        bool_or(is_ldt) AS is_ldt,
        count(*) AS n_cases,
        count_if(comparator_status = 'positive') AS n_positive,
        count_if(comparator_status = 'negative') AS n_negative,
        count_if(NOT comparable) AS n_not_comparable,
        count_if(comparable) AS n_comparable,
        count_if(agrees) AS n_agree,
        count_if(comparator_status = 'positive' AND agrees) AS n_pos_agree,
        count_if(comparator_status = 'negative' AND agrees) AS n_neg_agree,
        min(report_date) AS first_report_date,
        max(report_date) AS last_report_date,
        list({
            'test_id': test_id,
            'accession_id': accession_id,
            'report_date': report_date,
            'pathologist_id': pathologist_id,
            'ihc_score': ihc_score,
            'ish_group': ish_group,
            'reported_result': reported_result,
            'validation_call': validation_call,
            'comparator_status': comparator_status,
            'comparator_category': comparator_category,
            'comparator_date': comparator_date,
            'comparable': comparable,
            'agrees': agrees
        } ORDER BY test_id) AS cases
    FROM cases
    GROUP BY lab_id, assay, assay_kit
),
required AS (
    SELECT
        s.*,
        b.band_id AS required_band_id,
        b.low::BIGINT AS required_per_category,
        b.label AS required_label,
        b.source AS required_source
    FROM sets AS s
    JOIN marts.reference_bands AS b
        ON b.lab_id = 'ALL' AND b.band_id = CASE
            WHEN s.is_ldt THEN 'validation_cases_ldt' ELSE 'validation_cases_fda'
        END
)
SELECT
    lab_id,
    assay,
    assay_kit,
    assay || ' ' || assay_kit AS stratum,
    is_ldt,
    CASE WHEN is_ldt THEN 'LDT' ELSE 'FDA-approved' END AS assay_class,
    n_cases::BIGINT AS n_cases,
    n_positive::BIGINT AS n_positive,
    n_negative::BIGINT AS n_negative,
    n_not_comparable::BIGINT AS n_not_comparable,
    n_comparable::BIGINT AS n_comparable,
    n_agree::BIGINT AS n_agree,
    n_pos_agree::BIGINT AS n_pos_agree,
    n_neg_agree::BIGINT AS n_neg_agree,
    required_band_id,
    required_per_category,
    required_label,
    required_source,
    n_positive >= required_per_category AS positive_cases_met,
    n_negative >= required_per_category AS negative_cases_met,
    n_positive >= required_per_category AND n_negative >= required_per_category AS cases_met,
    CASE WHEN n_positive > 0 THEN n_pos_agree::DOUBLE / n_positive END AS ppa,
    wilson_low(n_pos_agree, n_positive) AS ppa_ci_low,
    wilson_high(n_pos_agree, n_positive) AS ppa_ci_high,
    CASE WHEN n_negative > 0 THEN n_neg_agree::DOUBLE / n_negative END AS npa,
    wilson_low(n_neg_agree, n_negative) AS npa_ci_low,
    wilson_high(n_neg_agree, n_negative) AS npa_ci_high,
    CASE WHEN n_comparable > 0 THEN n_agree::DOUBLE / n_comparable END AS concordance,
    wilson_low(n_agree, n_comparable) AS concordance_ci_low,
    wilson_high(n_agree, n_comparable) AS concordance_ci_high,
    first_report_date,
    last_report_date,
    cases
FROM required
ORDER BY lab_id, assay, assay_kit
;
