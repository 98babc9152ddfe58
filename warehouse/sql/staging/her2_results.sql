-- staging/her2_results: the current version of each result (lab_id, test_id): the highest
-- result_version received; older versions stay in the history.
-- Kept result by result, so a night costs what its rows cost: only the results of the temp
-- table changed_results (the (lab_id, test_id) this step received a new version of; all of
-- them on a replay) are re-picked. The specimens and patients of their current rows, before
-- and after, go to ops.mart_changes: what the marts recompute (only once marts exist,
-- ops.mart_state: before the first build, and on a replay, every mart is built whole anyway).
--
-- The current rows replaced: found once, then read, logged and deleted by row id (row ids
-- hold within the staging transaction: no checkpoint runs while it is open). Two semi joins
-- over the 10M current results, one for the log and one for the DELETE, took 0.88-1.20 s of
-- a 10M night's step against 0.68-0.70 s so (the same rows, the same log).
-- Found by test_id alone first, then by the whole key among those rows: a pass over one
-- column of the 10M current results, whose other columns are read only in the row groups of
-- the rows found (patient_key, 64 characters, is most of the bytes). 0.21-0.33 s against
-- 0.64-0.87 s for a semi join on (lab_id, test_id) reading all four columns (a 10M night's
-- staging, in process: the same current rows and ops.mart_changes, hashed).
CREATE OR REPLACE TEMP TABLE replaced_current AS
SELECT rowid AS row_id, lab_id, accession_id, patient_key
FROM staging.her2_results
WHERE rowid IN (
    SELECT rowid FROM staging.her2_results
    WHERE test_id IN (SELECT test_id FROM changed_results)
)
    AND (lab_id, test_id) IN (SELECT (lab_id, test_id) FROM changed_results)
;
-- The new current row of each changed result: the highest version among the versions this
-- step added to the history (its files, temp table batch_files: the history is appended in
-- file order, so DuckDB skips the older row groups) and the current row it replaces, which
-- is the highest of every earlier version (this file keeps it so, in the step's one
-- transaction). Not the whole history, whose 10M+ rows were read for the night's results:
-- the step's SQL took 0.47-0.50 s against 0.66 s at 10M (2,000 results re-picked; the same
-- current rows and log, hashed). On a tie the history's copy wins (only a test fixture that
-- edits the history before re-picking makes one: staging.refresh_current_results).
CREATE OR REPLACE TEMP TABLE changed_current AS
SELECT * EXCLUDE (from_history)
FROM (
    SELECT h.*, true AS from_history
    FROM staging.her2_results_history AS h
    WHERE h.file_id IN (SELECT file_id FROM batch_files)
        AND (h.lab_id, h.test_id) IN (SELECT (lab_id, test_id) FROM changed_results)
    UNION ALL
    SELECT c.*, false AS from_history
    FROM staging.her2_results AS c
    WHERE c.rowid IN (SELECT row_id FROM replaced_current)
)
QUALIFY row_number() OVER (
    PARTITION BY lab_id, test_id ORDER BY result_version DESC, from_history DESC
) = 1
;
INSERT INTO ops.mart_changes (lab_id, accession_id, patient_key)
SELECT DISTINCT lab_id, accession_id, patient_key
FROM (
    SELECT lab_id, accession_id, patient_key FROM replaced_current
    UNION ALL
    SELECT lab_id, accession_id, patient_key FROM changed_current
)
WHERE EXISTS (SELECT 1 FROM ops.mart_state)
;
DELETE FROM staging.her2_results
WHERE rowid IN (SELECT row_id FROM replaced_current)
;
INSERT INTO staging.her2_results
SELECT * FROM changed_current
ORDER BY lab_id, test_id
;
DROP TABLE changed_current
;
DROP TABLE replaced_current
;
