"""Publish stage: the snapshot, a read-only copy of the warehouse taken when every table of the
run is built and checked. Notebooks, BI tools and anyone reading by hand open the snapshot,
never the warehouse the run writes: a reader there never makes a run wait or fail on DuckDB's
file lock, and never sees a state where some tables are new and others old."""

import dagster as dg

from pipelines.defs.resources import Her2qaPaths
from pipelines.factory import asset_key
from warehouse import catalog, publish

SNAPSHOT = dg.AssetKey("snapshot")


@dg.asset(
    key=SNAPSHOT,
    deps=[asset_key(t.name) for t in catalog.published()],
    group_name="publish",
    kinds={"duckdb"},
    owners=["team:her2qa"],
    pool="her2qa_warehouse",
    description="Read-only copy of the warehouse after the run's tables are built and checked "
    "(HER2QA_SNAPSHOT, default <warehouse>.snapshot.duckdb): what readers open.",
)
def snapshot(context: dg.AssetExecutionContext, paths: Her2qaPaths) -> dg.MaterializeResult:
    with paths.connect() as con:
        made = publish.snapshot(con, paths.warehouse_file, paths.snapshot_file)
    context.log.info(
        f"snapshot: {paths.snapshot_file} ({made.size / 1e6:.1f} MB, {made.how}, "
        f"{made.written / 1e6:.1f} MB written)"
    )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(paths.snapshot_file)),
            "bytes": made.size,
            "how": made.how,
            "bytes_written": made.written,
        }
    )
