"""Accreditation audit pack: reproducible evidence of a laboratory's HER2 testing quality for
an inspection period (``her2qa audit``; Dagster asset ``audit_pack``).

Modules, one responsibility each::

    period.py      the period (ISO dates, last complete quarter, default folder)
    compute.py     period figures and verdicts in SQL: the warehouse's mart and findings SQL
                   re-run on the period's rows (warehouse/sql/audit/*.sql), read-only on the
                   warehouse; targets and LDT kits from the one configuration (her2qa/config.py)
    metrics.py     metrics.csv (scope, stable machine formatting; verdicts come from findings)
    provenance.py  lineage.json (content-determined) and generated.json
    cases.py       the restricted cases/ worklists
    render.py      report.html (Jinja2, autoescape) + charts.py (inline SVG)
    pdf.py         report.pdf (headless Chromium via Playwright)
    pack.py        build_audit_pack: all of the above, in order
"""

from dashboards.audit_pack.compute import AuditError
from dashboards.audit_pack.pack import AuditSummary, build_audit_pack
from dashboards.audit_pack.period import Period, last_complete_quarter

__all__ = ["AuditError", "AuditSummary", "Period", "build_audit_pack", "last_complete_quarter"]
