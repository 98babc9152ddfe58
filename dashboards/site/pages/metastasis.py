"""Primary vs metastasis: status and HER2-category transitions (Sankey), gain / loss /
overall discordance with 95% CI beside the published meta-analyses, and the retest
candidates counted (listed only in the restricted worklist). From
marts.her2_low_transitions (also summed by status: dashboards/report/sql/
metastasis_status_flows.sql), marts.primary_metastasis_summary and marts.retest_candidates.
The badges are the findings metastasis_{loss,gain,discordance}_published_range.
A pair belongs to the metastasis' laboratory (its primary may come from another lab)."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from dashboards.report import formatting as fmt
from dashboards.site import figures as F
from dashboards.site import layout
from dashboards.site import readings as R
from dashboards.site.data import Context
from dashboards.site.layout import FigureBlock, Page, Reading, Section, View, table
from dashboards.site.pages import figure_block, html_block, worklist_block

FILENAME = "metastasis.html"
# rule codes of marts.worklist_ihc0_metastatic, in words
IHC0_RULES = {
    "metastatic_only_ihc0_primary": "metastasis without a usable result, IHC 0 primary only",
}
# (finding key, name, definition, numerator, denominator, band, rate columns): loss and gain
# over DISTANT metastases only, the population of Schrijver 2018's pooled band; overall
# discordance over every comparable pair (Houssami 2011 pooled locoregional and distant)
RATES = (
    (
        "loss",
        "HER2 loss, distant metastases",
        "positive → negative, of distant pairs with a positive primary",
        "distant_n_loss",
        "distant_n_primary_positive",
        "metastasis_loss_schrijver",
        "distant_loss",
    ),
    (
        "gain",
        "HER2 gain, distant metastases",
        "negative → positive, of distant pairs with a negative primary",
        "distant_n_gain",
        "distant_n_primary_negative",
        "metastasis_gain_schrijver",
        "distant_gain",
    ),
    (
        "discordance",
        "Overall discordance",
        "gain or loss, of every comparable pair",
        None,
        "n_comparable",
        "metastasis_discordance_houssami",
        "discordance",
    ),
)
REASON = {
    "loss": "loss: primary positive, metastasis negative",
    "gain": "gain: primary negative, metastasis positive",
    "low_to_zero": "HER2-low primary, IHC 0 metastasis",
    "zero_to_low": "IHC 0 primary, HER2-low metastasis",
    "no_usable_result": "no usable IHC or ISH result",
    "ihc_2plus_without_ish": "IHC 2+ without reflex ISH",
    "ish_without_ihc": "ISH group 2–4 without concurrent IHC",
    "negative_without_ihc": "negative by ISH alone (HER2-low status unknown)",
}


@dataclass(frozen=True)
class Transitions:
    """A transitions Sankey: each pair's primary (left) and metastasis (right) by one
    classification, read from the columns primary_<column> and metastasis_<column>."""

    column: str
    words: str  # the classification in the titles
    vocabulary: F.Vocabulary  # order, words and colour of its codes
    subtitle: str


STATUS_FLOWS = Transitions(
    "status",
    "status",
    F.STATUS,
    "pairs of a patient's primary and each metastasis; hover a link for n",
)
CATEGORY_FLOWS = Transitions(
    "category",
    "HER2 category",
    F.CATEGORY,
    "hover a link for n and the share of that primary category",
)


def _transitions(
    ctx: Context, slot: str, data: dict[str, list[dict]], of: Transitions
) -> FigureBlock:
    """The figure of a transitions section: every view's Sankey."""
    return figure_block(
        ctx,
        slot,
        f"Primary to metastasis {of.words} transitions",
        data,
        lambda v, rows: _sankey(v, rows, of),
    )


def _sankey(view: View, rows: list[dict], of: Transitions) -> F.Figure:
    left, right = f"primary_{of.column}", f"metastasis_{of.column}"
    order, names, colours = of.vocabulary.order, of.vocabulary.labels, of.vocabulary.colours
    lefts = [c for c in order if any(r[left] == c for r in rows)]
    rights = [c for c in order if any(r[right] == c for r in rows)]
    totals_l = {c: sum(r["n_pairs"] for r in rows if r[left] == c) for c in lefts}
    totals_r = {c: sum(r["n_pairs"] for r in rows if r[right] == c) for c in rights}
    labels = [f"primary: {names[c]} ({fmt.count(totals_l[c])})" for c in lefts] + [
        f"metastasis: {names[c]} ({fmt.count(totals_r[c])})" for c in rights
    ]
    source, target, value, link_colours, hover = [], [], [], [], []
    for r in rows:
        if r[left] not in lefts or r[right] not in rights:
            continue
        source.append(lefts.index(r[left]))
        target.append(len(lefts) + rights.index(r[right]))
        value.append(int(r["n_pairs"]))
        link_colours.append(F.fill(colours[r[left]], 0.35))
        share = r["n_pairs"] / totals_l[r[left]]
        hover.append(
            f"{names[r[left]]} → {names[r[right]]}: "
            f"{fmt.count(r['n_pairs'])} pairs ({fmt.pct(share)} of this primary category)"
        )
    fig = F.new_figure(
        f"Primary → metastasis {of.words}: {view.label}", subtitle=of.subtitle, height=460
    )
    fig.add_trace(
        F.Sankey(
            arrangement="fixed",
            node={
                "label": labels,
                "x": [0.001] * len(lefts) + [0.999] * len(rights),
                "y": _stack(lefts, totals_l) + _stack(rights, totals_r),
                "color": [colours[c] for c in lefts] + [colours[c] for c in rights],
                "pad": 14,
                "thickness": 18,
                "line": {"color": "#555", "width": 0.5},
                "hoverinfo": "skip",
            },
            link={
                "source": source,
                "target": target,
                "value": value,
                "color": link_colours,
                "customdata": hover,
                "hovertemplate": "%{customdata}<extra></extra>",
            },
        )
    )
    return fig


def _stack(names: list[str], totals: dict[str, int], gap: float = 0.04) -> list[float]:
    """Node centres (0-1, top down) for a Sankey column in the given order."""
    total = sum(totals.values()) or 1
    room = 1 - gap * (len(names) - 1)
    out, used = [], 0.0
    for name in names:
        height = totals[name] / total * room
        out.append(min(0.999, max(0.001, used + height / 2)))
        used += height + gap
    return out


def _rates(ctx: Context, view: View, r: dict) -> F.Figure | None:
    if not r["n_comparable"]:
        return None  # no pair with both statuses positive or negative: no rate to show
    fig = F.new_figure(
        f"Gain, loss and discordance: {view.label}",
        subtitle="this laboratory's rate with 95% CI (Wilson), beside the published pooled "
        "95% CI (grey; context, not a limit)",
        height=380,
    )
    ys = list(range(len(RATES)))
    labels = []
    for i, (key, name, definition, k_field, n_field, _band, col) in enumerate(RATES):
        n = r[n_field]
        k = r[k_field] if k_field else (r["n_gain"] + r["n_loss"])
        labels.append(f"{name}\n({definition})")
        low, high, point = (
            r[f"{key}_bench_low"],
            r[f"{key}_bench_high"],
            r[f"{key}_bench_point"],
        )
        source = r[f"{key}_bench_source"]
        if low is not None and high is not None:
            fig.add_shape(
                F.band_shape(
                    low=low * 100,
                    high=high * 100,
                    axis="x",
                    x0=i - 0.3,
                    x1=i + 0.3,
                    name=f"{r['bench_label']}: published pooled 95% CI",
                    showlegend=i == 0,
                )
            )
            fig.add_annotation(
                x=high * 100,
                y=i + 0.3,
                text=f"{source.split(',')[0]}: {fmt.pct(point)} ({fmt.pct(low)}–{fmt.pct(high)})",
                showarrow=False,
                xanchor="left",
                yanchor="bottom",
                font={"size": 11, "color": "#555"},
            )
        rate, lo, hi = r[f"{col}_rate"], r[f"{col}_ci_low"], r[f"{col}_ci_high"]
        if rate is None:
            fig.add_annotation(x=0, y=i, text="no pairs", showarrow=False, xanchor="left")
            continue
        plus, minus = F.error_bars([rate], [lo], [hi], 100)
        small = ctx.is_small(n, lo, hi)
        fig.add_trace(
            F.Scatter(
                x=[F.rnd(rate * 100)],
                y=[i],
                mode="markers",
                marker={
                    "size": 12,
                    "color": F.VALUE,
                    "symbol": "circle-open" if small else "circle",
                    "line": {"width": 2, "color": F.VALUE},
                },
                error_x={"type": "data", "array": plus, "arrayminus": minus, "width": 6},
                name="this selection (95% CI)",
                showlegend=i == 0,
                hovertext=f"{name}: {fmt.pct(rate)} ({fmt.ci(lo, hi)})\n{fmt.count(k)} of "
                f"{fmt.count(n)} pairs ({definition})"
                + ("\nsmall n: read with care" if small else ""),
                hoverinfo="text",
            )
        )
    fig.update_yaxes(
        tickmode="array",
        tickvals=ys,
        ticktext=labels,
        range=[len(RATES) - 0.4, -0.6],
        automargin=True,
    )
    fig.update_xaxes(title_text="percent of pairs", ticksuffix="%", rangemode="tozero")
    return fig


def build(ctx: Context) -> Page:
    flows = ctx.per_view(ctx.file("metastasis_status_flows"))
    transitions = ctx.per_view(
        ctx.rows(
            "SELECT lab_id, primary_category, metastasis_category, n_pairs "
            "FROM marts.her2_low_transitions ORDER BY lab_id, primary_category, metastasis_category"
        )
    )
    summary = ctx.one_per_view(ctx.rows("SELECT * FROM marts.primary_metastasis_summary"))
    retest = ctx.per_view(
        ctx.rows(
            """
            SELECT CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
                   reason_group, reason_code, count(*) AS n_cases
            FROM marts.retest_candidates
            GROUP BY GROUPING SETS ((lab_id, reason_group, reason_code),
                                    (reason_group, reason_code))
            ORDER BY lab_id, reason_group DESC, n_cases DESC, reason_code
            """
        )
    )
    page = Page(
        FILENAME,
        "Primary vs metastasis",
        "Primary tumour vs metastasis",
        "How often a metastasis' HER2 status differs from the patient's primary tumour (linked "
        "across laboratories through the keyed patient identifier). Some change is biology; "
        "the published meta-analyses give the expected range. A pair counts for the "
        "laboratory that tested the metastasis.",
    )

    found = {
        v.key: [
            R.reading(f)
            for key, *_ in RATES
            if (f := ctx.findings.get(f"metastasis_{key}_published_range", v.lab))
        ]
        for v in ctx.views
    }
    page.sections.append(
        Section(
            "Status transitions",
            "status",
            "Final status of the primary (left) and of each metastasis (right). Equivocal and "
            "indeterminate statuses are not comparable and stay out of the rates below.",
            [_transitions(ctx, "status", flows, STATUS_FLOWS)],
        )
    )
    page.sections.append(
        Section(
            "HER2-low category transitions",
            "categories",
            "The same pairs by HER2 category: a HER2-low primary with an IHC 0 metastasis (or "
            "the reverse) changes eligibility for trastuzumab deruxtecan (her2-domain.md "
            "§HER2-LOW); HER2-low, -ultralow and -null are therapy subgroups, not ASCO/CAP "
            "result categories.",
            [_transitions(ctx, "categories", transitions, CATEGORY_FLOWS)],
        )
    )
    page.sections.append(
        Section(
            "Gain, loss and discordance beside the literature",
            "rates",
            "Loss is counted over pairs with a positive primary and gain over pairs with a "
            "negative primary (Schrijver 2018, distant metastases); overall discordance over "
            "every comparable pair (Houssami 2011). Populations differ from a routine series: "
            "context, not limits.",
            [
                figure_block(
                    ctx,
                    "rates",
                    "Gain, loss and discordance rates",
                    {k: v for k, v in summary.items() if v},
                    lambda v, r: _rates(ctx, v, r),
                ),
                html_block(
                    ctx,
                    lambda v: _pairs_table(ctx, summary.get(v.key), retest[v.key], found[v.key]),
                ),
            ],
        )
    )
    page.sections.append(
        Section(
            "Metastatic patients with only an IHC 0 primary",
            "ihc0-retest",
            "Patients with a metastasis specimen that has no usable HER2 result, whose only HER2 "
            "result is an IHC 0 primary (HER2-null, -ultralow, or IHC 0 without a % stained). "
            "A retest of the metastasis, or a re-review of the primary, may find HER2-low or "
            "HER2-ultralow, which decide trastuzumab deruxtecan eligibility (her2-domain.md "
            "§HER2-LOW, §BENCH 6.4).",
            [
                worklist_block(
                    ctx,
                    "ihc0_metastatic_retest.csv",
                    "metastatic patients whose only HER2 result is an IHC 0 primary",
                    IHC0_RULES,
                    empty="No such patient for this selection.",
                )
            ],
        )
    )
    return page


def _pairs_table(
    ctx: Context, r: dict | None, retest: list[dict], found: list[Reading]
) -> Markup | None:
    if not r or not r["n_pairs"]:
        return None
    counts = table(
        [
            "pairs",
            "primary at another lab",
            "comparable",
            "concordant",
            "gain",
            "loss",
            "not comparable",
        ],
        [
            [
                f"{fmt.count(r[k])}"
                for k in (
                    "n_pairs",
                    "n_cross_lab",
                    "n_comparable",
                    "n_concordant",
                    "n_gain",
                    "n_loss",
                    "n_not_comparable",
                )
            ]
        ],
        numeric=range(7),
        caption="Primary–metastasis pairs of this selection",
    )
    candidates = table(
        ["reason", "metastases"],
        [
            [REASON.get(x["reason_code"], x["reason_code"]), f"{fmt.count(x['n_cases'])}"]
            for x in retest
        ],
        numeric=(1,),
        caption="Metastases to consider for HER2 retesting (the 2013 guideline asks to test the "
        "metastasis when tissue exists). Counts only: the cases are in "
        f"metastasis_retest_candidates.csv in the restricted folder {ctx.restricted_label}.",
        empty="No retest candidates for this selection.",
    )
    return layout.readings(found, link=False) + counts + candidates
