"""The 0 vs 1+ boundary on the Inter-observer page (issue 11): agreement and Cohen's kappa, each
with its 95% interval, where both reads are IHC 0 or 1+ (and null vs ultralow), per pathologist
and per antibody clone, against the second read and the reference laboratory; and the share of
IHC 0 among clinical IHC reads per quarter. From marts.boundary_agreement and
marts.ihc0_share. Plain figures: no verdict is made here (verdicts come only from
marts.findings, and none covers these figures)."""

from __future__ import annotations

from markupsafe import Markup

from dashboards.report import formatting as fmt
from dashboards.site import figures as F
from dashboards.site.data import Context
from dashboards.site.layout import Section, View, para, table
from dashboards.site.pages import figure_block, html_block

COMPARISONS = {"second_read": "second read", "reference_lab": "reference laboratory"}
BOUNDARIES = {"0_vs_1plus": "IHC 0 vs 1+", "null_vs_ultralow": "null vs ultralow (IHC 0)"}
BREAKDOWNS = {"all": "all pairs", "pathologist": "pathologist", "clone": "clone"}
CLONE_COLOURS = (F.ORANGE, F.BLUE, F.VERMILLION, F.GREEN, F.PURPLE, F.SKY, F.GREY)


def _label(r: dict) -> str:
    if r["breakdown"] == "all":
        return "all pairs"
    return f"{BREAKDOWNS[r['breakdown']]} {r['breakdown_value']}"


def _kappa_text(r: dict) -> str:
    if r["kappa"] is None:
        return "–"
    if r["kappa_ci_low"] is None:
        return f"{r['kappa']:.2f}"
    return f"{r['kappa']:.2f} ({r['kappa_ci_low']:.2f}–{r['kappa_ci_high']:.2f})"


def _forest(ctx: Context, view: View, rows: list[dict], *, kappa: bool) -> F.Figure | None:
    rows = [
        r
        for r in rows
        if r["comparison"] == "second_read" and r["boundary"] == "0_vs_1plus"
        and (r["kappa"] is not None or not kappa)
    ]  # fmt: skip
    if not rows:
        return None
    order = {"all": 0, "pathologist": 1, "clone": 2}
    rows = sorted(rows, key=lambda r: (order[r["breakdown"]], r["breakdown_value"]))
    labels = [_label(r) for r in rows]
    small = [bool(ctx.is_small(r["n_pairs"])) for r in rows]
    hover = [
        f"{_label(r)}: agreement {fmt.agreement(r['pct_agree'], r['ci_low'], r['ci_high'])}, "
        f"κ {_kappa_text(r)}\n{fmt.count(r['n_agree'])} of {fmt.count(r['n_pairs'])} pairs agree; "
        f"1+/0 {fmt.count(r['n_pos_neg'])}, 0/1+ {fmt.count(r['n_neg_pos'])}"
        for r in rows
    ]
    if kappa:
        title = f"Cohen's κ at IHC 0 vs 1+, clinical read vs second read: {view.label}"
        subtitle = "κ with 95% CI (κ ∓ 1.96 large-sample SE); no target applies"
        estimates = F.Estimates.of(rows, "kappa", "kappa_ci_low", "kappa_ci_high")
        scale, n_at = 1.0, 1.02  # kappa as it is; n written right of κ = 1
    else:
        title = f"Agreement at IHC 0 vs 1+, clinical read vs second read: {view.label}"
        subtitle = "pairs where both reads are 0 or 1+; % agreement with 95% CI (Wilson)"
        estimates = F.Estimates.of(rows, "pct_agree", "ci_low", "ci_high", per=100)
        scale, n_at = 100.0, 101.0  # a proportion drawn in percent; n right of 100%
    fig = F.new_figure(title, subtitle=subtitle, height=140 + 26 * len(rows))
    fig.add_traces(
        F.forest_traces(
            labels=labels,
            estimates=estimates,
            n=[r["n_pairs"] for r in rows],
            hovertext=hover,
            small=small,
            scale=scale,
            n_at=n_at,
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    if kappa:
        fig.update_xaxes(range=[-0.2, 1.0], title_text="κ")
    else:
        low = min((r["ci_low"] for r in rows if r["ci_low"] is not None), default=0.0)
        fig.update_xaxes(
            range=[max(0.0, low - 5), 100.5], title_text="agreement", **F.pct_axis(low)
        )
    fig.update_layout(margin={"r": 110})
    return fig


def _ihc0_trend(ctx: Context, view: View, rows: list[dict]) -> F.Figure | None:
    rows = [r for r in rows if r["quarter"] != "ALL"]
    if not rows:
        return None
    fig = F.new_figure(
        f"Share of IHC 0 among clinical IHC reads per quarter: {view.label}",
        subtitle="all reads with 95% CI (Wilson); each antibody clone as a line",
        height=420,
    )
    pooled = sorted((r for r in rows if r["breakdown"] == "all"), key=lambda r: r["quarter"])
    F.ci_band(
        fig,
        [r["quarter"] for r in pooled],
        [r["share_ihc0"] for r in pooled],
        [r["ci_low"] for r in pooled],
        [r["ci_high"] for r in pooled],
        name="all reads",
        scale=100.0,
        hovertext=[
            f"{r['quarter']}: IHC 0 {fmt.pct(r['share_ihc0'])} "
            f"({fmt.ci(r['ci_low'], r['ci_high'])}), {fmt.count(r['n_ihc0'])} of "
            f"{fmt.count(r['n_ihc_reads'])} reads"
            for r in pooled
        ],
    )
    clones = sorted({r["breakdown_value"] for r in rows if r["breakdown"] == "clone"})
    for i, clone in enumerate(clones):
        mine = sorted(
            (r for r in rows if r["breakdown"] == "clone" and r["breakdown_value"] == clone),
            key=lambda r: r["quarter"],
        )
        fig.add_trace(
            F.Scatter(
                x=[r["quarter"] for r in mine],
                y=F.rounded(100 * r["share_ihc0"] for r in mine),
                mode="lines+markers",
                name=f"clone {clone}",
                line={"width": 1, "dash": "dot", "color": CLONE_COLOURS[i % len(CLONE_COLOURS)]},
                hovertext=[
                    f"clone {clone}, {r['quarter']}: IHC 0 {fmt.pct(r['share_ihc0'])} "
                    f"({fmt.ci(r['ci_low'], r['ci_high'])}), {fmt.count(r['n_ihc0'])} of "
                    f"{fmt.count(r['n_ihc_reads'])} reads"
                    for r in mine
                ],
                hoverinfo="text",
            )
        )
    fig.update_xaxes(type="category", title_text="quarter of the IHC report")
    fig.update_yaxes(title_text="IHC 0 share", ticksuffix="%", rangemode="tozero")
    fig.update_layout(margin={"b": 110})
    return fig


def _summary(rows: list[dict]) -> Markup | None:
    rows = [r for r in rows if r["breakdown"] == "all"]
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: (r["comparison"] != "second_read", r["boundary"]))
    return table(
        ["boundary", "compared with", "pairs", "agreement (95% CI)", "κ (95% CI)", "1+/0", "0/1+"],
        [
            [
                BOUNDARIES[r["boundary"]],
                COMPARISONS[r["comparison"]],
                fmt.count(r["n_pairs"]),
                fmt.agreement(r["pct_agree"], r["ci_low"], r["ci_high"]),
                _kappa_text(r),
                fmt.count(r["n_pos_neg"]),
                fmt.count(r["n_neg_pos"]),
            ]
            for r in rows
        ],
        numeric=(2, 3, 4, 5, 6),
    ) + para(
        "Cells: the clinical read first (1+/0: clinical 1+, other read 0); for null vs "
        "ultralow, ultralow takes the place of 1+."
    )


def section(ctx: Context) -> Section:
    """The one section readers.py adds to the Inter-observer page."""
    agreement = ctx.per_view(
        ctx.rows(
            "SELECT * FROM marts.boundary_agreement "
            "ORDER BY comparison, boundary, lab_id, breakdown, breakdown_value"
        )
    )
    share = ctx.per_view(
        ctx.rows(
            "SELECT * FROM marts.ihc0_share WHERE breakdown IN ('all', 'clone') "
            "ORDER BY lab_id, breakdown, breakdown_value, quarter"
        )
    )
    return Section(
        "0 / 1+ boundary: agreement and κ between readers",
        "boundary",
        "The score that decides HER2-low eligibility for trastuzumab deruxtecan is the 0 vs 1+ "
        "call (her2-domain.md §HER2-LOW): agreement and Cohen's κ over the pairs where both "
        "reads are IHC 0 or 1+, by the clinical read's pathologist and antibody clone, with "
        "95% intervals; null vs ultralow over pairs where both reads are IHC 0 with a % "
        "stained (2013/2018 rules). The quadratic-weighted κ above gives a 0 ↔ 1+ "
        "disagreement 1/9 of the weight; here it counts in full. No target applies: shown, "
        "not judged.",
        [
            html_block(ctx, lambda v: _summary(agreement[v.key])),
            figure_block(
                ctx,
                "boundary-agreement",
                "Agreement at IHC 0 vs 1+ by pathologist and clone",
                agreement,
                lambda v, rows: _forest(ctx, v, rows, kappa=False),
            ),
            figure_block(
                ctx,
                "boundary-kappa",
                "Cohen's kappa at IHC 0 vs 1+ by pathologist and clone",
                agreement,
                lambda v, rows: _forest(ctx, v, rows, kappa=True),
            ),
            figure_block(
                ctx,
                "ihc0-share",
                "Share of IHC 0 per quarter",
                share,
                lambda v, rows: _ihc0_trend(ctx, v, rows),
                caption="A reader's or a clone's IHC 0 share drifting is the 0 vs 1+ call "
                "moving; per pathologist in marts.ihc0_share.",
            ),
        ],
    )
