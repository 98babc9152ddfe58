"""build_audit_pack: one folder of evidence for an inspection period.

    <out>/report.html       the report (every figure from metrics.csv; no script, no network)
    <out>/report.pdf        the same, printed by headless Chromium
    <out>/metrics.csv       every figure: n, 95% CI, target, source rule   (reproducible)
    <out>/lineage.json      inputs (SHA-256, rows), quarantine, software, guideline versions,
                            configuration hash, warehouse run id, SQL hashes (reproducible)
    <out>/generated.json    when, and by which Dagster run, the pack was made
    <out>/cases/            restricted (0700 / 0600): discordant cases, retest candidates, ...

The same warehouse, period, lab and configuration give byte-identical metrics.csv and
lineage.json; the generation time lives only in generated.json and the report.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from dashboards.audit_pack import cases, compute, metrics, pdf, provenance, render
from dashboards.audit_pack.compute import AuditError
from dashboards.audit_pack.period import Period, PeriodError, default_out_dir, parse_date
from her2qa import config

PACK_FILES = ("report.html", "report.pdf", "metrics.csv", "lineage.json", "generated.json")

# Headline figures (asset metadata, CLI summary): name -> (section, metric, stratum, field).
HEADLINE = {
    "specimens": ("volumes", "specimens", "all", "value"),
    "ihc_ish_concordance": ("ihc_vs_ish", "overall_agreement", "all", "value"),
    "ihc_ish_pairs": ("ihc_vs_ish", "overall_agreement", "all", "n"),
    "ihc_ish_kappa": ("ihc_vs_ish", "kappa", "all", "value"),
    "lab_vs_reference_agreement": ("lab_vs_reference", "overall_agreement", "all", "value"),
    "observer_exact_agreement": ("observer_vs_observer", "overall_agreement", "all", "value"),
    "positive_rate": ("positivity", "positive_rate", "all", "value"),
    "ihc_ish_worklist_cases": ("discordance", "ihc_ish_worklist", "all", "value"),
    "true_discordant_cases": ("discordance", "ihc_ish_discordant", "all", "value"),
    "retest_candidates": ("primary_vs_metastasis", "retest_candidates", "all", "value"),
    "cap11_rate2": ("cap11", "rate2", "all", "value"),
}


@dataclass(frozen=True)
class AuditSummary:
    out_dir: Path
    period: Period
    lab: str | None
    headline: dict[str, float | None]
    metrics_rows: int
    case_rows: dict[str, int]
    warehouse_run_id: str | None
    seconds: float
    files: tuple[str, ...] = field(default=PACK_FILES)

    def __str__(self) -> str:
        h = self.headline

        def pct(name: str) -> str:
            return "—" if h.get(name) is None else f"{100 * h[name]:.1f}%"

        return (
            f"audit pack {self.out_dir} ({self.lab or 'all laboratories'}, "
            f"{self.period.label}) in {self.seconds:.1f} s: "
            f"{int(h.get('specimens') or 0):,} specimens; IHC/ISH concordance "
            f"{pct('ihc_ish_concordance')} over {int(h.get('ihc_ish_pairs') or 0):,} pairs; "
            f"positive rate {pct('positive_rate')}; {self.metrics_rows:,} figures in metrics.csv; "
            f"case lists in {self.out_dir / 'cases'} (restricted)"
        )


def build_audit_pack(
    warehouse_file: str | os.PathLike[str],
    date_from: date | str,
    date_to: date | str,
    lab: str | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    site_config: config.SiteConfig | None = None,
    run_id: str | None = None,
    *,
    now: datetime | None = None,
) -> AuditSummary:
    """Make the audit pack of ``[date_from, date_to]`` (inclusive) for ``lab`` (None: every
    laboratory of the warehouse) in ``out_dir`` (default build/audit/<from>_<to>[_<lab>]).

    ``run_id``: the Dagster run making the pack (recorded in generated.json and the report,
    not in lineage.json). ``site_config``: lab targets and LDT kits (default: the site TOML,
    her2qa/config.py). Raises AuditError (one line) when the pack cannot be made."""
    started = time.monotonic()
    try:
        period = Period(_as_date(date_from, "--from"), _as_date(date_to, "--to"))
    except PeriodError as exc:
        raise AuditError(str(exc)) from None
    site = site_config if site_config is not None else config.load_site_config()
    lab = lab.strip() if lab else None
    out = Path(out_dir) if out_dir else default_out_dir(period, lab)
    _check_out_dir(out)

    with compute.open_warehouse(Path(warehouse_file)) as con:
        labs = compute.warehouse_labs(con)
        if lab is not None and lab not in labs:
            known = ", ".join(labs) or "none"
            raise AuditError(f"unknown lab {lab!r}: the warehouse holds results of {known}")
        data = compute.compute(con, period, lab, site)
        rows = metrics.scoped(data.metrics, lab)
        metrics_csv = metrics.to_csv(rows)
        out.mkdir(parents=True, exist_ok=True)
        case_files = cases.write_cases(out / "cases", data.cases)
        record = provenance.pack_lineage(
            con, site, period, lab, data.facts, metrics_csv, len(rows), case_files
        )

    _write(out / "metrics.csv", metrics_csv)
    _write(out / "lineage.json", provenance.dumps(record))
    generated_at = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _write(
        out / "generated.json",
        provenance.dumps(
            {
                "generated_at": generated_at,
                "pack_run_id": run_id,
                "warehouse_run_id": record["run_id"],
                "lineage_json_sha256": provenance.sha256((out / "lineage.json").read_bytes()),
                "metrics_csv_sha256": provenance.sha256(metrics_csv),
            }
        ),
    )
    scope_labs = ["ALL", *labs] if lab is None else [lab]
    scope_title = f"All laboratories ({', '.join(labs)})" if lab is None else f"Laboratory {lab}"
    context: dict[str, Any] = {
        "F": render.Figures(rows, scope_labs),
        "pack": {
            "scope": "ALL" if lab is None else lab,
            "scope_title": scope_title,
            "period_label": period.label,
            "scope_labs": scope_labs,
            # the ANP.22970 annual review is for a calendar year (--from YYYY-01-01 --to YYYY-12-31)
            "calendar_year": (
                period.date_from.year
                if (period.date_from.month, period.date_from.day) == (1, 1)
                and (period.date_to.month, period.date_to.day) == (12, 31)
                and period.date_from.year == period.date_to.year
                else None
            ),
            "generated_at": generated_at,
            "pack_run_id": run_id,
            "ldt_configured": bool(site.ldt_kits),
        },
        "lineage": record,
        "case_files": case_files,
    }
    _write(out / "report.html", render.render(context).encode("utf-8"))
    pdf.print_pdf(
        out / "report.html",
        out / "report.pdf",
        footer=f"HER2 audit pack · {scope_title} · {period.label}",
    )
    scope = "ALL" if lab is None else lab
    by_key = {(r["section"], r["metric"], r["lab_id"], r["stratum"]): r for r in rows}
    headline: dict[str, float | None] = {}
    for name, (section, metric, stratum, column) in HEADLINE.items():
        row = by_key.get((section, metric, scope, stratum))
        value = row.get(column) if row else None
        headline[name] = None if value is None else float(value)
    return AuditSummary(
        out_dir=out,
        period=period,
        lab=lab,
        headline=headline,
        metrics_rows=len(rows),
        case_rows={name: info["rows"] for name, info in case_files.items()},
        warehouse_run_id=record["run_id"],
        seconds=time.monotonic() - started,
    )


def _as_date(value: date | str, what: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return parse_date(str(value), what)


def _check_out_dir(out: Path) -> None:
    """Refuse to write into a folder that holds something other than an earlier pack."""
    if out.exists() and not out.is_dir():
        raise AuditError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "lineage.json").exists():
        raise AuditError(f"output folder {out} is not empty and holds no earlier audit pack")


def _write(path: Path, data: bytes) -> None:
    """Atomic write (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


__all__ = ["AuditError", "AuditSummary", "build_audit_pack"]
