"""The DuckDB warehouse: its SQL files and the loader that runs them.

Layout (the data flows top to bottom, one SQL file per table, named after it)::

    warehouse/sql/ddl.sql                       every persistent table
    warehouse/sql/staging/typed_rows.sql        raw text -> typed values + reasons
    warehouse/sql/staging/her2_results_history.sql
    warehouse/sql/quarantine/rejected_rows.sql
    warehouse/sql/staging/her2_results.sql      current version per (lab_id, test_id)
    warehouse/sql/ops/ingested_files.sql        per-file accounting
    warehouse/sql/ops/identifier_fingerprints.sql  each raw row's identifiers, fingerprinted

Connections are short-lived (``connect``): DuckDB allows one writing process
per file, so nothing here keeps a connection open between steps.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

SQL_DIR = Path(__file__).with_name("sql")


class WarehouseError(Exception):
    """The warehouse cannot be used; the message is one line for the user."""


@cache
def sql(name: str) -> str:
    """The text of ``warehouse/sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def run(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None) -> None:
    """Execute every statement of a SQL file, with named parameters where it uses them."""
    for statement in statements(sql(name)):
        used = {k: v for k, v in (params or {}).items() if f"${k}" in statement}
        con.execute(statement, used or None)


def statements(text: str) -> list[str]:
    """The statements of a SQL file's text, comment lines dropped."""
    # Our SQL files separate statements with a line holding only ";".
    body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split("\n;\n") if s.strip().strip(";").strip()]


def _settings() -> dict[str, str]:
    """DuckDB limits: memory is bounded (it spills to disk beyond), threads = cores.

    ``HER2QA_DUCKDB_MEMORY`` (default 1GB) and ``HER2QA_DUCKDB_THREADS`` override them.
    """
    return {
        "memory_limit": os.environ.get("HER2QA_DUCKDB_MEMORY", "1GB"),
        "threads": os.environ.get("HER2QA_DUCKDB_THREADS", str(os.cpu_count() or 2)),
    }


def _is_lock_error(exc: Exception) -> bool:
    return "lock" in str(exc).lower()


@contextmanager
def connect(
    path: Path, *, read_only: bool = False, lock_timeout_s: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection; waits (with backoff) while another process holds the lock.

    The wait is ``HER2QA_LOCK_TIMEOUT`` seconds (default 30) unless given.
    """
    path = Path(path)
    if lock_timeout_s is None:
        lock_timeout_s = float(os.environ.get("HER2QA_LOCK_TIMEOUT", "30"))
    if read_only and not path.exists():
        raise WarehouseError(f"warehouse {path} does not exist yet: run `her2qa run` first")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.1
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=_settings())
            break
        except duckdb.IOException as exc:
            if _is_lock_error(exc) and time.monotonic() < deadline:
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if _is_lock_error(exc):
                raise WarehouseError(
                    f"warehouse {path} is locked by another process (a run in progress?)"
                ) from None
            raise WarehouseError(f"warehouse {path} cannot be opened: {_first_line(exc)}") from None
        except duckdb.Error as exc:
            raise WarehouseError(
                f"warehouse {path} is not a usable DuckDB file: {_first_line(exc)}"
            ) from None
    # DuckDB draws a progress bar on stdout for a query over 2 s (an upgrade's refill, a
    # fresh 10M load): noise in an unattended run's log, whatever the terminal
    con.execute("SET enable_progress_bar = false")
    try:
        yield con
    finally:
        con.close()


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the persistent tables when missing (idempotent)."""
    run(con, "ddl")
    _current_results_as_flags(con)
    _complete_identifier_fingerprints(con)  # after ddl: the macros bind to raw.her2_rows


# The current results: the history's rows flagged current. A copy of them, as a table, was
# written a second time by every staging step (13.9 s of staging 10M fresh rows, 0.6 GB of a
# 10M warehouse; README "Scale and scale-out").
# Made anew at every run's start: a view keeps the columns it was bound with, and the
# history may gain or lose one (ddl.sql). "is_current = true", not "is_current": DuckDB pushes
# the comparison into the scan, and then still turns a reader's IN (subquery) into a join.
# With the bare column, a check's filter by the run's results (catalog, run_rows) read every
# row of a 10M warehouse even when the run staged none: 0.9-1.2 s against 0.003 s.
CURRENT_RESULTS_VIEW = (
    "CREATE OR REPLACE VIEW staging.her2_results AS "
    "SELECT * EXCLUDE (is_current) FROM staging.her2_results_history WHERE is_current = true"
)


def _current_results_as_flags(con: duckdb.DuckDBPyConnection) -> None:
    """staging.her2_results as the view of the history's current rows. A warehouse of an
    earlier release kept them as a table: its history's rows are flagged from it (ddl added
    the column, true), then it is dropped for the view; one transaction, so a killed run
    leaves the table and the next run flags again."""
    (is_table,) = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'staging' AND table_name = 'her2_results'"
    ).fetchone()
    if not is_table:
        con.execute(CURRENT_RESULTS_VIEW)
        return
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "UPDATE staging.her2_results_history SET is_current = false WHERE rowid IN ("
            "SELECT h.rowid FROM staging.her2_results_history AS h "
            "ANTI JOIN staging.her2_results USING (file_id, source_row))"
        )
        con.execute("DROP TABLE staging.her2_results")
        con.execute(CURRENT_RESULTS_VIEW)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def fingerprints_cover_raw(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ops.identifier_fingerprints has one row per raw row, as ingest keeps it, by
    today's fingerprint (macros/identifiers, defined here on ``con`` for its callers). Both
    counts come from DuckDB's metadata (a millisecond at 10M rows), so every run can ask;
    and the oldest file's rows are fingerprinted again and compared (its row groups alone
    are read), since a changed fingerprint function leaves the counts equal."""
    run(con, "macros/identifiers")
    raw, kept = con.execute(
        "SELECT (SELECT count(*) FROM raw.her2_rows), "
        "(SELECT count(*) FROM ops.identifier_fingerprints)"
    ).fetchone()
    if raw != kept:
        return False
    (oldest,) = con.execute(
        "SELECT min(file_id) FROM ops.ingested_files WHERE status = 'ingested' AND rows_read > 0"
    ).fetchone()
    (stale,) = con.execute(  # a constant file_id: DuckDB reads that file's row groups alone
        """
        SELECT count(*) FROM (
            (FROM ops.identifier_fingerprints WHERE file_id = $oldest
             EXCEPT ALL FROM identifier_fingerprints() WHERE file_id = $oldest)
            UNION ALL
            (FROM identifier_fingerprints() WHERE file_id = $oldest
             EXCEPT ALL FROM ops.identifier_fingerprints WHERE file_id = $oldest))
        """,
        {"oldest": oldest},
    ).fetchone()
    return stale == 0


def _complete_identifier_fingerprints(con: duckdb.DuckDBPyConnection) -> None:
    """Refill ops.identifier_fingerprints whole when it does not cover the raw rows: in a
    warehouse older than the table (or one whose raw rows were written by other means). One
    transaction: a killed run leaves the old rows or the new."""
    if fingerprints_cover_raw(con):
        return
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM ops.identifier_fingerprints")
        con.execute(
            "INSERT INTO ops.identifier_fingerprints SELECT * FROM identifier_fingerprints()"
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
