-- staging/contested_results: the results (lab_id, test_id) of the run's files (the temp table
-- run_files) that may meet another arrival: received more than once in those files, or
-- already in the history. Every other result of the run arrives once, anywhere: its row is
-- the version's first arrival (staging/verdicts) and replaces no earlier current row
-- (staging/her2_results), so neither looks it up. Keys as staging/typed_rows makes them
-- (result_id(), macros/text); a row that turns out invalid only makes the set larger.
--
-- Once for the run, before its steps: each step looked every one of its keys up in the whole
-- history, twice, so a first load's steps grew with everything staged before them (100M
-- results in steps of 2M: 1796 s of staging against 472 s for 50M; README "Scale and
-- scale-out"). About 1% of a network's results are contested (amendments, repeats).
-- The history is read for the run's test ids alone (its other columns only where they
-- match), as the steps read it.
-- $every_key: every result of the run is taken as contested, the history not read: a run of
-- one step (a night) on a history, whose step reads the history for its keys anyway: this
-- pass would be a second read (a 10M night's staging: 0.69 s against 0.52-0.58 s). DuckDB
-- skips the history's scan when the test ids it looks for are none.
CREATE OR REPLACE TEMP TABLE contested_results AS
WITH run_keys AS (
    SELECT result_id(lab_id) AS lab_id, result_id(test_id) AS test_id, count(*) AS arrivals
    FROM raw.her2_rows
    WHERE file_id IN (SELECT file_id FROM run_files)
    GROUP BY ALL
),
in_history AS (
    SELECT DISTINCT lab_id, test_id
    FROM staging.her2_results_history
    WHERE test_id IN (SELECT test_id FROM run_keys WHERE NOT $every_key)
)
SELECT lab_id, test_id FROM run_keys WHERE arrivals > 1 OR $every_key
UNION
SELECT lab_id, test_id FROM in_history
WHERE (lab_id, test_id) IN (SELECT (lab_id, test_id) FROM run_keys)
;
