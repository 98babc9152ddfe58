"""Overview (index.html): in one minute, is HER2 testing where it should be, and where to look
if not.

Six headline tiles (volume, HER2-positive rate, IHC/ISH concordance against the lab target,
quarantine rate, data freshness, last run), each with its findings' readings, then "Where to
look": every finding of the selection (period ALL or the 12-month window), 'look' first. On
the network view it also lists each laboratory's look findings and names the laboratories
behind each pooled figure. Every badge is a row of marts.findings (dashboards/site/readings.py).
"""

from __future__ import annotations

from collections import defaultdict

from markupsafe import Markup

from dashboards.report import formatting as fmt
from dashboards.site import figures as F
from dashboards.site import layout
from dashboards.site import readings as R
from dashboards.site.data import ALL, Context, Finding
from dashboards.site.layout import Page, Reading, Section, Tile, View, tiles
from dashboards.site.pages import concordance, data_quality, figure_block, html_block, positivity

FILENAME = "index.html"
SEVERITY = {"look": 0, "small": 1, "none": 2, "ok": 3, "info": 4}
MONTHLY = ("positivity_control", "positivity_pathologist")  # summed over the window
ROLES = F.Vocabulary.coded({"primary": F.BLUE, "metastasis": F.ORANGE})  # specimen roles


def _volume(view: View, rows: list[dict]) -> F.Figure:
    fig = F.new_figure(
        f"Clinical specimens per month: {view.label}",
        subtitle="by collection month; primary tumours and metastases",
        height=360,
        barmode="stack",
    )
    fig.add_traces(
        F.count_bars(
            rows,
            x="month",
            series="specimen_role",
            n="n_specimens",
            vocabulary=ROLES,
            hover=lambda month, role, n: f"{month:%Y-%m}: {fmt.count(n)} {role} specimens",
        )
    )
    fig.update_xaxes(title_text="collection month")
    fig.update_yaxes(title_text="specimens")
    return fig


def _pct(f: Finding | None) -> str:
    return "–" if f is None or f.figure is None else fmt.pct(f.figure / 100)


def _ci(f: Finding) -> str:
    return fmt.ci(
        None if f.ci_low is None else f.ci_low / 100, None if f.ci_high is None else f.ci_high / 100
    )


def _control(ctx: Context, code: str, view: View) -> Reading | None:
    """A lab's months of the window, or the network's laboratories, for a monthly finding."""
    topic = "Positivity, pathologists" if code.endswith("pathologist") else "Positivity p-chart"
    if view.lab is not None:
        return R.months_summary(ctx.findings, code, view.lab, topic=topic)
    return R.labs_summary(
        ctx.findings,
        code,
        R.lab_window_verdicts(ctx.findings, code),
        topic=topic,
        period=ctx.findings.window or "",
        where=f" in {R.window_label(ctx.findings)}",
    )


def where_to_look(ctx: Context, view: View) -> list[Reading]:
    """Every finding of the selection, 'look' first: the lab's (or the pooled) findings of
    period ALL or the window; its monthly control findings summed over the window; on the
    network view also each code summed over the laboratories (naming those to look at) and
    every laboratory's look findings."""
    findings = ctx.findings
    items = [R.reading(f) for f in findings.headline(view.lab)]
    items += [r for code in MONTHLY if (r := _control(ctx, code, view))]
    if view.lab is None:
        codes = dict.fromkeys(
            f.finding
            for f in findings.rows
            if f.lab_id != ALL and f.subgroup == ALL and f.period in (ALL, findings.window)
        )
        for code in codes:
            period = next(
                f.period
                for f in findings.rows
                if f.finding == code and f.period in (ALL, findings.window)
            )
            summary = R.labs_summary(
                findings,
                code,
                R.lab_verdicts(findings, code, period),
                topic=f"{_title(ctx, code)}, by laboratory",
                period=period,
            )
            if summary:
                items.append(summary)
        for lab in sorted({f.lab_id for f in findings.rows if f.lab_id != ALL}):
            items += [
                R.reading(f, topic=f"{lab} · {f.title}")
                for f in findings.headline(lab)
                if f.verdict == "look"
            ]
            for code in MONTHLY:
                r = R.months_summary(findings, code, lab, topic=f"{lab} · Positivity p-chart")
                if r and r.status == "look":
                    items.append(r)
    return sorted(items, key=lambda r: SEVERITY[r.status])


def _title(ctx: Context, code: str) -> str:
    return next((f.title for f in ctx.findings.rows if f.finding == code), code)


def build(ctx: Context) -> Page:
    head = {r["lab_id"]: r for r in ctx.rows("SELECT * FROM marts.headline")}
    agreement = {
        r["lab_id"]: r
        for r in ctx.rows(
            "SELECT lab_id, n_pairs, pct_agree, ppa, npa FROM marts.agreement "
            "WHERE comparison = 'ihc_vs_ish' AND period = 'ALL'"
        )
    }
    all_files = ctx.rows(
        "SELECT count(*) AS files, count_if(run_id = $run) AS this_run FROM ops.ingested_files",
        {"run": ctx.run_id or ""},
    )[0]
    volume = ctx.per_view(
        ctx.rows("SELECT * FROM marts.volume_monthly ORDER BY lab_id, month, specimen_role")
    )
    findings = ctx.findings

    def view_tiles(view: View) -> Markup:
        lab = view.lab or ALL
        h = head.get(lab)
        out: list[Tile] = []
        # volume: the denominator, for information (no finding judges it)
        if not h or not h["n_specimens"]:
            out.append(
                Tile(
                    "Volume",
                    "0",
                    "no clinical specimen in the warehouse yet",
                    note="Nothing to read until a file with valid results arrives.",
                    href=data_quality.FILENAME,
                )
            )
        else:
            out.append(
                Tile(
                    "Volume, last 12 months",
                    fmt.count(h["n_window"]),
                    f"clinical specimens collected {h['window_start']:%b %Y}–"
                    f"{h['window_end']:%b %Y}; {fmt.count(h['n_specimens'])} in all "
                    f"({fmt.count(h['n_primary'])} primary, {fmt.count(h['n_metastasis'])} "
                    f"metastasis) since {h['first_collection']:%b %Y}",
                    note="The denominator of everything below.",
                )
            )
        # positivity: p-chart control and the published range, both findings
        band = findings.get("positivity_published_range", view.lab, findings.window or "")
        control = [r for code in MONTHLY[:1] if (r := _control(ctx, code, view))]
        if band or control:
            out.append(
                Tile(
                    "HER2-positive rate, last 12 months",
                    _pct(band),
                    (
                        f"{_ci(band)}; {fmt.count(band.n)} clinical primaries; {band.threshold}"
                        if band
                        else "no primaries in the last 12 months"
                    ),
                    tuple(control) + ((R.reading(band, topic=""),) if band else ()),
                    positivity.FILENAME,
                )
            )
        # concordance: PPA and NPA against the lab target (overall shown, not judged)
        conc = findings.get("lab_target_ihc_vs_ish", view.lab)
        a = agreement.get(lab)
        conc_readings = [R.reading(conc, topic="")] if conc else []
        if view.lab is None:
            summary = R.labs_summary(
                findings,
                "lab_target_ihc_vs_ish",
                R.lab_verdicts(findings, "lab_target_ihc_vs_ish"),
                topic="",
            )
            conc_readings += [summary] if summary else []
        out.append(
            Tile(
                "IHC/ISH concordance",
                _ppa_npa(a),
                (
                    f"overall agreement {fmt.percent(a['pct_agree'])} over "
                    f"{fmt.count(a['n_pairs'])} pairs (shown, not judged); "
                    f"{conc.threshold if conc else ''}"
                    if a
                    else "no IHC/ISH pairs"
                ),
                tuple(conc_readings),
                concordance.FILENAME,
            )
        )
        # quarantine, freshness, the run: data findings
        for code, label, value in (
            ("quarantine_rate", "Quarantined rows", _pct),
            ("data_freshness", "Data freshness", _days),
        ):
            f = findings.get(code, view.lab)
            if f:
                out.append(
                    Tile(
                        label,
                        value(f),
                        f.threshold or "",
                        (R.reading(f, topic=""),),
                        data_quality.FILENAME,
                    )
                )
        run = ctx.run_id or "(none)"
        rejected = findings.get("files_rejected")
        out.append(
            Tile(
                "Last run",
                run[:8] if ctx.run_id else "–",
                f"run {run}; generated {ctx.generated_at:%d %b %Y %H:%M} UTC; "
                f"{fmt.count(all_files['this_run'])} new file(s) in this run, "
                f"{fmt.count(all_files['files'])} in all",
                (R.reading(rejected, topic=""),) if rejected else (),
                data_quality.FILENAME,
                note="" if rejected else "No new file in this run.",
            )
        )
        return tiles(out)

    def where(view: View) -> Markup:
        items = where_to_look(ctx, view)
        counts: dict[str, int] = defaultdict(int)
        for r in items:
            counts[r.status] += 1
        head_line = layout.para(
            f"{counts['look']} to look at, {counts['small']} too few to judge, "
            f"{counts['ok']} without remark, {counts['info']} for information."
        )
        return head_line + layout.readings(items)

    page = Page(
        FILENAME,
        "Overview",
        "HER2 testing: overview",
        "Where does HER2 testing need a look? Each tile gives a figure and its findings; below, "
        "every finding of the selection, 'look here' first. Choose a laboratory at the top "
        "right; the choice follows you from page to page.",
    )
    page.sections.append(Section("Headline", "headline", blocks=[html_block(ctx, view_tiles)]))
    page.sections.append(Section("Where to look", "where", blocks=[html_block(ctx, where)]))
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
    return page


def _ppa_npa(a: dict | None) -> str:
    if not a:
        return "–"
    return f"PPA {fmt.percent(a['ppa'])} · NPA {fmt.percent(a['npa'])}"


def _days(f: Finding) -> str:
    return "–" if f.figure is None else f"{fmt.count(int(f.figure))} days"
