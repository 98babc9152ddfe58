-- audit/stage_metastasis: the period's primary/metastasis pairs, copied into the scratch
-- catalog period_metastasis, where warehouse/sql/marts/primary_metastasis_summary.sql and
-- her2_low_transitions.sql are re-run unchanged (dashboards/audit_pack/compute.py, STAGES).
--
-- Pairs: every row of marts.primary_metastasis_pairs whose pair_date (latest report_date of
-- the results selected for the primary and the metastasis) is between $from and $to
-- inclusive, of metastasis lab $lab (NULL: every lab). A pair with no usable result on either
-- side has no date and belongs to no period (it is not comparable anyway).
-- marts.reference_bands is re-run there with the pack's configuration (not copied).
CREATE SCHEMA period_metastasis.marts
;
CREATE TABLE period_metastasis.marts.primary_metastasis_pairs AS
SELECT *
FROM wh.marts.primary_metastasis_pairs
WHERE pair_date BETWEEN $from AND $to
    AND ($lab IS NULL OR metastasis_lab_id = $lab)
;
