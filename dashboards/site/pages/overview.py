"""Overview (index.html): in one minute, is HER2 testing in control, and where to look if not.

Six headline tiles (volume, HER2-positive rate, IHC/ISH concordance against the lab target,
quarantine rate, data freshness, last run), each with a one-line reading, then every other
page's readings ordered 'look here' first, and the monthly volume."""

from __future__ import annotations

from collections import defaultdict

import plotly.graph_objects as go
from markupsafe import Markup

from dashboards.report import formatting as fmt
from dashboards.site import figures as F
from dashboards.site import layout, readings
from dashboards.site.data import Context
from dashboards.site.layout import Page, Reading, Section, Tile, View, tiles
from dashboards.site.pages import concordance, data_quality, figure_block, html_block, positivity

FILENAME = "index.html"
SEVERITY = {"look": 0, "small": 1, "none": 2, "ok": 3, "info": 4}


def _volume(view: View, rows: list[dict]) -> go.Figure:
    months = sorted({r["month"] for r in rows})
    counts = {(r["month"], r["specimen_role"]): r["n_specimens"] for r in rows}
    fig = F.new_figure(
        f"Clinical specimens per month: {view.label}",
        subtitle="by collection month; primary tumours and metastases",
        height=360,
        barmode="stack",
    )
    for role, colour in (("primary", F.BLUE), ("metastasis", F.ORANGE)):
        fig.add_trace(
            go.Bar(
                x=[m.isoformat() for m in months],
                y=[counts.get((m, role), 0) for m in months],
                name=role,
                marker={"color": colour},
                hovertext=[
                    f"{m:%Y-%m}: {counts.get((m, role), 0):,} {role} specimens" for m in months
                ],
                hoverinfo="text",
            )
        )
    fig.update_xaxes(title_text="collection month")
    fig.update_yaxes(title_text="specimens")
    return fig


def _worst(items: list[Reading]) -> str:
    return min((r.status for r in items), key=SEVERITY.__getitem__, default="none")


def build(ctx: Context, pages: list[Page]) -> Page:
    head = {r["lab_id"]: r for r in ctx.file("headline")}
    pos = {
        r["lab_id"]: r for r in ctx.file("positivity_summary") if r["level"] in ("lab", "network")
    }
    ihc_ish = {
        r["lab_id"]: r
        for r in ctx.rows(
            "SELECT lab_id, n_pairs, pct_agree, ci_low, ci_high FROM marts.agreement "
            "WHERE comparison = 'ihc_vs_ish' AND period = 'ALL'"
        )
    }
    quarantine = {r["lab_id"]: r for r in ctx.file("quarantine_by_lab")}
    this_run = ctx.rows(
        "SELECT count(*) AS files, count_if(status = 'rejected') AS rejected "
        "FROM ops.ingested_files WHERE run_id = $run",
        {"run": ctx.run_id or ""},
    )[0]
    all_files = ctx.rows(
        "SELECT count(*) AS files, max(arrival_date) AS latest_arrival FROM ops.ingested_files"
    )[0]
    volume = ctx.per_view(ctx.file("volume_monthly"))
    band = ctx.band("positivity_dk_departments")

    def view_tiles(view: View) -> Markup:
        lab = view.lab or "ALL"
        h = head.get(lab)
        out: list[Tile] = []
        # volume
        if not h or not h["n_specimens"]:
            out.append(
                Tile(
                    "Volume",
                    "0",
                    "no clinical specimen in the warehouse yet",
                    Reading("none", "nothing to read until a file with valid results arrives."),
                    data_quality.FILENAME,
                )
            )
        else:
            out.append(
                Tile(
                    "Volume, last 12 months",
                    f"{h['n_window']:,}",
                    f"clinical specimens collected {h['window_start']:%b %Y}–"
                    f"{h['window_end']:%b %Y}; {h['n_specimens']:,} in all "
                    f"({h['n_primary']:,} primary, {h['n_metastasis']:,} metastasis) since "
                    f"{h['first_collection']:%b %Y}",
                    Reading("info", "the denominator of everything below."),
                )
            )
        # positivity
        p = pos.get(lab)
        if p and p["n_window"]:
            flags = p["n_flagged_window"]
            versus = readings.versus_band(
                topic="",
                what="primaries",
                k=p["n_positive_window"],
                n=p["n_window"],
                rate=p["rate_window"],
                ci_low=p["window_ci_low"],
                ci_high=p["window_ci_high"],
                band=band,
                href="",
            )
            where = {
                "look": "outside the published band (context)",
                "ok": "consistent with the published band (context)",
                "small": "too few to compare with the published band",
            }.get(versus.status, "")
            if flags:
                reading = Reading(
                    "look",
                    f"{flags} month(s) outside the p-chart control limits in the last 12 "
                    f"months; {where}.",
                )
            else:
                status = versus.status if versus.status in ("look", "small") else "ok"
                reading = Reading(status, f"no month outside the p-chart control limits; {where}.")
            out.append(
                Tile(
                    "HER2-positive rate, last 12 months",
                    fmt.pct(p["rate_window"]),
                    f"{fmt.ci(p['window_ci_low'], p['window_ci_high'])}; {p['n_positive_window']:,} "
                    f"of {p['n_window']:,} clinical primaries"
                    + (
                        f"; published band {fmt.pct(band.low)}–{fmt.pct(band.high)}" if band else ""
                    ),
                    reading,
                    positivity.FILENAME,
                )
            )
        # concordance
        c = ihc_ish.get(lab)
        target = ctx.target(view)
        conc = readings.concordance(
            topic="",
            n=c["n_pairs"] if c else 0,
            pct_agree=c["pct_agree"] if c else None,
            ci_low=c["ci_low"] if c else None,
            ci_high=c["ci_high"] if c else None,
            target=target,
            target_label=ctx.target_label(view),
            href="",
        )
        out.append(
            Tile(
                "IHC/ISH concordance",
                f"{c['pct_agree']:.1f}%" if c else "–",
                (
                    f"95% CI {c['ci_low']:.1f}–{c['ci_high']:.1f}%; {c['n_pairs']:,} pairs, all "
                    f"quarters; {ctx.target_label(view)}"
                    if c
                    else "no IHC/ISH pairs"
                ),
                # the tile shows the figure already: keep the verdict after "figure: "
                Reading(conc.status, conc.text.split(": ", 1)[-1]),
                concordance.FILENAME,
            )
        )
        # quarantine
        q = quarantine.get(lab)
        if q and q["rows_read"]:
            rate = q["rows_quarantined"] / q["rows_read"]
            look = rate > readings.QUARANTINE_LOOK
            out.append(
                Tile(
                    "Quarantined rows",
                    fmt.pct(rate),
                    f"{q['rows_quarantined']:,} of {q['rows_read']:,} rows read"
                    + ("" if view.lab is None else f" with lab code {view.lab}"),
                    Reading(
                        "look" if look else "ok",
                        (
                            f"above {fmt.pct(readings.QUARANTINE_LOOK, 0)} (her2qa default, not a "
                            "published limit): the export needs a look."
                            if look
                            else f"at or under {fmt.pct(readings.QUARANTINE_LOOK, 0)} (her2qa "
                            "default)."
                        ),
                    ),
                    data_quality.FILENAME,
                )
            )
        # freshness
        if h and h["latest_report"]:
            age = (ctx.today - h["latest_report"]).days
            stale = age > readings.FRESHNESS_DAYS
            out.append(
                Tile(
                    "Data freshness",
                    f"{h['latest_report']:%d %b %Y}",
                    f"newest result, {age:,} days before this site was generated; last file "
                    f"arrived {h['latest_arrival']:%d %b %Y}",
                    Reading(
                        "look" if stale else "ok",
                        (
                            f"older than {readings.FRESHNESS_DAYS} days (her2qa default): is an "
                            "extract missing?"
                            if stale
                            else f"within {readings.FRESHNESS_DAYS} days (her2qa default)."
                        ),
                    ),
                    data_quality.FILENAME,
                )
            )
        # last run
        run = ctx.run_id or "(none)"
        rejected = this_run["rejected"]
        out.append(
            Tile(
                "Last run",
                run[:8] if ctx.run_id else "–",
                f"run {run}; generated {ctx.generated_at:%d %b %Y %H:%M} UTC; "
                f"{this_run['files']:,} new file(s) in this run, {all_files['files']:,} in all",
                Reading(
                    "look" if rejected else "info",
                    f"{rejected} file(s) of this run rejected whole."
                    if rejected
                    else "every file of this run was read.",
                ),
                data_quality.FILENAME,
            )
        )
        return tiles(out)

    def freshness(view: View) -> list[Reading]:
        h = head.get(view.lab or "ALL")
        if not h or not h["latest_report"]:
            return []
        age = (ctx.today - h["latest_report"]).days
        if age <= readings.FRESHNESS_DAYS:
            return [Reading("ok", f"newest result {age:,} days old.", "Data freshness")]
        return [
            Reading(
                "look",
                f"newest result {h['latest_report']:%d %b %Y}, {age:,} days before this site was "
                f"generated (her2qa default: {readings.FRESHNESS_DAYS} days). Is an extract "
                "missing?",
                "Data freshness",
                f"{data_quality.FILENAME}#files",
            )
        ]

    def where_to_look(view: View) -> Markup:
        items = [r for p in pages for r in p.readings.get(view.key, [])] + freshness(view)
        items.sort(key=lambda r: SEVERITY[r.status])
        counts: dict[str, int] = defaultdict(int)
        for r in items:
            counts[r.status] += 1
        head_line = layout.para(
            f"{counts['look']} to look at, {counts['small']} too small to tell, "
            f"{counts['ok']} in control, {counts['info']} for information."
        )
        return head_line + layout.readings(items)

    page = Page(
        FILENAME,
        "Overview",
        "HER2 testing: overview",
        "Is HER2 testing in control? Each tile gives a figure and a one-line reading; below, "
        "every check of the other pages, 'look here' first. Choose a laboratory at the top "
        "right; the choice follows you from page to page.",
    )
    page.sections.append(Section("Headline", "headline", blocks=[html_block(ctx, view_tiles)]))
    page.sections.append(Section("Where to look", "where", blocks=[html_block(ctx, where_to_look)]))
    page.sections.append(
        Section(
            "Volume",
            "volume",
            blocks=[
                figure_block(
                    ctx,
                    "volume",
                    "Clinical specimens per month",
                    volume,
                    lambda v, rows: _volume(v, rows),
                )
            ],
        )
    )
    page.readings = {v.key: [] for v in ctx.views}
    return page
