"""Inter-observer agreement: the confusion matrix of the clinical IHC score against the
second read, with exact agreement (95% CI) and Cohen's kappa, and kappa per quarter. From
marts.agreement_pairs (dashboards/report/sql/observer_matrix.sql) and marts.agreement
(observer_vs_observer; kappa unweighted over the 4 categories, quadratic-weighted beside it;
kappa words from the SQL macro kappa_words). The reading is the finding observer_agreement
(no published limit applies)."""

from __future__ import annotations

from markupsafe import Markup

from dashboards.report import formatting as fmt
from dashboards.site import figures as F
from dashboards.site import layout
from dashboards.site import readings as R
from dashboards.site.data import Context
from dashboards.site.layout import Page, Section, View, para, table
from dashboards.site.pages import boundary, figure_block, html_block, worklist_block

# rule codes of marts.worklist_pct_contradictions, in words
PCT_RULES = {
    "ihc0_pct_over_10": "IHC 0 with more than 10% of cells stained",
    "ihc1_pct_10_or_less": "IHC 1+ with 10% of cells stained or less",
    "ihc3_pct_10_or_less": "IHC 3+ with 10% of cells stained or less",
    "ihc0_stained_2007": "IHC 0 with any staining (2007 rules)",
    "ihc1_unstained_2007": "IHC 1+ with no staining (2007 rules)",
    "ihc3_pct_30_or_less_2007": "IHC 3+ with 30% of cells stained or less (2007 rules)",
}
FILENAME = "readers.html"
COMPARISON = "observer_vs_observer"
# the kappas per quarter (marts.agreement), each beside its words (column <kappa>_words)
KAPPAS = (
    F.Measure("kappa", "Cohen's κ (unweighted)", F.PURPLE),
    F.Measure("kappa_quadratic", "quadratic-weighted κ", F.GREEN, "dash"),
)


def _matrix(view: View, rows: list[dict], stats: dict | None) -> F.Figure:
    counts = {(r["clinical_score"], r["second_read_score"]): r["n_pairs"] for r in rows}
    scores = list(F.IHC_SCORES)
    ys = list(reversed(scores))
    total = sum(counts.values())
    z, text, hover = [], [], []
    for a in ys:
        row_n = sum(counts.get((a, b), 0) for b in scores)
        z.append([counts.get((a, b), 0) for b in scores])
        text.append([f"{fmt.count(counts.get((a, b), 0))}" for b in scores])
        hover.append(
            [
                f"clinical IHC {a}, second read {b}: {fmt.count(counts.get((a, b), 0))} pairs"
                f"\n{fmt.pct(counts.get((a, b), 0) / row_n if row_n else None)} of clinical {a}"
                + ("\nagreement" if a == b else "")
                for b in scores
            ]
        )
    subtitle = f"n = {fmt.count(total)} pairs"
    if stats:
        subtitle += (
            f"; exact agreement {fmt.percent(stats['pct_agree'])} "
            f"({fmt.ci(stats['ci_low'] / 100, stats['ci_high'] / 100)})"
        )
        if stats["kappa"] is not None:
            subtitle += f"; Cohen's κ {stats['kappa']:.2f} ({stats['kappa_words']})"
        if stats["kappa_quadratic"] is not None:
            subtitle += f"; quadratic-weighted κ {stats['kappa_quadratic']:.2f}"
    fig = F.new_figure(
        f"Clinical IHC score vs second read: {view.label}", subtitle=subtitle, height=470
    )
    fig.add_trace(
        F.count_heatmap(
            z=z,
            x=[f"IHC {b}" for b in scores],
            y=[f"IHC {a}" for a in ys],
            text=text,
            hovertext=hover,
            colorbar={"title": {"text": "pairs"}},
        )
    )
    for i, s in enumerate(scores):  # outline the diagonal (agreement)
        fig.add_shape(F.cell_outline(i, ys.index(s), colour=F.GREEN, width=2))
    fig.update_xaxes(title_text="second read (IHC score)", side="bottom", showgrid=False)
    fig.update_yaxes(
        title_text="clinical read (IHC score)", scaleanchor="x", constrain="domain", showgrid=False
    )
    return fig


def _kappa_trend(ctx: Context, view: View, rows: list[dict]) -> F.Figure | None:
    rows = sorted((r for r in rows if r["period"] != "ALL"), key=lambda r: r["period"])
    if not rows:
        return None
    fig = F.new_figure(
        f"Agreement between readers per quarter: {view.label}",
        subtitle="Cohen's κ (4 categories) and quadratic-weighted κ; no interval is computed for κ",
        height=400,
    )

    def hover(r: dict, m: F.Measure) -> str:
        value = r[m.column]
        return (
            f"{r['period']}: {m.name} "
            + ("–" if value is None else f"{value:.2f} ({r[m.column + '_words']})")
            + f"\n{fmt.count(r['n_pairs'])} pairs, exact agreement "
            + fmt.percent(r["pct_agree"])
            + ("\nsmall n" if ctx.is_small(r["n_pairs"]) else "")
        )

    small = ["circle-open" if ctx.is_small(r["n_pairs"]) else "circle" for r in rows]
    fig.add_traces(
        F.measure_lines(
            [r["period"] for r in rows],
            rows,
            KAPPAS,
            digits=4,
            hover=hover,
            marker={"symbol": small},
        )
    )
    fig.update_yaxes(range=[0, 1.02], title_text="κ")
    fig.update_layout(margin={"b": 110})
    fig.update_xaxes(type="category", title_text="quarter")
    return fig


def build(ctx: Context) -> Page:
    matrix = ctx.per_view(ctx.file("observer_matrix"))
    agreement = ctx.per_view(
        ctx.rows(
            "SELECT lab_id, period, n_pairs, n_agree, pct_agree, ci_low, ci_high, kappa, "
            "kappa_quadratic, kappa_words(kappa) AS kappa_words, "
            "kappa_words(kappa_quadratic) AS kappa_quadratic_words "
            "FROM marts.agreement WHERE comparison = $c ORDER BY lab_id, period",
            {"c": COMPARISON},
        )
    )
    pooled = {k: next((r for r in v if r["period"] == "ALL"), None) for k, v in agreement.items()}
    page = Page(
        FILENAME,
        "Inter-observer",
        "Inter-observer agreement",
        "The IHC score of the clinical read against a second pathologist's read of the same "
        "specimen (test purpose 'second_read'): exact agreement over the four scores, and "
        "Cohen's kappa (Landis & Koch descriptors). Kappa depends on the score mix: two "
        "laboratories with the same agreement can have different kappas.",
    )

    def view_readings(view: View) -> Markup | None:
        f = ctx.findings.get("observer_agreement", view.lab)
        counts = {
            (r["clinical_score"], r["second_read_score"]): r["n_pairs"] for r in matrix[view.key]
        }
        zero_one = counts.get(("0", "1+"), 0) + counts.get(("1+", "0"), 0)
        if not f and not counts:
            return None
        return layout.readings([R.reading(f)] if f else [], link=False) + para(
            f"{fmt.count(zero_one)} pairs split between 0 and 1+ (the HER2-low boundary)."
        )

    page.sections.append(
        Section(
            "Confusion matrix",
            "matrix",
            "Rows: the clinical read; columns: the second read; outlined: agreement. Cells off "
            "the diagonal between 0 and 1+ decide HER2-low eligibility.",
            [
                figure_block(
                    ctx,
                    "matrix",
                    "Clinical IHC score against second read",
                    matrix,
                    lambda v, rows: _matrix(v, rows, pooled.get(v.key)),
                ),
                html_block(ctx, view_readings),
            ],
        )
    )
    page.sections.append(
        Section(
            "Over time",
            "trend",
            blocks=[
                figure_block(
                    ctx,
                    "trend",
                    "Kappa per quarter",
                    agreement,
                    lambda v, rows: _kappa_trend(ctx, v, rows),
                    caption="Agreement by pathologist (with 95% CI) is on the Concordance page, "
                    "'By pathologist'.",
                ),
                html_block(ctx, lambda v: _table(ctx, agreement[v.key])),
            ],
        )
    )
    page.sections.append(boundary.section(ctx))
    page.sections.append(
        Section(
            "0 / 1+ boundary: IHC score against % of cells stained",
            "pct-contradictions",
            "A score contradicts its own percentage of stained cells when IHC 0 has more than "
            "10% of cells stained or IHC 1+ or 3+ has 10% or less (ASCO/CAP 2013/2018; under "
            "2007: 0 with any staining, 1+ with none, 3+ at 30% or less), judged under the "
            "version each result was read under (her2-domain.md §IHC-2018, §HER2-LOW). Every "
            "such result is listed for review of the slide, whatever its reported call: on the 0 "
            "/ 1+ boundary it decides HER2-low and trastuzumab deruxtecan eligibility.",
            [
                worklist_block(
                    ctx,
                    "ihc_pct_contradictions.csv",
                    "clinical IHC results whose score contradicts their % of stained cells",
                    PCT_RULES,
                    empty="No IHC score contradicts its % stained for this selection.",
                )
            ],
        )
    )
    return page


def _table(ctx: Context, rows: list[dict]) -> Markup | None:
    rows = sorted((r for r in rows if r["period"] != "ALL"), key=lambda r: r["period"])
    if not rows:
        return None
    return table(
        ["quarter", "pairs", "exact agreement (95% CI)", "κ", "quadratic κ"],
        [
            [
                r["period"],
                fmt.count(r["n_pairs"]) + (" (small n)" if ctx.is_small(r["n_pairs"]) else ""),
                fmt.agreement(r["pct_agree"], r["ci_low"], r["ci_high"]),
                "–" if r["kappa"] is None else f"{r['kappa']:.2f}",
                "–" if r["kappa_quadratic"] is None else f"{r['kappa_quadratic']:.2f}",
            ]
            for r in rows
        ],
        numeric=(1, 2, 3, 4),
    )
