-- macros/cap11: the CAP 11 (2019) repeat rule, defined once for the rate (marts/cap11_rates)
-- and the open-equivocal worklist (marts/worklist_open_equivocal).
--
--   completed_by_repeat(specimens, bands) -> TABLE (lab_id, accession_id)
--       specimens of the table named `specimens` (marts.specimen_her2) followed by a DECIDED specimen (final status positive
--       or negative) of the same patient (patient_key, any lab) and the same specimen_role,
--       collected after it and at most 'cap11_repeat_window_days' days later (a her2qa rule:
--       the table named `bands`, marts.reference_bands). Whether the first one needed completing (it was equivocal)
--       is the caller's question.
-- The tables are named (query_table), not written: a macro body is bound where it is defined,
-- before the marts exist, and the audit pack calls it inside its period catalog.
CREATE OR REPLACE TEMP MACRO completed_by_repeat(specimens, bands) AS TABLE
SELECT DISTINCT e.lab_id, e.accession_id
FROM query_table(specimens) AS e
JOIN query_table(specimens) AS o
    ON o.patient_key = e.patient_key
   AND o.specimen_role = e.specimen_role
   AND (o.lab_id, o.accession_id) <> (e.lab_id, e.accession_id)
   AND o.collection_date > e.collection_date
   AND o.collection_date <= e.collection_date + (
       SELECT low::INTEGER
       FROM query_table(bands)
       WHERE band_id = 'cap11_repeat_window_days' AND lab_id = 'ALL'
   )
   AND o.final_status IN ('positive', 'negative')
;
-- cap11_pooled(rates) -> TABLE, one row per lab_id of the table named `rates` (marts.cap11_rates,
--     or the audit pack's period copy): its months pooled, i.e. the counts behind rates 1, 2 and
--     3 summed (n_specimens_audited, n_specimens_agree, n_rate3_met, n_equivocal,
--     n_equivocal_completed, n_repeat_same_specimen, n_repeat_other_specimen), first_month,
--     last_month, repeat_window_days, rate1_label .. rate3_label, and each rate with its Wilson
--     95% interval (rate1, rate1_ci_low, rate1_ci_high, ... rate3_ci_high; NULL without a
--     denominator). Rate 3 is the reported rate (her2-domain.md §CAP-CHECKLIST). Read by the
--     site (dashboards/report/sql/cap11_pooled.sql), the audit pack (audit/cap11.sql) and the
--     finding cap11_rate3 (findings/findings.sql): one pooling for the three.
CREATE OR REPLACE TEMP MACRO cap11_pooled(rates) AS TABLE
SELECT
    *,
    n_specimens_agree / nullif(n_specimens_audited, 0) AS rate1,
    wilson_low(n_specimens_agree, n_specimens_audited) AS rate1_ci_low,
    wilson_high(n_specimens_agree, n_specimens_audited) AS rate1_ci_high,
    n_equivocal_completed / nullif(n_equivocal, 0) AS rate2,
    wilson_low(n_equivocal_completed, n_equivocal) AS rate2_ci_low,
    wilson_high(n_equivocal_completed, n_equivocal) AS rate2_ci_high,
    n_rate3_met / nullif(n_specimens_audited, 0) AS rate3,
    wilson_low(n_rate3_met, n_specimens_audited) AS rate3_ci_low,
    wilson_high(n_rate3_met, n_specimens_audited) AS rate3_ci_high
FROM (
    SELECT
        lab_id,
        min(month) AS first_month,
        max(month) AS last_month,
        sum(n_specimens_audited)::BIGINT AS n_specimens_audited,
        sum(n_specimens_agree)::BIGINT AS n_specimens_agree,
        sum(n_rate3_met)::BIGINT AS n_rate3_met,
        sum(n_equivocal)::BIGINT AS n_equivocal,
        sum(n_equivocal_completed)::BIGINT AS n_equivocal_completed,
        sum(n_repeat_same_specimen)::BIGINT AS n_repeat_same_specimen,
        sum(n_repeat_other_specimen)::BIGINT AS n_repeat_other_specimen,
        max(repeat_window_days) AS repeat_window_days,
        any_value(rate1_label) AS rate1_label,
        any_value(rate2_label) AS rate2_label,
        any_value(rate3_label) AS rate3_label
    FROM query_table(rates)
    GROUP BY lab_id
)
;
