"""The one runner of the marts and findings: staging -> every table of the catalog's ``marts``
and ``findings`` layers, in build order, in ONE transaction (readers see all the old tables or
all the new ones).

Two modes, one set of SQL files:

    full          every table rebuilt whole (the first build, a rebuild, new rules or settings)
    incremental   the nightly build: the case-level tables (catalog ``scope``) recomputed only
                  for the specimens and patients staging logged in ``ops.mart_changes``, the
                  additive tables (catalog ``counts_of``) given the scope's change of counts,
                  the other aggregates and findings rebuilt from those; with nothing staged
                  since the last build, only the findings (they read the clock)

Incremental, step by step: the scope is closed over patients (every specimen of a patient in
scope, every patient of a specimen in scope, until nothing is added), because a case-level row
depends on its patient's rows alone; the scope's current results are copied into an in-memory
database (``mart_scope``) that has the warehouse's schema names, so the case-level SQL files
run there unchanged; then, in the one transaction, each case-level table's rows of the scope
are replaced by the scope's, and the other tables are rebuilt; once committed, the row ids of
the rows merged in are recorded (``ops.mart_scope_tables``) for the build's checks to fetch
them by id (``scope_rows``). An additive table's SQL runs in ``mart_scope`` too, and its
SELECT on the scope's rows of the table it counts as they stood, just before the merge deletes
them: the stored counts, plus the scope's new counts, minus its old ones, are the counts of a
full build.
``ops.mart_state`` records the fingerprint of the rules and settings the marts were built by:
a change forces a full build, as does a scope over ``FULL_ABOVE`` of the current results (a
bulk load).
tests/warehouse/test_incremental.py shows incremental == full after random sequences of files.

A full build over more than ``PARTITION_RESULTS`` current results makes its case-level tables a
partition of patients at a time, through the same scope database: each partition's results
copied in, its tables built there and appended to ``<table>__next`` in the warehouse; the
transaction then puts those in place of the tables and builds the rest as above. Memory and
temp disk are then those of a build of one partition (at 50M results a build in one piece
needed 3 GB of memory and 20 GB of temp). Which patients go together:
warehouse/sql/partitions/.

    macros      warehouse/sql/macros/*.sql (ASCO/CAP rules, statistics, rates): temporary, per
                connection; ``define_macros`` is how every reader of the marts gets them
    settings    the configuration's per-lab rows (guideline periods, lab targets) reach SQL as
                parameters, never formatted into a statement
    tables      ``catalog.build_order()``: each table after the tables it reads
    summary     row counts and the catalog's headline figures per table

DuckDB may take 80% of the machine's memory by default; the build caps it at ``MEMORY_LIMIT``
(spilling to disk beyond), which keeps 10M staged rows within a 4 GB budget
(benchmarks/marts_benchmark.py), and restores the setting afterwards.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

import warehouse
from her2qa.config import SiteConfig
from warehouse import catalog

MACROS = (
    "macros/asco_cap_rules",
    "macros/statistics",
    "macros/rates",
    "macros/cap11",  # after statistics: a macro's body is bound where it is defined
    "macros/preanalytic",
    "macros/formatting",
)
MEMORY_LIMIT = "3GB"
# A scope over this share of the current results is a bulk load: a full build is cheaper.
FULL_ABOVE = 0.25
# A full build over more current results than this is made in partitions of about this many.
PARTITION_RESULTS = 10_000_000
NEXT = "__next"  # suffix of a case-level table built in partitions, until the swap
# A nightly scope over more current results than this (a bulk batch onto a large warehouse)
# is built in a file too, as a partition is (_build_in_partitions says why).
SCOPE_IN_MEMORY = 1_000_000
SCOPE_DB = "mart_scope"
# What the case-level SQL reads besides other case-level tables: copied into the scope database
# (staging's rows of the scope; the configuration tables whole).
SCOPE_INPUTS = ("staging.her2_results", "marts.guideline_periods", "marts.reference_bands")
_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class BuildSummary:
    rows: dict[str, int]  # table -> row count
    figures: dict[str, dict[str, float]]  # table -> headline figures (catalog; None left out)
    memory_limit: str = ""  # DuckDB's memory_limit in force during the build
    mode: str = "full"  # full | incremental
    scope_specimens: int = 0  # specimens recomputed (incremental); 0 on a full build
    scope_patients: int = 0

    def figure(self, table: str, name: str, default: float = 0) -> float:
        return self.figures.get(table, {}).get(name, default)


def define_macros(con: duckdb.DuckDBPyConnection) -> None:
    """The rule, statistics and formatting macros on this connection (temporary)."""
    for name in MACROS:
        warehouse.run(con, name)


def build_marts(
    con: duckdb.DuckDBPyConnection,
    site: SiteConfig,
    *,
    as_of: datetime | None = None,
    memory_limit: str | None = MEMORY_LIMIT,
    tables: tuple[catalog.Table, ...] | None = None,
    incremental: bool = True,
) -> BuildSummary:
    """Build the marts and findings from ``staging`` (one transaction): incrementally when the
    marts were built before by the same rules and settings, else whole (``incremental=False``
    or a ``tables`` subset: always whole).

    ``as_of`` is the moment the findings are judged at (data freshness), default now."""
    order = tables or catalog.build_order()
    params = settings_params(site, as_of=as_of)
    stamp = fingerprint(site)
    with _memory_capped(con, memory_limit) as limit_in_force:
        define_macros(con)
        load_settings(con, site)
        _drop_unfinished(con)
        scope = None
        if incremental and tables is None and _built_by(con) == stamp:
            scope = _close_scope(con)
        partitioned = False
        try:
            if scope not in (None, (0, 0)):
                _build_scope(con, params, database=_scope_database(con))
            elif scope is None and tables is None:
                partitioned = _build_in_partitions(con, site, params)
            merged: dict[str, int] = {}
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute("DELETE FROM ops.mart_scope_tables")  # located anew, after COMMIT
                if scope == (0, 0):  # nothing recomputed: the checks of this build read nothing
                    con.execute("DELETE FROM ops.mart_scope_specimens")
                    con.execute("DELETE FROM ops.mart_scope_patients")
                elif scope is not None:
                    merged = _merge_scope(con)
                    _merge_counts(con)
                if partitioned:
                    _put_partitioned_in_place(con)
                for t in order:
                    if scope is not None and (t.scope or t.counts_of):
                        continue
                    if partitioned and t.scope:
                        continue
                    if scope == (0, 0) and _from_results(t):
                        continue  # nothing staged changed: the aggregates stand as they are
                    _make(con, t, params, site)
                for t in order:
                    if t.layer == "scratch":
                        con.execute(f"DROP TABLE IF EXISTS {t.name}")
                mode = "incremental" if scope is not None else "full"
                if tables is None:
                    _record_state(con, stamp, mode, changed=scope != (0, 0))
                else:  # some tables rebuilt whole: what the worklists come from may differ
                    con.execute("UPDATE ops.mart_state SET changed_at = now()::TIMESTAMP")
                summary = summarise(con, [t for t in order if t.layer != "scratch"])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            if merged:
                _locate_scope_rows(con, merged)
        finally:
            _drop_scope(con)
    specimens, patients = scope or (0, 0)
    return BuildSummary(summary.rows, summary.figures, limit_in_force, mode, specimens, patients)


def _make(con: duckdb.DuckDBPyConnection, t: catalog.Table, params: dict, site: SiteConfig) -> None:
    """Run a table's SQL file; the guideline periods also get the configuration's rows."""
    warehouse.run(con, t.sql, params)
    if t.name == "marts.guideline_periods" and guideline_rows(site):
        con.executemany(
            "INSERT INTO marts.guideline_periods VALUES (?, ?, ?, ?)", guideline_rows(site)
        )


def fingerprint(site: SiteConfig) -> str:
    """The rules and settings the marts are built by: every macro and table SQL file, and the
    configuration. Incremental results extend marts built by the same ones, never others."""
    digest = hashlib.sha256(site.fingerprint().encode())
    for name in (*MACROS, *(t.sql for t in catalog.build_order())):
        digest.update(name.encode() + b"\0" + warehouse.sql(name).encode() + b"\0")
    return digest.hexdigest()


def _built_by(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute("SELECT max(fingerprint) FROM ops.mart_state").fetchone()
    return row[0] if row else None


def _record_state(con: duckdb.DuckDBPyConnection, stamp: str, mode: str, *, changed: bool) -> None:
    """The marts now stand for every staged result: the work list is done. ``changed``: this
    build recomputed case-level tables or aggregates (ops.mart_state.changed_at)."""
    con.execute("DELETE FROM ops.mart_changes")
    if mode == "full":  # every row was built (and is checked), not a scope's
        con.execute("DELETE FROM ops.mart_scope_specimens")
        con.execute("DELETE FROM ops.mart_scope_patients")
    (changed_at,) = con.execute("SELECT max(changed_at) FROM ops.mart_state").fetchone()
    con.execute("DELETE FROM ops.mart_state")
    con.execute(
        "INSERT INTO ops.mart_state (fingerprint, built_at, mode, changed_at) "
        "SELECT $fingerprint, now()::TIMESTAMP, $mode, "
        "CASE WHEN $changed OR $changed_at IS NULL THEN now()::TIMESTAMP ELSE $changed_at END",
        {"fingerprint": stamp, "mode": mode, "changed": changed, "changed_at": changed_at},
    )


def _close_scope(con: duckdb.DuckDBPyConnection) -> tuple[int, int] | None:
    """The night's scope, closed over patients, as temp tables scope_specimens (lab_id,
    accession_id), scope_patients (patient_key) and scope_results (their current results).
    Returns (specimens, patients), or None when a full build is due (a bulk load)."""
    if con.execute("SELECT count(*) FROM ops.mart_changes").fetchone()[0] == 0:
        return 0, 0  # nothing staged changed (no new file, or nothing in it staged)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE scope_specimens AS "
        "SELECT DISTINCT lab_id, accession_id FROM ops.mart_changes"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE scope_patients AS "
        "SELECT DISTINCT patient_key FROM ops.mart_changes"
    )
    # Passes over the key columns of the current results, each giving the row ids and keys of
    # the scope's rows, until they add nothing to the scope (two in practice: the logged
    # specimens and patients, then the patients' other specimens); then the rows themselves,
    # fetched by row id (reading whole rows in each pass cost a 10M night 0.4 s more). One
    # transaction: a checkpoint between two statements may vacuum row groups, which moves
    # rows to other row ids (DuckDB 2.0 docs, VACUUM); none runs while one is open.
    # The first pass looks for every key of the scope: EXISTS on columns, not IN on a
    # (lab_id, accession_id) struct built for every row (0.43 s against 0.55 s a pass over
    # 10M results). Each later pass looks only for the keys the one before added (usually
    # specimens alone, so patient_key, 64 characters a row, is not read) and finds their row
    # ids first, reading the other key columns in the row groups found (a 10M night's second
    # pass: 0.15 s against 0.41 s like the first; the same scope).
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE scope_row_ids AS "
            + _current_keys(_rows_of("scope_specimens", "scope_patients"))
        )
        rows = "SELECT lab_id, accession_id, patient_key FROM scope_row_ids"
        while True:
            new_specimens, new_patients = _grow_scope(con, rows)
            if not (new_specimens or new_patients):
                break  # closed: every row of a scope patient belongs to a scope specimen
            found = _rows_of(
                "scope_new_specimens" if new_specimens else None,
                "scope_new_patients" if new_patients else None,
            )
            con.execute(
                "CREATE OR REPLACE TEMP TABLE scope_found AS "  # noqa: S608 - SQL of this module
                + _current_keys(
                    "r.rowid IN (SELECT r.rowid FROM staging.her2_results_history AS r "  # noqa: S608
                    f"WHERE {found}) AND r.rowid NOT IN (SELECT row_id FROM scope_row_ids)"
                )
            )
            con.execute("INSERT INTO scope_row_ids SELECT * FROM scope_found")
            rows = "SELECT lab_id, accession_id, patient_key FROM scope_found"
        specimens, patients, rows, everyone = con.execute(
            "SELECT (SELECT count(*) FROM scope_specimens), "
            "(SELECT count(*) FROM scope_patients), (SELECT count(*) FROM scope_row_ids), "
            "(SELECT count(*) FROM staging.her2_results)"
        ).fetchone()
        bulk = rows > FULL_ABOVE * max(everyone, 1)
        if not bulk:  # a bulk load is built whole: its rows are never fetched here
            con.execute(
                "CREATE OR REPLACE TEMP TABLE scope_results AS SELECT * EXCLUDE (is_current) "
                "FROM staging.her2_results_history "
                "WHERE rowid IN (SELECT row_id FROM scope_row_ids)"
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    if bulk:
        _drop_scope(con)
        return None
    return specimens, patients


def _current_keys(where: str) -> str:
    """SQL of the row ids and keys (lab_id, accession_id, patient_key) of the current results
    whose history row (alias ``r``) meets ``where``. The current results are the history's
    rows flagged is_current (staging/her2_results), so their row ids are the history's. The
    flag is read as a column and tested after the look-up: in the same WHERE as the scope's
    EXISTS tests (as "is_current" or "is_current = true") it cost the first pass 8.0-9.7 s
    against 0.49-0.55 s at 10M (the same rows; README "Scale and scale-out")."""
    return (
        "SELECT * EXCLUDE (is_current) FROM (SELECT r.rowid AS row_id, r.lab_id, "  # noqa: S608
        "r.accession_id, r.patient_key, r.is_current FROM staging.her2_results_history AS r "
        f"WHERE {where}) WHERE is_current"
    )


def _rows_of(specimens: str | None, patients: str | None) -> str:
    """SQL that is true for a current result (alias ``r``) of a specimen of the table
    ``specimens`` (lab_id, accession_id) or of a patient of ``patients`` (patient_key)."""
    tests = []
    if specimens:
        tests.append(
            f"EXISTS (SELECT 1 FROM {specimens} AS s "  # noqa: S608 - names of this module
            "WHERE s.lab_id = r.lab_id AND s.accession_id = r.accession_id)"
        )
    if patients:
        tests.append(f"EXISTS (SELECT 1 FROM {patients} AS p WHERE p.patient_key = r.patient_key)")  # noqa: S608
    return " OR ".join(tests)


def _grow_scope(con: duckdb.DuckDBPyConnection, rows: str) -> tuple[int, int]:
    """Add the specimens and patients of ``rows`` (SQL: lab_id, accession_id, patient_key) to
    the scope, the new ones also into scope_new_specimens and scope_new_patients; returns
    how many of each were new."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE scope_keys AS {rows}")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE scope_new_specimens AS "
        "SELECT lab_id, accession_id FROM scope_keys EXCEPT SELECT * FROM scope_specimens"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE scope_new_patients AS "
        "SELECT patient_key FROM scope_keys EXCEPT SELECT * FROM scope_patients"
    )
    con.execute("INSERT INTO scope_specimens SELECT * FROM scope_new_specimens")
    con.execute("INSERT INTO scope_patients SELECT * FROM scope_new_patients")
    return con.execute(
        "SELECT (SELECT count(*) FROM scope_new_specimens), "
        "(SELECT count(*) FROM scope_new_patients)"
    ).fetchone()


def _from_results(table: catalog.Table) -> bool:
    """An aggregate of the staged results (through the case-level tables), as opposed to the
    configuration's tables and the findings, which also read the raw layer, the files and
    the clock (data freshness) and are rebuilt at every build."""
    if table.layer != "marts" or table.scope:
        return False
    seen, todo = set(), list(table.upstream)
    while todo:
        name = todo.pop()
        if name.startswith("staging."):
            return True
        if name not in seen:
            seen.add(name)
            todo += catalog.table(name).upstream
    return False


def _build_scope(
    con: duckdb.DuckDBPyConnection,
    params: dict,
    results: str = "SELECT * FROM temp.main.scope_results",
    results_params: dict | None = None,
    site: SiteConfig | None = None,
    database: str = ":memory:",
) -> None:
    """The case-level and additive tables of the scope, in the database ``mart_scope`` (in
    memory, or the file ``database``): same schema names, so each SQL file runs there
    unchanged on the scope's rows. ``results``: SQL of the scope's current results.
    With ``site`` (a partition of a full build) the configuration's tables are made from it,
    as the build makes them, and the additive tables are left out (a full build counts the
    case-level tables whole); without, they are copied from the warehouse (a nightly build
    runs by the rules and settings they were made by)."""
    home = _home(con)
    quoted = "'" + database.replace("'", "''") + "'"  # ATTACH takes no parameter
    con.execute(f"ATTACH {quoted} AS {SCOPE_DB}")
    con.execute(f"USE {SCOPE_DB}")
    try:
        con.execute("CREATE SCHEMA staging")
        con.execute("CREATE SCHEMA marts")
        con.execute(f"CREATE TABLE staging.her2_results AS {results}", results_params)
        for name in SCOPE_INPUTS[1:]:
            if site is None:
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM {home}.{name}")  # noqa: S608
            else:
                _make(con, catalog.table(name), params, site)
        for t in catalog.build_order():
            if t.scope or (t.counts_of and site is None):
                warehouse.run(con, t.sql, params)
    finally:
        con.execute(f"USE {home}")


def _home(con: duckdb.DuckDBPyConnection) -> str:
    """The warehouse file's catalog name, quoted."""
    (home,) = con.execute("SELECT current_database()").fetchone()
    return '"' + home.replace('"', '""') + '"'


def _build_in_partitions(con: duckdb.DuckDBPyConnection, site: SiteConfig, params: dict) -> bool:
    """A full build's case-level tables, a partition of patients at a time, appended to
    ``<table>__next`` (committed as they go: a run killed here leaves them to
    ``_drop_unfinished``). False when the current results are few enough for one piece."""
    (results,) = con.execute("SELECT count(*) FROM staging.her2_results").fetchone()
    parts = -(-results // PARTITION_RESULTS)
    if parts <= 1:
        return False
    warehouse.run(con, "partitions/links", {"parts": parts})
    while True:  # linked patients moved together; each step only lowers a partition
        warehouse.run(con, "partitions/step")
        (moved,) = con.execute("SELECT count(*) FROM partition_next WHERE moved").fetchone()
        con.execute(
            "CREATE OR REPLACE TEMP TABLE partition_of AS "
            "SELECT patient_key, part FROM partition_next"
        )
        if not moved:
            break
    partition = (
        f"SELECT r.* FROM {_home(con)}.staging.her2_results AS r "  # noqa: S608 - quoted name
        "LEFT JOIN temp.main.partition_of AS p USING (patient_key) "
        "WHERE coalesce(p.part, hash(r.patient_key) % $parts) = $part"
    )
    # Each partition's tables in a file beside the warehouse, not in memory: an in-memory
    # database spills its tables to DuckDB's temp directory uncompressed (10M results in two
    # partitions: 6.8 GB of temp, against 1.9 GB with a file; README "Scale and scale-out").
    scratch = _partition_file(con)
    for part in range(parts):
        database = _fresh(scratch)
        _build_scope(con, params, partition, {"parts": parts, "part": part}, site, database)
        for t in catalog.case_level():  # names from the catalog, never from input
            built = f"{SCOPE_DB}.{t.name}"
            if part == 0:
                con.execute(f"CREATE OR REPLACE TABLE {t.name}{NEXT} AS FROM {built}")
            else:
                con.execute(f"INSERT INTO {t.name}{NEXT} FROM {built}")
        con.execute(f"DETACH {SCOPE_DB}")
    for name in ("partition_links", "partition_of", "partition_next"):
        con.execute(f"DROP TABLE IF EXISTS temp.main.{name}")
    return True


def _partition_file(con: duckdb.DuckDBPyConnection) -> Path | None:
    """Where a partition's tables are built: a file beside the warehouse's (None for a
    warehouse in memory: then in memory too)."""
    (path,) = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return Path(f"{path}.partition") if path else None


def _fresh(database: Path | None) -> str:
    """``database`` (its earlier copy removed), as ATTACH takes it; None: in memory."""
    if database is None:
        return ":memory:"
    _remove(database)
    return str(database)


def _remove(database: Path | None) -> None:
    if database is not None:
        for path in (database, database.with_name(database.name + ".wal")):
            path.unlink(missing_ok=True)


def _scope_database(con: duckdb.DuckDBPyConnection) -> str:
    """Where a nightly scope is built: in memory, or in the partition file when it is large."""
    (rows,) = con.execute("SELECT count(*) FROM temp.main.scope_results").fetchone()
    return ":memory:" if rows <= SCOPE_IN_MEMORY else _fresh(_partition_file(con))


def _put_partitioned_in_place(con: duckdb.DuckDBPyConnection) -> None:
    """Inside the build's transaction: each case-level table replaced by its partitioned
    build (a rename, not a copy)."""
    for t in catalog.case_level():  # names from the catalog, never from input
        con.execute(f"DROP TABLE IF EXISTS {t.name}")
        con.execute(f"ALTER TABLE {t.name}{NEXT} RENAME TO {t.short}")


def _drop_unfinished(con: duckdb.DuckDBPyConnection) -> None:
    """The tables a partitioned build killed before its swap left behind (the file it built
    its last partition in goes with the next build's ``_drop_scope``)."""
    left = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND NOT temporary "
        "AND ends_with(table_name, $suffix)",
        {"suffix": NEXT},
    ).fetchall()
    for schema, name in left:  # a name of ours, quoted all the same
        quoted = ".".join('"' + n.replace('"', '""') + '"' for n in (schema, name))
        con.execute(f"DROP TABLE {quoted}")


# Where each kind of case-level table finds its scope, and by which columns.
SCOPES = {
    "specimen": ("ops.mart_scope_specimens", "lab_id, accession_id"),
    "patient": ("ops.mart_scope_patients", "patient_key"),
}


def scope_rows(con: duckdb.DuckDBPyConnection, table: catalog.Table) -> str:
    """SQL of the rows of a case-level table that the last incremental build recomputed (its
    scope, ops.mart_scope_*): what the build replaced, and what the checks of that build read.

    By their row ids, as the build located them (ops.mart_scope_tables), while the table is
    as it left it: the same row count and the same last row id (an append, a delete or a
    vacuum changes one of them). DuckDB's row-id filter then skips every other row group:
    the 15 case-level tables' rows after a 10M night in 0.07 s, against 2 s by their keys.
    Otherwise by their keys: a semi join over the key columns of the whole table, then the
    rows fetched by id (a semi join of whole rows read every column: 3.4 s, against 1.2 s)."""
    located = con.execute(
        "SELECT first_rowid, last_rowid, rows_total FROM ops.mart_scope_tables "
        "WHERE table_name = $name",
        {"name": table.name},
    ).fetchone()
    if located is not None:
        first, last, total = (int(v) for v in located)
        if _rows_and_last_id(con, table.name) == (total, last):
            return f"SELECT * FROM {table.name} WHERE rowid BETWEEN {first} AND {last}"  # noqa: S608
    return scope_rows_by_keys(table)


def scope_rows_by_keys(table: catalog.Table) -> str:
    """SQL of those rows found by their keys, wherever they stand in the table."""
    scope, columns = SCOPES[table.scope or ""]
    keys = f"SELECT rowid FROM {table.name} SEMI JOIN {scope} USING ({columns})"  # noqa: S608
    return f"SELECT * FROM {table.name} WHERE rowid IN ({keys})"  # noqa: S608


def _rows_and_last_id(con: duckdb.DuckDBPyConnection, name: str) -> tuple[int, int]:
    total, last = con.execute(f"SELECT count(*), coalesce(max(rowid), -1) FROM {name}").fetchone()  # noqa: S608
    return int(total), int(last)


def _merge_scope(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The scope recorded (ops.mart_scope_*), then each stored case-level table: its rows of
    the scope replaced by the scope database's. Returns the rows inserted per table."""
    con.execute("DELETE FROM ops.mart_scope_specimens")
    con.execute("DELETE FROM ops.mart_scope_patients")
    con.execute("INSERT INTO ops.mart_scope_specimens SELECT * FROM scope_specimens")
    con.execute("INSERT INTO ops.mart_scope_patients SELECT * FROM scope_patients")
    merged = {}
    counted = {t.counts_of for t in catalog.build_order() if t.counts_of}
    for t in catalog.case_level():
        scope, columns = SCOPES[t.scope or ""]
        in_scope = f"({columns}) IN (SELECT ({columns}) FROM {scope})"  # noqa: S608
        if t.name in counted:  # its rows of the scope counted before they go, found once
            con.execute(
                "CREATE OR REPLACE TEMP TABLE scope_old_rows AS "  # noqa: S608
                f"SELECT rowid AS row_id FROM {t.name} WHERE {in_scope}"
            )
            _count_before(con, t)
            con.execute(f"DELETE FROM {t.name} WHERE rowid IN (SELECT row_id FROM scope_old_rows)")  # noqa: S608
        else:
            con.execute(f"DELETE FROM {t.name} WHERE {in_scope}")  # noqa: S608
        (merged[t.name],) = con.execute(
            f"INSERT INTO {t.name} SELECT * FROM {SCOPE_DB}.{t.name}"  # noqa: S608
        ).fetchone()
    return merged


def _count_before(con: duckdb.DuckDBPyConnection, counted: catalog.Table) -> None:
    """The counts of the scope's rows of ``counted`` as they stand (row ids in scope_old_rows),
    for each additive table counting it: the table's own SELECT on those rows, into
    temp.main.before__<table>. Inside the merge's transaction, which may write no other
    database than the warehouse, so a temp table, not the SQL file run in a database of
    its own; the same row ids then delete the rows (one scan of the key columns, not two)."""
    rows = f"(SELECT * FROM {counted.name} WHERE rowid IN (SELECT row_id FROM scope_old_rows))"  # noqa: S608
    for t in catalog.build_order():
        if t.counts_of == counted.name:
            select = re.sub(rf"\b{re.escape(counted.name)}\b", rows, counting_select(t))
            con.execute(f"CREATE OR REPLACE TEMP TABLE before__{t.short} AS {select}")


def counting_select(table: catalog.Table) -> str:
    """The SELECT of an additive table's SQL file: one statement, ``CREATE OR REPLACE TABLE
    <name> AS SELECT ...`` (tests/warehouse/test_catalog.py holds every such file to it)."""
    (statement,) = warehouse.statements(warehouse.sql(table.sql))
    made = re.match(
        rf"CREATE OR REPLACE TABLE {re.escape(table.name)} AS\s+(SELECT\b.*?);?\s*$",
        statement,
        re.DOTALL,
    )
    if made is None:
        raise ValueError(f"{table.sql}.sql: not one CREATE OR REPLACE TABLE ... AS SELECT")
    return made.group(1)


def _merge_counts(con: duckdb.DuckDBPyConnection) -> None:
    """Each additive table rewritten as its counts plus the scope's counts now (``mart_scope``)
    minus the scope's counts before (``_count_before``), summed per combination (GROUP BY:
    NULLs alike), combinations left with no row dropped: the table a full build makes.
    Rewritten whole, as it is small (63k rows at 10M results)."""
    for t in catalog.build_order():
        if not t.counts_of:
            continue
        dims = ", ".join(t.key)
        counted = ", ".join(t.counts)
        sums = ", ".join(f"sum({c}) AS {c}" for c in t.counts)
        negated = ", ".join(f"-{c}" for c in t.counts)
        # names from the catalog, never from input
        changes = (
            f"SELECT {dims}, {counted} FROM {t.name} "  # noqa: S608
            f"UNION ALL SELECT {dims}, {counted} FROM {SCOPE_DB}.{t.name} "
            f"UNION ALL SELECT {dims}, {negated} FROM temp.main.before__{t.short}"
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE merged_counts AS SELECT {dims}, {sums} "  # noqa: S608
            f"FROM ({changes}) GROUP BY {dims} HAVING sum({t.counts[0]}) <> 0"
        )
        con.execute(f"DELETE FROM {t.name}")  # noqa: S608
        con.execute(f"INSERT INTO {t.name} BY NAME SELECT * FROM merged_counts")  # noqa: S608
        con.execute("DROP TABLE merged_counts")
        con.execute(f"DROP TABLE temp.main.before__{t.short}")


def _locate_scope_rows(con: duckdb.DuckDBPyConnection, merged: dict[str, int]) -> None:
    """Record where the committed merge put each table's rows of the scope: its last
    ``merged[name]`` row ids (an INSERT appends, in one run of ids; inside the transaction the
    ids were provisional). A range is recorded only when it holds that many rows and each is
    of the scope by its keys; a table left out is read by its keys."""
    located = []
    for name, n in merged.items():
        total, last = _rows_and_last_id(con, name)
        first = last - n + 1
        scope, columns = SCOPES[catalog.table(name).scope or ""]
        span = {"first": first, "last": last}
        ranged = f"SELECT * FROM {name} WHERE rowid BETWEEN $first AND $last"  # noqa: S608
        (rows,) = con.execute(f"SELECT count(*) FROM ({ranged})", span).fetchone()  # noqa: S608
        (found,) = con.execute(
            f"SELECT count(*) FROM ({ranged}) SEMI JOIN {scope} USING ({columns})",  # noqa: S608
            span,
        ).fetchone()
        if rows == found == n:
            located.append((name, first, last, total))
    if not located:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        con.executemany("INSERT INTO ops.mart_scope_tables VALUES (?, ?, ?, ?)", located)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _drop_scope(con: duckdb.DuckDBPyConnection) -> None:
    attached = con.execute(
        "SELECT count(*) FROM duckdb_databases() WHERE database_name = $name",
        {"name": SCOPE_DB},
    ).fetchone()[0]
    if attached:
        con.execute(f"DETACH {SCOPE_DB}")
    _remove(_partition_file(con))
    for name in (
        "scope_results",
        "scope_row_ids",
        "scope_keys",
        "scope_found",
        "scope_specimens",
        "scope_patients",
        "scope_new_specimens",
        "scope_new_patients",
        "scope_old_rows",
    ):
        con.execute(f"DROP TABLE IF EXISTS temp.main.{name}")


def settings_params(site: SiteConfig, *, as_of: datetime | None = None) -> dict:
    """Named parameters the mart and findings SQL may use."""
    moment = (as_of or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    return {"as_of": moment, "freshness_days": site.freshness_days}


def load_settings(con: duckdb.DuckDBPyConnection, site: SiteConfig) -> None:
    """The configuration's per-lab values as a temporary table ``lab_settings`` (setting,
    lab_id, value), read by marts/reference_bands.sql: one home for every threshold."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE lab_settings "
        "(setting VARCHAR NOT NULL, lab_id VARCHAR NOT NULL, value VARCHAR NOT NULL)"
    )
    rows = site.lab_setting_rows()
    if rows:
        con.executemany("INSERT INTO lab_settings VALUES (?, ?, ?)", rows)


def guideline_rows(site: SiteConfig) -> list[tuple]:
    """(lab_id, guideline_version, valid_from, valid_until) per configured period."""
    return [
        (lab, period.version, period.valid_from, period.until)
        for lab, cfg in sorted(site.labs.items())
        for period in cfg.guidelines
    ]


def summarise(con: duckdb.DuckDBPyConnection, tables: list[catalog.Table]) -> BuildSummary:
    """Row counts and the catalog's headline figures of ``tables``."""
    # table names come from the catalog, never from input
    count = "SELECT count(*) FROM {}"
    rows = {t.short: int(con.execute(count.format(t.name)).fetchone()[0]) for t in tables}
    figures: dict[str, dict[str, float]] = {}
    for t in tables:
        values = {
            name: con.execute(q.replace("{table}", t.name)).fetchone()
            for name, q in t.figures.items()
        }
        figures[t.short] = {
            name: _number(row[0]) for name, row in values.items() if row and row[0] is not None
        }
    return BuildSummary(rows=rows, figures=figures)


def _number(value: object) -> float:
    """An int stays an int (counts), anything else becomes a float (rates)."""
    if isinstance(value, int):
        return int(value)
    return float(value)  # type: ignore[arg-type]


@contextmanager
def _memory_capped(con: duckdb.DuckDBPyConnection, limit: str | None) -> Iterator[str]:
    """Lower DuckDB's memory_limit to ``limit`` for the duration (never raise it); yields
    the limit in force."""
    (before,) = con.execute("SELECT current_setting('memory_limit')").fetchone()
    if not limit or _bytes(limit) >= _bytes(before):
        yield before
        return
    con.execute(f"SET memory_limit = '{_checked(limit)}'")
    try:
        yield con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:  # back to the default if it was the default, else to the value read
        con.execute("RESET memory_limit")
        (default,) = con.execute("SELECT current_setting('memory_limit')").fetchone()
        if default != before and _BYTES.match(before):
            con.execute(f"SET memory_limit = '{_checked(before)}'")


def _bytes(text: str) -> float:
    """Bytes of a DuckDB memory size ('3GB', '18.6 GiB'); anything else is unlimited."""
    match = _BYTES.match(text)
    if not match:
        return float("inf")
    number, unit, binary = match.groups()
    return float(number) * (1024 if binary else 1000) ** "_KMGT".index(unit.upper() or "_")


def _checked(text: str) -> str:
    """A memory size, checked, as SET takes no parameters (never user text in SQL)."""
    if not _BYTES.match(text):
        raise ValueError(f"not a memory size: {text!r}")
    return text.strip()
