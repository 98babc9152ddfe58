"""Staging stage: validate the raw rows of new files into staging and quarantine."""

import dagster as dg

from her2qa import staging
from pipelines.assets.ingest import INGESTED_FILES, RAW_ROWS
from pipelines.resources import Her2qaPaths

HISTORY = dg.AssetKey(["staging", "her2_results_history"])
RESULTS = dg.AssetKey(["staging", "her2_results"])
REJECTED = dg.AssetKey(["quarantine", "rejected_rows"])


class StageConfig(dg.Config):
    rebuild: bool = False  # replay every ingested file from the raw layer (rebuild_job)


def _spec(key: dg.AssetKey, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key,
        description=description,
        deps=[RAW_ROWS, INGESTED_FILES],
        kinds={"duckdb"},
        group_name="staging",
        owners=["team:her2qa"],
    )


@dg.multi_asset(
    specs=[
        _spec(HISTORY, "Every valid version of every result; amendments never delete."),
        _spec(RESULTS, "The current version of each valid result (lab_id, test_id), normalised."),
        _spec(REJECTED, "Rejected input rows with file, row, every reason and the row as read."),
    ],
    pool="her2qa_warehouse",
)
def stage_results(context: dg.AssetExecutionContext, config: StageConfig, paths: Her2qaPaths):
    """Type, check and stage the rows of every file not yet staged, in arrival order."""
    with paths.connect() as con:
        if config.rebuild:
            context.log.info("rebuilding staging and quarantine from the raw layer")
            summary = staging.restage_all(con, paths.load_site_config(), run_id=context.run.run_id)
        else:
            summary = staging.stage_pending(
                con, paths.load_site_config(), run_id=context.run.run_id
            )
        history, quarantined = con.execute(
            "SELECT (SELECT count(*) FROM staging.her2_results_history), "
            "(SELECT count(*) FROM quarantine.rejected_rows)"
        ).fetchone()
    context.log.info(
        f"staged {summary.rows_staged:,} rows ({summary.rows_repeated:,} unchanged repeats), "
        f"quarantined {summary.rows_quarantined:,}, from {summary.files} file(s)"
    )
    quarantine_pct = (
        100.0 * summary.rows_quarantined / summary.rows_read if summary.rows_read else 0.0
    )
    yield dg.MaterializeResult(asset_key=HISTORY, metadata={"dagster/row_count": int(history)})
    yield dg.MaterializeResult(
        asset_key=RESULTS,
        metadata={
            "dagster/row_count": int(summary.results_current),
            "rows_in": summary.rows_read,
            "rows_staged": summary.rows_staged,
            "rows_repeated": summary.rows_repeated,
        },
    )
    yield dg.MaterializeResult(
        asset_key=REJECTED,
        metadata={
            "dagster/row_count": int(quarantined),
            "rows_quarantined": summary.rows_quarantined,
            "quarantine_pct": float(round(quarantine_pct, 3)),
        },
    )
