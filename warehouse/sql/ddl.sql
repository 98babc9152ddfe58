-- Every persistent table of the warehouse. Idempotent: run at the start of each run.
-- No column here ever holds a patient name, birth date or MRN (spec: lis-extract.md).
-- Keys are unique by construction and verified by the blocking asset check
-- keys_unique (pipelines/checks.py), not by PRIMARY KEY: DuckDB keeps those
-- indexes in memory and they cost more than the rest of a million-row load.
CREATE SCHEMA IF NOT EXISTS ops
;
CREATE SCHEMA IF NOT EXISTS raw
;
CREATE SCHEMA IF NOT EXISTS staging
;
CREATE SCHEMA IF NOT EXISTS quarantine
;
CREATE SCHEMA IF NOT EXISTS marts
;
-- One row per file that landed in the inbox (duplicates and rejected files included).
CREATE TABLE IF NOT EXISTS ops.ingested_files (
    file_id          BIGINT PRIMARY KEY,     -- arrival order: first arrival wins conflicts
    file_name        VARCHAR NOT NULL,
    sha256           VARCHAR NOT NULL,
    size_bytes       BIGINT NOT NULL,
    status           VARCHAR NOT NULL,       -- ingested | duplicate | rejected
    reason           VARCHAR,                -- why a file was rejected, or whose duplicate it is
    duplicate_of     BIGINT,                 -- file_id of the first file with the same bytes
    archive_path     VARCHAR,
    ingested_at      TIMESTAMP NOT NULL,     -- UTC
    arrival_date     DATE NOT NULL,          -- local date: no result may be dated after it
    columns_missing  VARCHAR[],              -- optional contract columns absent (read as empty)
    columns_extra    VARCHAR[],              -- unknown columns kept in raw.her2_rows.extra
    rows_read        BIGINT NOT NULL DEFAULT 0,
    rows_staged      BIGINT NOT NULL DEFAULT 0,   -- valid rows, including identical repeats
    rows_quarantined BIGINT NOT NULL DEFAULT 0,
    rows_repeated    BIGINT NOT NULL DEFAULT 0,   -- of rows_staged: repeats that changed nothing
    staged_at        TIMESTAMP,              -- NULL until validated into staging
    run_id           VARCHAR,                -- Dagster run that ingested the file
    staged_run_id    VARCHAR                 -- Dagster run that (last) staged it
)
;
-- The LIS vocabulary (schemas/vocabulary.py), reloaded at every run.
CREATE TABLE IF NOT EXISTS ops.vocabulary (
    field     VARCHAR NOT NULL,
    spelling  VARCHAR NOT NULL,
    canonical VARCHAR NOT NULL,
    assay     VARCHAR
)
;
-- The raw layer: values exactly as read (text), PHI aside, with file and row.
CREATE TABLE IF NOT EXISTS raw.her2_rows (
    file_id            BIGINT NOT NULL,
    source_row         BIGINT NOT NULL,     -- 1-based among the file's data rows
    lab_id             VARCHAR,
    performing_lab     VARCHAR,
    test_id            VARCHAR,
    result_version     VARCHAR,
    accession_id       VARCHAR,
    patient_key        VARCHAR,             -- HMAC-SHA256 of patient_mrn (her2qa/ingest/phi.py)
    specimen_role      VARCHAR,
    specimen_site      VARCHAR,
    collection_date    VARCHAR,
    report_date        VARCHAR,
    cold_ischemia_min  VARCHAR,
    fixation_hours     VARCHAR,
    assay              VARCHAR,
    assay_kit          VARCHAR,
    ihc_score          VARCHAR,
    ihc_pct_stained    VARCHAR,
    ish_her2_per_cell  VARCHAR,
    ish_cep17_per_cell VARCHAR,
    ish_ratio          VARCHAR,
    ish_cells_counted  VARCHAR,
    reported_result    VARCHAR,
    pathologist_id     VARCHAR,
    test_purpose       VARCHAR,
    malformed          VARCHAR,             -- set when the CSV record itself was broken
    extra              JSON                 -- unknown columns, by header name
)
;
-- Every version of every valid result (amendments never delete). is_current flags the
-- current version of each result (lab_id, test_id): the view staging.her2_results
-- (warehouse.ensure_schema makes it after this file).
CREATE TABLE IF NOT EXISTS staging.her2_results_history (
    lab_id             VARCHAR NOT NULL,
    performing_lab     VARCHAR NOT NULL,
    test_id            VARCHAR NOT NULL,
    result_version     INTEGER NOT NULL,
    accession_id       VARCHAR NOT NULL,
    patient_key        VARCHAR NOT NULL,
    specimen_role      VARCHAR NOT NULL,
    specimen_site      VARCHAR,
    collection_date    DATE NOT NULL,
    report_date        DATE NOT NULL,
    cold_ischemia_min  DOUBLE,
    fixation_hours     DOUBLE,
    assay              VARCHAR NOT NULL,
    assay_kit          VARCHAR,
    ihc_score          VARCHAR,
    ihc_pct_stained    DOUBLE,
    ish_her2_per_cell  DOUBLE,
    ish_cep17_per_cell DOUBLE,
    ish_ratio          DOUBLE,
    ish_cells_counted  INTEGER,
    reported_result    VARCHAR NOT NULL,
    pathologist_id     VARCHAR,
    test_purpose       VARCHAR NOT NULL,
    file_id            BIGINT NOT NULL,
    source_file        VARCHAR NOT NULL,
    source_row         BIGINT NOT NULL,
    is_current         BOOLEAN DEFAULT true  -- staging/her2_results keeps it
)
;
-- One row per rejected input row, with every reason that applies.
CREATE TABLE IF NOT EXISTS quarantine.rejected_rows (
    file_id      BIGINT NOT NULL,
    source_file  VARCHAR NOT NULL,
    source_row   BIGINT NOT NULL,
    lab_id       VARCHAR,
    test_id      VARCHAR,
    reason_codes VARCHAR[] NOT NULL,        -- machine-readable, e.g. ratio_mismatch
    reason_fields VARCHAR[] NOT NULL,       -- the field each reason is about
    reasons      VARCHAR[] NOT NULL,        -- as a person reads them
    raw          JSON NOT NULL              -- the row as read, patient_key instead of the MRN
)
;
-- Columns added after the first release of a table (older warehouses get them here).
ALTER TABLE ops.ingested_files ADD COLUMN IF NOT EXISTS staged_run_id VARCHAR
;
-- Ingest accounting beyond rows (her2qa/ingest/inbox.py): physical lines beside records, so
-- lines merged by an unterminated quote are visible; records kept without values; extra
-- columns dropped because their name or values look like patient identifiers.
ALTER TABLE ops.ingested_files ADD COLUMN IF NOT EXISTS physical_lines BIGINT
;
ALTER TABLE ops.ingested_files ADD COLUMN IF NOT EXISTS rows_malformed BIGINT
;
ALTER TABLE ops.ingested_files ADD COLUMN IF NOT EXISTS columns_dropped INTEGER
;
ALTER TABLE ops.ingested_files ADD COLUMN IF NOT EXISTS columns_dropped_by_name INTEGER
;
ALTER TABLE ops.ingested_files ADD COLUMN IF NOT EXISTS columns_dropped_by_value INTEGER
;
-- Input contract version 2 (spec/lis-extract.md, 2026-12-04): expected_result, the proficiency-
-- testing provider's key, on proficiency rows only (as read in raw; normalised in staging: an
-- IHC score 0 / 1+ / 2+ / 3+, or positive / negative). Last column of both tables, in a new
-- warehouse as in an older one, so the two have the same column order.
ALTER TABLE raw.her2_rows ADD COLUMN IF NOT EXISTS expected_result VARCHAR
;
ALTER TABLE staging.her2_results_history ADD COLUMN IF NOT EXISTS expected_result VARCHAR
;
-- The case identifiers of every raw row as fingerprints (warehouse/sql/macros/identifiers.sql),
-- for the site's identifier check: one row per row of raw.her2_rows, written in the same
-- transaction (her2qa/ingest/inbox.py). ensure_schema fills it whole when the counts differ
-- (a warehouse older than the table).
CREATE TABLE IF NOT EXISTS ops.identifier_fingerprints (
    file_id            BIGINT NOT NULL,
    patient_key_prefix UBIGINT,
    accession_id       UBIGINT,
    test_id            UBIGINT
)
;
-- Dropped columns (older warehouses lose them here). content_hash, a hash of a version's
-- values: staging/verdicts compares the values themselves, and only of the versions that
-- arrive more than once.
ALTER TABLE staging.her2_results_history DROP COLUMN IF EXISTS content_hash
;
-- Added columns (older warehouses gain them here; warehouse.ensure_schema then flags the
-- rows of their former table of current results).
ALTER TABLE staging.her2_results_history ADD COLUMN IF NOT EXISTS is_current BOOLEAN DEFAULT true
;
-- The marts' work list (warehouse/build.py): every specimen and patient whose current results
-- changed since the marts were last built, before and after the change, appended by staging
-- in its own transaction and cleared by the mart build in its own; a run killed between the
-- two leaves the work for the next run, never loses it. patient_key is the keyed hash.
CREATE TABLE IF NOT EXISTS ops.mart_changes (
    lab_id       VARCHAR NOT NULL,
    accession_id VARCHAR NOT NULL,
    patient_key  VARCHAR NOT NULL
)
;
-- What the marts were last built from (one row): the code and configuration fingerprint. An
-- incremental build is only right on marts built by the same rules; otherwise it is a full one.
CREATE TABLE IF NOT EXISTS ops.mart_state (
    fingerprint VARCHAR NOT NULL,
    built_at    TIMESTAMP NOT NULL,
    mode        VARCHAR NOT NULL          -- full | incremental
)
;
-- When a build last changed a case-level table or an aggregate: the built_at of the last
-- build that recomputed any (a build with nothing staged rebuilds only the findings and the
-- configuration's tables, and keeps the earlier value). The restricted worklists written from
-- that state are not written again (dashboards/site/worklists.py).
ALTER TABLE ops.mart_state ADD COLUMN IF NOT EXISTS changed_at TIMESTAMP
;
-- The last incremental build's scope (closed over patients): the rows it recomputed are the
-- case-level rows of these specimens / patients, and the integrity checks of that build read
-- those rows (pipelines/factory.py). Empty after a full build.
CREATE TABLE IF NOT EXISTS ops.mart_scope_specimens (
    lab_id       VARCHAR NOT NULL,
    accession_id VARCHAR NOT NULL
)
;
CREATE TABLE IF NOT EXISTS ops.mart_scope_patients (
    patient_key VARCHAR NOT NULL
)
;
-- Where that build's rows of each case-level table stand. The merge appended them, so they
-- are the row ids first_rowid..last_rowid while the table still has rows_total rows and
-- last_rowid is its last (warehouse/build.py, scope_rows). Written once the build has
-- committed (row ids are final only then); a table without a row here is read by its keys.
CREATE TABLE IF NOT EXISTS ops.mart_scope_tables (
    table_name  VARCHAR NOT NULL,
    first_rowid BIGINT NOT NULL,
    last_rowid  BIGINT NOT NULL,
    rows_total  BIGINT NOT NULL
)
;
-- The last look at each inbox name whose bytes are recorded (ops.ingested_files): a file whose
-- status (size, times, inode) is unchanged since is not read again (her2qa/ingest/inbox.py).
CREATE TABLE IF NOT EXISTS ops.inbox_looks (
    file_name  VARCHAR NOT NULL,
    sha256     VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL,
    mtime_ns   BIGINT NOT NULL,
    ctime_ns   BIGINT NOT NULL,
    inode      UBIGINT NOT NULL,
    device     UBIGINT NOT NULL,
    looked_ns  BIGINT NOT NULL           -- when the status was taken (ns since the epoch)
)
;
