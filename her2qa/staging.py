"""Validate and stage: raw rows of newly ingested files -> staging / quarantine.

The rules are SQL (``warehouse/sql/staging/typed_rows.sql``); this module
decides *which* files a step covers and runs the files in order, a step of about
``STEP_ROWS`` rows per transaction, so that the accounting invariant holds after
every step.

``stage_pending`` handles files not yet staged (the nightly, incremental path); with
``replay`` it first clears the derived layers and so replays every ingested file in
arrival order through the same SQL, which gives exactly the same tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime

import duckdb

import warehouse
from her2qa.config import ConfigError, SiteConfig
from schemas import contract, vocabulary

# strptime directives and separators only: the format becomes a SQL literal.
_SAFE_FORMAT = re.compile(r"^(%[dmyYbBe]|[-/. ])+$")
# Files are staged in arrival order, in steps of about this many rows, each step one
# transaction (a larger file is a step of its own). What bounds a step is its temporary
# tables (typed rows, verdicts, re-picked current rows) and sorts: DuckDB spills them to its
# temp directory, and a fresh 50M-row run staged in one step stopped there, at the disk's
# 20.7 GiB. In steps of 2M rows, each step took 21 s (an empty warehouse) to 61 s (48M rows
# staged before it) and at most 5.8 GB of temp; 10M rows staged in 121-126 s against 148-154 s
# in one step (README "Scale and scale-out"). A night is one step. (Those steps looked every
# key up in the whole history; now only the run's contested results: 10M rows in steps of 2M,
# 6.5 s to 7.6 s a step.)
STEP_ROWS = 2_000_000


@dataclass(frozen=True)
class StageSummary:
    files: int
    rows_read: int
    rows_staged: int
    rows_repeated: int
    rows_quarantined: int
    results_current: int  # after the step: not summed over steps

    @classmethod
    def of_steps(cls, steps: list[StageSummary]) -> StageSummary:
        """The run's summary: every count summed over its steps, the current results after
        the last."""
        summed = {f.name: sum(getattr(s, f.name) for s in steps) for f in fields(cls)}
        return cls(**{**summed, "results_current": steps[-1].results_current})


def load_vocabulary(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM ops.vocabulary")
    con.executemany("INSERT INTO ops.vocabulary VALUES (?, ?, ?, ?)", list(vocabulary.rows()))


def define_lab_dates(con: duckdb.DuckDBPyConnection, site: SiteConfig) -> None:
    """Macros lab_date(lab, text) and lab_date_format(lab) from the site configuration.

    DuckDB's strptime needs a constant format, so each configured lab gets its own
    branch; formats are checked against a strict pattern and lab codes are quoted.
    """
    branches, names = [], []
    for lab, cfg in sorted(site.labs.items()):
        if not cfg.date_format:
            continue
        if not _SAFE_FORMAT.match(cfg.date_format):
            raise ConfigError(f"labs.{lab}.date_format {cfg.date_format!r} is not a date format")
        lab_lit, fmt_lit = _literal(lab), _literal(cfg.date_format)
        branches.append(f"WHEN lab = {lab_lit} THEN try_strptime(txt, {fmt_lit})::DATE")
        names.append(f"WHEN lab = {lab_lit} THEN {fmt_lit}")
    date_case = f"CASE {' '.join(branches)} END" if branches else "NULL::DATE"
    name_case = f"CASE {' '.join(names)} END" if names else "NULL::VARCHAR"
    con.execute(f"CREATE OR REPLACE TEMP MACRO lab_date(lab, txt) AS {date_case}")
    con.execute(f"CREATE OR REPLACE TEMP MACRO lab_date_format(lab) AS {name_case}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def stage_pending(
    con: duckdb.DuckDBPyConnection,
    site: SiteConfig,
    *,
    replay: bool = False,
    run_id: str | None = None,
    now: datetime | None = None,
) -> StageSummary:
    """Validate every ingested file not yet staged, in arrival order. ``replay`` first clears
    history, quarantine and every file's staging mark (the rebuild: every file again)."""
    if replay:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM staging.her2_results_history")
            con.execute("DELETE FROM quarantine.rejected_rows")
            # the marts are rebuilt whole after a replay: no work list, no state to extend
            con.execute("DELETE FROM ops.mart_changes")
            con.execute("DELETE FROM ops.mart_state")
            con.execute(
                "UPDATE ops.ingested_files SET staged_at = NULL, rows_staged = 0, "
                "rows_repeated = 0, rows_quarantined = 0 WHERE status = 'ingested'"
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    pending = con.execute(
        "SELECT file_id, rows_read FROM ops.ingested_files "
        "WHERE status = 'ingested' AND staged_at IS NULL ORDER BY file_id"
    ).fetchall()
    now = now or datetime.now(UTC)  # one staging time for every step of the run
    steps = _steps(pending)
    # The run's results that may meet another arrival, found once for all its steps (TEMP
    # tables: the connection's, gone with it, whatever becomes of the run).
    _file_table(con, "run_files", [f for f, _ in pending])
    (has_history,) = con.execute(
        "SELECT EXISTS (SELECT 1 FROM staging.her2_results_history)"
    ).fetchone()
    warehouse.run(con, "macros/text")
    warehouse.run(
        con, "staging/contested_results", {"every_key": len(steps) == 1 and bool(has_history)}
    )
    try:
        return StageSummary.of_steps(
            [_stage(con, site, step, run_id=run_id, now=now) for step in steps]
        )
    finally:
        con.execute("DROP TABLE IF EXISTS contested_results")
        con.execute("DROP TABLE IF EXISTS run_files")


def _file_table(con: duckdb.DuckDBPyConnection, name: str, file_ids: list[int]) -> None:
    """The temp table ``name`` (file_id) of these files: which files a statement covers."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} (file_id BIGINT)")
    if file_ids:
        con.executemany(f"INSERT INTO {name} VALUES (?)", [(f,) for f in file_ids])  # noqa: S608


def _steps(pending: list[tuple[int, int]]) -> list[list[int]]:
    """The files (file_id, rows_read), in order, cut into steps of about STEP_ROWS rows;
    one empty step when there is nothing to stage (it still reports the current results)."""
    steps: list[list[int]] = [[]]
    rows = 0
    for file_id, rows_read in pending:
        if steps[-1] and rows + rows_read > STEP_ROWS:
            steps.append([])
            rows = 0
        steps[-1].append(file_id)
        rows += rows_read
    return steps


def _stage(
    con: duckdb.DuckDBPyConnection,
    site: SiteConfig,
    file_ids: list[int],
    *,
    run_id: str | None,
    now: datetime | None = None,
) -> StageSummary:
    staged_at = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    define_lab_dates(con, site)
    params = {
        "staged_at": staged_at,
        "run_id": run_id,
        "ratio_tolerance": contract.RATIO_TOLERANCE,
        "float_slack": contract.FLOAT_SLACK,
        "cep17_max": contract.CEP17_MAX_PER_CELL,
    }
    con.execute("BEGIN TRANSACTION")
    try:
        load_vocabulary(con)
        _file_table(con, "batch_files", file_ids)
        for step in (
            "macros/text",  # blank() and fold(), shared with the ingest (one definition)
            "staging/typed_rows",
            "staging/verdicts",
            "staging/her2_results_history",
            "quarantine/rejected_rows",
        ):
            warehouse.run(con, step, params)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE changed_results AS "
            "SELECT DISTINCT t.lab_id, t.test_id FROM typed_rows AS t "
            "JOIN verdicts AS v USING (file_id, source_row) WHERE v.verdict = 'new'"
        )
        warehouse.run(con, "staging/her2_results")
        warehouse.run(con, "ops/ingested_files", params)
        summary = con.execute(
            """
            SELECT count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_staged), 0),
                   coalesce(sum(rows_repeated), 0), coalesce(sum(rows_quarantined), 0),
                   (SELECT count(*) FROM staging.her2_results)
            FROM ops.ingested_files SEMI JOIN batch_files USING (file_id)
            """
        ).fetchone()
        con.execute("DROP TABLE typed_rows")
        con.execute("DROP TABLE verdicts")
        con.execute("DROP TABLE changed_results")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return StageSummary(*summary)


def refresh_current_results(con: duckdb.DuckDBPyConnection) -> None:
    """Re-pick every current result from the whole history (staging/her2_results over every
    (lab_id, test_id), every file's versions): for a history written other than by staging
    (test fixtures, the marts benchmark's synthetic layer). One transaction, as staging runs
    it: the SQL unflags the replaced rows by the row ids it found them at, which a checkpoint
    between two statements could move."""
    con.execute("BEGIN TRANSACTION")
    try:
        # every version a candidate again; staging/her2_results unflags all but the highest
        con.execute("UPDATE staging.her2_results_history SET is_current = true")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE changed_results AS "
            "SELECT DISTINCT lab_id, test_id FROM staging.her2_results_history"
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE batch_files AS "
            "SELECT DISTINCT file_id FROM staging.her2_results_history"
        )
        # any result may have several current rows here
        con.execute("CREATE OR REPLACE TEMP TABLE contested_results AS FROM changed_results")
        warehouse.run(con, "staging/her2_results")
        con.execute("DROP TABLE changed_results")
        con.execute("DROP TABLE batch_files")
        con.execute("DROP TABLE contested_results")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
