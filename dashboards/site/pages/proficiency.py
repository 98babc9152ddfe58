"""Validation and proficiency: each assay kit's validation set against the ASCO/CAP case counts
(20 + 20 for an FDA-approved assay, 40 + 40 for a laboratory-developed test) with its
agreement, and each laboratory's proficiency-testing (PT) events over time (≥ 90% correct per
event, ≥ 2 events a year). her2-domain.md §VALIDATION, §QA-WORDING.

From marts.validation_sets and marts.proficiency_events; the verdicts are the findings
validation_set (lab × kit), proficiency_event (lab × event) and proficiency_events_per_year
(lab × year): every badge is one of their rows (dashboards/site/readings.py). Both topics are
accreditation records of the laboratory's methods, not agreement of patient results, which is
why they share a page of their own rather than the Concordance page."""

from __future__ import annotations

from collections import defaultdict

from markupsafe import Markup

from dashboards.report import formatting as fmt
from dashboards.site import figures as F
from dashboards.site import layout, readings
from dashboards.site.data import Context
from dashboards.site.layout import Column, Page, Section, View, column_table, para
from dashboards.site.pages import figure_block, html_block

FILENAME = "proficiency.html"
# how each event was graded, in words (marts.proficiency_events graded_by)
GRADED_BY = {
    "provider_key": "the provider's key",
    "consensus": "the network's consensus (no key given; not the provider's grade)",
    "mixed": "mixed: the provider's key where given, else the network's consensus",
    "ungraded": "not graded (no key, no consensus)",
}
SYMBOL = {"provider_key": "circle", "consensus": "diamond-open", "mixed": "square-open"}


def _count(kind: str, lab: str, key: str, value: int | None) -> Markup:
    """A count the tests hold to the mart: data-{kind}, data-lab and data-key name its cell."""
    return Markup("<span data-{k}='{col}' data-lab='{lab}'>{v}</span>").format(
        k=kind, col=key, lab=lab, v=fmt.count(value)
    )


def _topic(view: View, f) -> str:
    """A reading's topic: the finding's title, and its lab in the network view."""
    return f.title if view.lab else f"{f.title}, {f.lab_id}"


def _of_required(category: str) -> Column[dict]:
    """A validation set's cases of one comparator category, of the cases required."""
    return Column(
        f"{category} cases (of required)",
        lambda s: Markup("{} of {}").format(
            _count("validation", s["lab_id"], f"{s['stratum']}|n_{category}", s[f"n_{category}"]),
            fmt.count(s["required_per_category"]),
        ),
        numeric=True,
    )


def _rate_ci(header: str, key: str) -> Column[dict]:
    """A rate with its 95% CI: the columns <key>, <key>_ci_low and <key>_ci_high."""
    return Column(
        header,
        lambda s: f"{fmt.pct(s[key])} ({fmt.ci(s[f'{key}_ci_low'], s[f'{key}_ci_high'])})",
        numeric=True,
    )


# a row of marts.validation_sets: lab x assay kit
VALIDATION_COLUMNS: list[Column[dict]] = [
    Column("lab", lambda s: s["lab_id"]),
    Column("assay and kit", lambda s: s["stratum"]),
    Column(
        "assay class",
        lambda s: "laboratory-developed (ldt_kits)" if s["is_ldt"] else "FDA-approved",
    ),
    _of_required("positive"),
    _of_required("negative"),
    Column("not comparable", lambda s: fmt.count(s["n_not_comparable"]), numeric=True),
    _rate_ci("PPA", "ppa"),
    _rate_ci("NPA", "npa"),
    Column("overall agreement", lambda s: fmt.pct(s["concordance"]), numeric=True),
    Column(
        "signed out",
        lambda s: f"{s['first_report_date']:%Y-%m-%d} to {s['last_report_date']:%Y-%m-%d}",
    ),
]


def _validation(ctx: Context, view: View, sets: list[dict]) -> Markup | None:
    if not sets:
        return None
    found = [
        readings.reading(f, topic=_topic(view, f))
        for s in sets
        if (f := ctx.findings.get("validation_set", s["lab_id"], "ALL", s["stratum"]))
    ]
    return layout.readings(found, link=False) + column_table(
        VALIDATION_COLUMNS,
        sets,
        caption="Cases: validation results (test_purpose validation) of the kit; "
        "comparator: the same specimen's clinical final status. Positive and negative "
        "cases are counted by the comparator; a case without a positive or negative "
        "comparator is listed, not counted. An equivocal or indeterminate validation "
        "call on a positive or negative case counts as a disagreement. The lab target "
        f"({ctx.target_label(view)}) applies to PPA and NPA each; overall agreement is "
        "shown, not judged.",
    )


def _pt_count(header: str, key: str) -> Column[dict]:
    """A count of a PT event, named for the tests by its lab, event date and column."""
    return Column(
        header,
        lambda e: _count("pt", e["lab_id"], f"{e['event_date']:%Y-%m-%d}|{key}", e[key]),
        numeric=True,
    )


# a row of marts.proficiency_events: lab x event (the verdict column is added per page)
EVENT_COLUMNS: list[Column[dict]] = [
    Column("lab", lambda e: e["lab_id"]),
    Column("event", lambda e: f"{e['event_date']:%Y-%m-%d}"),
    Column("challenges", lambda e: fmt.count(e["n_challenges"]), numeric=True),
    _pt_count("graded", "n_graded"),
    _pt_count("correct", "n_correct"),
    Column(
        "% correct (95% CI)",
        lambda e: f"{fmt.pct(e['pct_correct'])} ({fmt.ci(e['ci_low'], e['ci_high'])})",
        numeric=True,
    ),
    Column(
        "graded against",
        lambda e: (
            f"{GRADED_BY.get(e['graded_by'], e['graded_by'])} (key "
            f"{fmt.count(e['n_by_key'])}, consensus {fmt.count(e['n_by_consensus'])})"
        ),
    ),
]


def _events_table(ctx: Context, view: View, events: list[dict]) -> Markup | None:
    if not events:
        return None
    years = sorted(
        {(e["lab_id"], str(e["event_year"])) for e in events},
        key=lambda k: (k[0], k[1]),
    )
    per_year = [
        readings.reading(f, topic=_topic(view, f))
        for lab, year in years
        if (f := ctx.findings.get("proficiency_events_per_year", lab, year))
    ]

    def verdict(e: dict) -> Markup:
        """The event's row of the finding proficiency_event, as a badge."""
        f = ctx.findings.get(
            "proficiency_event", e["lab_id"], e["event_month"], f"{e['event_date']:%Y-%m-%d}"
        )
        return layout.reading(readings.reading(f, topic=""), link=False) if f else Markup("")

    pt = ctx.band("pt_correct")
    mark = f"{pt.label} ({pt.source})" if pt else "≥ 90% correct"
    return layout.readings(per_year, link=False) + column_table(
        [*EVENT_COLUMNS, Column("verdict (finding proficiency_event)", verdict)],
        sorted(events, key=lambda e: (e["lab_id"], e["event_date"])),
        caption=f"Requirement: {mark}, per event; at least 2 events a year. A challenge "
        "is graded against the provider's key (expected_result, contract v2) where "
        "given, else against the network's consensus (at least 3 laboratories; a "
        "her2qa rule, not the provider's grade), labelled so.",
    )


def _events_figure(ctx: Context, view: View, events: list[dict]) -> F.Figure | None:
    events = [e for e in events if e["pct_correct"] is not None]
    if not events:
        return None
    by_lab: dict[str, list[dict]] = defaultdict(list)
    for e in sorted(events, key=lambda e: e["event_date"]):
        by_lab[e["lab_id"]].append(e)
    fig = F.new_figure(
        f"Proficiency testing, correct per event: {view.label}",
        subtitle="% correct on graded challenges with its 95% CI (Wilson); marker: circle "
        "graded by the provider's key, open diamond by the network's consensus, open square "
        "mixed",
        height=420,
    )
    for i, (lab, rows) in enumerate(sorted(by_lab.items())):
        colour = F.COLORWAY[i % len(F.COLORWAY)]
        fig.add_trace(
            F.Scatter(
                x=[e["event_date"].isoformat() for e in rows],
                y=F.rounded(100 * e["pct_correct"] for e in rows),
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": F.rounded(100 * (e["ci_high"] - e["pct_correct"]) for e in rows),
                    "arrayminus": F.rounded(100 * (e["pct_correct"] - e["ci_low"]) for e in rows),
                    "color": colour,
                    "thickness": 1,
                },
                mode="lines+markers",
                line={"color": colour, "width": 1},
                marker={
                    "color": colour,
                    "size": 9,
                    "symbol": [SYMBOL.get(e["graded_by"], "x") for e in rows],
                },
                name=lab,
                hovertext=[
                    f"{lab} · event {e['event_date']:%Y-%m-%d}: {fmt.pct(e['pct_correct'])} "
                    f"correct ({fmt.count(e['n_correct'])} of {fmt.count(e['n_graded'])}; "
                    f"{fmt.ci(e['ci_low'], e['ci_high'])})\ngraded against "
                    f"{GRADED_BY.get(e['graded_by'], e['graded_by'])}"
                    for e in rows
                ],
                hoverinfo="text",
            )
        )
    pt = ctx.band("pt_correct")
    if pt and pt.value is not None:
        fig.add_shape(F.line_shape(100 * pt.value, name=f"{pt.label}: {100 * pt.value:g}%"))
    low = min(100 * e["ci_low"] for e in events)
    fig.update_yaxes(range=[max(0, low - 5), 101], ticksuffix="%", title_text="correct")
    fig.update_xaxes(title_text="event (distribution date)")
    return fig


def build(ctx: Context) -> Page:
    sets = ctx.rows("SELECT * EXCLUDE (cases) FROM marts.validation_sets ORDER BY ALL")
    events = ctx.rows("SELECT * FROM marts.proficiency_events ORDER BY lab_id, event_date")
    lab_codes = {v.key: v.lab for v in ctx.views}

    def of_view(rows: list[dict]) -> dict[str, list[dict]]:
        """The network view: every laboratory's rows; a lab's view: its own (neither mart
        pools labs into an 'ALL' row)."""
        return {
            key: [r for r in rows if lab is None or r["lab_id"] == lab]
            for key, lab in lab_codes.items()
        }

    sets_by_view, events_by_view = of_view(sets), of_view(events)
    page = Page(
        FILENAME,
        "Validation & PT",
        "Validation and proficiency",
        "Whether each assay was validated with enough cases and each laboratory passes its "
        "proficiency testing (her2-domain.md §VALIDATION). Validation: ASCO/CAP 2013/2018 ask "
        "for 20 positive + 20 negative cases for an FDA-approved assay and 40 + 40 for a "
        "laboratory-developed test, and set no concordance figure; PPA and NPA are judged "
        "against the lab target (ASCO/CAP 2007 criterion), per category. Proficiency testing: "
        "at least 90% correct on graded challenges per event, at least 2 events a year "
        "(ASCO/CAP 2018).",
    )
    page.sections.append(
        Section(
            "Validation sets",
            "validation",
            "One row per laboratory, assay and kit with validation results. A kit counts as a "
            "laboratory-developed test when the site configuration lists it ([labs.<LAB>] "
            "ldt_kits); otherwise it is taken as FDA-approved.",
            [
                html_block(
                    ctx,
                    lambda v: _validation(ctx, v, sets_by_view[v.key]),
                    empty="No validation results (test_purpose validation) for this selection.",
                )
            ],
        )
    )
    page.sections.append(
        Section(
            "Proficiency testing events",
            "events",
            "Each laboratory's PT events over time: the share of graded challenges answered "
            "correctly, with its 95% CI. Each event says whether the provider's key or the "
            "network's consensus graded it.",
            [
                figure_block(
                    ctx,
                    "events",
                    "Proficiency testing, correct per event",
                    events_by_view,
                    lambda v, rows: _events_figure(ctx, v, rows),
                ),
                html_block(
                    ctx,
                    lambda v: _events_table(ctx, v, events_by_view[v.key]),
                    empty="No proficiency-testing results for this selection.",
                ),
            ],
        )
    )
    if not sets and not events:
        page.sections[0].blocks.insert(
            0, layout.StaticBlock(para("No validation or proficiency results in this run."))
        )
    return page
