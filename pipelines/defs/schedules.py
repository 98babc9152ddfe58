"""The nightly schedule: 02:00 in the laboratory's time zone (her2qa/config.py)."""

import dagster as dg

from her2qa import config
from pipelines.jobs import her2qa_job

NIGHTLY_CRON = "0 2 * * *"


def nightly_schedule(timezone: str | None = None) -> dg.ScheduleDefinition:
    """02:00 every night in ``timezone`` (default: the configured laboratory time zone)."""
    return dg.ScheduleDefinition(
        name="nightly",
        job=her2qa_job,
        cron_schedule=NIGHTLY_CRON,
        execution_timezone=timezone or config.lab_timezone(),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Ingest whatever the LIS exported during the day and rebuild the outputs.",
    )
