"""The pipeline's Dagster definitions: everything under ``pipelines/defs/``, one module per
stage, loaded as ``dg`` lays a project out (``dg check defs`` validates it).

    defs/ingest.py       ops/ingested_files, raw/her2_rows          (her2qa/ingest)
    defs/staging.py      staging/*, quarantine/rejected_rows        (her2qa/staging.py)
    defs/marts.py        every mart and marts/findings, one asset per catalog table
                         (warehouse/catalog.py, built by warehouse/build.py)
    defs/site.py         site: the offline dashboards               (dashboards/site)
    defs/audit_pack.py   audit_pack: the quarter's accreditation pack (dashboards/audit_pack)
    defs/jobs.py         her2qa_job (nightly, incremental), rebuild_job, quarterly_audit_job
    defs/schedules.py    nightly 02:00 and quarterly 03:00 in the laboratory's time zone
    defs/sensors.py      inbox_sensor: new file content starts her2qa_job
    defs/resources.py    paths: the deployment's warehouse, inbox, archive and site

Checks are generated from the catalog (pipelines/factory.py) and sit beside their assets.
"""

from pathlib import Path

import dagster as dg

from her2qa.config import ConfigError
from pipelines.defs.resources import Her2qaPaths, default_paths

PROJECT = Path(__file__).resolve().parent


def build_defs(paths: Her2qaPaths | None = None) -> dg.Definitions:
    """The pipeline, bound to one deployment's paths (``her2qa run`` passes its flags here)."""
    try:
        loaded = dg.load_from_defs_folder(path_within_project=PROJECT)
    except Exception as exc:  # a bad her2qa.toml reaches the user as its own one-line error
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, ConfigError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise cause from None
        raise
    return dg.Definitions(
        assets=loaded.assets,
        asset_checks=loaded.asset_checks,
        jobs=loaded.jobs,
        schedules=loaded.schedules,
        sensors=loaded.sensors,
        resources={**(loaded.resources or {}), "paths": paths or default_paths()},
    )


defs = build_defs()
