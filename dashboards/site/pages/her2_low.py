"""HER2-low distribution over time: the HER2 category mix of clinical primaries per quarter,
and the HER2-low and IHC 0 shares with 95% CI beside the Danish figures. From
marts.her2_low_distribution (dashboards/report/sql/her2_low_quarterly.sql); the badge is the
finding her2_low_published_range. HER2-low, -ultralow and -null are therapy-eligibility
subgroups, not ASCO/CAP result categories (her2-domain.md §HER2-LOW)."""

from __future__ import annotations

from markupsafe import Markup

from dashboards.report import formatting as fmt
from dashboards.site import figures as F
from dashboards.site import layout
from dashboards.site import readings as R
from dashboards.site.data import Band, Context
from dashboards.site.layout import Page, Reading, Section, View, table
from dashboards.site.pages import figure_block, html_block

FILENAME = "her2-low.html"


def _mix(view: View, rows: list[dict]) -> F.Figure:
    rows = sorted(rows, key=lambda r: r["quarter"])
    quarters = [r["quarter"] for r in rows]
    fig = F.new_figure(
        f"HER2 category mix of primaries per quarter: {view.label}",
        subtitle="share of clinical primary specimens (collection quarter); hover for n",
        height=460,
        barmode="stack",
    )
    for cat in F.CATEGORY.order:
        shares = [r[f"n_{cat}"] / r["n_specimens"] if r["n_specimens"] else None for r in rows]
        fig.add_trace(
            F.Bar(
                x=quarters,
                y=F.rounded(s * 100 if s is not None else None for s in shares),
                name=F.CATEGORY.labels[cat],
                marker={"color": F.CATEGORY.colours[cat], "line": {"width": 0.5, "color": "#fff"}},
                hovertext=[
                    f"{r['quarter']} · {F.CATEGORY.labels[cat]}: {fmt.pct(s)} "
                    f"({fmt.count(r[f'n_{cat}'])} of {fmt.count(r['n_specimens'])})"
                    for r, s in zip(rows, shares, strict=True)
                ],
                hoverinfo="text",
            )
        )
    fig.update_yaxes(range=[0, 100], ticksuffix="%", title_text="share of primaries")
    fig.update_xaxes(type="category", title_text="collection quarter")
    fig.update_layout(bargap=0.15, margin={"b": 110})
    return fig


def _shares(
    ctx: Context, view: View, rows: list[dict], low_band: Band | None, ihc0: Band | None
) -> F.Figure:
    rows = sorted(rows, key=lambda r: r["quarter"])
    quarters = [r["quarter"] for r in rows]
    fig = F.subplots(
        rows=1,
        cols=2,
        subplot_titles=["HER2-low share", "IHC 0 share (null + ultralow + unspecified)"],
        horizontal_spacing=0.08,
    )
    for i, (key, k_field, band, colour, what) in enumerate(
        (
            ("low", "n_low", low_band, F.ORANGE, "HER2-low"),
            ("ihc0", "n_ihc0", ihc0, F.BLUE, "IHC 0"),
        ),
        1,
    ):
        field = "share_low" if key == "low" else "share_ihc0"
        hover = [
            f"{r['quarter']}: {fmt.pct(r[field])} "
            f"({fmt.ci(r[f'{key}_ci_low'], r[f'{key}_ci_high'])})"
            f"\n{fmt.count(r[k_field])} of {fmt.count(r['n_specimens'])} primaries"
            + ("\nsmall n" if ctx.is_small(r["n_specimens"]) else "")
            for r in rows
        ]
        F.ci_band(
            fig,
            quarters,
            [r[field] for r in rows],
            [r[f"{key}_ci_low"] for r in rows],
            [r[f"{key}_ci_high"] for r in rows],
            name="HER2-low" if key == "low" else "IHC 0",
            colour=colour,
            hovertext=hover,
            scale=100,
            row=1,
            col=i,
        )
        if band is not None:
            axis = "x" if i == 1 else f"x{i}"
            yaxis = "y" if i == 1 else f"y{i}"
            if band.low is not None and band.high is not None:
                fig.add_shape(
                    F.band_shape(
                        low=band.low * 100,
                        high=band.high * 100,
                        xref=axis,
                        yref=yaxis,
                        name=f"{what}: {band.legend()}",
                    )
                )
            if band.point is not None:
                fig.add_shape(
                    F.line_shape(
                        band.point * 100,
                        name=f"{what}: {band.label}: published {fmt.pct(band.point)} "
                        f"({band.source})",
                        colour=F.BAND_LINE,
                        xref=axis,
                        yref=yaxis,
                    )
                )
    fig.update_yaxes(ticksuffix="%", rangemode="tozero", title_text="share of primaries", col=1)
    fig.update_yaxes(ticksuffix="%", rangemode="tozero", col=2)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=quarters)
    F.set_title(
        fig,
        f"HER2-low and IHC 0 shares per quarter: {view.label}",
        subtitle="clinical primaries; shaded: 95% CI (Wilson); grey: the Danish figures "
        "(context, not a limit)",
        height=480,
        margin={"b": 110},
    )
    return fig


def build(ctx: Context) -> Page:
    quarterly = ctx.file("her2_low_quarterly")
    per_quarter = ctx.per_view(r for r in quarterly if r["quarter"] != "ALL")
    overall = ctx.one_per_view(r for r in quarterly if r["quarter"] == "ALL")
    low_band = ctx.band("her2_low_dk_departments")
    ihc0 = ctx.band("ihc0_share_dk")
    ultralow = ctx.band("ultralow_db06_screened")
    page = Page(
        FILENAME,
        "HER2-low",
        "HER2-low distribution",
        "How the primaries that are not HER2-positive split into HER2-low (IHC 1+, or 2+ with "
        "negative ISH), HER2-ultralow (IHC 0 with faint staining in ≤10% of cells) and "
        "HER2-null, quarter by quarter. These are therapy-eligibility subgroups (trastuzumab "
        "deruxtecan), not ASCO/CAP result categories; separating IHC 0 from 1+ is where readers "
        "disagree most.",
    )

    found = {
        v.key: [R.reading(f) for f in [ctx.findings.get("her2_low_published_range", v.lab)] if f]
        for v in ctx.views
    }
    page.sections.append(
        Section(
            "Category mix over time",
            "mix",
            "'IHC 0, % stained not recorded': an IHC 0 without the percentage of stained cells "
            "(or with one that contradicts the score), so ultralow and null cannot be told apart.",
            [
                figure_block(
                    ctx,
                    "mix",
                    "HER2 category mix per quarter",
                    per_quarter,
                    lambda v, rows: _mix(v, rows),
                )
            ],
        )
    )
    page.sections.append(
        Section(
            "HER2-low and IHC 0 beside the published figures",
            "shares",
            blocks=[
                figure_block(
                    ctx,
                    "shares",
                    "HER2-low and IHC 0 shares per quarter",
                    per_quarter,
                    lambda v, rows: _shares(ctx, v, rows, low_band, ihc0),
                ),
                html_block(
                    ctx, lambda v: _overall_html(overall.get(v.key), found[v.key], ultralow)
                ),
            ],
        )
    )
    return page


def _overall_html(r: dict | None, found: list[Reading], ultralow: Band | None) -> Markup | None:
    if not r:
        return None
    ul_band = (
        f"{fmt.pct(ultralow.low)}–{fmt.pct(ultralow.high)} of HR+/HER2− patients screened "
        f"({ultralow.source}; context only: the extract has no HR status)"
        if ultralow
        else "–"
    )
    body = [
        [
            "HER2-low, of primaries",
            f"{fmt.count(r['n_low'])} / {fmt.count(r['n_specimens'])}",
            fmt.pct(r["share_low"]),
            fmt.ci(r["low_ci_low"], r["low_ci_high"]),
        ],
        [
            "IHC 0, of primaries",
            f"{fmt.count(r['n_ihc0'])} / {fmt.count(r['n_specimens'])}",
            fmt.pct(r["share_ihc0"]),
            fmt.ci(r["ihc0_ci_low"], r["ihc0_ci_high"]),
        ],
        [
            "HER2-ultralow, of negative primaries",
            f"{fmt.count(r['n_ultralow'])} / {fmt.count(r['n_negative'])}",
            fmt.pct(r["share_ultralow_of_negative"]),
            fmt.ci(r["ultralow_ci_low"], r["ultralow_ci_high"]),
        ],
    ]
    return layout.readings(found, link=False) + table(
        ["share", "n", "rate", "95% CI (Wilson)"],
        body,
        numeric=(1, 2),
        caption="All quarters pooled. Published ultralow share: " + ul_band + ".",
    )
