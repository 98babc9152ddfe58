"""Data quality: the files ingested and what was quarantined, by reason, over time (file
arrival date) and per file. From ops.ingested_files and quarantine.rejected_rows
(dashboards/report/sql/quarantine_*.sql). Only reason codes are shown, never a rejected row's
values (they may carry case details); a laboratory is the lab code as written in the input.
The badges are the findings quarantine_rate, data_freshness and files_rejected."""

from __future__ import annotations

from collections import defaultdict

from markupsafe import Markup

from dashboards.report import formatting as fmt
from dashboards.site import figures as F
from dashboards.site import layout
from dashboards.site import readings as R
from dashboards.site.data import Band, Context
from dashboards.site.layout import Page, Reading, Section, StaticBlock, View, table
from dashboards.site.pages import figure_block, html_block, worklist_block

FILENAME = "data-quality.html"
# rule codes of marts.worklist_open_equivocal, in words
OPEN_EQUIVOCAL_RULES = {
    "ihc_2plus_without_ish": "IHC 2+ without a usable ISH",
    "ish_group_2_4_without_ihc": "dual-probe ISH group 2–4 without a concurrent IHC",
    "ish_equivocal_without_resolving_test": "ISH equivocal under the 2013 / 2007 rules",
    "single_probe_equivocal": "single-probe ISH in its equivocal band",
}
# What each reason code means (README "Reason codes"; warehouse/sql/staging/typed_rows.sql).
REASONS = {
    "required_missing": "a required value is missing",
    "not_in_vocabulary": "a value outside the LIS vocabulary",
    "not_a_number": "text where a number belongs",
    "not_an_integer": "a decimal where a whole number belongs",
    "bad_date": "a date that cannot be read",
    "out_of_range": "a value outside its plausible range",
    "implausible_cep17": "an implausible CEP17 signal mean",
    "date_in_future": "a date after the file arrived",
    "report_before_collection": "reported before it was collected",
    "ratio_mismatch": "ISH ratio disagrees with its means",
    "dual_probe_incomplete": "dual-probe ISH without both means",
    "malformed_record": "a broken CSV record",
    "conflicting_version": "a repeated version with different values",
}
# Okabe & Ito without black, then Tol's muted colours: up to 15 reasons stay apart.
REASON_COLOURS = [
    F.BLUE,
    F.ORANGE,
    F.GREEN,
    F.PURPLE,
    F.SKY,
    F.VERMILLION,
    F.YELLOW,
    F.GREY,
    "#332288",
    "#88CCEE",
    "#44AA99",
    "#117733",
    "#999933",
    "#CC6677",
    "#882255",
]
FEW_DATES = 3  # fewer arrival dates than this: one bar per reason instead of a time axis
MAX_FILE_TICKS = 40
# The files the page shows, the latest in arrival order: a nightly network adds a file per
# lab per night, and 3,000 files made the page 1.6 MB (site.json lists every file).
LATEST_FILES = 100


def _reason_label(code: str) -> str:
    return f"{code}: {REASONS[code]}" if code in REASONS else code


def _by_date(view: View, rows: list[dict]) -> F.Figure:
    dates = sorted({r["arrival_date"] for r in rows})
    codes = sorted({r["reason_code"] for r in rows}, key=lambda c: (c not in REASONS, c))
    if len(dates) < FEW_DATES:
        return _reasons_total(view, rows, dates, codes)
    fig = F.new_figure(
        f"Quarantined rows by reason and arrival date: {view.label}",
        subtitle="a row with several reasons counts once under each",
        height=440,
        barmode="stack",
    )
    reasons = F.Vocabulary.of(
        {
            c: F.Term(_reason_label(c), REASON_COLOURS[i % len(REASON_COLOURS)])
            for i, c in enumerate(codes)
        }
    )
    fig.add_traces(
        F.count_bars(
            rows,
            x="arrival_date",
            series="reason_code",
            n="n_rows",
            vocabulary=reasons,
            hover=lambda d, code, n: (
                f"{d.isoformat()} · {_reason_label(code)}: {fmt.count(n)} rows"
            ),
        )
    )
    fig.update_xaxes(type="category", title_text="file arrival date")
    fig.update_yaxes(title_text="quarantined rows")
    return fig


def _reasons_total(view: View, rows: list[dict], dates: list, codes: list[str]) -> F.Figure:
    """With one or two arrival dates a time axis says nothing: one bar per reason."""
    totals = {c: sum(r["n_rows"] for r in rows if r["reason_code"] == c) for c in codes}
    order = sorted(codes, key=lambda c: totals[c])
    when = " and ".join(d.isoformat() for d in dates)
    fig = F.new_figure(
        f"Quarantined rows by reason: {view.label}",
        subtitle=f"every file arrived on {when}: the time axis appears once files arrive on "
        f"{FEW_DATES} or more dates; a row with several reasons counts under each",
        height=max(320, 150 + 28 * len(order)),
    )
    fig.add_trace(
        F.Bar(
            y=[_reason_label(c) for c in order],
            x=[totals[c] for c in order],
            orientation="h",
            marker={"color": [REASON_COLOURS[codes.index(c) % len(REASON_COLOURS)] for c in order]},
            text=[f"{fmt.count(totals[c])}" for c in order],
            textposition="outside",
            cliponaxis=False,
            hovertext=[f"{_reason_label(c)}: {fmt.count(totals[c])} rows" for c in order],
            hoverinfo="text",
            name="quarantined rows",
        )
    )
    fig.update_xaxes(title_text="quarantined rows", range=[0, max(totals.values()) * 1.15])
    fig.update_yaxes(type="category", automargin=True)
    return fig


def _by_file(view: View, rows: list[dict], look: Band | None, latest: str) -> F.Figure:
    rows = sorted(rows, key=lambda r: r["file_id"])
    names = [f"{r['file_id']}. {r['file_name']}" for r in rows]
    rates = [r["rows_quarantined"] / r["rows_read"] if r["rows_read"] else None for r in rows]
    fig = F.new_figure(
        f"Quarantine rate per input file: {view.label}",
        subtitle=f"{latest}{', this laboratory’s rows in them' if view.lab else ''}, in arrival "
        "order; ✕: a file rejected whole (nothing read)",
        height=440,
    )
    fig.add_trace(
        F.Bar(
            x=names,
            y=F.rounded((r * 100 if r is not None else 0 for r in rates), 3),
            marker={"color": F.BLUE},
            name="quarantined, % of rows read",
            hovertext=[
                f"{r['file_name']} ({r['status']}, arrived {r['arrival_date']})\n"
                f"{fmt.count(r['rows_quarantined'])} of {fmt.count(r['rows_read'])} rows "
                "quarantined" + (f" ({fmt.pct(rate)})" if rate is not None else "")
                for r, rate in zip(rows, rates, strict=True)
            ],
            hoverinfo="text",
        )
    )
    rejected = [(n, r) for n, r in zip(names, rows, strict=True) if r["status"] == "rejected"]
    if rejected:
        fig.add_trace(
            F.Scatter(
                x=[n for n, _ in rejected],
                y=[0] * len(rejected),
                mode="markers",
                marker={"symbol": "x", "size": 12, "color": F.VERMILLION},
                name="file rejected whole",
                hovertext=[f"{r['file_name']}: rejected" for _, r in rejected],
                hoverinfo="text",
            )
        )
    if look is not None and look.value is not None:  # marts.reference_bands
        fig.add_shape(
            F.line_shape(
                look.value * 100,
                name=f"{fmt.pct(look.value, 0)}: {look.label}, per laboratory (finding "
                "quarantine_rate)",
                colour=F.GREY,
            )
        )
    fig.update_xaxes(
        type="category",
        showticklabels=len(rows) <= MAX_FILE_TICKS,
        tickangle=-60,
        title_text="input file (hover for its name)" if len(rows) > MAX_FILE_TICKS else "",
    )
    fig.update_yaxes(ticksuffix="%", title_text="quarantined", rangemode="tozero")
    return fig


def _by_lab(rows: list[dict]) -> F.Figure | None:
    rows = [r for r in rows if r["lab_id"] != "ALL"]
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: r["lab_id"])
    rates = [r["rows_quarantined"] / r["rows_read"] if r["rows_read"] else None for r in rows]
    fig = F.new_figure(
        "Quarantine rate by laboratory code as written in the input",
        subtitle="including codes that never produced a valid result",
        height=max(300, 140 + 26 * len(rows)),
    )
    fig.add_trace(
        F.Bar(
            y=[r["lab_id"] for r in rows],
            x=F.rounded((r * 100 if r is not None else 0 for r in rates), 3),
            orientation="h",
            marker={"color": F.BLUE},
            text=[
                f"{fmt.count(r['rows_quarantined'])} of {fmt.count(r['rows_read'])}" for r in rows
            ],
            textposition="outside",
            cliponaxis=False,
            hoverinfo="text",
            hovertext=[
                f"{r['lab_id']}: {fmt.count(r['rows_quarantined'])} of "
                f"{fmt.count(r['rows_read'])} rows quarantined"
                for r in rows
            ],
            name="quarantined, % of rows read",
        )
    )
    fig.update_yaxes(
        type="category",
        categoryorder="array",
        categoryarray=list(reversed([r["lab_id"] for r in rows])),
    )
    top = max((r or 0) * 100 for r in rates)
    fig.update_xaxes(ticksuffix="%", title_text="quarantined", range=[0, max(5, top) * 1.4])
    return fig


def build(ctx: Context) -> Page:
    by_lab = ctx.file("quarantine_by_lab")
    lab_counts = {r["lab_id"]: r for r in by_lab}
    reasons = ctx.file("quarantine_reasons")
    files = ctx.rows(
        "SELECT * FROM (SELECT file_id, file_name, status, reason, arrival_date, rows_read, "
        "rows_staged, rows_quarantined, rows_repeated, sha256 FROM ops.ingested_files "
        "ORDER BY file_id DESC LIMIT $latest) ORDER BY file_id",
        {"latest": LATEST_FILES},
    )
    # the per-file counts of the same files (none when nothing was ingested)
    first = files[0]["file_id"] if files else None
    per_file = ctx.file("quarantine_by_file", {"first_file_id": first})
    status_counts = {
        r["status"]: r["n"]
        for r in ctx.rows("SELECT status, count(*) AS n FROM ops.ingested_files GROUP BY status")
    }
    n_files = sum(status_counts.values())
    shown = (
        f"the {fmt.count(len(files))} latest of {fmt.count(n_files)} files"
        if n_files > len(files)
        else "every file"
    )

    def per_view_raw(records: list[dict]) -> dict[str, list[dict]]:
        """Rows keyed by the lab code as written: ALL -> network, else the lab's view."""
        out: dict[str, list[dict]] = defaultdict(list)
        keys = {v.lab: v.key for v in ctx.views}
        for r in records:
            key = keys.get(None if r["lab_id"] == "ALL" else r["lab_id"])
            if key:
                out[key].append(r)
        return out

    reasons_v = per_view_raw(reasons)
    files_v = per_view_raw(per_file)
    top_reason: dict[str, str] = {}
    for key, rows in reasons_v.items():
        totals: dict[str, int] = defaultdict(int)
        for r in rows:
            totals[r["reason_code"]] += r["n_rows"]
        if totals:
            top_reason[key] = max(totals, key=totals.__getitem__)

    page = Page(
        FILENAME,
        "Data quality",
        "Data quality",
        "What arrived and what could not be used: every input file with its accounting (rows "
        "read = staged + quarantined), and the quarantined rows by reason. A quarantined row is "
        "kept with every reason that applies and never enters a figure; the cure is in the "
        "laboratory information system's export.",
    )

    def view_readings(view: View) -> list[Reading]:
        codes = ("quarantine_rate", "data_freshness") + (() if view.lab else ("files_rejected",))
        return [R.reading(f) for code in codes if (f := ctx.findings.get(code, view.lab))]

    page.sections.append(
        Section(
            "Summary",
            "summary",
            blocks=[
                html_block(
                    ctx,
                    lambda v: _summary(
                        v, lab_counts, view_readings(v), status_counts, top_reason.get(v.key)
                    ),
                )
            ],
        )
    )
    page.sections.append(
        Section(
            "Quarantine reasons over time",
            "reasons",
            "By the date each file arrived (one bar per arrival date).",
            [
                figure_block(
                    ctx,
                    "reasons",
                    "Quarantined rows by reason and arrival date",
                    reasons_v,
                    lambda v, rows: _by_date(v, rows),
                ),
                figure_block(
                    ctx,
                    "files",
                    "Quarantine rate per input file",
                    files_v,
                    lambda v, rows: _by_file(v, rows, ctx.band("quarantine_rate_look"), shown),
                ),
            ],
        )
    )
    page.sections.append(
        Section(
            "By laboratory",
            "labs",
            "The lab code as written in each row (before validation), so a laboratory whose "
            "every row was rejected still shows here.",
            [
                figure_block(
                    ctx,
                    "labs",
                    "Quarantine rate by laboratory code",
                    {v.key: by_lab for v in ctx.views if by_lab},
                    lambda v, rows: _by_lab(rows),
                )
            ],
        )
    )
    aging = ctx.per_view(ctx.file("open_equivocal_aging"))
    page.sections.append(
        Section(
            "Open equivocal cases",
            "open-equivocal",
            "Specimens, primaries and metastases, whose final status is still equivocal: IHC 2+ "
            "without a usable ISH, a dual-probe ISH group 2–4 without a concurrent IHC, or an "
            "equivocal single-probe ISH, with no decided specimen of the same patient within the "
            "CAP 11 repeat window (her2-domain.md §FINAL-STATUS, §ISH-RESOLVE, §ISH-SINGLE, "
            "§CAP-CHECKLIST). Days open run from the specimen's latest report to the newest "
            "report date in the warehouse, not to today, so the same data give the same list.",
            [
                worklist_block(
                    ctx,
                    "open_equivocal_cases.csv",
                    "open equivocal specimens",
                    OPEN_EQUIVOCAL_RULES,
                    empty="No open equivocal specimen for this selection.",
                ),
                html_block(ctx, lambda v: _aging(aging[v.key]), empty=""),
            ],
        )
    )
    page.sections.append(
        Section(
            "Files",
            "files",
            f"The files that landed in the inbox, for every laboratory (a file is not split by "
            f"laboratory): {shown}, in arrival order. A duplicate is a byte-identical copy of an "
            "earlier file; a rejected file could not be read at all.",
            [StaticBlock(_files_table(files))],
        )
    )
    return page


def _summary(
    view: View,
    counts: dict[str, dict],
    found: list[Reading],
    status: dict[str, int],
    most: str | None,
) -> Markup:
    c = counts.get(view.lab or "ALL")
    parts = [layout.readings(found, link=False)]
    if most:
        parts.append(layout.para(f"Most frequent quarantine reason: {_reason_label(most)}."))
    if view.lab is None:
        parts.append(
            layout.para(
                f"{fmt.count(sum(status.values()))} files: "
                f"{fmt.count(status.get('ingested', 0))} ingested, "
                f"{fmt.count(status.get('duplicate', 0))} duplicates, "
                f"{fmt.count(status.get('rejected', 0))} rejected."
            )
        )
    if c is None:
        parts.append(layout.para("No rows read for this laboratory code.", "empty"))
    return Markup("").join(parts)


def _files_table(files: list[dict]) -> Markup:
    return table(
        [
            "#",
            "file",
            "arrived",
            "status",
            "rows read",
            "staged",
            "quarantined",
            "SHA-256",
            "reason",
        ],
        [
            [
                f["file_id"],
                f["file_name"],
                f["arrival_date"].isoformat() if f["arrival_date"] else "",
                f["status"],
                f"{fmt.count(f['rows_read'])}",
                f"{fmt.count(f['rows_staged'])}",
                f"{fmt.count(f['rows_quarantined'])}",
                Markup("<code>{}</code>").format((f["sha256"] or "")[:12]),
                f["reason"] or "",
            ]
            for f in files
        ],
        numeric=(0, 4, 5, 6),
        nowrap=(2, 3, 7),
        caption="SHA-256 prefixes; every file, with its full hash, is in site.json.",
        empty="No file has been ingested yet.",
    )


def _aging(rows: list[dict]) -> Markup | None:
    """Open equivocal specimens by role: how many, and how long open (days)."""
    if not rows:
        return None
    return table(
        ["specimen role", "open", "median days open", "oldest (days open)"],
        [
            [
                r["specimen_role"],
                fmt.count(r["n_open"]),
                fmt.count(r["median_days_open"]),
                fmt.count(r["max_days_open"]),
            ]
            for r in rows
        ],
        numeric=(1, 2, 3),
        caption="Counts of marts.worklist_open_equivocal (the same rows as "
        "open_equivocal_cases.csv).",
    )
