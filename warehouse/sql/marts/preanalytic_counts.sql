-- marts/preanalytic_counts: the clinical specimens of marts.specimen_preanalytic counted once
-- per lab, collection month, judgement (cold, fixation and its ends, the 2007 window) and
-- turnaround in days: a histogram of the turnaround, so marts.preanalytic_monthly sums counts
-- and takes its quantiles from them instead of reading 7M specimens (at 10M results: 56k
-- rows).
--
-- An additive table (warehouse/catalog.py `counts_of`; see marts/specimen_counts.sql): a
-- night subtracts its scope's counts as they stood and adds them as they now stand.
--
-- Grain: one row per combination of the columns below but n_specimens (a NULL is a value of
-- its own: an undocumented turnaround, a specimen without a collection month).
CREATE OR REPLACE TABLE marts.preanalytic_counts AS
SELECT
    lab_id,
    month,
    cold,
    fixation,
    fixation_under,
    fixation_over,
    read_2007,
    turnaround_days,
    count(*) AS n_specimens
FROM marts.specimen_preanalytic
GROUP BY ALL
;
