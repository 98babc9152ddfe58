-- macros/identifiers: the case identifiers of the raw layer as the site's identifier check
-- (dashboards/site/checks.py) looks for them, defined once for both sides of the look-up:
-- the fingerprints kept of every raw row (ops.identifier_fingerprints, written with the
-- file's raw rows, her2qa/ingest/inbox.py) and the tokens of the pages.
--
-- Why fingerprints: the check looks a few thousand page tokens up among every identifier the
-- warehouse ever read. Scanning raw.her2_rows' text for them grew with the warehouse (2.3 s
-- at 10M rows); three 64-bit numbers per row scan in 0.12 s. A fingerprint only says where to
-- look: a token whose fingerprint matches is confirmed on the raw rows themselves, so a
-- collision can cost time, never a false finding.
--
-- The fingerprint is 64 bits of MD5 (the digest's first 8 bytes, little-endian), a fixed
-- function: DuckDB's hash() may change between releases, and stored fingerprints must not
-- (tests/dashboards/site/test_site.py holds the value against Python's hashlib). The mask
-- spelling costs a quarter of md5_number_lower(), whose other half goes through a bit string.
CREATE OR REPLACE TEMP MACRO identifier_fingerprint(v) AS
    (md5_number(v) & 18446744073709551615::UHUGEINT)::UBIGINT
;
-- A patient_key (64 hex characters) is looked for by any prefix of 12 or more: its first 12
-- characters are what the look-up matches (checks.py's hex tokens have 12 or more).
CREATE OR REPLACE TEMP MACRO patient_key_prefix(v) AS left(v, 12)
;
-- Accession and test ids are whole tokens, as read but for the spaces around them.
CREATE OR REPLACE TEMP MACRO identifier_fingerprints() AS TABLE
SELECT
    file_id,
    identifier_fingerprint(patient_key_prefix(patient_key)) AS patient_key_prefix,
    identifier_fingerprint(trim(accession_id)) AS accession_id,
    identifier_fingerprint(trim(test_id)) AS test_id
FROM raw.her2_rows
;
