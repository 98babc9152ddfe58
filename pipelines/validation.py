"""Asset checks of the ingest and staging layers.

ERROR checks are integrity: when one fails, something the pipeline promises
(nothing lost, no PHI, the contract) is broken, and downstream steps stop.
"""

import os

import dagster as dg
import pandas as pd
import pandera.errors
import pandera.pandas as pa

from pipelines.assets.ingest import INGESTED_FILES, RAW_ROWS
from pipelines.assets.staging import RESULTS
from pipelines.resources import Her2qaPaths
from schemas.raw import raw_her2_rows
from schemas.staged import staged_her2_results


@dg.asset_check(
    asset=RESULTS,
    blocking=True,
    description=(
        "Nothing lost: for every ingested file, rows_read = rows_staged + rows_quarantined, "
        "and the staged rows are in the history (new versions) or counted as repeats."
    ),
)
def accounting_balances(paths: Her2qaPaths) -> dg.AssetCheckResult:
    with paths.connect(read_only=True) as con:
        unbalanced, history_gap = con.execute(
            """
            SELECT
              (SELECT count(*) FROM ops.ingested_files
                WHERE status = 'ingested' AND rows_read <> rows_staged + rows_quarantined),
              (SELECT coalesce(sum(rows_staged - rows_repeated), 0) FROM ops.ingested_files)
              - (SELECT count(*) FROM staging.her2_results_history)
            """
        ).fetchone()
    return dg.AssetCheckResult(
        passed=bool(unbalanced == 0 and history_gap == 0),
        metadata={"files_unbalanced": int(unbalanced), "history_gap_rows": int(history_gap)},
    )


@dg.asset_check(
    asset=RESULTS,
    blocking=True,
    description=(
        "The staged rows of this run satisfy the typed contract (schemas/staged.py, pandera): "
        "types, vocabulary, ranges, ratio vs means, dates, conditional fields, unique keys."
    ),
)
def staged_rows_match_contract(
    context: dg.AssetCheckExecutionContext, paths: Her2qaPaths
) -> dg.AssetCheckResult:
    return _validate_in_batches(
        paths,
        staged_her2_results,
        "SELECT h.* FROM staging.her2_results_history AS h "
        "JOIN ops.ingested_files AS f USING (file_id) WHERE f.staged_run_id = $run_id",
        context.op_execution_context.run_id,
    )


@dg.asset_check(
    asset=RAW_ROWS,
    blocking=True,
    description=(
        "The raw rows of this run hold text only and no PHI column (schemas/raw.py, strict)."
    ),
)
def raw_rows_carry_no_phi(
    context: dg.AssetCheckExecutionContext, paths: Her2qaPaths
) -> dg.AssetCheckResult:
    return _validate_in_batches(
        paths,
        raw_her2_rows,
        "SELECT r.* FROM raw.her2_rows AS r "
        "JOIN ops.ingested_files AS f USING (file_id) WHERE f.run_id = $run_id",
        context.op_execution_context.run_id,
    )


@dg.asset_check(
    asset=RESULTS,
    blocking=True,
    description="Keys are unique: (lab_id, test_id, result_version) in the history, "
    "(lab_id, test_id) in the current results, (file_id, source_row) in raw and quarantine, "
    "and no row is both staged and quarantined.",
)
def keys_unique(paths: Her2qaPaths) -> dg.AssetCheckResult:
    with paths.connect(read_only=True) as con:
        counts = con.execute(_DUPLICATE_KEYS).fetchone()
    names = ("history", "current", "raw", "quarantine", "staged_and_quarantined")
    metadata = {f"duplicates_{n}": int(c) for n, c in zip(names, counts, strict=True)}
    return dg.AssetCheckResult(passed=not any(counts), metadata=metadata)


_DUPLICATE_KEYS = """
SELECT
  (SELECT count(*) FROM (SELECT 1 FROM staging.her2_results_history
                          GROUP BY lab_id, test_id, result_version HAVING count(*) > 1)),
  (SELECT count(*) FROM (SELECT 1 FROM staging.her2_results
                          GROUP BY lab_id, test_id HAVING count(*) > 1)),
  (SELECT count(*) FROM (SELECT 1 FROM raw.her2_rows
                          GROUP BY file_id, source_row HAVING count(*) > 1)),
  (SELECT count(*) FROM (SELECT 1 FROM quarantine.rejected_rows
                          GROUP BY file_id, source_row HAVING count(*) > 1)),
  (SELECT count(*) FROM staging.her2_results_history SEMI JOIN quarantine.rejected_rows
                          USING (file_id, source_row))
"""


@dg.asset_check(
    asset=INGESTED_FILES,
    blocking=False,
    description="Freshness: new results arrived within the last HER2QA_FRESHNESS_DAYS days "
    "(default 3). A WARN finding means the LIS feed may have stopped; it never fails a run.",
)
def results_arriving(paths: Her2qaPaths) -> dg.AssetCheckResult:
    max_days = int(os.environ.get("HER2QA_FRESHNESS_DAYS", "3"))
    with paths.connect(read_only=True) as con:
        last, days = con.execute(
            "SELECT max(ingested_at), date_diff('day', max(ingested_at), now()::TIMESTAMP) "
            "FROM ops.ingested_files WHERE status = 'ingested' AND rows_read > 0"
        ).fetchone()
    metadata = {"max_days": max_days, "days_since_new_results": -1 if days is None else int(days)}
    if last is not None:
        metadata["last_new_results_utc"] = last.isoformat(timespec="seconds")
    return dg.AssetCheckResult(
        passed=days is not None and days <= max_days,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
    )


_BATCH_ROWS = 200_000  # bounded memory: a million-row file is checked in slices


def _validate_in_batches(
    paths: Her2qaPaths, schema: pa.DataFrameSchema, query: str, run_id: str
) -> dg.AssetCheckResult:
    """pandera on this run's rows, a slice at a time; failures summarised by column and check."""
    checked = 0
    failures: list[pd.DataFrame] = []
    with paths.connect(read_only=True) as con:
        reader = con.sql(query, params={"run_id": run_id}).to_arrow_reader(_BATCH_ROWS)
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


CHECKS = [
    accounting_balances,
    keys_unique,
    staged_rows_match_contract,
    raw_rows_carry_no_phi,
    results_arriving,
]
