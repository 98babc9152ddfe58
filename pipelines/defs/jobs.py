"""Jobs: the nightly/incremental run, the full rebuild from the raw layer and the quarterly
audit pack.

Both run their steps in one process, one after the other: DuckDB allows one writing
process per file, and a step-per-process executor would only make steps queue for
the lock (and pay a Python start-up each). Across runs, the pool her2qa_warehouse
(limit 1, dagster.yaml) and the run queue keep writers apart.
"""

import dagster as dg

# The audit pack is made by its own quarterly job (below), not nightly.
AUDIT_PACK = dg.AssetKey("audit_pack")

her2qa_job = dg.define_asset_job(
    "her2qa_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(AUDIT_PACK),
    description="Ingest new LIS extracts, validate and stage them, rebuild the marts and site.",
    tags={"her2qa/kind": "incremental"},
    executor_def=dg.in_process_executor,
)

rebuild_job = dg.define_asset_job(
    "rebuild_job",
    selection=dg.AssetSelection.groups("staging", "marts", "findings", "publish")
    - dg.AssetSelection.assets(AUDIT_PACK),
    description="Rebuild staging, quarantine, marts and site from the raw layer (after a "
    "vocabulary or guideline change); gives exactly the tables an incremental history gives.",
    config={"ops": {"stage_results": {"config": {"rebuild": True}}}},
    tags={"her2qa/kind": "rebuild"},
    executor_def=dg.in_process_executor,
)

quarterly_audit_job = dg.define_asset_job(
    "quarterly_audit_job",
    selection=dg.AssetSelection.assets(AUDIT_PACK),
    description="Write the audit pack of the last complete quarter from the current warehouse.",
    tags={"her2qa/kind": "audit"},
    executor_def=dg.in_process_executor,
)
