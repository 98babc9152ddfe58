"""pandera on a run's new rows, a slice at a time: the contract checks of the ingest and
staging assets (schemas/raw.py, schemas/staged.py) as Dagster check results."""

import dagster as dg
import pandas as pd
import pandera.errors
import pandera.pandas as pa

from pipelines.defs.resources import Her2qaPaths

BATCH_ROWS = 200_000  # bounded memory: a million-row file is checked in slices


def validate_in_batches(
    paths: Her2qaPaths, schema: pa.DataFrameSchema, query: str, run_id: str
) -> dg.AssetCheckResult:
    """pandera on this run's rows; failures summarised by column and check."""
    checked = 0
    failures: list[pd.DataFrame] = []
    with paths.connect(read_only=True) as con:
        reader = con.sql(query, params={"run_id": run_id}).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            frame = batch.to_pandas()
            checked += len(frame)
            try:
                schema.validate(frame, lazy=True)
            except pandera.errors.SchemaErrors as exc:
                failures.append(exc.failure_cases)
    if not failures:
        return dg.AssetCheckResult(passed=True, metadata={"rows_checked": checked})
    cases = pd.concat(failures)
    summary = cases.groupby(["column", "check"], dropna=False).size().reset_index(name="rows")
    return dg.AssetCheckResult(
        passed=False,
        metadata={
            "rows_checked": checked,
            "failures": dg.MetadataValue.md(summary.to_markdown(index=False)),
        },
    )


def contract_check(
    asset: dg.AssetKey, name: str, schema: pa.DataFrameSchema, rows_of_run: str, description: str
) -> dg.AssetChecksDefinition:
    """A blocking check that this run's rows (``rows_of_run``: SQL with ``$run_id``) satisfy
    ``schema``."""

    @dg.asset_check(asset=asset, name=name, blocking=True, description=description)
    def _check(context: dg.AssetCheckExecutionContext, paths: Her2qaPaths) -> dg.AssetCheckResult:
        return validate_in_batches(paths, schema, rows_of_run, context.op_execution_context.run_id)

    return _check
