"""report.html: the pack's report, rendered from the metrics rows (Jinja2, autoescape on).

The template (templates/report.html.j2) reads figures only through ``Figures``, i.e. from
the rows written to metrics.csv: every number of the report is a row of metrics.csv, and every
verdict is the row's verdict (its finding's, warehouse/sql/audit/verdicts.sql) with the
finding's sentence. Numbers read as dashboards/report/formatting.py writes them; the helpers
here only take them out of a row. No script, no external resource: the page opens from disk
and prints to PDF as it shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from dashboards.audit_pack import charts
from dashboards.audit_pack.cases import DESCRIPTIONS
from dashboards.report import formatting

TEMPLATES = Path(__file__).with_name("templates")
DASH = formatting.pct(None)

# A verdict of marts.findings (spec/warehouse.md) as the report's badge says it, and its colour.
VERDICT_WORDS = {"ok": "ok", "look": "look here", "too_few": "too few to judge", "info": "shown"}
VERDICT_CLASSES = {"ok": "ok", "look": "flag", "too_few": "note", "info": ""}


class Figures:
    """The pack's metrics rows, looked up by (section, metric, lab, stratum)."""

    def __init__(self, rows: Iterable[dict[str, Any]], scope_labs: Sequence[str]):
        self.rows = list(rows)
        self.scope_labs = list(scope_labs)  # labs to show, 'ALL' first when pooled
        self._by = {(r["section"], r["metric"], r["lab_id"], r["stratum"]): r for r in self.rows}

    def get(self, section: str, metric: str, lab: str, stratum: str = "all") -> dict | None:
        return self._by.get((section, metric, lab, stratum))

    def strata(self, section: str, metric: str, lab: str) -> list[dict]:
        return [
            r
            for r in self.rows
            if r["section"] == section and r["metric"] == metric and r["lab_id"] == lab
        ]

    def labs(self, section: str, metric: str) -> list[str]:
        """Labs of the scope that have the figure (in scope order)."""
        present = {
            r["lab_id"] for r in self.rows if (r["section"], r["metric"]) == (section, metric)
        }
        return [lab for lab in self.scope_labs if lab in present]

    def first(self, section: str, metric: str) -> dict | None:
        """The first row of a figure (any lab, any stratum), for its target and source."""
        return next(
            (r for r in self.rows if (r["section"], r["metric"]) == (section, metric)), None
        )

    def any(self, section: str) -> bool:
        return any(r["section"] == section for r in self.rows)

    def sources(self) -> list[str]:
        """Every target / band source cited by the figures, once."""
        return sorted({r["target_source"] for r in self.rows if r.get("target_source")})


def _value(row: dict | None, column: str = "value") -> Any:
    return None if not row else row.get(column)


def pct(row: dict | None, digits: int = 1) -> str:
    return formatting.pct(_value(row), digits)


def ci(row: dict | None) -> str:
    if _value(row, "ci_low") is None or _value(row, "ci_high") is None:
        return ""
    return formatting.ci(row["ci_low"], row["ci_high"])  # type: ignore[index]


def frac(row: dict | None) -> str:
    if _value(row, "numerator") is None:
        return ""
    return f"{formatting.count(row['numerator'])}/{formatting.count(row['n'])}"  # type: ignore[index]


def count(row: dict | None) -> str:
    """A count; a count the SQL has no row for is 0 (GROUP BY makes no row for none)."""
    return formatting.count(_value(row) or 0)


def n_of(row: dict | None) -> str:
    """The n of a figure, with thousands separators."""
    return "" if _value(row, "n") is None else formatting.count(row["n"])  # type: ignore[index]


def kappa(row: dict | None) -> str:
    return DASH if _value(row) is None else f"{row['value']:.3f}"  # type: ignore[index]


def kappa_ci(row: dict | None) -> str:
    """A kappa's 95% interval, 'low–high' with 3 decimals."""
    if _value(row, "ci_low") is None or _value(row, "ci_high") is None:
        return ""
    return f"{row['ci_low']:.3f}–{row['ci_high']:.3f}"  # type: ignore[index]


def days(row: dict | None) -> str:
    return DASH if _value(row) is None else f"{row['value']:.1f}"  # type: ignore[index]


def target(row: dict | None) -> str:
    """The target / band as a short figure: '≥ 95.0%', '11.8–17.2%', '1.6%', '≥ 20'."""
    if not row or not row.get("target_kind"):
        return ""
    low, high, kind = row.get("target_low"), row.get("target_high"), row["target_kind"]
    as_pct = row["unit"] == "proportion" and kind != "limit (per specimen)"

    def show(v: float) -> str:
        return formatting.pct(v) if as_pct else f"{v:g}"

    if kind in ("lab target", "requirement"):
        return f"≥ {show(low)}" if low is not None else ""
    if low is not None and high is not None:
        return show(low) if low == high else f"{show(low)}–{show(high)}"
    if high is not None:
        return f"≤ {show(high)}"
    return f"≥ {show(low)}" if low is not None else ""


def verdict_word(row: dict | None) -> str:
    return VERDICT_WORDS.get(_value(row, "verdict") or "", "")


def verdict_class(row: dict | None) -> str:
    return VERDICT_CLASSES.get(_value(row, "verdict") or "", "")


def chart_by_lab(figures: Figures, section: str, metric: str, title: str):
    """Interval chart of one figure across the labs of the scope, with its target/band."""
    items, first = [], None
    for lab in figures.labs(section, metric):
        row = figures.get(section, metric, lab)
        if row and row.get("value") is not None:
            first = first or row
            items.append(charts.Item(lab, row["value"], row.get("ci_low"), row.get("ci_high")))
    if not first:
        return ""
    kind = first.get("target_kind")
    band = target_line = None
    if kind == "benchmark band":
        band = (first.get("target_low"), first.get("target_high"))
    elif kind in ("lab target", "requirement"):
        target_line = first.get("target_low")
    return charts.interval_chart(
        items,
        title=title,
        band=band,
        band_label=first.get("target_label") or "",
        target=target_line,
        target_label=first.get("target_label") or "",
    )


def funnel(figures: Figures, lab: str, title: str):
    """ANP.22970 funnel plot of a laboratory's readers (annual_review rows): each reader's
    rate at its n, the funnel limits (the rows' targets) and the laboratory's rate."""
    points = [
        charts.FunnelPoint(
            r["stratum"], int(r["n"]), r["value"], r.get("target_low"), r.get("target_high")
        )
        for r in figures.strata("annual_review", "pathologist_positive_rate", lab)
        if r.get("value") is not None
    ]
    centre = _value(figures.get("annual_review", "pathologist_lab_rate", lab))
    return charts.funnel_chart(points, centre=centre, title=title)


def strata_chart(figures: Figures, section: str, metric: str, lab: str, title: str):
    """Interval chart of one figure across its strata (readers, clones) for one laboratory;
    kappas on a kappa axis, proportions on a percent axis."""
    rows = [r for r in figures.strata(section, metric, lab) if r.get("value") is not None]
    if not rows:
        return ""
    items = [charts.Item(r["stratum"], r["value"], r.get("ci_low"), r.get("ci_high")) for r in rows]
    return charts.interval_chart(items, title=title, kappa=rows[0]["unit"] == "kappa")


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(
        pct=pct,
        ci=ci,
        frac=frac,
        count=count,
        n_of=n_of,
        kappa=kappa,
        kappa_ci=kappa_ci,
        days=days,
        target=target,
        verdict_word=verdict_word,
        verdict_class=verdict_class,
        chart_by_lab=chart_by_lab,
        funnel=funnel,
        strata_chart=strata_chart,
        case_descriptions=DESCRIPTIONS,
    )
    return env


def render(context: dict[str, Any]) -> str:
    return environment().get_template("report.html.j2").render(**context)
