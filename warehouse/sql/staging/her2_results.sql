-- staging/her2_results: the current version of each result (lab_id, test_id), the highest
-- result_version received. It is the history's rows flagged is_current (the view
-- staging.her2_results, warehouse.ensure_schema); the older versions stay in the history,
-- unflagged. The step's versions went into the history flagged current
-- (staging/her2_results_history); here every current row of a result but its highest version
-- loses the flag. A second copy of the current rows, as a table, cost staging 10M fresh rows
-- 13.9 s of writing, and 0.6 GB of the warehouse (README "Scale and scale-out").
-- Kept result by result, so a night costs what its rows cost: only the results of the temp
-- table changed_results (the (lab_id, test_id) this step received a new version of; all of
-- them on a replay) are looked at. The specimens and patients of their current rows, before
-- and after, go to ops.mart_changes: what the marts recompute (only once marts exist,
-- ops.mart_state: before the first build, and on a replay, every mart is built whole anyway).
--
-- The current rows of the changed results: this step's versions (every row of its files,
-- flagged current when inserted; the history is appended in file order, so DuckDB skips
-- the older row groups) and the earlier rows they may replace. Found once, then read,
-- logged and, all but each result's highest version, unflagged by row id (row ids hold
-- within the staging transaction: no checkpoint runs while it is open). The earlier rows
-- are looked for only for the results that may have earlier rows (the temp table
-- contested_results, staging/contested_results), by test_id alone first, then by the whole
-- key among those rows: a pass over three narrow columns of the history (is_current,
-- test_id, file_id), whose other columns are read only in the row groups of the rows found
-- (patient_key, 64 characters, is most of the bytes). Over the former table of current
-- results, 0.21-0.33 s against 0.64-0.87 s for a semi join on (lab_id, test_id) reading all
-- four columns (a 10M night's staging, in process: the same current rows and
-- ops.mart_changes, hashed).
CREATE OR REPLACE TEMP TABLE changed_current AS
SELECT rowid AS row_id, lab_id, test_id, result_version, file_id, source_row
FROM staging.her2_results_history
WHERE file_id IN (SELECT file_id FROM batch_files)
UNION ALL
SELECT rowid AS row_id, lab_id, test_id, result_version, file_id, source_row
FROM staging.her2_results_history
WHERE rowid IN (
    SELECT rowid FROM staging.her2_results_history
    WHERE is_current = true
        AND test_id IN (
            SELECT test_id FROM changed_results SEMI JOIN contested_results USING (lab_id, test_id)
        )
        AND file_id NOT IN (SELECT file_id FROM batch_files)
)
    AND (lab_id, test_id) IN (SELECT (lab_id, test_id) FROM changed_results)
;
-- Which of them stop being current: all but the highest result_version of each result that
-- has more than one (a result sent in several versions in one step, or a version replacing
-- a current row), ranked on the key columns alone. Two current rows of one version do not
-- arise from staging (a version received again is a repeat or a conflict, never a second
-- row); should a hand-edited history hold them, the later arrival stays current.
CREATE OR REPLACE TEMP TABLE changed_losers AS
WITH contested AS (
    SELECT lab_id, test_id FROM changed_current GROUP BY ALL HAVING count(*) > 1
)
SELECT row_id, file_id
FROM changed_current
SEMI JOIN contested USING (lab_id, test_id)
QUALIFY row_number() OVER (
    PARTITION BY lab_id, test_id ORDER BY result_version DESC, file_id DESC, source_row DESC
) > 1
;
-- The specimens and patients of the current rows before (those of earlier steps, winners or
-- not) and after (the winners): this step's winners, found by their files (0.003 s in a 10M
-- night), and the earlier current rows, by row id (a few hundred, 0.06-0.15 s). All of them
-- by row id took 0.63 s, and with the filters inside the look-up's subquery 1.64 s (DuckDB
-- read three columns of every history row; README "Scale and scale-out").
INSERT INTO ops.mart_changes (lab_id, accession_id, patient_key)
SELECT DISTINCT lab_id, accession_id, patient_key
FROM (
    SELECT lab_id, accession_id, patient_key
    FROM staging.her2_results_history
    WHERE file_id IN (SELECT file_id FROM batch_files)
        AND rowid NOT IN (SELECT row_id FROM changed_losers)
    UNION ALL
    SELECT lab_id, accession_id, patient_key
    FROM staging.her2_results_history
    WHERE rowid IN (
        SELECT row_id FROM changed_current
        WHERE file_id NOT IN (SELECT file_id FROM batch_files)
    )
)
WHERE EXISTS (SELECT 1 FROM ops.mart_state)
;
UPDATE staging.her2_results_history SET is_current = false
WHERE rowid IN (SELECT row_id FROM changed_losers)
;
DROP TABLE changed_losers
;
DROP TABLE changed_current
;
