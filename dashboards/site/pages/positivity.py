"""Positivity monitoring: the monthly HER2-positive rate of each laboratory as a p-chart
(centre line, control limits, flagged months) beside the published positivity bands, and the
pathologists of a laboratory against its centre line. From marts.positivity_monthly and
dashboards/report/sql/positivity_summary.sql. Clinical primaries, positive or negative.

The badges and the flagged months are rows of marts.findings: positivity_control (lab ×
month: outside the control limits, or a sustained shift), positivity_pathologist (lab ×
12-month window × pathologist: a funnel plot) and positivity_published_range (lab × the
12-month window). A month is marked on the chart and listed in the table exactly
when its finding says 'look', and the badge is the worst verdict of the same rows.

Monitoring result distributions over time is good practice that CAP publications encourage;
no checklist requirement number is confirmed (her2-domain.md §QA-WORDING), and the pages say so.
"""

from __future__ import annotations

import math
from collections import defaultdict

from markupsafe import Markup

from dashboards.report import formatting as fmt
from dashboards.site import figures as F
from dashboards.site import layout
from dashboards.site import readings as R
from dashboards.site.data import ALL, Context, Finding
from dashboards.site.layout import Page, Reading, Section, View, table
from dashboards.site.pages import figure_block, html_block

FILENAME = "positivity.html"
SMALL_MULTIPLES = 12  # the network view draws at most this many labs' p-charts
WORDING = (
    "Monitoring the positive rate over time is good practice that CAP publications encourage "
    "(no checklist requirement number confirmed); published bands are context, not limits."
)
CONTROL = "positivity_control"
PATHOLOGIST = "positivity_pathologist"
MAX_ROWS = 30  # rows of a flagged-months table
PCHART_SUBTITLE = "clinical primary specimens by collection month"
# the context band of a p-chart: a dashed box, unfilled, so the published band shows through
CONTEXT_BAND_STYLE = {
    "fillcolor": "rgba(0,0,0,0)",
    "line": {"width": 1.5, "color": F.BAND_LINE, "dash": "dash"},
}


def _axis(i: int, letter: str) -> str:
    return letter if i == 1 else f"{letter}{i}"


def _pchart_traces(
    ctx: Context,
    fig: F.Figure,
    lab: str,
    rows: list[dict],
    *,
    i: int,
    row: int,
    col: int,
    legend: bool,
) -> None:
    """One lab's p-chart into subplot (row, col), axis index i; a month is flagged when its
    positivity_control finding says 'look'."""
    rows = sorted(rows, key=lambda r: r["month"])
    x = [r["month"].isoformat() for r in rows]
    first = rows[0]
    where = {"row": row, "col": col}
    # the published band (shaded) and the context band (a dashed box), from the columns
    # band_* and context_band_* of marts.positivity_monthly (both under the band's label)
    for prefix, style in (("band", {}), ("context_band", CONTEXT_BAND_STYLE)):
        low, high = first[f"{prefix}_low"], first[f"{prefix}_high"]
        if low is None:
            continue
        shape = F.band_shape(
            low=low * 100,
            high=high * 100,
            xref=_axis(i, "x"),
            yref=_axis(i, "y"),
            name=f"{first['band_label']}: {fmt.pct(low)}–{fmt.pct(high)} "
            f"({first[f'{prefix}_source']})",
            showlegend=legend,
        )
        fig.add_shape({**shape, **style})
    for bound, name in (("ucl", "upper"), ("lcl", "lower")):
        fig.add_trace(
            F.Scatter(
                x=x,
                y=F.rounded(None if r[bound] is None else r[bound] * 100 for r in rows),
                mode="lines",
                line={"color": F.LIMIT, "width": 1, "dash": "dot", "shape": "hvh"},
                name=f"control limits: centre ± {_sigma(ctx)}σ for each month's n",
                legendgroup="limits",
                showlegend=legend and name == "upper",
                hoverinfo="skip",
            ),
            **where,
        )
    fig.add_trace(
        F.Scatter(
            x=x,
            y=F.rounded(None if r["centre_line"] is None else r["centre_line"] * 100 for r in rows),
            mode="lines",
            line={"color": F.LIMIT, "width": 1.5, "shape": "hvh"},
            name="centre line: the laboratory's rate in its baseline months (p̄)",
            showlegend=legend,
            hoverinfo="skip",
        ),
        **where,
    )
    verdicts = [ctx.findings.get(CONTROL, r["lab_id"], r["month_label"]) for r in rows]
    look = [f is not None and f.verdict == "look" for f in verdicts]
    hover = []
    for r, f, flag in zip(rows, verdicts, look, strict=True):
        hover.append(
            f"{lab}, {r['month_label']}: {fmt.pct(r['rate'])} positive "
            f"({fmt.ci(r['ci_low'], r['ci_high'])})"
            f"\n{fmt.count(r['n_positive'])} of {fmt.count(r['n_specimens'])} primaries"
            f"\ncontrol limits {fmt.pct(r['lcl'])}–{fmt.pct(r['ucl'])}"
            + (f"\nOUT OF CONTROL: {f.message}" if flag and f else "")
            + ("\nsmall n" if ctx.is_small(r["n_specimens"]) else "")
        )
    fig.add_trace(
        F.Scatter(
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
    flagged = [(xx, r, h) for xx, r, h, f in zip(x, rows, hover, look, strict=True) if f]
    fig.add_trace(
        F.Scatter(
            x=[f[0] for f in flagged],
            y=[F.rnd(f[1]["rate"] * 100) for f in flagged],
            mode="markers",
            marker={"color": F.FLAG, "size": 13, "symbol": "x-thin-open", "line": {"width": 3}},
            name="out of control (finding positivity_control)",
            showlegend=legend,
            hovertext=[f[2] for f in flagged],
            hoverinfo="text",
        ),
        **where,
    )


def _sigma(ctx: Context) -> str:
    band = ctx.band("control_limit_sigma")
    return "–" if band is None else f"{band.value:g}"


def _pchart(ctx: Context, view: View, rows: list[dict]) -> F.Figure:
    fig = F.subplots(rows=1, cols=1)
    _pchart_traces(ctx, fig, view.label, rows, i=1, row=1, col=1, legend=True)
    F.set_title(
        fig,
        f"p-chart of the monthly HER2-positive rate: {view.label}",
        subtitle=PCHART_SUBTITLE,
        height=480,
    )
    fig.update_yaxes(ticksuffix="%", title_text="HER2-positive", rangemode="tozero")
    fig.update_xaxes(title_text="collection month")
    return fig


def _small_multiples(ctx: Context, labs: dict[str, list[dict]]) -> F.Figure | None:
    if not labs:
        return None
    names = list(labs)
    cols = 2 if len(names) > 1 else 1
    nrows = math.ceil(len(names) / cols)
    fig = F.subplots(
        rows=nrows,
        cols=cols,
        subplot_titles=names,
        shared_xaxes=True,
        vertical_spacing=min(0.12, 0.5 / nrows),
        horizontal_spacing=0.07,
    )
    for i, lab in enumerate(names, 1):
        _pchart_traces(
            ctx,
            fig,
            lab,
            labs[lab],
            i=i,
            row=(i - 1) // cols + 1,
            col=(i - 1) % cols + 1,
            legend=i == 1,
        )
    fig.update_yaxes(ticksuffix="%", rangemode="tozero")
    F.set_title(
        fig,
        "p-charts of the monthly HER2-positive rate, by laboratory",
        subtitle=PCHART_SUBTITLE,
        height=160 + 240 * nrows,
    )
    return fig


def _forest(
    ctx: Context,
    title: str,
    rows: list[dict],
    *,
    label_field: str,
    notes: dict[str, str],
    band: dict | None,
    centre: float | None = None,
    highlight: str | None = None,
) -> F.Figure:
    labels = [r[label_field] for r in rows]
    fig = F.new_figure(
        title,
        subtitle="last 12 months, 95% CI (Wilson); open marker: small n",
        height=max(300, 150 + 30 * len(rows)),
    )
    hover = [
        f"{r[label_field]}: {fmt.pct(r['rate_window'])} "
        f"({fmt.ci(r['window_ci_low'], r['window_ci_high'])})"
        f"\n{fmt.count(r['n_positive_window'])} of {fmt.count(r['n_window'])} primaries in the "
        "last 12 months" + (f"\n{notes[r[label_field]]}" if r[label_field] in notes else "")
        for r in rows
    ]
    colours = [F.VALUE if highlight in (None, r[label_field]) else F.OTHER for r in rows]
    for trace in F.forest_traces(
        labels=labels,
        estimates=F.Estimates.of(rows, "rate_window", "window_ci_low", "window_ci_high"),
        n=[r["n_window"] for r in rows],
        hovertext=hover,
        small=[ctx.is_small(r["n_window"], r["window_ci_low"], r["window_ci_high"]) for r in rows],
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
                name=f"the laboratory's rate over the last 12 months: {fmt.pct(centre)}",
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


def view_readings(ctx: Context, view: View) -> list[Reading]:
    """The page's badges: the p-chart (lab months, then pathologist months) over the 12-month
    window and the rate beside the published range, each from its findings."""
    findings = ctx.findings
    out = []
    for code, topic in ((CONTROL, "Positivity p-chart"), (PATHOLOGIST, "Pathologists' funnel")):
        if view.lab is None:
            r = R.labs_summary(
                findings,
                code,
                R.lab_window_verdicts(findings, code),
                topic=topic,
                period=findings.window or "",
                where=f" in {R.window_label(findings)}",
            )
        else:
            r = R.months_summary(findings, code, view.lab, topic=topic)
        if r:
            out.append(r)
    band = findings.get("positivity_published_range", view.lab, findings.window or "")
    if band:
        out.append(R.reading(band))
    return out


def flagged(ctx: Context, view: View) -> tuple[list[Finding], list[Finding]]:
    """The look rows of positivity_control and positivity_control_pathologist of the view (the
    network: every lab), in the 12-month window and before it, most recent first."""
    rows = [
        f
        for code in (CONTROL, PATHOLOGIST)
        for f in ctx.findings.select(code, view.lab)
        if f.verdict == "look"
    ]
    rows.sort(key=lambda f: (f.period, f.lab_id, f.subgroup), reverse=True)
    window = [f for f in rows if ctx.findings.in_window(f)]
    return window, [f for f in rows if not ctx.findings.in_window(f)]


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
    # months out of control in the window, per lab and per (lab, pathologist): from findings
    lab_notes = {
        lab: r.text
        for lab in R.lab_window_verdicts(ctx.findings, CONTROL)
        if (r := R.months_summary(ctx.findings, CONTROL, lab, topic=""))
    }

    page = Page(
        FILENAME,
        "Positivity",
        "Positivity monitoring",
        "The share of clinical primary specimens called HER2-positive, month by month, as a "
        "p-chart: a month outside the control limits, or the last of a long run on one side of "
        "the laboratory's own rate, is out of control: it differs from the laboratory's own "
        "rate by more than chance would explain. " + WORDING,
    )
    found = {v.key: view_readings(ctx, v) for v in ctx.views}

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

    def pchart(view: View, data: object) -> F.Figure | None:
        if view.lab is None:
            return _small_multiples(ctx, data)  # type: ignore[arg-type]
        return _pchart(ctx, view, data)  # type: ignore[arg-type]

    run_rule = ctx.band("run_rule_months")
    page.sections.append(
        Section(
            "p-chart per laboratory",
            "pchart",
            "Points: the monthly rate; solid line: the laboratory's own overall rate (p̄); "
            f"dotted: the control limits ({_sigma(ctx)} sigma), wider in months with few "
            "specimens; ✕: a month out of control (outside the limits"
            + (
                f", or the {run_rule.value:g}th successive month on one side of p̄"
                if run_rule and run_rule.value
                else ""
            )
            + "). Grey band: the Danish department range; dashed box: the German mean "
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

    def compare(view: View, data: tuple[str, list[dict]]) -> F.Figure:
        kind, rows = data
        if kind == "labs":
            return _forest(
                ctx,
                "HER2-positive rate by laboratory",
                rows,
                label_field="lab_id",
                notes=lab_notes,
                band=band,
            )
        rows = sorted(rows, key=lambda r: r["pathologist_id"])
        return _forest(
            ctx,
            f"HER2-positive rate by pathologist: {view.label}",
            rows,
            label_field="pathologist_id",
            notes={
                f.subgroup: f.message for f in R.window_rows(ctx.findings, PATHOLOGIST, view.lab)
            },
            band=band,
            centre=lab_summary[view.lab]["rate_window"] if view.lab in lab_summary else None,
        )

    page.sections.append(
        Section(
            "Laboratories and pathologists",
            "compare",
            "Network view: each laboratory's rate over the last 12 months beside the published "
            "band. Laboratory view: each pathologist's rate (the reader of the specimen's IHC) "
            "beside the laboratory's own rate over the same months (the funnel plot's finding "
            "positivity_pathologist in the hover).",
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

    def flag_table(rows: list[Finding], caption: str, empty: str) -> Markup:
        body = [
            [
                f.period,
                f.lab_id,
                "laboratory" if f.subgroup == ALL else f.subgroup,
                f.message,
                f.threshold,
            ]
            for f in rows[:MAX_ROWS]
        ]
        return table(
            ["month", "laboratory", "level", "finding", "threshold"],
            body,
            nowrap=(0,),
            caption=caption,
            empty=empty,
        )

    def flags_html(view: View) -> Markup:
        window, earlier = flagged(ctx, view)
        when = R.window_label(ctx.findings)
        parts = [
            layout.readings(found[view.key], link=False),
            flag_table(
                window,
                f"Months out of control and pathologists outside the funnel limits in {when}, "
                f"most recent first (at most {MAX_ROWS}): the look rows of the findings "
                "positivity_control (laboratory months) and positivity_pathologist.",
                f"No month out of control in {when} for this selection.",
            ),
        ]
        if earlier:
            parts.append(
                flag_table(
                    earlier,
                    f"Earlier months out of control (before {when}; at most {MAX_ROWS}).",
                    "",
                )
            )
        return Markup("").join(parts)

    page.sections.append(Section("Flagged months", "flags", blocks=[html_block(ctx, flags_html)]))
    return page
