"""IHC/ISH: the IHC score × ISH group heatmap, amplification rate by IHC score beside the
published figures, and the discordant cases counted (listed only in the restricted worklist).
From marts.ihc_ish_matrix (warehouse/sql/marts/ihc_ish_matrix.sql),
marts.amplification_by_ihc_score and marts.ihc_ish_discordance. The one badge is the finding
amplification_published_range (IHC 2+ against the published range); the discordant cases are
counted in plain words (no target applies to a count)."""

from __future__ import annotations

from markupsafe import Markup

from dashboards.report import formatting as fmt
from dashboards.site import figures as F
from dashboards.site import layout
from dashboards.site import readings as R
from dashboards.site.data import Context
from dashboards.site.layout import Page, Section, View, table
from dashboards.site.pages import figure_block, html_block, worklist_block

FILENAME = "ihc-ish.html"
# the columns of the heatmap: the 2018 dual-probe ISH groups 1-5, then specimens without one
GROUP_LABEL = {**{g: f"group {g}" for g in "12345"}, "none": "no dual-probe ISH"}
GROUPS = tuple(GROUP_LABEL)
# the IHC vs ISH discordant cells (spec: ihc_vs_ish pairs; marts.ihc_ish_discordance); a
# tuple, not a set: the outlines are drawn in this order, the same bytes on every build
DISCORDANT = (("3+", "5"), ("0", "1"), ("1+", "1"))
DISCORDANCE_TYPE = {
    "ihc3_ish_group5": "IHC 3+ with dual-probe ISH group 5",
    "ihc01_ish_group1": "IHC 0/1+ with dual-probe ISH group 1",
    "ihc3_single_probe_negative": "IHC 3+ with a single-probe ISH under 4.0 HER2/cell",
    "ihc01_single_probe_positive": "IHC 0/1+ with a single-probe ISH of 6.0 HER2/cell or more",
    "ish_group_2_4": "dual-probe ISH group 2–4 (resolved with the concurrent IHC)",
}
# rule codes of marts.worklist_ish_counting, in words (§ISH-COUNT)
ISH_COUNTING_RULES = {
    "ish_nuclei_under_minimum": "ISH counted in fewer nuclei than the ASCO/CAP minimum",
    "blinded_recount_missing": "group 2–4 with IHC 2+: no blinded recount in the extract",
    "blinded_recount_other_group": "group 2–4 with IHC 2+: the blinded recount lands in another "
    "group",
    "blinded_recount_same_observer": "group 2–4 with IHC 2+: recount by the first counter",
}


def _heatmap(view: View, rows: list[dict]) -> F.Figure:
    counts = {(r["ihc_score"], r["ish_group"]): r["n_specimens"] for r in rows}
    scores = list(reversed(F.IHC_SCORES))  # Plotly draws y upwards: IHC 0 on top
    row_total = {s: sum(counts.get((s, g), 0) for g in GROUPS) for s in F.IHC_SCORES}
    z, text, hover = [], [], []
    for s in scores:
        with_ish = sum(counts.get((s, g), 0) for g in GROUPS if g != "none")
        z_row, t_row, h_row = [], [], []
        for g in GROUPS:
            n = counts.get((s, g), 0)
            share = n / row_total[s] if row_total[s] else None
            z_row.append(F.rnd(share * 100 if share is not None else None, 2))
            t_row.append(f"{fmt.count(n)}")
            of_ish = (
                f"\n{fmt.pct(n / with_ish)} of the IHC {s} specimens with dual-probe ISH"
                if g != "none" and with_ish
                else ""
            )
            flag = "\ndiscordant: IHC and ISH disagree" if (s, g) in DISCORDANT else ""
            h_row.append(
                f"IHC {s} × {GROUP_LABEL[g]}\n{fmt.count(n)} specimens, {fmt.pct(share)} of "
                f"IHC {s}{of_ish}{flag}"
            )
        z.append(z_row)
        text.append(t_row)
        hover.append(h_row)
    fig = F.new_figure(
        f"IHC score × ISH group: {view.label}",
        subtitle="clinical specimens; number in each cell, colour = % of the IHC score's row; "
        "outlined: discordant cells",
        height=440,
    )
    fig.add_trace(
        F.count_heatmap(
            z=z,
            x=[GROUP_LABEL[g] for g in GROUPS],
            y=[f"IHC {s}" for s in scores],
            text=text,
            hovertext=hover,
            colorbar={"title": {"text": "% of row"}, "ticksuffix": "%"},
            zmin=0,
            zmax=100,
        )
    )
    for s, g in DISCORDANT:
        fig.add_shape(
            F.cell_outline(GROUPS.index(g), scores.index(s), colour=F.VERMILLION, width=3)
        )
    fig.update_xaxes(title_text="2018 ASCO/CAP dual-probe ISH group", side="bottom", showgrid=False)
    fig.update_yaxes(title_text="selected IHC score", showgrid=False)
    return fig


def _amplification(ctx: Context, view: View, rows: list[dict]) -> F.Figure | None:
    by_score = {r["ihc_score"]: r for r in rows}
    if not any(r["n_with_ish"] for r in rows):
        return None  # no dual-probe ISH: nothing to compare with the published figures
    fig = F.new_figure(
        f"ISH amplification by IHC score: {view.label}",
        subtitle="specimens with a dual-probe ISH; bars: 95% CI (Wilson); grey: published figures "
        "(context, not a limit)",
        height=460,
    )
    xs = list(range(len(F.IHC_SCORES)))
    shown = set()
    for i, s in enumerate(F.IHC_SCORES):
        r = by_score.get(s)
        if not r or r["band_low"] is None:
            continue
        if r["band_low"] != r["band_high"]:
            key = "range"
            fig.add_shape(
                F.band_shape(
                    low=r["band_low"] * 100,
                    high=r["band_high"] * 100,
                    x0=i - 0.35,
                    x1=i + 0.35,
                    name=f"{r['band_label']}: published range ({r['band_source']})",
                    showlegend=key not in shown,
                )
            )
        else:
            key = "point"
            fig.add_trace(
                F.Scatter(
                    x=[i],
                    y=[F.rnd(r["band_point"] * 100)],
                    mode="markers",
                    marker={"symbol": "line-ew-open", "size": 40, "color": F.BAND_LINE},
                    marker_line_width=3,
                    name=f"{r['band_label']}: published point estimate ({r['band_source']})",
                    legendgroup="point",
                    showlegend=key not in shown,
                    hovertext=f"IHC {s}: published {fmt.pct(r['band_point'])} "
                    f"({r['band_kind']}; {r['band_source']})",
                    hoverinfo="text",
                )
            )
        shown.add(key)
    for offset, field, name, colour, symbol in (
        (
            -0.12,
            "ratio_amplified",
            "amplified: ratio ≥ 2.0 (compare with the published)",
            F.VALUE,
            "circle",
        ),
        (0.12, "amplified", "amplified: 2018 group 1", F.ORANGE, "diamond"),
    ):
        data = [by_score.get(s) for s in F.IHC_SCORES]
        present = [(i, r) for i, r in zip(xs, data, strict=True) if r and r["n_with_ish"]]
        if not present:
            continue
        values = [r[f"{field}_rate"] for _, r in present]
        lows = [r[f"{field}_ci_low"] for _, r in present]
        highs = [r[f"{field}_ci_high"] for _, r in present]
        plus, minus = F.error_bars(values, lows, highs, 100)
        hover = []
        for (_, r), v, lo, hi in zip(present, values, lows, highs, strict=True):
            k = r["n_group1"] if field == "amplified" else r["n_ratio_amplified"]
            hover.append(
                f"IHC {r['ihc_score']}: {name}\n{fmt.pct(v)} ({fmt.ci(lo, hi)}), {fmt.count(k)} of "
                f"{fmt.count(r['n_with_ish'])} with dual-probe ISH\nISH done on "
                f"{fmt.pct(r['ish_tested_share'])} of {fmt.count(r['n_specimens'])} "
                f"IHC {r['ihc_score']} specimens"
                + ("\nsmall n: read with care" if ctx.is_small(r["n_with_ish"], lo, hi) else "")
            )
        fig.add_trace(
            F.Scatter(
                x=[i + offset for i, _ in present],
                y=F.rounded(v * 100 for v in values),
                mode="markers",
                marker={
                    "color": colour,
                    "size": 11,
                    "symbol": [
                        symbol + ("-open" if ctx.is_small(r["n_with_ish"], lo, hi) else "")
                        for (_, r), lo, hi in zip(present, lows, highs, strict=True)
                    ],
                    "line": {"width": 2, "color": colour},
                },
                error_y={"type": "data", "array": plus, "arrayminus": minus, "width": 5},
                name=name,
                hovertext=hover,
                hoverinfo="text",
            )
        )
    fig.update_xaxes(
        tickmode="array",
        tickvals=xs,
        ticktext=[
            f"IHC {s}"
            + (f"\nn={fmt.count(by_score[s]['n_with_ish'])} with ISH" if s in by_score else "")
            for s in F.IHC_SCORES
        ],
        range=[-0.6, len(xs) - 0.4],
        title_text="selected IHC score",
    )
    fig.update_yaxes(range=[0, 101], ticksuffix="%", title_text="ISH amplified")
    return fig


def build(ctx: Context) -> Page:
    matrix = ctx.per_view(
        ctx.rows("SELECT * FROM marts.ihc_ish_matrix ORDER BY lab_id, ihc_score, ish_group")
    )
    amplification = ctx.per_view(
        ctx.rows("SELECT * FROM marts.amplification_by_ihc_score ORDER BY lab_id, ihc_score")
    )
    discordance = ctx.per_view(
        ctx.rows(
            """
            SELECT CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
                   discordance_type, resolution, count(*) AS n_cases,
                   coalesce(count_if(needs_blinded_recount), 0) AS n_recount
            FROM marts.ihc_ish_discordance
            GROUP BY GROUPING SETS ((lab_id, discordance_type, resolution),
                                    (discordance_type, resolution))
            ORDER BY lab_id, discordance_type, resolution
            """
        )
    )
    found = {
        v.key: [
            R.reading(f)
            for f in [ctx.findings.get("amplification_published_range", v.lab, "ALL", "2+")]
            if f
        ]
        for v in ctx.views
    }
    page = Page(
        FILENAME,
        "IHC / ISH",
        "IHC and ISH",
        "Whether the IHC score and the ISH result tell the same story: the cross-table of "
        "scores and 2018 ISH groups, the amplification rate at each IHC score beside the "
        "published series, and the discordant cases.",
    )

    page.sections.append(
        Section(
            "IHC score × ISH group",
            "matrix",
            "Every clinical specimen with a usable IHC score, by the 2018 group of its dual-probe "
            "ISH. Outlined cells are the discordant combinations (IHC 3+ with group 5, IHC 0 or "
            "1+ with group 1).",
            [
                figure_block(
                    ctx,
                    "matrix",
                    "IHC score by ISH group",
                    matrix,
                    lambda v, rows: _heatmap(v, rows),
                )
            ],
        )
    )
    page.sections.append(
        Section(
            "Amplification rate by IHC score",
            "amplification",
            "Share of specimens with a dual-probe ISH that are amplified, at each IHC score, "
            "beside the published figures (marts.reference_bands; context, not a limit). The "
            "published series count FISH amplification as ratio ≥ 2.0, so that is the one to "
            "compare; the 2018 group 1 rate is shown beside it.",
            [
                html_block(
                    ctx,
                    lambda v: layout.readings(found[v.key], link=False) if found[v.key] else None,
                    empty="No IHC 2+ specimen with a dual-probe ISH for this selection.",
                ),
                figure_block(
                    ctx,
                    "amplification",
                    "ISH amplification rate by IHC score",
                    amplification,
                    lambda v, rows: _amplification(ctx, v, rows),
                    caption="ISH on IHC 0, 1+ and 3+ is mostly confirmatory or reflex testing on "
                    "selected cases, so those rates carry verification bias (her2-domain.md "
                    "§BENCH 6.2): read them with the share of specimens that had ISH (hover).",
                ),
            ],
        )
    )

    def discordance_html(view: View) -> Markup | None:
        rows = discordance[view.key]
        body = [
            [
                DISCORDANCE_TYPE.get(r["discordance_type"], r["discordance_type"]),
                r["resolution"],
                f"{fmt.count(r['n_cases'])}",
                f"{fmt.count(r['n_recount'])}",
            ]
            for r in rows
        ]
        return Markup("").join(
            [
                table(
                    ["kind", "resolution", "specimens", "need a blinded recount"],
                    body,
                    numeric=(2, 3),
                    caption="Counts only; the cases (lab, accession, test ids) are in "
                    f"ihc_ish_discordance.csv in the restricted folder {ctx.restricted_label}.",
                    empty="No discordant IHC/ISH specimens for this selection.",
                ),
            ]
        )

    page.sections.append(
        Section(
            "Discordant cases",
            "discordance",
            "IHC and ISH that disagree (dual-probe or single-probe ISH, contract v2), and every "
            "dual-probe group 2–4 with how the concurrent IHC resolved it (her2-domain.md "
            "§FINAL-STATUS, §ISH-RESOLVE, §ISH-SINGLE).",
            blocks=[
                worklist_block(
                    ctx,
                    "ihc_ish_discordance.csv",
                    "specimens whose IHC and ISH disagree or whose dual-probe ISH is in group 2–4",
                    DISCORDANCE_TYPE,
                    empty="No discordant IHC/ISH specimens for this selection.",
                ),
                html_block(ctx, discordance_html),
            ],
        )
    )
    page.sections.append(
        Section(
            "ISH counting and blinded recounts",
            "ish-counting",
            "ISH is counted in at least 20 invasive tumour nuclei; dual-probe groups 2–4 with a "
            "concurrent IHC 2+ need an additional observer, blinded to the first result, to "
            "recount (a second_read ISH row in the extract) before the status is final "
            "(her2-domain.md §ISH-COUNT). The minimum is a row of marts.reference_bands "
            "(ish_nuclei_min).",
            blocks=[
                worklist_block(
                    ctx,
                    "ish_counting.csv",
                    "ISH results or specimens on the counting worklist",
                    ISH_COUNTING_RULES,
                    empty="No ISH counting case for this selection.",
                )
            ],
        )
    )
    return page
