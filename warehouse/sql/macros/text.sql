-- macros/text: how a value read as text is trimmed and compared, defined once (temporary
-- macros, like macros/statistics). Loaded by the ingest connection (her2qa/ingest/inbox.py:
-- the PHI screen and the MRN's key) and by staging (warehouse/sql/staging/typed_rows.sql).
--
-- White space is any Unicode white space (tabs, no-break spaces), not only the spaces
-- DuckDB's one-argument trim() strips: a tab-only value is as missing as a blank one, and
-- " MRN1" is the same patient as "MRN1". The class is exactly the characters of Python's
-- str.isspace() (her2qa/ingest/phi.py WHITESPACE; tests/ingest/test_text_macros.py checks
-- every code point), so blank(x) is Python's x.strip() or NULL. An RE2 class, not trim(x,
-- <29 characters>): the two-argument trim() costs about 1 µs a value, the regexp a sixth.
CREATE OR REPLACE TEMP MACRO blank(x) AS nullif(regexp_replace(x,
    '^[\t-\r\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]+'
    || '|[\t-\r\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]+$',
    '', 'g'), '')
;
-- A spelling as the vocabulary (ops.vocabulary) holds it: trimmed, lower case, each inner
-- run of white space one space.
CREATE OR REPLACE TEMP MACRO fold(x) AS lower(regexp_replace(blank(x), '\s+', ' ', 'g'))
;
-- A result's identifiers (lab_id, test_id) as staging reads them from the raw text, defined
-- once: staging/typed_rows makes the staged keys with it, staging/contested_results the keys
-- a run may see twice, so the two cannot disagree on which rows are one result.
CREATE OR REPLACE TEMP MACRO result_id(x) AS blank(x)
;
