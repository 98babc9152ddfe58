-- marts/agreement_counts: the pairs of marts.agreement_pairs counted once per comparison, lab,
-- period, pair of codes, specimen kit and reader: marts.agreement and marts.agreement_by_group
-- sum these counts (macros/statistics agreement_cells_counted) instead of counting 2M pairs
-- each (at 10M results: 8,790 rows).
--
-- An additive table (warehouse/catalog.py `counts_of`; see marts/specimen_counts.sql): a
-- night subtracts its scope's counts as they stood and adds them as they now stand.
--
-- Grain: one row per combination of the columns below but n_pairs (a NULL is a value of its
-- own: a pair without a recorded kit or reader).
CREATE OR REPLACE TABLE marts.agreement_counts AS
SELECT
    comparison,
    lab_id,
    period,
    first_code,
    second_code,
    assay_kit,
    pathologist_id,
    count(*) AS n_pairs
FROM marts.agreement_pairs
GROUP BY ALL
;
