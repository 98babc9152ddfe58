-- audit/cases: the case-level worklists of the pack (temporary tables), written by
-- dashboards/audit_pack/cases.py to the restricted cases/ folder (owner-only, formulas neutralised) and
-- counted in the report. Keys are the laboratory's own (lab_id, accession_id, test ids) and the
-- keyed patient hash (patient_key); no name, MRN or birth date exists in the warehouse.
--
-- Follow-up documented in the data, per specimen (what the laboratory did, as far as the
-- extract shows it; the director records the rest in the sign-off):
--   second_read_done     a current second_read result exists for the specimen
--   reference_lab_done   a current reference_lab result exists for the specimen
--   amended_report       a current clinical result of the specimen has result_version > 1
CREATE OR REPLACE TEMP TABLE audit_follow_up AS
SELECT
    lab_id,
    accession_id,
    bool_or(test_purpose = 'second_read') AS second_read_done,
    bool_or(test_purpose = 'reference_lab') AS reference_lab_done,
    bool_or(test_purpose = 'clinical' AND result_version > 1) AS amended_report
FROM wh.staging.her2_results
WHERE $lab IS NULL OR lab_id = $lab
GROUP BY lab_id, accession_id
;
-- IHC/ISH discordance worklist of the period's specimens: marts.ihc_ish_discordance
-- (warehouse/sql/marts/ihc_ish_discordance.sql re-run on the cohort), with the follow-up.
CREATE OR REPLACE TEMP TABLE audit_cases_ihc_ish AS
SELECT
    d.*,
    coalesce(f.second_read_done, false) AS second_read_done,
    coalesce(f.reference_lab_done, false) AS reference_lab_done,
    coalesce(f.amended_report, false) AS amended_report,
    '' AS action_taken,
    '' AS reviewed_by
FROM period_specimens.marts.ihc_ish_discordance AS d
LEFT JOIN audit_follow_up AS f USING (lab_id, accession_id)
;
-- The period's pairs whose two members disagree (marts.agreement_pairs), with the specimen's
-- selected results and the follow-up: the rows of the two pair worklists below.
CREATE OR REPLACE TEMP VIEW audit_pairs_disagreeing AS
SELECT
    p.comparison,
    p.lab_id,
    p.accession_id,
    p.patient_key,
    p.first_value,
    p.second_value,
    p.pair_date,
    s.specimen_role,
    s.ihc_test_id,
    s.ihc_score,
    s.ihc_pathologist_id,
    s.ihc_assay_kit,
    s.ish_test_id,
    s.ish_group,
    s.guideline_version,
    coalesce(f.second_read_done, false) AS second_read_done,
    coalesce(f.amended_report, false) AS amended_report,
    '' AS action_taken,
    '' AS reviewed_by
FROM period_pairs.marts.agreement_pairs AS p
LEFT JOIN period_pairs.marts.specimen_her2 AS s USING (lab_id, accession_id)
LEFT JOIN audit_follow_up AS f USING (lab_id, accession_id)
WHERE NOT p.agree
;
-- Laboratory vs reference laboratory: the period's discordant pairs.
CREATE OR REPLACE TEMP TABLE audit_cases_lab_vs_reference AS
SELECT
    lab_id, accession_id, patient_key, specimen_role,
    first_value AS lab_status,
    second_value AS reference_lab_status,
    ihc_test_id, ihc_score, ish_test_id, ish_group, guideline_version, pair_date,
    second_read_done, amended_report, action_taken, reviewed_by
FROM audit_pairs_disagreeing
WHERE comparison = 'lab_vs_reference'
;
-- Inter-observer: the period's pairs whose two IHC reads differ (any score; the call category
-- differs when one read is 3+ and the other not, or one 2+ and the other 0/1+).
CREATE OR REPLACE TEMP TABLE audit_cases_observer AS
SELECT
    lab_id, accession_id, patient_key,
    first_value AS clinical_ihc_score,
    second_value AS second_read_ihc_score,
    ihc_call(first_value) <> ihc_call(second_value) AS call_differs,
    ihc_test_id, ihc_pathologist_id, ihc_assay_kit, pair_date,
    amended_report, action_taken, reviewed_by
FROM audit_pairs_disagreeing
WHERE comparison = 'observer_vs_observer'
;
-- Metastases to consider for retesting, of the period's cohort (marts.retest_candidates re-run).
CREATE OR REPLACE TEMP TABLE audit_cases_retest AS
SELECT
    r.*,
    '' AS action_taken,
    '' AS reviewed_by
FROM period_specimens.marts.retest_candidates AS r
;
-- Positivity control-chart signals: every laboratory month and reader month of the period
-- whose warehouse finding (positivity_control, positivity_control_pathologist; audit/findings.sql)
-- says 'look', with the finding's sentence and the p-chart point behind it. The report's
-- signal counts are counts of these rows (audit/positivity.sql).
CREATE OR REPLACE TEMP TABLE audit_cases_positivity_signals AS
SELECT
    f.lab_id,
    p.level,
    p.pathologist_id,
    f.period AS month_label,
    p.n_specimens,
    p.n_positive,
    p.rate,
    p.centre_line,
    p.lcl,
    p.ucl,
    f.finding,
    f.message AS signal,
    '' AS action_taken,
    '' AS reviewed_by
FROM audit_findings AS f
JOIN wh.marts.positivity_monthly AS p
    ON p.lab_id = f.lab_id
    AND p.month_label = f.period
    AND p.level = CASE f.finding WHEN 'positivity_control' THEN 'lab' ELSE 'pathologist' END
    AND (f.finding = 'positivity_control' OR p.pathologist_id = f.subgroup)
WHERE f.finding IN ('positivity_control', 'positivity_control_pathologist')
    AND f.verdict = 'look'
;
