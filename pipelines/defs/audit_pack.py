"""Publish stage: the accreditation audit pack of the last complete calendar quarter.

``audit_pack`` reads the warehouse (read-only) and writes the pack of dashboards/audit_pack
(report.html and .pdf, metrics.csv, lineage.json, generated.json, restricted cases/) to
``$HER2QA_AUDIT_DIR/<from>_<to>`` — by default the ``audit`` folder beside the dashboard site
(``build/audit/`` when the site is ``build/site``, as ``her2qa audit`` writes). The quarter is
the last one that ended before the run's date in the laboratory's time zone, or before
``as_of`` (run configuration; the schedule sets it to its tick's date).

``quarterly_audit_job`` materialises only this asset (the marts are the nightly job's); the
schedule runs it at 03:00 on the first day of January, April, July and October in the
laboratory's time zone (an hour after the nightly run), so the quarter's pack is made from
the warehouse the nightly run has just brought up to date.

Wiring (pipelines/definitions.py): ``assets=[..., *AUDIT_ASSETS]``, ``jobs=[..., *AUDIT_JOBS]``,
``schedules=[..., quarterly_audit_schedule(timezone)]`` (``AUDIT_SCHEDULES`` holds the one for
the configured time zone).
"""

import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from dashboards.audit_pack import AuditError, build_audit_pack, last_complete_quarter
from dashboards.audit_pack import settings as audit_settings
from dashboards.audit_pack.period import PeriodError, default_out_dir, parse_date
from her2qa import config
from pipelines.assets.marts import AGREEMENT, PRIMARY_METASTASIS_PAIRS, SPECIMEN_HER2
from pipelines.assets.quality_marts import (
    AGREEMENT_BY_GROUP,
    AMPLIFICATION_BY_IHC_SCORE,
    CAP11_RATES,
    HER2_LOW_DISTRIBUTION,
    HER2_LOW_TRANSITIONS,
    IHC_ISH_DISCORDANCE,
    INTERPRETATION_AUDIT,
    POSITIVITY_MONTHLY,
    PREANALYTIC_MONTHLY,
    PRIMARY_METASTASIS_SUMMARY,
    REFERENCE_BANDS,
    RETEST_CANDIDATES,
)
from pipelines.assets.staging import RESULTS
from pipelines.resources import Her2qaPaths

AUDIT_PACK = dg.AssetKey("audit_pack")
QUARTERLY_CRON = "0 3 1 1,4,7,10 *"  # 03:00 on the first day of each quarter

# Everything the pack reads (the quality marts' SQL is re-run on the period's rows of these).
UPSTREAM = [
    RESULTS,
    SPECIMEN_HER2,
    AGREEMENT,
    PRIMARY_METASTASIS_PAIRS,
    REFERENCE_BANDS,
    IHC_ISH_DISCORDANCE,
    AMPLIFICATION_BY_IHC_SCORE,
    AGREEMENT_BY_GROUP,
    POSITIVITY_MONTHLY,
    HER2_LOW_DISTRIBUTION,
    INTERPRETATION_AUDIT,
    CAP11_RATES,
    PRIMARY_METASTASIS_SUMMARY,
    HER2_LOW_TRANSITIONS,
    RETEST_CANDIDATES,
    PREANALYTIC_MONTHLY,
]


class AuditPackConfig(dg.Config):
    as_of: str = ""  # YYYY-MM-DD: the pack covers the last quarter ended before it (default today)
    lab: str = ""  # one laboratory's pack; empty: every laboratory


def audit_root(paths: Her2qaPaths) -> Path:
    """``HER2QA_AUDIT_DIR``, else ``audit/`` beside the dashboard site."""
    explicit = os.environ.get("HER2QA_AUDIT_DIR", "").strip()
    return Path(explicit) if explicit else Path(paths.site_dir).parent / "audit"


@dg.asset(
    key=AUDIT_PACK,
    deps=UPSTREAM,
    group_name="publish",
    kinds={"duckdb", "html", "pdf"},
    owners=["team:her2qa"],
    pool="her2qa_warehouse",
    description="Accreditation audit pack of the last complete calendar quarter: report.html and "
    "report.pdf, metrics.csv (every figure with n, CI, target, source rule), lineage.json, "
    "restricted cases/ (discordant cases, retest candidates, validation and PT answers).",
)
def audit_pack(
    context: dg.AssetExecutionContext, config: AuditPackConfig, paths: Her2qaPaths
) -> dg.MaterializeResult:
    """Write the quarter's pack (read-only on the warehouse); headline figures as metadata."""
    try:
        as_of = (
            parse_date(config.as_of, "as_of")
            if config.as_of.strip()
            else datetime.now(ZoneInfo(_timezone())).date()
        )
    except PeriodError as exc:
        raise dg.Failure(description=str(exc)) from None
    period = last_complete_quarter(as_of)
    lab = config.lab.strip() or None
    out = default_out_dir(period, lab, root=audit_root(paths))
    try:
        summary = build_audit_pack(
            paths.warehouse_file,
            period.date_from,
            period.date_to,
            lab=lab,
            out_dir=out,
            site_config=paths.load_site_config(),
            run_id=context.run.run_id,
            ldt_kits=audit_settings.ldt_kits(paths.site_config or None),
        )
    except AuditError as exc:
        raise dg.Failure(description=str(exc)) from None
    context.log.info(str(summary))
    quarter = f"{period.date_from.year}-Q{(period.date_from.month - 1) // 3 + 1}"
    metadata: dict = {
        "period": quarter,
        "period_from": period.date_from.isoformat(),
        "period_to": period.date_to.isoformat(),
        "lab": lab or "ALL",
        "path": dg.MetadataValue.path(str(out.absolute())),
        "metrics_rows": summary.metrics_rows,
        "case_rows": sum(summary.case_rows.values()),
        "warehouse_run_id": summary.warehouse_run_id or "",
    }
    for name, value in summary.headline.items():
        if value is not None:
            metadata[name] = float(round(value, 6))
    return dg.MaterializeResult(metadata=metadata)


def _timezone() -> str:
    return config.lab_timezone()


quarterly_audit_job = dg.define_asset_job(
    "quarterly_audit_job",
    selection=dg.AssetSelection.assets(AUDIT_PACK),
    description="Write the audit pack of the last complete quarter from the current warehouse.",
    tags={"her2qa/kind": "audit"},
    executor_def=dg.in_process_executor,
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


AUDIT_ASSETS = [audit_pack]
AUDIT_JOBS = [quarterly_audit_job]
AUDIT_SCHEDULES = [quarterly_audit_schedule()]
