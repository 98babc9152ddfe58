"""Positivity monitoring: the monthly HER2-positive rate of each laboratory as a p-chart
(centre line, 3-sigma limits, flagged months) beside the published positivity bands, and the
pathologists of a laboratory against its centre line. From marts.positivity_monthly and
dashboards/site/sql/positivity_summary.sql. Clinical primaries, positive or negative.

Monitoring result distributions over time is good practice that CAP publications encourage;
no checklist requirement number is confirmed (her2-domain.md §QA-WORDING), and the pages say so.
"""

from __future__ import annotations

import math
from collections import defaultdict

import plotly.graph_objects as go
from markupsafe import Markup
from plotly.subplots import make_subplots

from dashboards.report import formatting as fmt
from dashboards.site import figures as F
from dashboards.site import layout, readings
from dashboards.site.data import Context
from dashboards.site.layout import Page, Reading, Section, View, table
from dashboards.site.pages import figure_block, html_block

FILENAME = "positivity.html"
SMALL_MULTIPLES = 12  # the network view draws at most this many labs' p-charts
WORDING = (
    "Monitoring the positive rate over time is good practice that CAP publications encourage "
    "(no checklist requirement number confirmed); published bands are context, not limits."
)


def _axis(i: int, letter: str) -> str:
    return letter if i == 1 else f"{letter}{i}"


def _pchart_traces(
    fig: go.Figure, lab: str, rows: list[dict], *, i: int, row: int, col: int, legend: bool
) -> None:
    """One lab's p-chart into subplot (row, col), axis index i."""
    rows = sorted(rows, key=lambda r: r["month"])
    x = [r["month"].isoformat() for r in rows]
    first = rows[0]
    where = {"row": row, "col": col}
    if first["band_low"] is not None:
        fig.add_shape(
            F.band_shape(
                low=first["band_low"] * 100,
                high=first["band_high"] * 100,
                xref=_axis(i, "x"),
                yref=_axis(i, "y"),
                name=f"{first['band_label']}: {fmt.pct(first['band_low'])}–"
                f"{fmt.pct(first['band_high'])} ({first['band_source']})",
                showlegend=legend,
            )
        )
    if first["context_band_low"] is not None:
        context = F.band_shape(
            low=first["context_band_low"] * 100,
            high=first["context_band_high"] * 100,
            xref=_axis(i, "x"),
            yref=_axis(i, "y"),
            name=f"{first['band_label']}: {fmt.pct(first['context_band_low'])}–"
            f"{fmt.pct(first['context_band_high'])} ({first['context_band_source']})",
            showlegend=legend,
        )
        context.update(
            fillcolor="rgba(0,0,0,0)", line={"width": 1.5, "color": F.BAND_LINE, "dash": "dash"}
        )
        fig.add_shape(context)
    for bound, name in (("ucl", "upper"), ("lcl", "lower")):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=F.rounded(r[bound] * 100 for r in rows),
                mode="lines",
                line={"color": F.LIMIT, "width": 1, "dash": "dot", "shape": "hvh"},
                name="control limits: centre ± 3σ for each month's n",
                legendgroup="limits",
                showlegend=legend and name == "upper",
                hoverinfo="skip",
            ),
            **where,
        )
    fig.add_trace(
        go.Scatter(
            x=[x[0], x[-1]],
            y=[F.rnd(first["centre_line"] * 100)] * 2,
            mode="lines",
            line={"color": F.LIMIT, "width": 1.5},
            name="centre line: the laboratory's overall rate (p̄)",
            showlegend=legend,
            hoverinfo="skip",
        ),
        **where,
    )
    hover = []
    for r in rows:
        flag = f"\nOUTSIDE the control limits ({r['signal']})" if r["out_of_control"] else ""
        hover.append(
            f"{lab}, {r['month_label']}: {fmt.pct(r['rate'])} positive "
            f"({fmt.ci(r['ci_low'], r['ci_high'])})"
            f"\n{r['n_positive']:,} of {r['n_specimens']:,} primaries"
            f"\ncontrol limits {fmt.pct(r['lcl'])}–{fmt.pct(r['ucl'])}{flag}"
            + ("\nsmall n" if F.is_small(r["n_specimens"]) else "")
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=F.rounded(r["rate"] * 100 for r in rows),
            mode="lines+markers",
            line={"color": F.VALUE, "width": 1.5},
            marker={"color": F.VALUE, "size": 6},
            name="monthly positive rate",
            showlegend=legend,
            hovertext=hover,
            hoverinfo="text",
        ),
        **where,
    )
    flagged = [(xx, r, h) for xx, r, h in zip(x, rows, hover, strict=True) if r["out_of_control"]]
    fig.add_trace(
        go.Scatter(
            x=[f[0] for f in flagged],
            y=[F.rnd(f[1]["rate"] * 100) for f in flagged],
            mode="markers",
            marker={"color": F.FLAG, "size": 13, "symbol": "x-thin-open", "line": {"width": 3}},
            name="flagged: outside the control limits",
            showlegend=legend,
            hovertext=[f[2] for f in flagged],
            hoverinfo="text",
        ),
        **where,
    )


def _pchart(view: View, rows: list[dict]) -> go.Figure:
    fig = make_subplots(rows=1, cols=1)
    _pchart_traces(fig, view.label, rows, i=1, row=1, col=1, legend=True)
    fig.update_layout(
        title={
            "text": f"p-chart of the monthly HER2-positive rate: {view.label}",
            "subtitle": {"text": "clinical primary specimens by collection month"},
        },
        height=480,
        template={},
    )
    fig.update_yaxes(ticksuffix="%", title_text="HER2-positive", rangemode="tozero")
    fig.update_xaxes(title_text="collection month")
    return fig


def _small_multiples(labs: dict[str, list[dict]]) -> go.Figure | None:
    if not labs:
        return None
    names = list(labs)
    cols = 2 if len(names) > 1 else 1
    nrows = math.ceil(len(names) / cols)
    fig = make_subplots(
        rows=nrows,
        cols=cols,
        subplot_titles=names,
        shared_xaxes=True,
        vertical_spacing=min(0.12, 0.5 / nrows),
        horizontal_spacing=0.07,
    )
    for i, lab in enumerate(names, 1):
        _pchart_traces(
            fig, lab, labs[lab], i=i, row=(i - 1) // cols + 1, col=(i - 1) % cols + 1, legend=i == 1
        )
    fig.update_yaxes(ticksuffix="%", rangemode="tozero")
    fig.update_layout(
        title={
            "text": "p-charts of the monthly HER2-positive rate, by laboratory",
            "subtitle": {"text": "clinical primary specimens by collection month"},
        },
        height=160 + 240 * nrows,
        template={},
    )
    return fig


def _forest(
    title: str,
    rows: list[dict],
    *,
    label_field: str,
    band: dict | None,
    centre: float | None = None,
    highlight: str | None = None,
) -> go.Figure:
    labels = [r[label_field] for r in rows]
    fig = F.new_figure(
        title,
        subtitle="last 12 months, 95% CI (Wilson); open marker: small n",
        height=max(300, 150 + 30 * len(rows)),
    )
    hover = [
        f"{r[label_field]}: {fmt.pct(r['rate_window'])} "
        f"({fmt.ci(r['window_ci_low'], r['window_ci_high'])})"
        f"\n{r['n_positive_window']:,} of {r['n_window']:,} primaries in the last 12 months"
        f"\n{r['n_flagged_window']} month(s) outside the control limits in that window"
        for r in rows
    ]
    colours = [F.VALUE if highlight in (None, r[label_field]) else F.OTHER for r in rows]
    for trace in F.forest_traces(
        labels=labels,
        values=[r["rate_window"] for r in rows],
        low=[r["window_ci_low"] for r in rows],
        high=[r["window_ci_high"] for r in rows],
        n=[r["n_window"] for r in rows],
        hovertext=hover,
        colours=colours,
        n_at=max([(r["window_ci_high"] or 0) * 100 for r in rows] + [30]) + 2,
    ):
        fig.add_trace(trace)
    if band is not None:
        fig.add_shape(
            F.band_shape(
                low=band["low"] * 100, high=band["high"] * 100, axis="x", name=band["name"]
            )
        )
    if centre is not None:
        fig.add_shape(
            F.line_shape(
                centre * 100,
                name=f"the laboratory's centre line p̄ = {fmt.pct(centre)}",
                colour=F.LIMIT,
                axis="x",
                dash="solid",
            )
        )
    top = max([(r["window_ci_high"] or 0) * 100 for r in rows] + [30]) + 12
    fig.update_xaxes(range=[0, top], ticksuffix="%", title_text="HER2-positive")
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=list(reversed(labels)))
    fig.update_layout(showlegend=True)
    return fig


def build(ctx: Context) -> Page:
    monthly = ctx.rows(
        "SELECT * FROM marts.positivity_monthly ORDER BY lab_id, level, pathologist_id, month"
    )
    summary = ctx.file("positivity_summary")
    labs_series: dict[str, list[dict]] = defaultdict(list)
    pathologists: dict[str, list[dict]] = defaultdict(list)
    for r in monthly:
        if r["level"] == "lab":
            labs_series[r["lab_id"]].append(r)
    lab_summary = {r["lab_id"]: r for r in summary if r["level"] in ("lab", "network")}
    for r in summary:
        if r["level"] == "pathologist":
            pathologists[r["lab_id"]].append(r)
    primary = ctx.band("positivity_dk_departments")
    band = (
        {"low": primary.low, "high": primary.high, "name": primary.legend()}
        if primary and primary.low is not None
        else None
    )
    flagged_rows = [r for r in monthly if r["out_of_control"]]

    page = Page(
        FILENAME,
        "Positivity",
        "Positivity monitoring",
        "The share of clinical primary specimens called HER2-positive, month by month, as a "
        "p-chart: a month outside the control limits differs from the laboratory's own rate by "
        "more than chance would explain. " + WORDING,
    )

    def view_readings(view: View) -> list[Reading]:
        s = lab_summary.get(view.lab or "ALL")
        if not s:
            return []
        out = [
            readings.versus_band(
                topic="HER2-positive rate, last 12 months",
                what="primaries",
                k=s["n_positive_window"],
                n=s["n_window"],
                rate=s["rate_window"],
                ci_low=s["window_ci_low"],
                ci_high=s["window_ci_high"],
                band=primary,
                href=f"{FILENAME}#pchart",
            )
        ]
        if s["n_flagged_window"]:
            out.append(
                Reading(
                    "look",
                    f"{s['n_flagged_window']} laboratory-month(s) outside the p-chart's control "
                    f"limits in the last 12 months (latest {s['last_flagged']:%Y-%m}).",
                    "Positivity p-chart",
                    f"{FILENAME}#pchart",
                )
            )
        elif F.is_small(s["n_window"]):
            out.append(
                Reading(
                    "small",
                    f"{s['n_window']:,} primaries in the last 12 months: too few for the "
                    "p-chart's limits to flag a month.",
                    "Positivity p-chart",
                    f"{FILENAME}#pchart",
                )
            )
        else:
            out.append(
                Reading(
                    "ok",
                    "no month outside the p-chart's control limits in the last 12 months"
                    + (f" ({s['n_flagged']} earlier)." if s["n_flagged"] else "."),
                    "Positivity p-chart",
                    f"{FILENAME}#pchart",
                )
            )
        return out

    found = {v.key: view_readings(v) for v in ctx.views}
    page.readings = found

    # the p-chart: a lab's own, or the network's small multiples (largest labs first)
    pchart_data: dict[str, object] = {}
    biggest = sorted(labs_series, key=lambda lab: -sum(r["n_specimens"] for r in labs_series[lab]))
    shown = {lab: labs_series[lab] for lab in sorted(biggest[:SMALL_MULTIPLES])}
    for view in ctx.views:
        if view.lab is None:
            pchart_data[view.key] = shown or None
        elif labs_series.get(view.lab):
            pchart_data[view.key] = labs_series[view.lab]
    more = len(labs_series) - len(shown)

    def pchart(view: View, data: object) -> go.Figure | None:
        if view.lab is None:
            return _small_multiples(data)  # type: ignore[arg-type]
        return _pchart(view, data)  # type: ignore[arg-type]

    page.sections.append(
        Section(
            "p-chart per laboratory",
            "pchart",
            "Points: the monthly rate; solid line: the laboratory's own overall rate (p̄); "
            "dotted: the 3-sigma control limits, wider in months with few specimens; ✕: a month "
            "outside them. Grey band: the Danish department range; dashed box: the German mean "
            "± 1 SD (both published benchmark bands, context, not limits)."
            + (
                f" The network view draws the {len(shown)} largest laboratories; {more} more "
                "are in the laboratory selector."
                if more > 0
                else ""
            ),
            [
                figure_block(
                    ctx, "pchart", "p-chart of the monthly HER2-positive rate", pchart_data, pchart
                )
            ],
        )
    )

    # laboratories (network view, the selected lab highlighted) and pathologists (lab view)
    lab_rows = sorted((r for r in summary if r["level"] == "lab"), key=lambda r: r["lab_id"])
    compare_data = {}
    for view in ctx.views:
        if view.lab is None:
            compare_data[view.key] = ("labs", lab_rows) if lab_rows else None
        elif pathologists.get(view.lab):
            compare_data[view.key] = ("pathologists", pathologists[view.lab])

    def compare(view: View, data: tuple[str, list[dict]]) -> go.Figure:
        kind, rows = data
        if kind == "labs":
            return _forest(
                "HER2-positive rate by laboratory",
                rows,
                label_field="lab_id",
                band=band,
            )
        rows = sorted(rows, key=lambda r: r["pathologist_id"])
        return _forest(
            f"HER2-positive rate by pathologist: {view.label}",
            rows,
            label_field="pathologist_id",
            band=band,
            centre=lab_summary[view.lab]["centre_line"] if view.lab in lab_summary else None,
        )

    page.sections.append(
        Section(
            "Laboratories and pathologists",
            "compare",
            "Network view: each laboratory's rate over the last 12 months beside the published "
            "band. Laboratory view: each pathologist's rate (the reader of the specimen's IHC) "
            "beside the laboratory's own centre line.",
            [
                figure_block(
                    ctx,
                    "compare",
                    "HER2-positive rate by laboratory or pathologist",
                    compare_data,
                    compare,
                )
            ],
        )
    )

    def flags_html(view: View) -> Markup:
        rows = [
            r
            for r in flagged_rows
            if (view.lab is None and r["level"] == "lab") or r["lab_id"] == view.lab
        ]
        rows = sorted(rows, key=lambda r: r["month"], reverse=True)[:30]
        body = [
            [
                r["month_label"],
                r["lab_id"],
                "laboratory" if r["level"] == "lab" else r["pathologist_id"],
                f"{r['n_positive']:,} / {r['n_specimens']:,}",
                fmt.pct(r["rate"]),
                f"{fmt.pct(r['lcl'])}–{fmt.pct(r['ucl'])}",
                r["signal"],
            ]
            for r in rows
        ]
        return layout.readings(found[view.key], link=False) + table(
            ["month", "laboratory", "level", "positive / n", "rate", "control limits", "signal"],
            body,
            numeric=(3, 4),
            caption="Months outside the control limits, most recent first (at most 30).",
            empty="No month outside the control limits for this selection.",
        )

    page.sections.append(Section("Flagged months", "flags", blocks=[html_block(ctx, flags_html)]))
    return page
