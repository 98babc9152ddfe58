"""Pre-analytic compliance, turnaround and reporting: cold ischaemia and fixation within the
ASCO/CAP limits per month (95% CI), documentation rates, turnaround median and 90th
percentile, and CAP 11 in full (rates 1, 2 and 3 per month, rate 3 the reported one, and the
reflex IHC 2+ → ISH turnaround). From marts.preanalytic_monthly (limits in
marts.reference_bands) and marts.cap11_rates. No finding judges the compliance rates or the
turnarounds (no published compliance rate or turnaround target exists), so the page states
them in plain words, without a badge. CAP 11 rate 3 is read by the finding cap11_rate3 (info:
shown, no published target): its message is the section's reading."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from dashboards.report import formatting as fmt
from dashboards.site import figures as F
from dashboards.site import layout, readings
from dashboards.site.data import Context
from dashboards.site.layout import Page, Section, View, para, table
from dashboards.site.pages import figure_block, html_block

FILENAME = "preanalytic.html"
PANEL_COLOURS = (F.BLUE, F.ORANGE, F.GREEN)


@dataclass(frozen=True)
class DaysChart:
    """A time in days per month, drawn as its median and 90th percentile (``_days``)."""

    columns: tuple[str, str]  # the median's and the 90th percentile's
    what: str  # the time, in the title
    month: str  # the month it is counted by: the x axis, and the subtitle
    counts: Callable[[dict], str]  # the specimens behind a month, in its hover


# days from collection to report (marts.preanalytic_monthly)
TURNAROUND = DaysChart(
    ("turnaround_median_days", "turnaround_p90_days"),
    "Turnaround, collection to report",
    "collection month",
    lambda r: f"{fmt.count(r['n_specimens'])} specimens",
)
# days from the IHC 2+ report to the reflex ISH report (marts.cap11_rates)
REFLEX = DaysChart(
    ("days_ihc_to_ish_median", "days_ihc_to_ish_p90"),
    "Reflex IHC 2+ → ISH turnaround",
    "month of the IHC 2+ report",
    lambda r: (
        f"{fmt.count(r['n_repeat_same_specimen'])} reflex ISH completed of "
        f"{fmt.count(r['n_ihc_equivocal'])} IHC 2+"
    ),
)


def _two_rate_panels(
    title: str,
    subtitle: str,
    rows: list[dict],
    panels: Sequence[tuple[str, str, str, str | None]],
    counts: Callable[[dict], str],
    height: int = 440,
) -> F.Figure:
    """Per month, one panel per (title, rate column, CI column prefix, documented-rate column or
    None): the rate with its 95% CI band, and the documented share dashed when given."""
    rows = sorted(rows, key=lambda r: r["month"])
    x = [r["month"].isoformat() for r in rows]
    fig = F.subplots(
        rows=1, cols=len(panels), subplot_titles=[p[0] for p in panels], horizontal_spacing=0.08
    )
    for i, (name, value, ci_prefix, documented) in enumerate(panels, 1):
        hover = []
        for r in rows:
            lines = [
                f"{r['month_label']}: {name} {fmt.pct(r[value])} "
                f"({fmt.ci(r[f'{ci_prefix}_ci_low'], r[f'{ci_prefix}_ci_high'])})"
            ]
            if documented:
                lines.append(f"time documented for {fmt.pct(r[documented])}")
            lines.append(counts(r))
            hover.append("\n".join(lines))
        F.ci_band(
            fig,
            x,
            [r[value] for r in rows],
            [r[f"{ci_prefix}_ci_low"] for r in rows],
            [r[f"{ci_prefix}_ci_high"] for r in rows],
            name=name,
            colour=PANEL_COLOURS[(i - 1) % len(PANEL_COLOURS)],
            hovertext=hover,
            scale=100,
            row=1,
            col=i,
        )
        if documented:
            fig.add_trace(
                F.Scatter(
                    x=x,
                    y=F.rounded(
                        None if r[documented] is None else r[documented] * 100 for r in rows
                    ),
                    mode="lines",
                    line={"color": F.GREY, "dash": "dash"},
                    name=f"{name}: share with the time documented",
                    hoverinfo="skip",
                ),
                row=1,
                col=i,
            )
    fig.update_yaxes(ticksuffix="%", range=[0, 101])
    fig.update_xaxes(title_text="month")
    F.set_title(fig, title, subtitle=subtitle, height=height)
    return fig


def build(ctx: Context) -> Page:
    monthly = ctx.per_view(
        ctx.rows("SELECT * FROM marts.preanalytic_monthly ORDER BY lab_id, month")
    )
    cap11 = ctx.per_view(ctx.rows("SELECT * FROM marts.cap11_rates ORDER BY lab_id, month"))
    cap11_pooled = ctx.one_per_view(ctx.file("cap11_pooled"))
    window = ctx.one_per_view(ctx.file("preanalytic_window"))
    cold = ctx.band("cold_ischemia_limit")
    fixation = ctx.band("fixation_window")
    cold_text = (
        f"cold ischaemia ≤ {cold.high:g} min — {cold.label} ({cold.source})"
        if cold
        else "cold ischaemia"
    )
    fix_text = (
        f"fixation {fixation.low:g}–{fixation.high:g} h — {fixation.label} ({fixation.source})"
        if fixation
        else "fixation"
    )
    cold_short = f"cold ischaemia ≤ {cold.high:g} min" if cold else "cold ischaemia"
    fix_short = f"fixation {fixation.low:g}–{fixation.high:g} h" if fixation else "fixation"
    page = Page(
        FILENAME,
        "Pre-analytic",
        "Pre-analytic compliance, turnaround and reporting",
        "Whether the tissue reached the test in the state the guideline asks for: "
        + cold_text
        + "; "
        + fix_text
        + ". Rates are over specimens with the time documented; a specimen "
        "counts as compliant only when every documented value is. Turnaround has no guideline "
        "target.",
    )

    def summary(view: View) -> Markup | None:
        """The last 12 months in words: compliance and turnaround, for information."""
        w = window.get(view.key)
        if not w or not w["n_specimens"]:
            return None
        lines = []
        for topic, k, n, rate, lo, hi, undocumented in (
            (
                cold_short.capitalize(),
                w["cold_within"],
                w["cold_within"] + w["cold_over"],
                w["cold_rate"],
                w["cold_ci_low"],
                w["cold_ci_high"],
                w["cold_undocumented"],
            ),
            (
                fix_short.capitalize(),
                w["fix_within"],
                w["fix_within"] + w["fix_outside"],
                w["fix_rate"],
                w["fix_ci_low"],
                w["fix_ci_high"],
                w["fix_undocumented"],
            ),
        ):
            if not n:
                lines.append(f"{topic}: no documented times in the last 12 months.")
                continue
            small = " (small n)" if ctx.is_small(n, lo, hi) else ""
            lines.append(
                f"{topic}: {fmt.pct(rate)} compliant ({fmt.ci(lo, hi)}, {fmt.count(k)} of "
                f"{fmt.count(n)} documented{small}) in the last 12 months; "
                f"{fmt.count(undocumented)} of {fmt.count(w['n_specimens'])} specimens without "
                "the time. No published compliance rate to compare with."
            )
        if w["tat_median_low"] is not None:
            lines.append(
                f"Turnaround: monthly median {w['tat_median_low']:g}–{w['tat_median_high']:g} "
                "days from collection to report in the last 12 months (90th percentile up to "
                f"{w['tat_p90_high']:g} days); the guideline sets no target."
            )
        return Markup("").join(para(line) for line in lines)

    def n_label(r: dict) -> str:
        return (
            f"{fmt.count(r['n_specimens'])} specimens; cold ischaemia undocumented "
            f"{fmt.count(r['n_cold_undocumented'])}, fixation undocumented "
            f"{fmt.count(r['n_fixation_undocumented'])}"
        )

    page.sections.append(
        Section(
            "Compliance per month",
            "compliance",
            "Solid: share of documented specimens within the limit, with its 95% CI (shaded); "
            "dashed grey: share of specimens with the time documented at all.",
            [
                figure_block(
                    ctx,
                    "compliance",
                    "Pre-analytic compliance per month",
                    monthly,
                    lambda v, rows: _two_rate_panels(
                        f"Pre-analytic compliance: {v.label}",
                        f"by collection month; limits: {cold_short}, {fix_short} (sources in the "
                        "page header)",
                        rows,
                        [
                            (
                                "Cold ischaemia within the limit",
                                "cold_compliance_rate",
                                "cold_compliance",
                                "cold_documented_rate",
                            ),
                            (
                                "Fixation within the window",
                                "fixation_compliance_rate",
                                "fixation_compliance",
                                "fixation_documented_rate",
                            ),
                        ],
                        n_label,
                    ),
                ),
                html_block(ctx, summary),
            ],
        )
    )
    page.sections.append(
        Section(
            "Turnaround",
            "turnaround",
            "Days from collection to the specimen's report, per collection month: median and "
            "90th percentile. The guideline sets no turnaround target.",
            [
                figure_block(
                    ctx,
                    "turnaround",
                    "Turnaround per month",
                    monthly,
                    lambda v, rows: _days(v, rows, TURNAROUND),
                )
            ],
        )
    )

    def cap11_n(r: dict) -> str:
        return (
            f"rate 3: {fmt.count(r['n_rate3_met'])} of {fmt.count(r['n_specimens_audited'])}; "
            f"rate 1: {fmt.count(r['n_specimens_agree'])} of "
            f"{fmt.count(r['n_specimens_audited'])}; rate 2: "
            f"{fmt.count(r['n_equivocal_completed'])} of {fmt.count(r['n_equivocal'])} "
            f"equivocal ({fmt.count(r['n_repeat_same_specimen'])} on the same specimen, "
            f"{fmt.count(r['n_repeat_other_specimen'])} on another)"
        )

    def cap11_summary(view: View) -> Markup | None:
        """The finding cap11_rate3 as the reading, and rates 1-3 with their counts, months
        pooled (the counts of marts.cap11_rates summed)."""
        w = cap11_pooled.get(view.key)
        if not w:
            return None
        found = readings.found(ctx.findings, "cap11_rate3", view.lab)
        small = ctx.is_small
        body = []
        for name, k, n, rate in (
            ("Rate 3 (reported): algorithm-derived and, when equivocal, a completed repeat",
             "n_rate3_met", "n_specimens_audited", "rate3"),
            ("Rate 1: reported calls agree with the ASCO/CAP algorithm",
             "n_specimens_agree", "n_specimens_audited", "rate1"),
            ("Rate 2: equivocal results with a completed repeat",
             "n_equivocal_completed", "n_equivocal", "rate2"),
        ):  # fmt: skip
            lo, hi = w[f"{rate}_ci_low"], w[f"{rate}_ci_high"]
            body.append(
                [
                    name,
                    Markup("<span data-cap11='{}' data-lab='{}'>{}</span>").format(
                        k, w["lab_id"], fmt.count(w[k])
                    ),
                    Markup("<span data-cap11='{}' data-lab='{}'>{}</span>").format(
                        n, w["lab_id"], fmt.count(w[n])
                    ),
                    fmt.pct(w[rate]) + (" (small n)" if small(w[n], lo, hi) else ""),
                    fmt.ci(lo, hi),
                ]
            )
        window = w["repeat_window_days"]
        return Markup("").join(
            [
                layout.readings(found, link=False),
                table(
                    ["rate", "met", "of", "rate", "95% CI (Wilson)"],
                    body,
                    numeric=(1, 2, 3),
                    caption=f"{w['first_month']:%Y-%m} to {w['last_month']:%Y-%m}, months "
                    "pooled. Rate 2: "
                    f"{fmt.count(w['n_repeat_same_specimen'])} completed on the same specimen "
                    "(the reflex ISH, or a decided single-probe call), "
                    f"{fmt.count(w['n_repeat_other_specimen'])} on another specimen of the "
                    "patient (same role, collected within "
                    + (f"{window:g} days" if window is not None else "the her2qa window")
                    + ", a her2qa rule: marts.reference_bands 'cap11_repeat_window_days'); a "
                    "specimen completed both ways counts in both. CAP 11 publishes no target: "
                    "shown, not judged.",
                ),
            ]
        )

    page.sections.append(
        Section(
            "Reporting: CAP 11",
            "cap11",
            "The three rates of the CAP QCDR measure 'CAP 11' (2019) as the extract lets us "
            "approximate them; rate 3 is the reported rate (her2-domain.md §CAP-CHECKLIST). "
            "Rate 1: specimens whose reported HER2 calls all agree with the ASCO/CAP algorithm. "
            "Rate 2: equivocal specimens (IHC 2+, or an equivocal final status) with a "
            "completed repeat test, on the same specimen or on another specimen of the "
            "patient (the excision after an equivocal core). Rate 3: both. Recent months look "
            "worse while repeats are pending. The disagreeing results are in "
            "interpretation_disagreements.csv in the restricted folder "
            f"{ctx.restricted_label}.",
            [
                html_block(ctx, cap11_summary),
                figure_block(
                    ctx,
                    "cap11",
                    "CAP 11 rates per month",
                    cap11,
                    lambda v, rows: _two_rate_panels(
                        f"CAP 11: {v.label}",
                        "report month; 95% CI (Wilson); rate 3 is the reported rate",
                        rows,
                        [
                            ("Rate 3 (reported)", "rate3", "rate3", None),
                            ("Rate 1: calls agree with the algorithm", "rate1", "rate1", None),
                            ("Rate 2: equivocal, repeat completed", "rate2", "rate2", None),
                        ],
                        cap11_n,
                    ),
                ),
            ],
        )
    )
    page.sections.append(
        Section(
            "Reflex IHC 2+ → ISH turnaround",
            "reflex",
            "Days from the report of the IHC 2+ to the report of the ISH on the same specimen, "
            "per month of the IHC report: median and 90th percentile over the specimens whose "
            "reflex ISH was completed (negative when the ISH was signed out first). No "
            "guideline target.",
            [
                figure_block(
                    ctx,
                    "reflex",
                    "Reflex IHC 2+ to ISH turnaround per month",
                    cap11,
                    lambda v, rows: _days(v, rows, REFLEX),
                )
            ],
        )
    )
    return page


def _days(view: View, rows: list[dict], chart: DaysChart) -> F.Figure | None:
    """Median and 90th percentile of a time in days, month by month."""
    median, p90 = chart.columns
    rows = sorted((r for r in rows if r[median] is not None), key=lambda r: r["month"])
    if not rows:
        return None
    fig = F.new_figure(
        f"{chart.what}: {view.label}",
        subtitle=f"per {chart.month}; no guideline target",
        height=380,
    )
    fig.add_traces(
        F.measure_lines(
            [r["month"].isoformat() for r in rows],
            rows,
            (
                F.Measure(median, "median", F.BLUE),
                F.Measure(p90, "90th percentile", F.ORANGE, "dash"),
            ),
            digits=2,
            hover=lambda r, m: (
                f"{r['month_label']}: {m.name} {r[m.column]:g} days ({chart.counts(r)})"
            ),
        )
    )
    fig.update_yaxes(title_text="days", rangemode="tozero")
    fig.update_xaxes(title_text=chart.month)
    return fig
