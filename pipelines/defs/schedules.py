"""Schedules, in the laboratory's time zone (her2qa/config.py, read when the definitions load):

nightly           02:00 every night: her2qa_job (whatever the LIS exported during the day)
quarterly_audit   03:00 on the first day of each quarter: the audit pack of the quarter that
                  has just ended, an hour after the nightly run brought the warehouse up to date
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from dashboards.audit_pack import last_complete_quarter
from her2qa import config
from pipelines.defs.jobs import her2qa_job, quarterly_audit_job

NIGHTLY_CRON = "0 2 * * *"
QUARTERLY_CRON = "0 3 1 1,4,7,10 *"  # 03:00 on the first day of each quarter


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


def quarterly_audit_schedule(timezone: str | None = None) -> dg.ScheduleDefinition:
    """03:00 on the first day of each quarter in ``timezone`` (default: the laboratory's);
    each tick asks for the pack of the quarter that has just ended."""
    zone = timezone or config.lab_timezone()

    @dg.schedule(
        name="quarterly_audit",
        job=quarterly_audit_job,
        cron_schedule=QUARTERLY_CRON,
        execution_timezone=zone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="The audit pack of the quarter that has just ended (last complete quarter).",
    )
    def _quarterly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        tick = context.scheduled_execution_time or datetime.now(ZoneInfo(zone))
        as_of = tick.astimezone(ZoneInfo(zone)).date()
        period = last_complete_quarter(as_of)
        return dg.RunRequest(
            run_key=f"audit_{period.slug}",
            run_config={"ops": {"audit_pack": {"config": {"as_of": as_of.isoformat()}}}},
            tags={"her2qa/audit_period": period.slug},
        )

    return _quarterly


@dg.definitions
def schedules() -> dg.Definitions:
    """Built at each load, so a changed time zone applies without a restart of Python."""
    return dg.Definitions(schedules=[nightly_schedule(), quarterly_audit_schedule()])
