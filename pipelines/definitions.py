"""The map of the pipeline: every asset, check, job and resource of her2qa.

ingest   ops/ingested_files, raw/her2_rows        (pipelines/assets/ingest.py)
staging  staging/her2_results[_history],
         quarantine/rejected_rows                 (pipelines/assets/staging.py)
"""

from __future__ import annotations

import dagster as dg

from pipelines import checks
from pipelines.assets.ingest import ingest_inbox
from pipelines.assets.staging import stage_results
from pipelines.resources import Her2qaPaths, default_paths

ASSETS = [ingest_inbox, stage_results]

her2qa_job = dg.define_asset_job(
    "her2qa_job",
    selection=dg.AssetSelection.all(),
    description="Ingest new LIS extracts, validate and stage them, build the marts and site.",
)


def build_defs(paths: Her2qaPaths) -> dg.Definitions:
    """The pipeline bound to one deployment's paths (the CLI passes its flags here)."""
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=checks.CHECKS,
        jobs=[her2qa_job],
        resources={"paths": paths},
    )


defs = build_defs(default_paths())
