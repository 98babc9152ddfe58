"""Asset checks of the ingest and staging layers.

ERROR checks are integrity: when one fails, something the pipeline promises
(nothing lost, no PHI, the contract) is broken, and downstream steps stop.
"""

import dagster as dg
import pandas as pd
import pandera.errors
import pandera.pandas as pa

from pipelines.assets.ingest import RAW_ROWS
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
    with paths.connect(read_only=True) as con:
        frame = con.execute(
            "SELECT h.* FROM staging.her2_results_history AS h "
            "JOIN ops.ingested_files AS f USING (file_id) WHERE f.run_id = $run_id",
            {"run_id": context.op_execution_context.run_id},
        ).df()
    return _validate(staged_her2_results, frame)


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
    with paths.connect(read_only=True) as con:
        frame = con.execute(
            "SELECT r.* FROM raw.her2_rows AS r "
            "JOIN ops.ingested_files AS f USING (file_id) WHERE f.run_id = $run_id",
            {"run_id": context.op_execution_context.run_id},
        ).df()
    return _validate(raw_her2_rows, frame)


def _validate(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> dg.AssetCheckResult:
    if frame.empty:  # nothing new this run (an empty frame has no dtypes to check)
        return dg.AssetCheckResult(passed=True, metadata={"rows_checked": 0})
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        summary = cases.groupby(["column", "check"], dropna=False).size().reset_index(name="rows")
        return dg.AssetCheckResult(
            passed=False,
            metadata={
                "rows_checked": len(frame),
                "failures": dg.MetadataValue.md(summary.to_markdown(index=False)),
            },
        )
    return dg.AssetCheckResult(passed=True, metadata={"rows_checked": len(frame)})


CHECKS = [accounting_balances, staged_rows_match_contract, raw_rows_carry_no_phi]
