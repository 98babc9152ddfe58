-- audit/stage_findings: the scratch catalog period_findings, where warehouse/sql/findings/
-- findings.sql is re-run unchanged (dashboards/audit_pack/compute.py, STAGES), so every verdict
-- of the pack is a row of marts.findings made for the period by the warehouse's own rules.
--
-- findings.sql reads its marts from one catalog. Those an earlier stage made for the period
-- (marts.agreement from period_pairs, the specimen marts from period_specimens, the
-- primary/metastasis summary from period_metastasis, ...) are copied by compute.py from that
-- stage (stage_inputs: the catalog's upstream of marts.findings), so every figure keeps the
-- period definition of its stage; marts.reference_bands is re-run here with the pack's
-- configuration (lab_settings), like in the other stages. This file makes the rest:
-- The data-quality findings (quarantine rate, freshness, rejected files) are about files, not a
-- period: ops, raw, quarantine and staging are created EMPTY (the warehouse's columns), so the
-- period has none of those rows. The pack's monthly p-chart points keep the warehouse's own
-- verdicts (a baseline and a run rule need the whole series: audit/findings.sql).
CREATE SCHEMA period_findings.marts
;
CREATE SCHEMA period_findings.staging
;
CREATE SCHEMA period_findings.raw
;
CREATE SCHEMA period_findings.quarantine
;
CREATE SCHEMA period_findings.ops
;
CREATE TABLE period_findings.ops.ingested_files AS
SELECT * FROM wh.ops.ingested_files LIMIT 0
;
CREATE TABLE period_findings.raw.her2_rows AS
SELECT * FROM wh.raw.her2_rows LIMIT 0
;
CREATE TABLE period_findings.quarantine.rejected_rows AS
SELECT * FROM wh.quarantine.rejected_rows LIMIT 0
;
CREATE TABLE period_findings.staging.her2_results AS
SELECT * FROM wh.staging.her2_results LIMIT 0
;
-- Proficiency events (proficiency_event, proficiency_events_per_year) whose answers were signed
-- out in the period, as graded by the warehouse (marts.proficiency_results: one grading), lab
-- $lab.
CREATE TABLE period_findings.marts.proficiency_events AS
SELECT * FROM wh.marts.proficiency_events
WHERE last_report_date BETWEEN $from AND $to
    AND ($lab IS NULL OR lab_id = $lab)
;
-- Validation sets (validation_set): the warehouse's sets with a case signed out in the period
-- (a set is judged whole, never clipped to the period), lab $lab.
CREATE TABLE period_findings.marts.validation_sets AS
SELECT * FROM wh.marts.validation_sets
WHERE last_report_date >= $from AND first_report_date <= $to
    AND ($lab IS NULL OR lab_id = $lab)
;
