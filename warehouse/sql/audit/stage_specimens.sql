-- audit/stage_specimens: the period's SPECIMEN cohort, copied into the scratch catalog
-- period_specimens (an in-memory database of the audit connection; the warehouse itself is
-- attached read-only as wh). The quality marts' own SQL files (warehouse/sql/marts/*.sql) are
-- then re-run there unchanged, so every specimen-level figure of the pack has exactly the
-- definition of the mart it comes from (dashboards/audit_pack/compute.py, STAGES).
--
-- Cohort: the clinical specimens of marts.specimen_her2 REPORTED in the period: their
-- specimen_date (latest report_date of the results that make the status), or their last
-- report_date when nothing is usable (indeterminate specimens are counted too), between $from
-- and $to inclusive, of lab $lab (NULL: every lab). Each specimen keeps the status, ISH group
-- and category the warehouse gave it; nothing is re-derived from a partial set of results.
-- Row-level inputs of the re-run marts are restricted to the cohort's specimens:
--   staging.her2_results          every current result of the cohort's specimens (the times
--                                 preanalytic_monthly reads)
--   marts.interpretation_audit    the cohort's clinical results (cap11_rates reads it)
--   marts.primary_metastasis_pairs  pairs whose metastasis is in the cohort (retest_candidates)
--   marts.reference_bands         not copied: warehouse/sql/marts/reference_bands.sql is re-run
--                                 there with the pack's configuration (lab_settings)
CREATE SCHEMA period_specimens.marts
;
CREATE SCHEMA period_specimens.staging
;
CREATE TABLE period_specimens.marts.specimen_her2 AS
SELECT *
FROM wh.marts.specimen_her2
WHERE coalesce(specimen_date, last_report_date) BETWEEN $from AND $to
    AND ($lab IS NULL OR lab_id = $lab)
;
CREATE TABLE period_specimens.staging.her2_results AS
SELECT r.*
FROM wh.staging.her2_results AS r
SEMI JOIN period_specimens.marts.specimen_her2 AS s
    ON s.lab_id = r.lab_id AND s.accession_id = r.accession_id
;
CREATE TABLE period_specimens.marts.interpretation_audit AS
SELECT a.*
FROM wh.marts.interpretation_audit AS a
SEMI JOIN period_specimens.marts.specimen_her2 AS s
    ON s.lab_id = a.lab_id AND s.accession_id = a.accession_id
;
CREATE TABLE period_specimens.marts.primary_metastasis_pairs AS
SELECT p.*
FROM wh.marts.primary_metastasis_pairs AS p
SEMI JOIN period_specimens.marts.specimen_her2 AS s
    ON s.lab_id = p.metastasis_lab_id AND s.accession_id = p.metastasis_accession_id
;
