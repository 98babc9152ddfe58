-- ops.identifier_fingerprints: the fingerprints of one file's raw rows (macros/identifiers),
-- written in the transaction that writes those rows (her2qa/ingest/inbox.py), so the table
-- keeps one row per raw row. (warehouse.ensure_schema refills it whole when it has not.)
INSERT INTO ops.identifier_fingerprints
SELECT * FROM identifier_fingerprints() WHERE file_id = $file_id
