"""Publish stage: the accreditation audit pack of the last complete calendar quarter.

``audit_pack`` reads the warehouse (read-only) and writes the pack of dashboards/audit_pack
(report.html and .pdf, metrics.csv, lineage.json, generated.json, restricted cases/); its
verdicts are rows of marts.findings made for the quarter by the warehouse's findings SQL, its
targets and LDT kits those of the site configuration the resource reads. It writes to
``$HER2QA_AUDIT_DIR/<from>_<to>`` — by default the ``audit`` folder beside the dashboard site
(``build/audit/`` when the site is ``build/site``, as ``her2qa audit`` writes). The quarter is
the last one that ended before the run's date in the laboratory's time zone, or before
``as_of`` (run configuration; the schedule sets it to its tick's date).

``quarterly_audit_job`` materialises only this asset (the marts are the nightly job's); the
schedule runs it at 03:00 on the first day of January, April, July and October in the
laboratory's time zone (an hour after the nightly run), so the quarter's pack is made from
the warehouse the nightly run has just brought up to date.

The job is in pipelines/defs/jobs.py, its schedule in pipelines/defs/schedules.py.
"""

import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from dashboards.audit_pack import AuditError, build_audit_pack, last_complete_quarter
from dashboards.audit_pack.period import PeriodError, default_out_dir, parse_date
from her2qa.config import lab_timezone
from pipelines.defs.resources import Her2qaPaths
from pipelines.factory import asset_key
from warehouse import catalog

AUDIT_PACK = dg.AssetKey("audit_pack")


class AuditPackConfig(dg.Config):
    as_of: str = ""  # YYYY-MM-DD: the pack covers the last quarter ended before it (default today)
    lab: str = ""  # one laboratory's pack; empty: every laboratory


def audit_root(paths: Her2qaPaths) -> Path:
    """``HER2QA_AUDIT_DIR``, else ``audit/`` beside the dashboard site."""
    explicit = os.environ.get("HER2QA_AUDIT_DIR", "").strip()
    return Path(explicit) if explicit else Path(paths.site_dir).parent / "audit"


@dg.asset(
    key=AUDIT_PACK,
    deps=[asset_key(t.name) for t in catalog.published()],
    group_name="publish",
    kinds={"duckdb", "html", "pdf"},
    owners=["team:her2qa"],
    pool="her2qa_warehouse",
    description="Accreditation audit pack of the last complete calendar quarter: report.html and "
    "report.pdf, metrics.csv (every figure with n, CI, target, the verdict of its finding, "
    "source rule), lineage.json, "
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
            else datetime.now(ZoneInfo(lab_timezone())).date()
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
