-- ops.identifier_fingerprints: the fingerprints of a batch of files' raw rows (macros/identifiers;
-- no other batch's file lies between the batch's first file_id and its last), written in the
-- transaction that writes those rows (her2qa/ingest/raw_layer.py), so the table keeps one row
-- per raw row.
-- (warehouse.ensure_schema refills it whole when it has not.)
INSERT INTO ops.identifier_fingerprints
SELECT * FROM identifier_fingerprints() WHERE file_id BETWEEN $first_file_id AND $last_file_id
