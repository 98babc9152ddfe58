"""Jobs: the nightly/incremental run and the full rebuild from the raw layer."""

import dagster as dg

her2qa_job = dg.define_asset_job(
    "her2qa_job",
    selection=dg.AssetSelection.all(),
    description="Ingest new LIS extracts, validate and stage them, rebuild the marts and site.",
    tags={"her2qa/kind": "incremental"},
)

rebuild_job = dg.define_asset_job(
    "rebuild_job",
    selection=dg.AssetSelection.groups("staging", "marts", "publish"),
    description="Rebuild staging, quarantine, marts and site from the raw layer (after a "
    "vocabulary or guideline change); gives exactly the tables an incremental history gives.",
    config={"ops": {"stage_results": {"config": {"rebuild": True}}}},
    tags={"her2qa/kind": "rebuild"},
)
