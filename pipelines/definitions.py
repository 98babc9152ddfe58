"""The map of the pipeline: every asset, check, job, schedule, sensor and resource.

ingest   ops/ingested_files, raw/her2_rows           pipelines/assets/ingest.py
staging  staging/her2_results[_history],
         quarantine/rejected_rows                    pipelines/assets/staging.py
marts    marts/specimen_her2, marts/agreement,
         marts/primary_metastasis_pairs              pipelines/assets/marts.py
         marts/ihc_ish_discordance, positivity_monthly,
         interpretation_audit, retest_candidates, ... pipelines/assets/quality_marts.py

checks   pipelines/checks.py (ingest, staging), pipelines/marts_checks.py,
         pipelines/quality_checks.py, the site's in pipelines/assets/publish.py
publish  site (the offline dashboards)               pipelines/assets/publish.py
         audit_pack (last complete quarter)          pipelines/assets/audit.py

jobs     her2qa_job (nightly, incremental), rebuild_job (from the raw layer),
         quarterly_audit_job (the audit pack)
nightly  02:00 in the laboratory's time zone         pipelines/schedules.py
quarter  03:00 on the first day of each quarter      pipelines/assets/audit.py
inbox    sensor: new file content starts her2qa_job  pipelines/sensors.py
"""

import dagster as dg

from pipelines import checks
from pipelines.assets.audit import AUDIT_ASSETS, AUDIT_JOBS, quarterly_audit_schedule
from pipelines.assets.ingest import ingest_inbox
from pipelines.assets.marts import MART_ASSETS
from pipelines.assets.publish import PUBLISH_ASSETS, PUBLISH_CHECKS
from pipelines.assets.quality_marts import QUALITY_MART_ASSETS
from pipelines.assets.staging import stage_results
from pipelines.jobs import her2qa_job, rebuild_job
from pipelines.marts_checks import MART_CHECKS
from pipelines.quality_checks import QUALITY_CHECKS
from pipelines.resources import Her2qaPaths, default_paths
from pipelines.schedules import nightly_schedule
from pipelines.sensors import inbox_sensor

ASSETS = [
    ingest_inbox,
    stage_results,
    *MART_ASSETS,
    *QUALITY_MART_ASSETS,
    *PUBLISH_ASSETS,
    *AUDIT_ASSETS,
]
CHECKS = [*checks.CHECKS, *MART_CHECKS, *QUALITY_CHECKS, *PUBLISH_CHECKS]


def build_defs(paths: Her2qaPaths, timezone: str | None = None) -> dg.Definitions:
    """The pipeline bound to one deployment's paths (the CLI passes its flags here)."""
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        jobs=[her2qa_job, rebuild_job, *AUDIT_JOBS],
        schedules=[nightly_schedule(timezone), quarterly_audit_schedule(timezone)],
        sensors=[inbox_sensor],
        resources={"paths": paths},
    )


defs = build_defs(default_paths())
