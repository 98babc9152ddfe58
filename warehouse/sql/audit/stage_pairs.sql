-- audit/stage_pairs: the period's agreement PAIRS, copied into the scratch catalog
-- period_pairs, where warehouse/sql/marts/agreement.sql, agreement_by_group.sql and
-- boundary_agreement.sql are re-run unchanged (dashboards/audit_pack/compute.py, STAGES): the period's concordance, PPA/NPA, kappa and
-- Wilson intervals are computed by the very SQL (and macros, macros/statistics) that
-- computes marts.agreement.
--
-- Pairs: every row of marts.agreement_pairs whose pair_date (the latest report_date among the
-- results selected for its two members, spec/warehouse.md "marts.agreement") is between $from
-- and $to inclusive, of lab $lab (NULL: every lab; primary_vs_metastasis pairs take the
-- metastasis' lab, as in the mart).
--   marts.specimen_her2   the pairs' own specimens (agreement_by_group reads their assay kit
--                         and reader), whatever their own report date
--   marts.boundary_pairs  the clinical IHC read vs the second read / reference-lab IHC of the
--                         same specimen (the 0 vs 1+ and null vs ultralow boundaries), by the
--                         same rule: pair_date (the later of the two IHC report dates) in the
--                         period, lab $lab
CREATE SCHEMA period_pairs.marts
;
CREATE TABLE period_pairs.marts.agreement_pairs AS
SELECT *
FROM wh.marts.agreement_pairs
WHERE pair_date BETWEEN $from AND $to
    AND ($lab IS NULL OR lab_id = $lab)
;
CREATE TABLE period_pairs.marts.specimen_her2 AS
SELECT s.*
FROM wh.marts.specimen_her2 AS s
SEMI JOIN period_pairs.marts.agreement_pairs AS p
    ON p.lab_id = s.lab_id AND p.accession_id = s.accession_id
;
CREATE TABLE period_pairs.marts.boundary_pairs AS
SELECT *
FROM wh.marts.boundary_pairs
WHERE pair_date BETWEEN $from AND $to
    AND ($lab IS NULL OR lab_id = $lab)
;
