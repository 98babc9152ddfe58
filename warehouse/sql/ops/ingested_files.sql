-- ops/ingested_files: per-file accounting of this step's files.
-- Invariant: rows_read = rows_staged + rows_quarantined (a repeat counts as staged).
UPDATE ops.ingested_files AS f
SET rows_staged = c.staged,
    rows_repeated = c.repeated,
    rows_quarantined = c.quarantined,
    staged_at = $staged_at,
    staged_run_id = $run_id
FROM (
    SELECT b.file_id,
        (SELECT count(*) FROM verdicts AS v WHERE v.file_id = b.file_id AND v.verdict <> 'conflict') AS staged,
        (SELECT count(*) FROM verdicts AS v WHERE v.file_id = b.file_id AND v.verdict = 'repeat') AS repeated,
        (SELECT count(*) FROM quarantine.rejected_rows AS q WHERE q.file_id = b.file_id) AS quarantined
    FROM batch_files AS b
) AS c
WHERE f.file_id = c.file_id
;
