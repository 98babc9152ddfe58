"""Concordance: agreement per comparison over quarters (95% CI band, lab target line), and
forest plots by laboratory, assay kit and pathologist. From marts.agreement and
marts.agreement_by_group (percent, Wilson 95% CI; spec/warehouse.md "marts.agreement").

The readings are the findings lab_target_ihc_vs_ish and lab_target_lab_vs_reference (PPA and
NPA each against the lab's target; overall agreement shown beside them, never judged),
observer_agreement and primary_metastasis_agreement (no target applies)."""

from __future__ import annotations

from collections import defaultdict

from markupsafe import Markup

from dashboards.report import formatting as fmt
from dashboards.site import figures as F
from dashboards.site import layout, readings
from dashboards.site.data import Context
from dashboards.site.layout import Column, Page, Section, StaticBlock, View, column_table, para
from dashboards.site.pages import figure_block, html_block

FILENAME = "concordance.html"
TARGETED = ("ihc_vs_ish", "lab_vs_reference")  # the comparisons the lab target applies to
FOREST = ("ihc_vs_ish", "lab_vs_reference", "observer_vs_observer")
# the finding that reads each comparison (warehouse/sql/findings/findings.sql)
FINDING = {
    "ihc_vs_ish": "lab_target_ihc_vs_ish",
    "lab_vs_reference": "lab_target_lab_vs_reference",
    "observer_vs_observer": "observer_agreement",
    "primary_vs_metastasis": "primary_metastasis_agreement",
}
SHORT = {
    "ihc_vs_ish": "IHC vs ISH",
    "lab_vs_reference": "Lab vs reference lab",
    "observer_vs_observer": "Second reader (exact score)",
    "primary_vs_metastasis": "Primary vs metastasis",
}


def _hover(ctx: Context, label: str, r: dict) -> str:
    lines = [
        label,
        f"agreement {fmt.percent(r['pct_agree'])} "
        f"({fmt.ci(r['ci_low'] / 100, r['ci_high'] / 100)})",
        f"n = {fmt.count(r['n_pairs'])} pairs, {fmt.count(r['n_agree'])} agree",
    ]
    if r.get("ppa") is not None or r.get("npa") is not None:
        lines.append(f"PPA {fmt.percent(r.get('ppa'))}, NPA {fmt.percent(r.get('npa'))}")
    if r.get("kappa") is not None:
        lines.append(f"Cohen's κ {r['kappa']:.2f} ({r['kappa_words']})")
    if _small(ctx, r):
        lines.append("small n: wide interval, read with care")
    return "\n".join(lines)


def _small(ctx: Context, r: dict) -> bool:
    return ctx.is_small(r["n_pairs"], r["ci_low"] / 100, r["ci_high"] / 100)


def _axis_name(i: int, letter: str) -> str:
    return letter if i == 1 else f"{letter}{i}"


def _trend_figure(ctx: Context, view: View, rows: list[dict]) -> F.Figure | None:
    by_comparison: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["period"] != "ALL":
            by_comparison[r["comparison"]].append(r)
    if not by_comparison:
        return None
    quarters = sorted({r["period"] for rs in by_comparison.values() for r in rs})
    fig = F.subplots(
        rows=2,
        cols=2,
        subplot_titles=[F.COMPARISON.labels[c] for c in F.COMPARISON.order],
        shared_xaxes=True,
        vertical_spacing=0.14,
        horizontal_spacing=0.08,
    )
    target = ctx.target(view)
    lows = [target - 5]
    shown_band = False
    for i, comparison in enumerate(F.COMPARISON.order, 1):
        rs = sorted(by_comparison.get(comparison, []), key=lambda r: r["period"])
        row, col = (i - 1) // 2 + 1, (i - 1) % 2 + 1
        by_q = {r["period"]: r for r in rs}
        series = [by_q.get(q) for q in quarters]
        lows += [r["ci_low"] for r in rs]
        F.ci_band(
            fig,
            quarters,
            [r["pct_agree"] if r else None for r in series],
            [r["ci_low"] if r else None for r in series],
            [r["ci_high"] if r else None for r in series],
            name=SHORT[comparison],
            colour=F.COMPARISON.colours[comparison],
            hovertext=[
                _hover(ctx, f"{q} · {F.COMPARISON.labels[comparison]}", r) if r else q
                for q, r in zip(quarters, series, strict=True)
            ],
            row=row,
            col=col,
            showlegend=False,
            marker_symbols=["circle-open" if r and _small(ctx, r) else "circle" for r in series],
        )
        if comparison in TARGETED:  # what the lab target judges: PPA and NPA each
            for field, name, dash in (("ppa", "PPA", "dot"), ("npa", "NPA", "dash")):
                fig.add_trace(
                    F.Scatter(
                        x=quarters,
                        y=F.rounded(r[field] if r else None for r in series),
                        mode="lines+markers",
                        line={"color": F.COMPARISON.colours[comparison], "dash": dash, "width": 1},
                        marker={"symbol": "diamond-open" if field == "ppa" else "square-open"},
                        name=f"{name} (judged against the lab target)",
                        legendgroup=field,
                        showlegend=comparison == "ihc_vs_ish",
                        hovertext=[
                            f"{q} · {F.COMPARISON.labels[comparison]}: {name} "
                            + fmt.percent(r[field] if r else None)
                            for q, r in zip(quarters, series, strict=True)
                        ],
                        hoverinfo="text",
                    ),
                    row=row,
                    col=col,
                )
                lows += [r[field] for r in rs]
        if rs and not shown_band:  # one legend entry explains every shaded band
            fig.add_trace(
                F.Scatter(
                    x=[None],
                    y=[None],
                    mode="lines",
                    line={"width": 10, "color": F.fill(F.GREY, 0.35)},
                    name="shaded: 95% CI (Wilson); open marker: small n",
                ),
                row=row,
                col=col,
            )
            shown_band = True
        if comparison in TARGETED:
            fig.add_shape(
                F.line_shape(
                    target,
                    name=f"{ctx.target_label(view)} (for PPA and NPA each)",
                    xref=_axis_name(i, "x"),
                    yref=_axis_name(i, "y"),
                    showlegend=comparison == "ihc_vs_ish",
                )
            )
        if not rs:
            fig.add_annotation(
                text="no pairs",
                xref=f"{_axis_name(i, 'x')} domain",
                yref=f"{_axis_name(i, 'y')} domain",
                x=0.5,
                y=0.5,
                showarrow=False,
                font={"color": "#777"},
            )
    low = min(v for v in lows if v is not None)
    fig.update_yaxes(range=[max(0, low - 2), 101], ticksuffix="%", title_text="agreement")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=quarters)
    fig.update_xaxes(title_text="quarter of the pair's report", row=2)
    F.set_title(
        fig,
        f"Agreement per quarter: {view.label}",
        subtitle="overall agreement with its 95% CI (Wilson, shaded); IHC vs ISH and lab vs "
        "reference: PPA and NPA, each judged against the lab target",
        height=620,
        margin={"b": 110},
    )
    return fig


def _forest(
    ctx: Context,
    view: View,
    rows: list[dict],
    *,
    title: str,
    labels: list[str],
    highlight: str | None = None,
    pooled_label: str | None = None,
    row_targets: dict[str, float] | None = None,
) -> F.Figure | None:
    """Forest plot: one column per comparison of FOREST, one row per label."""
    by_cmp: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in rows:
        by_cmp[r["comparison"]][r["label"]] = r
    comparisons = [c for c in FOREST if by_cmp.get(c)]
    if not comparisons:
        return None
    present = {label for c in comparisons for label in by_cmp[c]}
    labels = [label for label in labels if label in present]  # rows with at least one pair
    fig = F.subplots(
        rows=1,
        cols=len(comparisons),
        shared_yaxes=True,
        subplot_titles=[F.COMPARISON.labels[c] for c in comparisons],
        horizontal_spacing=0.06,
    )
    order = list(reversed(labels))  # first label on top
    for i, comparison in enumerate(comparisons, 1):
        data = [by_cmp[comparison][lab] for lab in labels if lab in by_cmp[comparison]]
        colours = [
            F.BLACK
            if r["label"] == pooled_label
            else (F.VALUE if highlight in (None, r["label"]) else F.OTHER)
            for r in data
        ]
        low = min([r["ci_low"] for r in data] + [ctx.target(view) - 5])
        start = max(0.0, low - 2)
        for trace in F.forest_traces(
            labels=[r["label"] for r in data],
            estimates=F.Estimates.of(data, "pct_agree", "ci_low", "ci_high", per=100),
            n=[r["n_pairs"] for r in data],
            hovertext=[
                _hover(ctx, f"{r['label']} · {F.COMPARISON.labels[comparison]}", r) for r in data
            ],
            small=[_small(ctx, r) for r in data],
            colours=colours,
            n_at=100 + 0.03 * (100 - start),
        ):
            fig.add_trace(trace, row=1, col=i)
        fig.update_xaxes(
            range=[start, 100 + 0.32 * (100 - start)],
            title_text="agreement",
            row=1,
            col=i,
            **F.pct_axis(start, 100),
        )
        if comparison in TARGETED:
            per_row = {
                r["label"]: (row_targets or {}).get(r["label"], ctx.target(view)) for r in data
            }
            values = set(per_row.values())
            if len(values) == 1:
                value = values.pop()
                fig.add_shape(
                    F.line_shape(
                        value,
                        name=f"{ctx.target_label(view)} (for PPA and NPA each)",
                        axis="x",
                        xref=_axis_name(i, "x"),
                        yref=_axis_name(i, "y"),
                        showlegend=i == 1,
                    )
                )
            else:  # labs with their own targets (her2qa.toml): one tick per row
                fig.add_trace(
                    F.Scatter(
                        x=list(per_row.values()),
                        y=list(per_row),
                        mode="markers",
                        marker={"symbol": "line-ns-open", "size": 16, "color": F.TARGET},
                        name="lab target of each laboratory, for PPA and NPA each "
                        "(marts.reference_bands)",
                        showlegend=i == 1,
                        hoverinfo="skip",
                    ),
                    row=1,
                    col=i,
                )
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=order, automargin=True)
    F.set_title(
        fig,
        title,
        subtitle="percent agreement with 95% CI (Wilson), all quarters pooled; open marker: "
        "small n",
        height=max(300, 150 + 30 * len(labels)),
        showlegend=True,
    )
    return fig


def _count_column(header: str, key: str) -> Column[dict]:
    return Column(header, lambda r: fmt.count(r[key]), numeric=True)


# the pooled figures of a comparison, after its name and pairs: agreement, PPA and NPA,
# kappa, and the cells of its 2 x 2 table (first member's call / second member's call)
SUMMARY_COLUMNS: list[Column[dict]] = [
    Column(
        "agreement (95% CI)",
        lambda r: fmt.agreement(r["pct_agree"], r["ci_low"], r["ci_high"]),
        numeric=True,
    ),
    Column("PPA", lambda r: fmt.percent(r["ppa"]), numeric=True),
    Column("NPA", lambda r: fmt.percent(r["npa"]), numeric=True),
    Column(
        "Cohen's κ",
        lambda r: "–" if r["kappa"] is None else f"{r['kappa']:.2f}",
        numeric=True,
    ),
    _count_column("+/+", "n_pos_pos"),
    _count_column("+/−", "n_pos_neg"),
    _count_column("−/+", "n_neg_pos"),
    _count_column("−/−", "n_neg_neg"),
]


def _summary(ctx: Context, view: View, rows: list[dict]) -> Markup:
    pooled = {r["comparison"]: r for r in rows if r["period"] == "ALL"}
    found = [
        r
        for comparison in F.COMPARISON.order
        for r in readings.found(ctx.findings, FINDING[comparison], view.lab)
    ]
    columns = [
        Column("comparison", lambda r: F.COMPARISON.labels[r["comparison"]]),
        Column(
            "pairs",
            lambda r: fmt.count(r["n_pairs"]) + (" (small n)" if _small(ctx, r) else ""),
            numeric=True,
        ),
        *SUMMARY_COLUMNS,
    ]
    return layout.readings(found, link=False) + column_table(
        columns,
        [pooled[c] for c in F.COMPARISON.order if c in pooled],
        caption="All quarters pooled. Cells: first member's call / second member's "
        "call; PPA and NPA take the second member as the reference (never "
        "'sensitivity/specificity': neither member is a gold standard). The lab target "
        f"({ctx.target_label(view)}) applies to PPA and NPA each; overall agreement is "
        "shown beside them, not judged.",
    )


def build(ctx: Context) -> Page:
    agreement = ctx.rows(
        "SELECT comparison, lab_id, period, n_pairs, n_agree, pct_agree, ci_low, ci_high, "
        "n_pos_pos, n_pos_neg, n_neg_pos, n_neg_neg, ppa, npa, kappa, kappa_quadratic, "
        "kappa_words(kappa) AS kappa_words FROM marts.agreement "
        "ORDER BY comparison, lab_id, period"
    )
    groups = ctx.rows(
        "SELECT comparison, lab_id, breakdown, breakdown_value AS label, n_pairs, n_agree, "
        "pct_agree, ci_low, ci_high, ppa, npa, kappa, kappa_words(kappa) AS kappa_words "
        "FROM marts.agreement_by_group "
        "ORDER BY breakdown_value"
    )
    per_view = ctx.per_view(agreement)
    page = Page(
        FILENAME,
        "Concordance",
        "Concordance",
        "How often two readings of HER2 agree: IHC against ISH on the same specimen, the "
        "laboratory against its reference laboratory, a pathologist against a second reader, "
        "and a primary tumour against its metastasis. The lab target applies to the first "
        "two, to the positive and the negative category each (PPA and NPA), as the ASCO/CAP "
        "2007 criterion does. It is the laboratory's own target, the lab target (ASCO/CAP 2007 "
        "criterion): the 2013/2018 guidelines keep case-count requirements for validation but "
        "set no concordance figure (her2-domain.md §QA-WORDING).",
    )
    page.sections.append(
        Section(
            "Summary, all quarters pooled",
            "summary",
            blocks=[
                html_block(
                    ctx, lambda v: _summary(ctx, v, per_view[v.key]) if per_view[v.key] else None
                )
            ],
        )
    )
    page.sections.append(
        Section(
            "Agreement per quarter",
            "trend",
            "Each panel is one comparison; the shaded band is the 95% confidence interval "
            "(Wilson score) of overall agreement, wide where a quarter has few pairs. The lab "
            "target (red dashed line) applies to PPA and NPA each (open markers); overall "
            "agreement is shown, not judged.",
            [
                figure_block(
                    ctx,
                    "trend",
                    "Agreement per quarter and comparison",
                    per_view,
                    lambda v, rows: _trend_figure(ctx, v, rows),
                    caption="IHC vs ISH pairs are specimens with IHC 0, 1+ or 3+ and a dual-probe "
                    "ISH in group 1 or 5: mostly confirmatory testing, a selected subset "
                    "(her2-domain.md §BENCH 6.2 caveat).",
                )
            ],
        )
    )
    # by laboratory: every view shows all labs, the selected one highlighted
    labs = [v.lab for v in ctx.views if v.lab is not None]
    pooled_label = "All laboratories"
    lab_rows = [
        {**r, "label": pooled_label if r["lab_id"] == "ALL" else r["lab_id"]}
        for r in agreement
        if r["period"] == "ALL"
    ]
    targets = {lab: ctx.target(lab) for lab in labs}
    targets[pooled_label] = ctx.target(None)
    by_lab_data = {v.key: lab_rows for v in ctx.views if lab_rows}
    page.sections.append(
        Section(
            "By laboratory",
            "by-lab",
            "Each laboratory's agreement with its 95% CI; the selected laboratory in blue, the "
            "pooled network in black.",
            [
                figure_block(
                    ctx,
                    "by-lab",
                    "Agreement by laboratory",
                    by_lab_data,
                    lambda v, rows: _forest(
                        ctx,
                        v,
                        rows,
                        title="Agreement by laboratory",
                        labels=[pooled_label, *labs],
                        highlight=v.lab,
                        pooled_label=pooled_label,
                        row_targets=targets,
                    ),
                )
            ],
        )
    )
    for breakdown, title, anchor in (
        ("assay_kit", "By assay kit", "by-kit"),
        ("pathologist", "By pathologist", "by-pathologist"),
    ):
        rows_b = [r for r in groups if r["breakdown"] == breakdown]
        data = {k: v for k, v in ctx.per_view(rows_b).items() if v}
        page.sections.append(
            Section(
                title,
                anchor,
                "The first member's "
                + ("antibody or probe kit" if breakdown == "assay_kit" else "reader")
                + " (IHC vs ISH and second reader: the clinical IHC; lab vs reference: the "
                "laboratory's IHC, else its ISH). '(not recorded)': the extract has none.",
                [
                    figure_block(
                        ctx,
                        anchor,
                        f"Agreement {title.lower()}",
                        data,
                        lambda v, rows, title=title: _forest(
                            ctx,
                            v,
                            rows,
                            title=f"Agreement {title.lower()}: {v.label}",
                            labels=sorted({r["label"] for r in rows}),
                        ),
                    )
                ],
            )
        )
    page.sections.append(
        Section(
            "Discordant cases",
            "cases",
            blocks=[
                StaticBlock(
                    para(
                        "The cases behind these figures are not on this site. The IHC/ISH "
                        "discordance worklist (case by case, with the test ids to review) is in "
                        f"the restricted folder {ctx.restricted_label}, readable only by the "
                        "pipeline's owner account."
                    )
                )
            ],
        )
    )
    return page
