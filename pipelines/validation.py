"""pandera on a run's new rows: the contract checks of the ingest and staging assets
(schemas/raw.py, schemas/staged.py) as Dagster check results, without a second full pass.

The SQL rules (her2qa/ingest, warehouse/sql/staging/typed_rows.sql) have already decided,
row by row, what is kept, staged and quarantined; pandera is the contract's independent
statement, there to catch a change to that SQL that lets a bad row or a PHI column through.
It used to validate every row of the run a second time, in pandas (1.3 s and 1.6 s of a
fresh 1M-row run). Now each check validates, with the same pandera schema:

* **the relation's schema, whole**: pandera on the run's rows with no row taken
  (``WHERE false``: the very columns and types DuckDB gives every row, as DESCRIBE lists
  them). Strictness (no undeclared column, so no patient name, birth date or MRN column),
  every declared column present and the types hold for the whole run, whatever its size;
* **values on a deterministic sample**: one row in ``m`` (``m`` = rows / ``SAMPLE_ROWS``,
  rounded up), picked by DuckDB's hash of (file_id, source_row): the same rows each time
  the same run is checked (with the same DuckDB), spread over every file; and the first
  ``FIRST_ROWS`` records of every file, so a small file among large ones (a lab's first
  extract, a new LIS export) is looked at too. A run of at most ``SAMPLE_ROWS`` rows is
  checked whole, as before. The sample is a filter on two columns, not a sort;
* **plus every row the SQL set aside or chose between** (``always``, per check): the raw rows
  the ingest kept without values (``malformed``: fields shifted, PHI-equal values, over-long
  or multi-line records) and the staged versions of a result a version of which this run
  quarantined (a conflict or a rejected amendment: where the SQL picked one row over another).

A defect of the SQL that lets a whole kind of bad row through is caught when that kind is
more than a few rows in ten thousand of the run (at 1M rows, a kind of 500 rows is in the
sample with probability 1 - (1 - 1/100)^500 > 99%), or sits in a file's first rows.

Why not pandera's Ibis backend on DuckDB, which keeps the whole-run guarantee: it needs the
schemas written again for Ibis (the staged schema's seven row rules are pandas code: a second
definition of the contract), a new dependency, and it measured slower than pandas on a
2-core machine like ours (2M rows, one dataframe-level check: 6.5 s against 1.3 s). The
rules are already whole-run in SQL; what pandera adds is independence, which a sample keeps.
Keys unique over the whole table are the integrity checks' (pipelines/factory.py).
"""

import math

import dagster as dg
import pandas as pd
import pandera.errors
import pandera.pandas as pa

from pipelines.defs.resources import Her2qaPaths

BATCH_ROWS = 200_000  # bounded memory: the rows always checked may be many
SAMPLE_ROWS = 10_000  # values checked on about this many rows of a run, spread by a hash
FIRST_ROWS = 20  # and on the first records of every file of the run


def validate_run(
    paths: Her2qaPaths,
    schema: pa.DataFrameSchema,
    rows_of_run: str,
    run_id: str,
    always: str = "false",
    *,
    sample_rows: int = SAMPLE_ROWS,
) -> dg.AssetCheckResult:
    """pandera on this run's rows (``rows_of_run``: SQL with ``$run_id`` whose rows carry
    file_id and source_row): the schema of all of them, the values of a deterministic sample
    (about ``sample_rows`` rows, and every file's first ``FIRST_ROWS``) and of every row
    matching ``always`` (an SQL condition on those rows, may use $run_id). Failures
    summarised by column and check."""
    params = {"run_id": run_id}
    failures: list[pd.DataFrame] = []
    with paths.connect(read_only=True) as con:
        [(rows,)] = con.execute(
            f"SELECT count(*) FROM ({rows_of_run})",  # noqa: S608 - our SQL
            params,
        ).fetchall()
        # The columns and types every row of the run has, without reading a row.
        none = con.sql(f"SELECT * FROM ({rows_of_run}) WHERE false", params=params)  # noqa: S608
        failures += _failures(schema, none.to_arrow_table().to_pandas())
        one_in = max(1, math.ceil(rows / sample_rows))  # 1: every row
        chosen = (
            f"SELECT * FROM ({rows_of_run}) "  # noqa: S608 - our SQL
            f"WHERE hash(file_id, source_row) % {one_in} = 0 "
            f"OR source_row <= {FIRST_ROWS} OR ({always})"
        )
        checked = 0
        reader = con.sql(chosen, params=params).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            frame = batch.to_pandas()
            checked += len(frame)
            failures += _failures(schema, frame)
    metadata: dict[str, object] = {"rows_in_run": int(rows), "rows_checked": checked}
    if not failures:
        return dg.AssetCheckResult(passed=True, metadata=metadata)
    cases = pd.concat(failures)
    # A schema-level failure (no row index: a column missing or undeclared) is found by the
    # whole relation's check and again in each batch: counted once.
    whole = cases["index"].isna()
    cases = pd.concat(
        [cases[~whole], cases[whole].drop_duplicates(["column", "check", "failure_case"])]
    )
    summary = cases.groupby(["column", "check"], dropna=False).size().reset_index(name="rows")
    metadata["failures"] = dg.MetadataValue.md(summary.to_markdown(index=False))
    return dg.AssetCheckResult(passed=False, metadata=metadata)


def _failures(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> list[pd.DataFrame]:
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        return [exc.failure_cases]
    return []


def contract_check(
    asset: dg.AssetKey,
    name: str,
    schema: pa.DataFrameSchema,
    rows_of_run: str,
    description: str,
    always: str = "false",
) -> dg.AssetChecksDefinition:
    """A blocking check that this run's rows (``rows_of_run``: SQL with ``$run_id``) satisfy
    ``schema``: their schema whole, their values on a sample plus the rows ``always`` picks."""

    @dg.asset_check(asset=asset, name=name, blocking=True, description=description)
    def _check(context: dg.AssetCheckExecutionContext, paths: Her2qaPaths) -> dg.AssetCheckResult:
        run_id = context.op_execution_context.run_id
        return validate_run(paths, schema, rows_of_run, run_id, always)

    return _check
