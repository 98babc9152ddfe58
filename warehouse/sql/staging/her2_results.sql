-- staging/her2_results: the current version of each result (lab_id, test_id): the highest
-- result_version received; older versions stay in the history.
-- Kept result by result, so a night costs what its rows cost: only the results of the temp
-- table changed_results (the (lab_id, test_id) this step received a new version of; all of
-- them on a replay) are re-picked. The specimens and patients of their current rows, before
-- and after, go to ops.mart_changes: what the marts recompute (only once marts exist,
-- ops.mart_state: before the first build, and on a replay, every mart is built whole anyway).
--
-- The current rows of the changed results: found once, then read, logged and, those a new
-- version replaces, deleted by row id (row ids hold within the staging transaction: no
-- checkpoint runs while it is open). Two semi joins over the 10M current results, one for the
-- log and one for the DELETE, took 0.88-1.20 s of a 10M night's step against 0.68-0.70 s so
-- (the same rows, the same log).
-- Found by test_id alone first, then by the whole key among those rows: a pass over one
-- column of the 10M current results, whose other columns are read only in the row groups of
-- the rows found (patient_key, 64 characters, is most of the bytes). 0.21-0.33 s against
-- 0.64-0.87 s for a semi join on (lab_id, test_id) reading all four columns (a 10M night's
-- staging, in process: the same current rows and ops.mart_changes, hashed).
CREATE OR REPLACE TEMP TABLE changed_current AS
SELECT rowid AS row_id, lab_id, accession_id, patient_key, file_id, source_row
FROM staging.her2_results
WHERE rowid IN (
    SELECT rowid FROM staging.her2_results
    WHERE test_id IN (SELECT test_id FROM changed_results)
)
    AND (lab_id, test_id) IN (SELECT (lab_id, test_id) FROM changed_results)
;
-- Which version of each changed result is current: the versions this step added to the
-- history (its files, temp table batch_files: the history is appended in file order, so DuckDB
-- skips the older row groups) compete with the current row they may replace, which is the
-- highest of every earlier version (this file keeps it so, in the step's one transaction).
-- The highest result_version wins; on a tie the history's copy (only a test fixture that edits
-- the history before re-picking makes one: staging.refresh_current_results). Every history
-- row of the step is a changed result's, so no filter by changed_results is needed there.
-- Only the losers are kept, found on the key columns alone among the results with more than
-- one candidate: a result sent in several versions in one step, or a night's version that
-- replaces a current row. The winners then go in as they are: a current row that wins stays
-- where it is, and the history's winners are inserted straight from the history. This took
-- 20.0 s of staging 10M fresh rows against 41.5 s picking whole rows in one window and
-- inserting them sorted (in process, the same current rows and history, hashed: README
-- "Scale and scale-out").
CREATE OR REPLACE TEMP TABLE changed_losers AS
WITH candidates AS (
    SELECT lab_id, test_id, result_version, file_id, source_row, true AS from_history
    FROM staging.her2_results_history
    WHERE file_id IN (SELECT file_id FROM batch_files)
    UNION ALL
    SELECT lab_id, test_id, result_version, file_id, source_row, false AS from_history
    FROM staging.her2_results
    WHERE rowid IN (SELECT row_id FROM changed_current)
),
contested AS (
    SELECT lab_id, test_id FROM candidates GROUP BY ALL HAVING count(*) > 1
)
SELECT file_id, source_row, from_history
FROM candidates
SEMI JOIN contested USING (lab_id, test_id)
QUALIFY row_number() OVER (
    PARTITION BY lab_id, test_id ORDER BY result_version DESC, from_history DESC
) > 1
;
CREATE OR REPLACE TEMP VIEW history_winners AS
SELECT h.*
FROM staging.her2_results_history AS h
ANTI JOIN (SELECT file_id, source_row FROM changed_losers WHERE from_history) AS l
    USING (file_id, source_row)
WHERE h.file_id IN (SELECT file_id FROM batch_files)
;
-- The specimens and patients of the current rows before (changed_current, winners or not)
-- and after (those, and the history's winners).
INSERT INTO ops.mart_changes (lab_id, accession_id, patient_key)
SELECT DISTINCT lab_id, accession_id, patient_key
FROM (
    SELECT lab_id, accession_id, patient_key FROM changed_current
    UNION ALL
    SELECT lab_id, accession_id, patient_key FROM history_winners
)
WHERE EXISTS (SELECT 1 FROM ops.mart_state)
;
DELETE FROM staging.her2_results
WHERE rowid IN (
    SELECT r.row_id
    FROM changed_current AS r
    SEMI JOIN (SELECT file_id, source_row FROM changed_losers WHERE NOT from_history) AS l
        USING (file_id, source_row)
)
;
INSERT INTO staging.her2_results
SELECT * FROM history_winners
;
DROP VIEW history_winners
;
DROP TABLE changed_losers
;
DROP TABLE changed_current
;
