-- marts/positivity_counts: the cases of marts.positivity_cases (each patient's first primary
-- with a decided status) counted once per lab, reader, month and status: positivity_monthly
-- sums these counts for its lab and pathologist points instead of counting 7M cases (at 10M
-- results: 2,220 rows).
--
-- An additive table (warehouse/catalog.py `counts_of`; see marts/specimen_counts.sql): a
-- night subtracts its scope's counts as they stood and adds them as they now stand.
--
-- Grain: one row per combination of the columns below but n_specimens (a NULL is a value of
-- its own: a case without a recorded reader).
CREATE OR REPLACE TABLE marts.positivity_counts AS
SELECT
    lab_id,
    pathologist_id,
    month,
    positive,
    count(*) AS n_specimens
FROM marts.positivity_cases
GROUP BY ALL
;
