"""Ingest stage: inbox files -> archive, ops.ingested_files and the raw layer (her2qa/ingest),
and the check that the raw rows hold no PHI column."""

from pathlib import Path

import dagster as dg

from her2qa.ingest import inbox, phi
from her2qa.instance import TAG_PID, owner_tags
from pipelines.defs.resources import Her2qaPaths
from pipelines.factory import asset_key, integrity_checks, spec
from pipelines.validation import contract_check
from schemas.raw import raw_her2_rows
from warehouse import catalog

INGESTED_FILES = asset_key("ops.ingested_files")
RAW_ROWS = asset_key("raw.her2_rows")


@dg.multi_asset(
    specs=[spec(catalog.table("ops.ingested_files")), spec(catalog.table("raw.her2_rows"))],
    pool="her2qa_warehouse",
)
def ingest_inbox(context: dg.AssetExecutionContext, paths: Her2qaPaths):
    """Archive and read every new CSV of the inbox (same bytes twice add nothing)."""
    if TAG_PID not in context.run.tags:  # launched by the daemon or the UI, not `her2qa run`:
        # say which process holds the pool, so a later run can release it if this one dies
        context.instance.add_run_tags(context.run.run_id, owner_tags())
    key = phi.load_key()
    with paths.connect() as con:
        outcomes = inbox.ingest_inbox(
            con,
            Path(paths.inbox),
            Path(paths.archive_dir),
            key,
            context.run.run_id,
            progress=context.log.info,
            site=paths.load_site_config(),
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


# This run's raw rows, and those checked whatever the sample (pipelines/validation.py): the
# records the ingest kept without values.
RAW_ROWS_OF_RUN = (
    "SELECT r.* FROM raw.her2_rows AS r "
    "JOIN ops.ingested_files AS f USING (file_id) WHERE f.run_id = $run_id"
)
RAW_ALWAYS = "malformed IS NOT NULL"

raw_rows_carry_no_phi = contract_check(
    RAW_ROWS,
    "raw_rows_carry_no_phi",
    raw_her2_rows,
    RAW_ROWS_OF_RUN,
    "The raw rows of this run hold text only and no PHI column (schemas/raw.py, strict): "
    "the columns of every row, the values of a sample and of every record kept without values.",
    always=RAW_ALWAYS,
)


# Keys unique (warehouse/catalog.py).
integrity = integrity_checks(catalog.layer("ingest"), "ingest_integrity")
