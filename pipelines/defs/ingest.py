"""Ingest stage: inbox files -> archive, ops.ingested_files and the raw layer."""

from pathlib import Path

import dagster as dg

from her2qa.ingest import inbox, phi
from pipelines.resources import Her2qaPaths

INGESTED_FILES = dg.AssetKey(["ops", "ingested_files"])
RAW_ROWS = dg.AssetKey(["raw", "her2_rows"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            INGESTED_FILES,
            description="One row per file that landed in the inbox: SHA-256, status "
            "(ingested / duplicate / rejected with its reason) and row accounting.",
            kinds={"duckdb"},
            group_name="ingest",
            owners=["team:her2qa"],
        ),
        dg.AssetSpec(
            RAW_ROWS,
            description="Every row of every ingested file as read (text), with file and "
            "row number; patient_mrn keyed to patient_key, names and birth dates dropped.",
            kinds={"duckdb"},
            group_name="ingest",
            owners=["team:her2qa"],
        ),
    ],
    pool="her2qa_warehouse",
)
def ingest_inbox(context: dg.AssetExecutionContext, paths: Her2qaPaths):
    """Archive and read every new CSV of the inbox (same bytes twice add nothing)."""
    key = phi.load_key()
    with paths.connect() as con:
        outcomes = inbox.ingest_inbox(
            con,
            Path(paths.inbox),
            Path(paths.archive_dir),
            key,
            context.run.run_id,
            progress=context.log.info,
        )
        totals = con.execute(
            "SELECT count(*), coalesce(sum(rows_read), 0) FROM ops.ingested_files"
        ).fetchone()
    by_status = {
        s: sum(o.status == s for o in outcomes) for s in ("ingested", "duplicate", "rejected")
    }
    rows_new = sum(o.rows_read for o in outcomes)
    yield dg.MaterializeResult(
        asset_key=INGESTED_FILES,
        metadata={
            "files_new": by_status["ingested"],
            "files_duplicate": by_status["duplicate"],
            "files_rejected": by_status["rejected"],
            "files_total": totals[0],
            "rejected": dg.MetadataValue.md(
                "\n".join(
                    f"- {o.file_name}: {o.reason}" for o in outcomes if o.status == "rejected"
                )
                or "none"
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key=RAW_ROWS,
        metadata={"rows_in": rows_new, "dagster/row_count": int(totals[1])},
    )
